"""Promotion and operator findings of review r1015 through the real CLI: one zone's deployments in
that zone's own order whatever its clock said, a release's own variables shown, a lifecycle a
release drops, receipts that contradict themselves, refreshed variables after a phase passed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import run_cli, snapshot
from tests.e2e.promotion_world import LIFECYCLE_RELEASE, Promo, make_promo, ok, okj

LEGACY_RELEASE = "release.toml"  # the 1.4.0 fixture: no lifecycle
DAY = 86400


def _skewed(seconds: int, *args: str | Path, home: Path) -> subprocess.CompletedProcess[str]:
    """The real CLI with the zone's wall clock ``seconds`` ahead (a VM restored without NTP)."""
    code = ("import sys, time; real = time.time; time.time = lambda: real() + %d; "
            "sys.argv = ['bundlekit'] + sys.argv[1:]; from bundlekit.__main__ import main; sys.exit(main())" % seconds)
    return subprocess.run([sys.executable, "-c", code, *map(str, args), "--home", str(home)],
                          capture_output=True, text=True, timeout=300)


def _failing(w: Promo) -> Path:
    fail = 'assert schema == "42", schema\nassert "#{Acme.Fail}" != "yes", "told to fail"'
    return w.release(LEGACY_RELEASE, ('assert schema == "42", schema', fail),
                     ("[[variables]]", '[[variables]]\nname = "Acme.Fail"\nvalue = "no"\n\n[[variables]]'))


def _dashboard(home: Path) -> dict[str, Any]:
    r = run_cli("dashboard", "--json", home=home)
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(r.stdout)  # type: ignore[no-any-return]


def test_a_failure_after_a_deploy_stamped_in_the_future_is_the_latest_attempt_on_both_dashboards(
        tmp_path: Path) -> None:
    """r1015a A2: prod's clock ran a day fast for one deployment; the failure made after it with the
    right clock is the cell's latest attempt (not "failed before"), in prod and on the source
    dashboard the receipt feeds; the future time reads as suspicious."""
    w = make_promo(tmp_path / "w")
    ok("import", w.export(_failing(w), "prod", "a.bundle"), home=w.prod)
    ok("variables", "set", "acme-web", "Acme.ApiKey", "k-zone", "--sensitive", home=w.prod)
    w.targets(w.prod, "Production")
    deploy = ("deploy", "acme-web", "1.4.0", "--environment", "Production")
    ahead = _skewed(DAY, *deploy, home=w.prod)
    assert ahead.returncode == 0, ahead.stdout + ahead.stderr
    ok("variables", "set", "acme-web", "Acme.Fail", "yes", "--environment", "Production", home=w.prod)
    assert run_cli(*deploy, home=w.prod).returncode == 5
    ok("outbox", "pack", "-o", w.root / "media" / "r.bundle", home=w.prod)
    ok("import", w.root / "media" / "r.bundle", home=w.dev)
    for home in (w.prod, w.dev):
        (row,) = _dashboard(home)["projects"]
        (cell,) = [c for c in row["cells"] if c is not None and c["environment"] == "Production"]
        assert (cell["latest"]["state"], cell["latest"]["deployment_id"]) == ("failed", "Deployments-2"), home
        assert cell["previous_success"]["deployment_id"] == "Deployments-1"
        assert cell["failures"] == []
        text = run_cli("dashboard", home=home, env={"COLUMNS": "300"}).stdout
        assert "1.4.0 failed" in text and "failed before" not in text
    listed = ok("deployments", "list", home=w.prod).splitlines()[1:]  # under the header
    assert listed[0].startswith("Deployments-2 ") and "future: clock ahead?" in listed[1]


def test_show_of_an_older_release_lists_its_own_values_with_the_zones_on_top_as_its_deploy_uses(
        tmp_path: Path) -> None:
    """r1015u F1: after 1.4.1 was imported, `show acme-web 1.4.0` lists 1.4.0's snapshot (the
    values a redeploy of 1.4.0 uses), not 1.4.1's, with the zone's own values on top, each
    labelled by where it comes from."""
    w = make_promo(tmp_path / "w")
    newer = w.release(LEGACY_RELEASE, ("Server=db.prod;", "Server=db2.prod;"), version="1.4.1")
    for release, name in ((w.release_dir / LEGACY_RELEASE, "old.bundle"), (newer, "new.bundle")):
        ok("import", w.export(release, "prod", name), home=w.prod)
    ok("variables", "set", "acme-web", "Acme.ApiKey", "k-zone", "--sensitive", home=w.prod)
    ok("variables", "set", "acme-web", "Acme.Db.Name", "acme_zone", "--environment", "Production", home=w.prod)

    def shown(version: str) -> dict[tuple[str, str], dict[str, Any]]:
        r = run_cli("show", "acme-web", version, "--json", home=w.prod)
        assert r.returncode == 0, r.stdout + r.stderr
        return {(v["name"], ",".join(v["scope"].get("environment", []))): v for v in json.loads(r.stdout)["variables"]}

    old, new = shown("1.4.0"), shown("1.4.1")
    conn = ("ConnectionStrings:Default", "")
    assert (old[conn]["value"].split(";")[0], old[conn]["origin"]) == ("Server=db.prod", "release")
    assert (new[conn]["value"].split(";")[0], new[conn]["origin"]) == ("Server=db2.prod", "release")
    assert (old[("Acme.Db.Name", "Production")]["value"], old[("Acme.Db.Name", "Production")]["origin"]) == (
        "acme_zone", "local edit")
    assert (old[("Acme.Db.Name", "")]["value"], old[("Acme.Db.Name", "")]["origin"]) == ("acme_dev", "release")
    key = old[("Acme.ApiKey", "")]
    assert (key["value"], key["origin"]) == ("********", "placeholder (bound)")
    text = ok("show", "acme-web", "1.4.0", home=w.prod)
    assert "var ConnectionStrings:Default = 'Server=db.prod;" in text and "k-zone" not in text
    # ... and it is what a deploy of 1.4.0 uses
    w.targets(w.prod, "Production")
    ok("deploy", "acme-web", "1.4.0", "--environment", "Production", home=w.prod)
    assert w.config(w.prod, "Production")["ConnectionStrings"]["Default"].startswith("Server=db.prod;Database=acme_zone;")


def _without_lifecycle(w: Promo, version: str) -> Path:
    text = (w.release_dir / LIFECYCLE_RELEASE).read_text()
    start, end = text.index("[lifecycle]"), text.index("[[packages]]")
    out = w.release(LIFECYCLE_RELEASE, (text[start:end], ""), version=version)
    assert "lifecycle" not in out.read_text().split("[[packages]]")[0].split("[release]")[1]
    return out


def test_a_release_that_drops_its_projects_lifecycle_keeps_the_earlier_one_unless_the_operator_accepts(
        tmp_path: Path) -> None:
    """r1015a A6 (decision 681): 1.5.0 carries Development > Staging > Production; 1.6.0's file has no
    [lifecycle]. The import plan says the lifecycle was removed, and 1.6.0 keeps 1.5.0's: Production
    stays gated. Only `import --accept-lifecycle-removal` takes it as it is, and says so."""
    w = make_promo(tmp_path / "w")
    ok("import", w.export(w.release_dir / LIFECYCLE_RELEASE, "prod", "a.bundle"), home=w.prod)
    ok("variables", "set", "acme-web", "Acme.ApiKey", "k-zone", "--sensitive", home=w.prod)
    w.targets(w.prod, "Production")
    bare = w.export(_without_lifecycle(w, "1.6.0"), "prod", "b.bundle")
    plan = okj("import", bare, "--dry-run", home=w.prod)
    assert plan["lifecycle_removed"] == {"last_with_lifecycle": "1.5.0", "kept": True}
    text = ok("import", bare, home=w.prod)
    assert "lifecycle: REMOVED in 1.6.0 (release 1.5.0 had one); keeping 1.5.0's" in text
    before = snapshot(w.prod)
    r = run_cli("deploy", "acme-web", "1.6.0", "--environment", "Production", "--json", home=w.prod)
    assert (json.loads(r.stdout)["error"]["code"], r.returncode) == ("lifecycle_violation", 5), r.stdout + r.stderr
    assert snapshot(w.prod) == before
    shown = okj("lifecycle", "show", "acme-web", "1.6.0", home=w.prod)
    assert shown["lifecycle_kept_from"] == "1.5.0" and shown["lifecycle"] is not None
    assert "lifecycle kept from Acme Web 1.5.0" in ok("lifecycle", "show", "acme-web", "1.6.0", home=w.prod)

    # the operator accepts the removal for 1.7.0: deployable anywhere, and the plan said so
    bare = w.export(_without_lifecycle(w, "1.7.0"), "prod", "c.bundle")
    text = ok("import", bare, "--accept-lifecycle-removal", home=w.prod)
    assert "lifecycle: REMOVED in 1.7.0 (release 1.5.0 had one); accepted" in text
    assert okj("lifecycle", "show", "acme-web", "1.7.0", home=w.prod)["lifecycle"] is None
    r = run_cli("deploy", "acme-web", "1.7.0", "--environment", "Production", "--json", home=w.prod)
    assert r.returncode == 0, r.stdout + r.stderr


def _staged(w: Promo) -> Path:
    """dev deploys 1.5.0 to Development, staging imports and deploys it to Staging; staging's receipt."""
    ok("releases", "create", w.release_dir / LIFECYCLE_RELEASE, home=w.dev)
    ok("variables", "set", "acme-web", "Acme.ApiKey", "k-zone", "--sensitive", home=w.dev)
    w.targets(w.dev, "Development")
    w.targets(w.staging, "Staging")
    ok("deploy", "acme-web", "1.5.0", "--environment", "Development", home=w.dev)
    ok("import", w.export(w.release_dir / LIFECYCLE_RELEASE, "staging", "s.bundle"), home=w.staging)
    ok("variables", "set", "acme-web", "Acme.ApiKey", "k-zone", "--sensitive", home=w.staging)
    receipt = w.root / "media" / "staging-receipt.bundle"
    ok("deploy", "acme-web", "1.5.0", "--environment", "Staging", "--receipt-out", receipt, home=w.staging)
    return receipt


def _staged_then_newer_in_prod(w: Promo) -> None:
    """prod holds 1.5.0 with staging's proof (``_staged``) and 1.5.1, which no zone staged (other
    values, to refresh 1.5.0's from), and a Production target."""
    newer = w.release(LIFECYCLE_RELEASE, ("Server=db.prod;", "Server=db2.prod;"), version="1.5.1")
    receipt = _staged(w)
    ok("import", w.export(w.release_dir / LIFECYCLE_RELEASE, "prod", "p.bundle"), "--evidence", receipt, home=w.prod)
    ok("import", w.export(newer, "prod", "p2.bundle"), home=w.prod)
    ok("variables", "set", "acme-web", "Acme.ApiKey", "k-zone", "--sensitive", home=w.prod)
    w.targets(w.prod, "Production")


def test_a_receipt_saying_success_while_its_run_failed_is_no_lifecycle_proof(tmp_path: Path) -> None:
    """r1015a A8: staging signs, with its own key, an entry that says Success while its only run
    failed. Offered as evidence it is refused receipt_mismatch (exit 3), nothing changes, and
    Production stays closed; the honest receipt opens it."""
    from tests.refusals.forge import resign
    w = make_promo(tmp_path / "w")
    honest = _staged(w)

    def lie(m: dict[str, Any]) -> None:
        m["receipts"][0]["runs"][0]["state"] = "Failed"  # the entry still says Success

    forged = resign(honest, w.root / "media" / "lie.bundle", w.staging, mutate=lie)
    ok("import", w.export(w.release_dir / LIFECYCLE_RELEASE, "prod", "p.bundle"), home=w.prod)
    ok("variables", "set", "acme-web", "Acme.ApiKey", "k-zone", "--sensitive", home=w.prod)
    w.targets(w.prod, "Production")
    before = snapshot(w.prod)
    deploy = ("deploy", "acme-web", "1.5.0", "--environment", "Production")
    r = run_cli(*deploy, "--evidence", forged, "--json", home=w.prod)
    err = json.loads(r.stdout)["error"]
    assert (err["code"], r.returncode) == ("receipt_mismatch", 3), r.stdout + r.stderr
    assert "says Success, but its run of step" in err["message"] and "ended Failed" in err["message"]
    assert snapshot(w.prod) == before
    r = run_cli(*deploy, "--json", home=w.prod)
    assert json.loads(r.stdout)["error"]["code"] == "lifecycle_violation"
    r = run_cli(*deploy, "--evidence", honest, "--json", home=w.prod)
    assert r.returncode == 0 and json.loads(r.stdout)["state"] == "Success", r.stdout + r.stderr


def test_updating_a_releases_variables_after_staging_passed_is_said_in_the_plan_lifecycle_and_deployments(
        tmp_path: Path) -> None:
    """r1015a A1 (decision 682): prod holds staging's proof for 1.5.0, then refreshes 1.5.0's
    variables from 1.5.1 (never staged). The plan says it changes what Development and Staging
    tested; `lifecycle show` marks "variables updated after Staging passed"; the Production
    deployment that follows carries the refresh in its record."""
    w = make_promo(tmp_path / "w")
    _staged_then_newer_in_prod(w)
    shown = okj("lifecycle", "show", "acme-web", "1.5.0", home=w.prod)
    assert [p["variables_updated_after"] for p in shown["lifecycle"]["phases"]] == [False, False, False]

    plan = okj("releases", "update-variables", "acme-web", "1.5.0", "--dry-run", home=w.prod)
    assert plan["phases_passed"] == ["Development", "Staging"] and plan["changes"]
    text = ok("releases", "update-variables", "acme-web", "1.5.0", home=w.prod)
    assert "this changes what earlier phases tested: Development, Staging passed" in text
    shown = okj("lifecycle", "show", "acme-web", "1.5.0", home=w.prod)
    assert [p["variables_updated_after"] for p in shown["lifecycle"]["phases"]] == [True, True, False]
    assert "variables updated after Staging passed" in ok("lifecycle", "show", "acme-web", "1.5.0", home=w.prod)
    r = run_cli("deploy", "acme-web", "1.5.0", "--environment", "Production", "--json", home=w.prod)
    assert r.returncode == 0, r.stdout + r.stderr  # the proof keeps counting (decision 682) ...
    record = okj("deployments", "show", json.loads(r.stdout)["deployment_id"], home=w.prod)["record"]
    assert any("variables of 1.5.0 were updated" in x for x in record["warnings"]), record["warnings"]  # ... said
    assert "warning: the variables of 1.5.0 were updated" in ok(
        "deployments", "show", json.loads(r.stdout)["deployment_id"], home=w.prod)


def test_import_of_several_receipt_files_imports_each_in_turn_as_the_readme_glob_does(tmp_path: Path) -> None:
    """r1015u F2: `bundlekit import prod-receipts-*.bundle` (two files) records both receipts, newest
    first included (any order); a refused file stops the run and says what was imported before."""
    w = make_promo(tmp_path / "w")
    ok("import", w.export(w.release_dir / LEGACY_RELEASE, "prod", "a.bundle"), home=w.prod)
    ok("variables", "set", "acme-web", "Acme.ApiKey", "k-zone", "--sensitive", home=w.prod)
    w.targets(w.prod, "Production")
    receipts = []
    for n in (1, 2):
        ok("deploy", "acme-web", "1.4.0", "--environment", "Production", home=w.prod)
        receipts.append(w.root / "media" / f"prod-receipts-{n}.bundle")
        ok("outbox", "pack", "-o", receipts[-1], home=w.prod)
    r = run_cli("import", receipts[1], receipts[0], home=w.dev)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "recorded deployment Deployments-2" in r.stdout and "recorded deployment Deployments-1" in r.stdout
    assert len(_dashboard(w.dev)["deployments"]) == 2
    # a file that is no bundle, between two: refused; the first was imported, the last not tried
    junk = w.root / "media" / "junk.bundle"
    junk.write_bytes(b"not a bundle")
    ok("deploy", "acme-web", "1.4.0", "--environment", "Production", home=w.prod)
    third = w.root / "media" / "prod-receipts-3.bundle"
    ok("outbox", "pack", "-o", third, home=w.prod)
    r = run_cli("import", receipts[0], junk, third, home=w.dev)
    assert r.returncode == 3 and "error [truncated]" in r.stderr, r.stdout + r.stderr
    assert f"imported before it: {receipts[0]}; not tried: {third}" in r.stderr
    r = run_cli("import", receipts[0], third, "--json", home=w.dev)
    assert (json.loads(r.stdout)["error"]["code"], r.returncode) == ("usage", 2)


def test_export_warns_when_a_pinned_sequence_is_not_above_the_projects_last(tmp_path: Path) -> None:
    """r1015a N4: `export --sequence N` with N already used warns in the exporting zone, before the
    bundle crosses the gap only to be refused as a rollback; a number above the last does not."""
    w = make_promo(tmp_path / "w")
    release = w.release_dir / LEGACY_RELEASE
    w.export(release, "prod", "a.bundle")  # sequence 1
    ok("export", release, "--to", "prod", "-o", w.root / "media" / "b.bundle", "--sequence", "3", home=w.dev)
    # 2 was never used (a number a bundle for prod has is refused: sequence_taken, decision 800)
    r = run_cli("export", release, "--to", "prod", "-o", w.root / "media" / "pin2.bundle", "--sequence", "2",
                home=w.dev)
    assert r.returncode == 0 and "warning: --sequence 2 is not above 3" in r.stderr, r.stdout + r.stderr
    r = run_cli("export", release, "--to", "prod", "-o", w.root / "media" / "pin9.bundle", "--sequence", "9",
                "--json", home=w.dev)
    assert r.returncode == 0 and json.loads(r.stdout)["sequence_reused_below"] is None, r.stdout + r.stderr
    assert "warning" not in r.stderr


def test_unset_of_a_release_value_names_the_scopes_the_zone_did_set_that_name_with(tmp_path: Path) -> None:
    """r1015u F4: `variables unset NAME` without the scope of the value the zone set is refused
    not_local, and now says which scope options remove the zone's value."""
    w = make_promo(tmp_path / "w")
    ok("import", w.export(w.release_dir / LEGACY_RELEASE, "prod", "a.bundle"), home=w.prod)
    ok("variables", "set", "acme-web", "Acme.Db.Name", "acme_zone", "--environment", "Production", home=w.prod)
    before = snapshot(w.prod)
    r = run_cli("variables", "unset", "acme-web", "Acme.Db.Name", "--json", home=w.prod)
    err = json.loads(r.stdout)["error"]
    assert (err["code"], r.returncode) == ("not_local", 1)
    assert "Zone prod set Acme.Db.Name with --environment Production: give those scope options" in err["message"]
    assert err["details"]["set_here"] == ["--environment Production"]
    assert snapshot(w.prod) == before
    ok("variables", "unset", "acme-web", "Acme.Db.Name", "--environment", "Production", home=w.prod)


def test_deployments_list_cuts_a_long_project_name_so_state_and_time_stay_on_screen(tmp_path: Path) -> None:
    """r1015a N3: a 200-character project name (allowed) is cut with an ellipsis in `deployments list`."""
    w = make_promo(tmp_path / "w")
    long_name = "Acme " + "L" * 195
    release = w.release(LEGACY_RELEASE, ('name = "Acme Web"', f'name = "{long_name}"\nslug = "acme-web"'))
    ok("releases", "create", release, home=w.dev)
    ok("variables", "set", "acme-web", "Acme.ApiKey", "k-zone", "--sensitive", home=w.dev)
    w.targets(w.dev, "Production")
    ok("deploy", "acme-web", "1.4.0", "--environment", "Production", home=w.dev)
    header, line = ok("deployments", "list", home=w.dev).splitlines()
    assert header.split() == ["Deployment", "Project", "Release", "Environment", "State", "Started"]
    assert len(line) < 120 and "Acme LLLLLLLLLLLLLL…" in line and " Success " in line, line
    assert long_name in ok("deployments", "show", "Deployments-1", home=w.dev)


def test_import_replace_withdraws_the_waivers_made_for_the_content_it_replaces(tmp_path: Path) -> None:
    """r1015a A4: a waiver of 1.5.0 was approved for 1.5.0 as it was; `import --replace` of other
    content under 1.5.0 withdraws it (the plan says so), keeps the waivers for every release, and
    Production is closed again until someone waives the new content."""
    w = make_promo(tmp_path / "w")
    ok("import", w.export(w.release_dir / LIFECYCLE_RELEASE, "prod", "a.bundle"), home=w.prod)
    ok("variables", "set", "acme-web", "Acme.ApiKey", "k-zone", "--sensitive", home=w.prod)
    w.targets(w.prod, "Production")
    waive = ("lifecycle", "waive", "acme-web", "--phase")
    ok(*waive, "Staging", "--release", "1.5.0", "--reason", "CAB-42", home=w.prod)
    ok(*waive, "Development", "--reason", "no dev zone", home=w.prod)  # every release
    evil = w.release(LIFECYCLE_RELEASE, ("Server=db.prod;", "Server=evil.example;"))
    replaced = w.root / "media" / "b.bundle"
    ok("export", evil, "--to", "prod", "-o", replaced, "--replace", home=w.dev)
    plan = okj("import", replaced, "--replace", "--dry-run", home=w.prod)
    assert plan["withdrawn_waivers"] == [{"phase": "Staging", "reason": "CAB-42"}]
    text = ok("import", replaced, "--replace", home=w.prod)
    assert "waiver withdrawn: Staging (CAB-42): it was made for the content this replaces" in text
    left = okj("lifecycle", "waivers", "acme-web", home=w.prod)["waivers"]
    assert [(x["phase"], x["release"]) for x in left] == [("Development", "*")]
    r = run_cli("deploy", "acme-web", "1.5.0", "--environment", "Production", "--json", home=w.prod)
    assert json.loads(r.stdout)["error"]["code"] == "lifecycle_violation", r.stdout + r.stderr
