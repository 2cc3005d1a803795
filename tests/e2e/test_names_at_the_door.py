"""Names are checked where they enter, so a receipt production packs is one its source accepts.

The reviewer's repro: a script sets an output variable named ``Tab<TAB>Name``; before, the
deploy and ``outbox pack`` succeeded, dev refused the receipt (``invalid_manifest``), production's
own ``inspect`` refused it too, and the deployments were lost. Now the run fails at that step
with the reason, the receipt packs and imports, and a receipt that would still break the schema
(an entry queued by an earlier version) is refused at ``pack`` with nothing marked packed.
Also: release versions follow one rule, slugs follow the names rule (not a second regex),
``deployments show`` prints each run's reason, and times are milliseconds everywhere (decision 430).

Through the CLI's entry point in process (``tests.conftest.cli_in_process``), on copies of the
refusal table's zones (``tests/refusals/world.py``).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import cli_in_process, snapshot
from tests.refusals.forge import resign
from tests.refusals.world import Ctx, build_base, ok

DEPLOY = ["deploy", "acme-web", "1.4.0", "--environment", "Production"]
TAB_OUTPUT = 'x"; set_octopusvariable "$(printf \'Tab\\tName\')" "x"; echo "'  # the reviewer's script line


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_base(tmp_path_factory.mktemp("names-base"))


@pytest.fixture
def ctx(base: Path, tmp_path: Path) -> Ctx:
    return Ctx(base, tmp_path)


def _json(*args: object, home: Path | None = None, code: int = 0) -> Any:
    done = cli_in_process(*args, "--json", home=home)
    assert done.returncode == code, f"{args}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return json.loads(done.stdout[done.stdout.rindex("\n{") + 1:] if done.stdout.count("\n{") else done.stdout)


def _deployed_with_tab_output(ctx: Ctx) -> dict[str, Any]:
    ctx.run_targets()
    ok("variables", "set", "acme-web", "Acme.Db.Name", TAB_OUTPUT, "--environment", "Production", home=ctx.prod_run)
    done = cli_in_process(*DEPLOY, "--json", home=ctx.prod_run)
    assert done.returncode == 5, done.stderr
    record = json.loads(done.stdout[:done.stdout.index("\n}\n") + 2])
    return record  # type: ignore[no-any-return]


def test_an_output_name_with_a_tab_fails_its_step_and_the_receipt_still_reaches_the_source(ctx: Ctx) -> None:
    record = _deployed_with_tab_output(ctx)
    migrate = record["runs"][0]
    assert (migrate["step"], migrate["state"]) == ("Run migrations", "Failed")
    assert "output variable named 'Tab\\tName'" in migrate["reason"] and "U+0009" in migrate["reason"]
    assert migrate["reason"].endswith("[invalid_output_variable]")
    assert [o["name"] for o in migrate["outputs"]] == ["SchemaVersion", "MigrationToken"]

    receipt = ctx.path("receipts.bundle")
    packed = _json("outbox", "pack", "-o", receipt, home=ctx.prod_run)
    assert packed["deployments"] == [record["deployment_id"]]
    assert _json("outbox", "list", home=ctx.prod_run)["pending"] == []
    assert _json("inspect", receipt)["kind"] == "receipt"  # production's own reader accepts it
    imported = _json("import", receipt, home=ctx.dev)
    assert [(d["deployment_id"], d["state"]) for d in imported["deployments"]] == [(record["deployment_id"], "Failed")]


def test_a_receipt_entry_the_source_would_refuse_is_not_packed_and_nothing_changes(ctx: Ctx) -> None:
    # An entry queued by an earlier version, before names were checked where they enter.
    ctx.run_targets()
    ok(*DEPLOY, home=ctx.prod_run)
    with sqlite3.connect(ctx.prod_run / "state.db") as db:
        (deployment_id, text), = db.execute("SELECT deployment_id, entry FROM outbox WHERE packed_in IS NULL")
        entry = json.loads(text)
        entry["runs"][0]["outputs"][0]["name"] = "Tab\tName"
        db.execute("UPDATE outbox SET entry = ? WHERE deployment_id = ?", (json.dumps(entry), deployment_id))
    db.close()
    receipt = ctx.path("receipts.bundle")
    before = snapshot(ctx.prod_run, receipt)
    done = cli_in_process("outbox", "pack", "-o", receipt, "--json", home=ctx.prod_run)
    err = json.loads(done.stdout)["error"]
    assert (done.returncode, err["code"]) == (1, "invalid_receipt_entry")
    assert err["details"]["deployments"] == [deployment_id] and deployment_id in err["message"]
    assert "receipts.0.runs.0.outputs.0.name: 'Tab\\tName' contains the control character U+0009" in err["message"]
    assert "nothing was packed" in err["message"]
    assert snapshot(ctx.prod_run, receipt) == before
    assert [p["deployment_id"] for p in _json("outbox", "list", home=ctx.prod_run)["pending"]] == [deployment_id]


def test_deployments_show_prints_each_runs_reason_on_lines_of_its_own(ctx: Ctx) -> None:
    # A deployment refused by its preflight (the placeholder is unbound in prod) is recorded Failed.
    assert cli_in_process(*DEPLOY, home=ctx.prod).returncode == 5
    done = cli_in_process("deployments", "show", "Deployments-1", home=ctx.prod)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "Deployments-1: Acme Web 1.4.0 to Production: Failed"  # the project as written
    # the record's warnings come first, each once, under one label (here: no separate worker user)
    warned = [line for line in lines if line.startswith("  warning: ")]
    assert all("WARNING" not in line for line in warned), warned
    lines = [lines[0], *lines[1 + len(warned):]]
    assert lines[1] == "" and lines[2] == "== (preflight) on (zone): Failed"
    # A reason of several lines is printed below its label, each line indented.
    assert lines[3] == "   reason:" and lines[4].startswith("     [preflight_unresolved_variables] deployment of ")
    assert lines[5].startswith("       - Acme.ApiKey in step 'Deploy web' on web-01")
    assert "\\x0a" not in done.stdout and "\\n" not in done.stdout


def test_deployments_show_prints_a_failed_steps_reason_and_its_log(ctx: Ctx) -> None:
    _deployed_with_tab_output(ctx)
    done = cli_in_process("deployments", "show", "Deployments-1", home=ctx.prod_run)
    text = done.stdout
    assert "\n\n== Run migrations on db-01: Failed (exit 0)\n   reason: the script set an output variable named " \
           "'Tab\\tName'" in text
    assert "\n\n== Deploy web on web-01: Skipped\n   reason: condition 'success': an earlier step failed" in text
    assert "\t" not in text and "\\x0a" not in text


def test_deploy_json_times_are_the_milliseconds_the_record_holds(ctx: Ctx) -> None:
    ctx.run_targets()
    shown = _json(*DEPLOY, home=ctx.prod_run)
    stored = _json("deployments", "show", shown["deployment_id"], home=ctx.prod_run)["record"]
    times = [shown["started"], shown["ended"]] + [r[k] for r in shown["runs"] for k in ("started", "ended")]
    assert all(isinstance(t, (int, float)) and round(t, 3) == t for t in times), times  # decision 430
    assert (stored["started"], stored["ended"]) == (shown["started"], shown["ended"])
    assert [(r["started"], r["ended"]) for r in stored["runs"]] == [(r["started"], r["ended"]) for r in shown["runs"]]


def test_a_slug_the_names_rule_allows_exports_and_one_it_refuses_names_the_rule_not_a_regex(ctx: Ctx) -> None:
    ok("export", ctx.release(('name = "Acme Web"', 'name = "Acme Web"\nslug = "Acme_Web+1"')), "--to", "prod", "-o",
       ctx.path("ok.bundle"), home=ctx.dev)
    out = ctx.path("bad.bundle")
    err = _json("export", ctx.release(('name = "Acme Web"', 'name = "Acme Web"\nslug = "acme web"')), "--to",
                "prod", "-o", out, home=ctx.dev, code=2)["error"]
    assert err["code"] == "release_lint_failed"  # export lints first and lists every problem (decision 570)
    assert "project.slug: 'acme web' contains ' ' (use 1-100 letters, digits" in err["message"]  # the rule once
    assert "^[" not in err["message"] and not out.exists()


@pytest.mark.parametrize("version, ok_", [("1.4.0", True), ("1.4.0.12", True), ("2.0.0-beta.1+build.7", True),
                                          ("1.4.0\u009b31m\u202e/../x", False), ("v1.4", False), ("1.4 beta", False)])
def test_release_versions_follow_one_rule_at_export(ctx: Ctx, version: str, ok_: bool) -> None:
    done = cli_in_process("export", ctx.release(version=version), "--to", "prod", "-o", ctx.path("v.bundle"), "--json",
                          home=ctx.dev)
    if ok_:
        assert done.returncode == 0, done.stdout
        return
    err = json.loads(done.stdout)["error"]
    assert (done.returncode, err["code"]) == (2, "release_lint_failed")  # export lints first (decision 570)
    assert "release.version" in err["message"] and "use a version such as 1.4.0" in err["message"]


def test_a_bundle_whose_version_breaks_the_rule_is_refused_by_every_reader(ctx: Ctx) -> None:
    def bad_version(manifest: dict[str, Any]) -> None:
        manifest["release"]["version"] = "1.4.0\u009b31m\u202e/../x"

    forged = resign(ctx.get("acme.bundle"), ctx.path("forged.bundle"), ctx.dev, mutate=bad_version)
    for args in (["inspect", forged], ["verify", forged, "--home", ctx.prod_fresh],
                 ["import", forged, "--home", ctx.prod_fresh]):
        err = _json(*args, code=3)["error"]
        assert err["code"] == "invalid_manifest" and "release.version" in err["message"], args


# Tenant, channel, step and phase names are labels wherever they come from (decision 320): a
# release file or a bundle that carries one with an escape sequence, a line separator or an
# absurd length is refused, and the message names the field, says what is wrong with it and
# repeats no more than the start of the value.
_PRODUCTION_SCOPE = 'scope = { environment = ["Production"] }'
_LIFECYCLE = ("[[packages]]", '[lifecycle]\n[[lifecycle.phases]]\nname = "Sta\\u2029ging"\nenvironments = ["Staging"]\n\n'
                              "[[packages]]")


@pytest.mark.parametrize("edit, field, problem", [
    ((_PRODUCTION_SCOPE, 'scope = { environment = ["Production"], tenant = ["Acme\\u001b[31mCorp"] }'),
     "variables[0].scope.tenant[0]: 'Acme\\x1b[31mCorp'", "contains the control character U+001B"),
    ((_PRODUCTION_SCOPE, 'scope = { environment = ["Production"], step = "Smoke \\u202etset" }'),
     "variables[0].scope.step: 'Smoke \\u202etset'", "contains the bidirectional-text control U+202E"),
    (('channel = "Default"', 'channel = "De\\u2028fault"'),
     "release.channel: 'De\\u2028fault'", "contains the line separator U+2028"),
    (('name = "Smoke test"', 'name = "' + "S" * 5000 + '"'),
     "steps[2].name: '" + "S" * 60 + "'...", "is longer than 200 characters (5000)"),
    (_LIFECYCLE, "lifecycle.phases[0].name: 'Sta\\u2029ging'", "contains the paragraph separator U+2029"),
], ids=["tenant-escape-sequence", "step-scope-bidi", "channel-line-separator", "step-name-5000-characters",
        "phase-paragraph-separator"])
def test_a_release_file_whose_tenant_channel_step_or_phase_is_no_label_is_refused_naming_field_and_problem(
        ctx: Ctx, edit: tuple[str, str], field: str, problem: str) -> None:
    out = ctx.path("bad.bundle")
    release = ctx.release(edit)
    err = _json("export", release, "--to", "prod", "-o", out, home=ctx.dev, code=2)["error"]
    assert err["code"] == "release_lint_failed" and not out.exists()  # lint's finding (decision 570)
    assert f"{field} {problem}; use 1-200 characters of text" in err["message"], err["message"]  # the rule once
    assert len(err["message"].replace(str(release), "")) < 600  # the release file's path is named three times


def _tenant_with_line_separator(m: dict[str, Any]) -> None:
    m["variables"][0]["scope"]["tenant"] = ["Acme\u2028Corp"]


def _channel_with_paragraph_separator(m: dict[str, Any]) -> None:
    m["release"]["channel"] = "De\u2029fault"


def _step_name_of_5000_characters(m: dict[str, Any]) -> None:
    m["steps"][2]["name"] = "S" * 5000


def _refusal_for_a_slug_that_is_no_name(m: dict[str, Any]) -> None:
    m["refusals"] = [{"refusal_id": "Refusal-1", "release_bundle": {"bundle_id": m["bundle_id"], "digest": "0" * 64,
                                                                    "sequence": 1},
                      "project": {"name": "Acme Web", "slug": "../acme\x1b[2J", "space": "Default"},
                      "release": "1.4.0", "code": "rollback", "message": "refused", "refused_ms": 1}]


@pytest.mark.parametrize("mutate, field", [
    (_tenant_with_line_separator, "variables.0.scope.tenant.0"),
    (_channel_with_paragraph_separator, "release.channel"),
    (_step_name_of_5000_characters, "steps.2.name"),
    (_refusal_for_a_slug_that_is_no_name, "refusals.0.project.slug"),
], ids=["tenant", "channel", "step-name", "refusal-slug"])
def test_a_bundle_whose_tenant_channel_step_or_slug_breaks_the_rules_is_refused_by_every_reader(
        ctx: Ctx, mutate: Any, field: str) -> None:
    forged = resign(ctx.get("acme.bundle"), ctx.path("forged.bundle"), ctx.dev, mutate=mutate)
    for args in (["inspect", forged], ["verify", forged, "--home", ctx.prod_fresh],
                 ["import", forged, "--home", ctx.prod_fresh]):
        err = _json(*args, code=3)["error"]
        assert err["code"] == "invalid_manifest" and f"{field}: " in err["message"], (args, err["message"])
        assert len(err["message"]) < 1000, args
