"""Refusal table rows: deployments refused by their preflight, and runs that fail.

A preflight refusal is run with ``--dry-run``, where the rule holds without exception; one
row runs without it and proves the documented exception (a Failed deployment is recorded).
Codes that only a running deployment meets appear as a failed run's reason; their rows prove
that the deployment is recorded and nothing else in the home changed.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import hashlib
from typing import Any, Callable

from tests.refusals.forge import resign
from tests.refusals.world import Call, Ctx, Row, ok, write_zip

DEPLOY = ["deploy", "acme-web", "1.4.0", "--environment", "Production"]
NO_SUBSTITUTE = ('substitute = ["appsettings.json", "index.html"]\n', "")
ORIGINAL = {"Deploy.sh": b"echo deployed\n", "index.html": b"<h1>Acme</h1>\n"}


def _dry(ctx: Ctx, home: Path | None = None, version: str = "1.4.0") -> Call:
    return Call(["deploy", "acme-web", version, "--environment", "Production", "--dry-run"], home=home or ctx.prod)


def _set(ctx: Ctx, name: str, value: str, *options: object, home: Path | None = None) -> None:
    ok("variables", "set", "acme-web", name, value, *options, home=home or ctx.prod)


def _with_package(ctx: Ctx, members: dict[str, bytes] | bytes, *edits: tuple[str, str]) -> Call:
    """Release 1.4.1 of a changed package (version 1.4.1 too), imported into prod; a dry run of it."""
    release = ctx.release(('version = "1.4.0"\nfile', 'version = "1.4.1"\nfile'),
                          ("Acme.Web.1.4.0.zip", "Acme.Web.1.4.1.zip"), *edits, version="1.4.1")
    package = release.parent / "packages" / "Acme.Web.1.4.1.zip"
    if isinstance(members, bytes):
        package.write_bytes(members)
    else:
        write_zip(package, members)
    ctx.imported(release)
    return _dry(ctx, version="1.4.1")


def _unlinted(ctx: Ctx, package: bytes | None = None,
              mutate: Callable[[dict[str, Any]], None] | None = None) -> Call:
    """Release 1.4.1 as a source that does not lint would send it (an older bundlekit, or one
    changed to skip it): the dev zone refuses to export it (``release_lint_failed``), so a bundle
    of a clean release is re-signed with the dev zone's key carrying ``package`` (stored as is)
    in place of the package and changed by ``mutate``; imported into prod; a dry run of it."""
    release = ctx.release(('version = "1.4.0"\nfile', 'version = "1.4.1"\nfile'),
                          ("Acme.Web.1.4.0.zip", "Acme.Web.1.4.1.zip"), NO_SUBSTITUTE, version="1.4.1")
    write_zip(release.parent / "packages" / "Acme.Web.1.4.1.zip", ORIGINAL)
    clean = ctx.path("clean-1.4.1.bundle")
    ok("export", release, "--to", "prod", "-o", clean, home=ctx.dev)

    def forge(manifest: dict[str, Any]) -> None:
        if package is not None:
            digest = hashlib.sha256(package).hexdigest()
            manifest["blobs"] = [{"digest": digest, "size": len(package), "offset": 0, "length": len(package),
                                  "stored_sha256": digest, "encoding": "identity"}]
            manifest["packages"][0].update(sha256=digest, size=len(package), included=True)
        if mutate is not None:
            mutate(manifest)

    forged = resign(clean, ctx.path("unlinted-1.4.1.bundle"), ctx.dev, mutate=forge, blobs=package)
    ok("import", forged, home=ctx.prod)
    return _dry(ctx, version="1.4.1")


def _broken_script(manifest: dict[str, Any]) -> None:
    step = manifest["steps"][0]
    step["script"] = step["script"].replace('echo "migrating database', 'echo "migrating #{if Ready}database')


def _release_variables(ctx: Ctx, variables: dict[str, str]) -> Call:
    """Release 1.4.1 whose migration script reads #{V0}, with extra variables scoped to Production
    (lint expands the unscoped values and would refuse the export); dry run."""
    extra = "".join(f'\n[[variables]]\nname = "{k}"\nvalue = "{v}"\nscope = {{ environment = ["Production"] }}\n'
                    for k, v in variables.items())
    release = ctx.release(('echo "migrating database', 'echo "#{V0}"\necho "migrating database'), version="1.4.1")
    release.write_text(release.read_text() + extra)
    ctx.imported(release)
    return _dry(ctx, version="1.4.1")


def _store_file(ctx: Ctx) -> Path:
    (found,) = [p for p in (ctx.prod / "packages").rglob("*") if p.is_file()]
    return found


def _damaged_store(ctx: Ctx, remove: bool) -> Call:
    stored = _store_file(ctx)
    if remove:
        stored.unlink()
    else:
        stored.write_bytes(bytes(len(stored.read_bytes())))
    return _dry(ctx)


def _ran(ctx: Ctx, break_target: str = "") -> Call:
    """A deployment with the placeholder bound and the row's own targets, broken as asked."""
    roots = ctx.run_targets()
    web = roots["web-01"]
    if break_target == "file-in-the-way":
        (web / "Acme.Web").write_text("not a folder")
    elif break_target == "link-as-destination":
        (web / "Acme.Web").mkdir()
        (web / "Acme.Web" / "1.4.0").symlink_to(ctx.path("elsewhere"))
    elif break_target == "workdir-is-a-file":
        (roots["db-01"] / ".bundlekit-work").write_text("not a folder")
    outputs = []
    if break_target == "workdir-leads-out":
        outside = ctx.file("outside/Deployments-1/keep.txt", b"not the target's").parent.parent
        (roots["db-01"] / ".bundlekit-work").symlink_to(outside)
        outputs.append(outside)  # nothing may be created or deleted through the link
    return Call(DEPLOY, home=ctx.prod_run, expect="deployment", outputs=outputs)


def _bad_script(ctx: Ctx) -> Call:
    call = _ran(ctx)
    _set(ctx, "Acme.Db.Name", 'x"; exit 3; echo "', "--environment", "Production", home=ctx.prod_run)
    return call


def _no_targets(ctx: Ctx) -> Call:
    """Production (which the release's variables name) once its targets are removed."""
    for name in ("db-01", "web-01"):
        ok("targets", "remove", name, home=ctx.prod)
    return Call(DEPLOY, home=ctx.prod)


def _pruned(ctx: Ctx) -> Call:
    """1.4.0 (never deployed) let go by a keep-1 policy once 1.4.1 and 1.4.2, with packages of their own,
    are imported; deploying 1.4.0 is refused before anything runs."""
    for version in ("1.4.1", "1.4.2"):
        release = ctx.release(('version = "1.4.0"\nfile', f'version = "{version}"\nfile'),
                              ("Acme.Web.1.4.0.zip", f"Acme.Web.{version}.zip"), version=version)
        write_zip(release.parent / "packages" / f"Acme.Web.{version}.zip", {"index.html": version.encode(),
                                                                            "appsettings.json": b"{}"})
        ctx.imported(release)
    ok("retention", "set", "--keep", "1", home=ctx.prod)
    ok("prune", home=ctx.prod)
    return Call(DEPLOY, home=ctx.prod)


def _bad_output_name(ctx: Ctx) -> Call:
    """The migration script sets an output variable whose name holds a tab (the reviewer's example):
    the run fails at that step, and the receipt it queues is one the source zone accepts."""
    call = _ran(ctx)
    _set(ctx, "Acme.Db.Name", 'x"; set_octopusvariable "$(printf \'Tab\\tName\')" "x"; echo "', "--environment",
         "Production", home=ctx.prod_run)
    return call


def _home_in_target(ctx: Ctx) -> Call:
    """A zone home made in web-01's folder after the target was added (v30-20 item 2, decision 801):
    the preflight looks again and runs nothing, dry run or not."""
    roots = ctx.run_targets()
    ok("init", "--zone", "stray", home=roots["web-01"] / "backups" / "stray")
    return Call(DEPLOY, home=ctx.prod_run, outputs=[ctx.root / "targets"])


def _receipt_over_a_file(ctx: Ctx, deploy: bool) -> Call:
    """A receipt is never written over a file, which may be a receipt not carried yet (finding 19.1):
    ``outbox pack -o`` with a deployment waiting, and ``deploy --receipt-out`` before anything runs."""
    ctx.run_targets()
    earlier = ctx.file("receipts.bundle", b"an earlier receipt, not carried yet")
    if deploy:
        return Call([*DEPLOY, "--receipt-out", earlier], home=ctx.prod_run, outputs=[earlier, ctx.root / "targets"])
    ok(*DEPLOY, home=ctx.prod_run)  # one deployment waits in the outbox
    return Call(["outbox", "pack", "-o", earlier], home=ctx.prod_run, outputs=[earlier])


ROWS = [
    Row("file_exists", lambda c: _receipt_over_a_file(c, deploy=False), name="outbox-pack"),
    Row("file_exists", lambda c: _receipt_over_a_file(c, deploy=True), name="deploy-receipt-out"),
    # -- refused by the preflight (dry run: nothing changes) --------------------------------
    Row("preflight_unresolved_variables", lambda c: _dry(c)),
    Row("release_pruned", _pruned),
    Row("preflight_unresolved_variables", lambda c: Call(DEPLOY, home=c.prod, expect="preflight"),
        name="recorded-without-dry-run"),
    Row("preflight_template_syntax", lambda c: _unlinted(c, mutate=_broken_script)),
    Row("preflight_ambiguous_variable", lambda c: (_set(c, "Acme.ApiKey", "a", "--role", "web"),
                                                   _set(c, "Acme.ApiKey", "b", "--role", "web", "--role", "db"),
                                                   _dry(c))[2]),
    Row("preflight_variable_cycle", lambda c: (_set(c, "Acme.ApiKey", "k-#{Acme.ApiKey}"), _dry(c))[1]),
    Row("preflight_substitution_too_deep", lambda c: _release_variables(
        c, {f"V{i}": f"#{{V{i + 1}}}" for i in range(60)} | {"V60": "end"})),
    Row("preflight_substitution_too_large", lambda c: _release_variables(
        c, {f"V{i}": f"#{{V{i + 1}}}" * 10 for i in range(8)} | {"V8": "x" * 64})),
    Row("no_targets", _no_targets),
    Row("target_holds_home", _home_in_target),
    # The reviewer's example: a typo of an environment exited 5, "deployment failed", though nothing ran.
    Row("unknown_environment", lambda c: Call(["deploy", "acme-web", "1.4.0", "--environment", "Prodution"],
                                              home=c.prod)),
    Row("invalid_label", lambda c: Call(["deploy", "acme-web", "1.4.0", "--environment", "Prod\x1b[31m"],
                                        home=c.prod), name="deploy-environment"),
    Row("invalid_label", lambda c: Call(["deploy", "acme-web", "1.4.0", "--environment", "(Awaiting)"], home=c.prod),
        name="deploy-environment-in-parentheses"),
    Row("no_targets_for_roles", lambda c: (ok("targets", "remove", "db-01", home=c.prod), _dry(c))[1]),
    Row("ambiguous_package_script", lambda c: _unlinted(c, _zip(ORIGINAL | {"deploy.py": b"print(1)\n"}))),
    # lint parses the files structured configuration touches: these come from a source skipping lint
    Row("invalid_structured_config",
        lambda c: _unlinted(c, _zip(ORIGINAL | {"appsettings.json": b'{"a": 1, "a": 2}'}))),
    Row("package_unreadable", lambda c: _damaged_store(c, remove=True)),
    Row("package_hash_mismatch", lambda c: _damaged_store(c, remove=False)),
    Row("corrupt_package", lambda c: _unlinted(c, _zip_truncated())),
    Row("unsupported_package", lambda c: _unlinted(c, b"\x00not an archive" * 64)),
    Row("unsafe_package", lambda c: _unlinted(c, _zip(ORIGINAL | {"../escape.sh": b"x"}))),
    Row("member_too_large", lambda c: _unlinted(c, _zip(ORIGINAL | {"appsettings.json": b" " * (33 << 20)}))),
    Row("member_not_text", lambda c: _unlinted(c, _zip(ORIGINAL | {"appsettings.json": b'{"a": "\xc3\x28"}'}))),
    # -- a deployment that ran: recorded, and the code is the failed run's reason -------------
    Row("deploy_failed", _bad_script),
    Row("invalid_output_variable", _bad_output_name),
    Row("extract_failed", lambda c: _ran(c, "file-in-the-way")),
    Row("unsafe_destination", lambda c: _ran(c, "link-as-destination")),
    Row("workdir_unusable", lambda c: _ran(c, "workdir-is-a-file")),
    Row("path_outside_target", lambda c: _ran(c, "workdir-leads-out")),
    # interpreter_missing: rows_fleet.py (a runner's PATH is its machine's, never the zone's)
]


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def _zip_truncated() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in ORIGINAL.items():
            z.writestr(name, data * 50)
    data = buf.getvalue()
    return data[: len(data) // 2]
