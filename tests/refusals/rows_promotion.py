"""Refusal table rows: lifecycles, evidence, tenants, waivers and what only a zone's own values allow."""

from __future__ import annotations

from tests.refusals.world import Call, Ctx, Row, ok

_LIFECYCLE = ("[[packages]]", '[lifecycle]\n[[lifecycle.phases]]\nname = "Staging"\nenvironments = ["Staging"]\n\n'
                              '[[lifecycle.phases]]\nname = "Production"\nenvironments = ["Production"]\n\n'
                              "[[packages]]")


def _before_its_phase(ctx: Ctx) -> Call:
    ctx.imported(ctx.release(_LIFECYCLE, version="1.5.0"), into="prod_run")
    return Call(["deploy", "acme-web", "1.5.0", "--environment", "Production"], home=ctx.prod_run)


def _typo_in_environment(ctx: Ctx) -> Call:
    ctx.imported(ctx.release(_LIFECYCLE, version="1.5.0"), into="prod_run")
    return Call(["deploy", "acme-web", "1.5.0", "--environment", "Prodution"], home=ctx.prod_run)


def _wrong_evidence(ctx: Ctx) -> Call:
    # r1 is prod's signed receipt of acme 1.4.0; offered as proof for 1.4.1 it proves nothing
    ok("releases", "create", ctx.release(version="1.4.1"), home=ctx.dev)
    receipt = ctx.get("r1.bundle")
    return Call(["deploy", "acme-web", "1.4.1", "--environment", "Production", "--evidence", receipt],
                home=ctx.dev, outputs=[receipt])


def _proof_for_a_zone_never_sent_it(ctx: Ctx) -> Call:
    # dev deploys 1.4.1, a release it created and never exported: no zone can hold it
    ok("releases", "create", ctx.release(version="1.4.1"), home=ctx.dev)
    ok("variables", "set", "acme-web", "Acme.ApiKey", "k-dev", "--sensitive", home=ctx.dev)
    for role in ("db", "web"):
        ok("targets", "add", f"dev-{role}", "--environment", "Development", "--role", role, "--root",
           ctx.path("dev-targets") / role, home=ctx.dev)
    ok("deploy", "acme-web", "1.4.1", "--environment", "Development", home=ctx.dev)
    out = ctx.path("proof.bundle")
    return Call(["deployments", "receipt", "Deployments-1", "--to", "prod", "-o", out], home=ctx.dev, outputs=[out])


ROWS = [
    Row("not_exported", _proof_for_a_zone_never_sent_it),
    Row("lifecycle_violation", _before_its_phase),
    Row("unknown_environment", _typo_in_environment),
    Row("unknown_scope_value", lambda c: Call(["variables", "set", "acme-web", "Acme.Db.Name", "x", "--environment",
                                               "Prodution"], home=c.prod)),
    Row("evidence_mismatch", _wrong_evidence),
    Row("not_local", lambda c: Call(["variables", "unset", "acme-web", "Acme.Db.Name"], home=c.prod)),
    Row("unknown_tenant", lambda c: Call(["deploy", "acme-web", "1.4.0", "--environment", "Production",
                                          "--tenant", "Acme Corp"], home=c.prod_run)),
    Row("unknown_phase", lambda c: Call(["lifecycle", "waive", "acme-web", "--phase", "Staging", "--reason",
                                         "hotfix"], home=c.prod)),
    Row("unknown_waiver", lambda c: Call(["lifecycle", "unwaive", "acme-web", "--phase", "Staging"], home=c.prod)),
    # A tenant name or a waiver's reason with an escape sequence is no label (decision 320).
    Row("invalid_label", lambda c: Call(["deploy", "acme-web", "1.4.0", "--environment", "Production", "--tenant",
                                         "Acme\x1b[31mCorp"], home=c.prod_run), name="deploy-tenant"),
    Row("invalid_label", lambda c: Call(["lifecycle", "waive", "acme-web", "--phase", "Staging", "--reason",
                                         "CAB-1234\x1b]0;approved\x07"], home=c.prod), name="waiver-reason"),
    Row("invalid_label", lambda c: Call(["lifecycle", "show", "acme-web", "--tenant", "Acme\u2028Corp"],
                                        home=c.prod), name="lifecycle-show-tenant"),
]
