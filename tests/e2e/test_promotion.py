"""Promotion through the real CLI: lifecycles, evidence from another zone, releases that keep their
variables, projects carried out of order, refusals reported back, tenants."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.conftest import CANARY, run_cli, snapshot
from tests.e2e.promotion_world import LIFECYCLE_RELEASE, Promo, make_promo, ok, okj, promo_state
from tests.pgserver import PostgresServer

LEGACY_RELEASE = "release.toml"  # the 1.4.0 fixture: no lifecycle


def _refused(args: Sequence[str | Path], home: Path, code: str, exit_code: int, *watch: Path,
             w: Promo | None = None) -> dict[str, Any]:
    """Run one command that must be refused with ``code``; every path watched stays byte-identical,
    and with ``w`` so does the zone's state wherever it is kept (a PostgreSQL database too)."""
    before = snapshot(home, *watch), w and promo_state(w, home)
    r = run_cli(*args, "--json", home=home)
    err = json.loads(r.stdout)["error"]
    assert (err["code"], r.returncode) == (code, exit_code), r.stdout + r.stderr
    assert (snapshot(home, *watch), w and promo_state(w, home)) == before
    return err  # type: ignore[no-any-return]


def _deployed(args: Sequence[str | Path], home: Path) -> dict[str, Any]:
    r = run_cli(*args, "--json", home=home)
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(r.stdout)  # type: ignore[no-any-return]


def _bind(w: Promo, home: Path, value: str = "k-zone") -> None:
    ok("variables", "set", "acme-web", "Acme.ApiKey", value, "--sensitive", home=home)


def test_three_phase_lifecycle_refuses_each_phase_until_the_one_before_passed(tmp_path: Path) -> None:
    w = make_promo(tmp_path / "w")
    ok("releases", "create", w.release_dir / LIFECYCLE_RELEASE, home=w.dev)
    _bind(w, w.dev)
    w.targets(w.dev, "Development", "Staging", "Production")
    deploy = ["deploy", "acme-web", "1.5.0", "--environment"]
    err = _refused([*deploy, "Production"], w.dev, "lifecycle_violation", 5)
    assert err["details"]["blocking_phase"] == "Staging" and "--evidence" in err["message"]
    err = _refused([*deploy, "Staging"], w.dev, "lifecycle_violation", 5)
    assert err["details"]["blocking_phase"] == "Development"
    err = _refused([*deploy, "Hotfix"], w.dev, "unknown_environment", 1)  # not a phase to pass: a name it lacks
    assert "no such environment" in err["message"]
    for env in ("Development", "Staging", "Production"):
        rec = _deployed([*deploy, env], w.dev)
        assert rec["state"] == "Success" and rec["waived"] == []
    assert [d["environment"] for d in okj("deployments", "list", home=w.dev)["deployments"]] == [
        "Production", "Staging", "Development"]


def test_a_waiver_opens_a_phase_and_is_recorded_with_the_deployment(tmp_path: Path) -> None:
    w = make_promo(tmp_path / "w")
    ok("releases", "create", w.release_dir / LIFECYCLE_RELEASE, home=w.dev)
    _bind(w, w.dev)
    w.targets(w.dev, "Development", "Production")
    ok("deploy", "acme-web", "1.5.0", "--environment", "Development", home=w.dev)
    _refused(["lifecycle", "waive", "acme-web", "--phase", "Staging", "--reason", " "], w.dev, "invalid_input", 1)
    _refused(["lifecycle", "waive", "acme-web", "--phase", "QA", "--reason", "x"], w.dev, "unknown_phase", 1)
    ok("lifecycle", "waive", "acme-web", "--phase", "staging", "--release", "1.5.0", "--reason", "CAB-7 hotfix",
       home=w.dev)
    rec = _deployed(["deploy", "acme-web", "1.5.0", "--environment", "Production"], w.dev)
    assert rec["state"] == "Success" and rec["waived"] == ["Staging"]
    show = okj("lifecycle", "show", "acme-web", "1.5.0", home=w.dev)
    assert [x["reason"] for x in show["waivers"]] == ["CAB-7 hotfix"]
    assert show["lifecycle"]["phases"][1]["waived"] and not show["lifecycle"]["phases"][1]["passed"]


def _through_staging(w: Promo, release: Path, version: str, name: str) -> Path:
    """dev deploys to Development and exports; staging imports and deploys to Staging; returns its receipt."""
    ok("deploy", "acme-web", version, "--environment", "Development", home=w.dev)
    bundle = w.export(release, "staging", f"{name}-staging.bundle")
    ok("import", bundle, home=w.staging)
    _bind(w, w.staging)
    receipt = w.root / "media" / f"{name}-staging-receipt.bundle"
    ok("deploy", "acme-web", version, "--environment", "Staging", "--receipt-out", receipt, home=w.staging)
    return receipt


def test_a_staging_zones_receipt_opens_production_elsewhere_and_forged_or_wrong_receipts_are_refused(
        tmp_path: Path, pg: PostgresServer | None) -> None:
    w = make_promo(tmp_path / "w", pg)
    other = w.release(LIFECYCLE_RELEASE, version="1.5.1")
    for release in (w.release_dir / LIFECYCLE_RELEASE, other):
        ok("releases", "create", release, home=w.dev)
    _bind(w, w.dev)
    w.targets(w.dev, "Development")
    w.targets(w.staging, "Staging")
    right = _through_staging(w, w.release_dir / LIFECYCLE_RELEASE, "1.5.0", "a")
    wrong = _through_staging(w, other, "1.5.1", "b")  # a receipt of another release
    to_prod = w.export(w.release_dir / LIFECYCLE_RELEASE, "prod", "a-prod.bundle")
    forged = w.root / "media" / "forged.bundle"
    data = bytearray(right.read_bytes())
    data[len(data) // 2] ^= 1
    forged.write_bytes(bytes(data))

    # at import: evidence about another release refuses the import, and reports nothing back
    err = _refused(["import", to_prod, "--evidence", wrong], w.prod, "evidence_mismatch", 3, wrong, w=w)
    assert "1.5.1" in err["message"] and "no successful deployment of Acme Web 1.5.0" in err["message"]
    assert okj("outbox", "list", home=w.prod)["refusals"] == []
    ok("import", to_prod, home=w.prod)
    _bind(w, w.prod)
    w.targets(w.prod, "Production")
    deploy = ["deploy", "acme-web", "1.5.0", "--environment", "Production"]
    err = _refused(deploy, w.prod, "lifecycle_violation", 5, w=w)
    assert err["details"]["blocking_phase"] == "Staging"
    _refused([*deploy, "--evidence", forged], w.prod, "invalid_signature", 3, forged, w=w)
    _refused([*deploy, "--evidence", wrong], w.prod, "evidence_mismatch", 3, wrong, w=w)
    _refused([*deploy, "--evidence", to_prod], w.prod, "wrong_kind", 3, w=w)  # a release is no receipt
    rec = _deployed([*deploy, "--evidence", right], w.prod)
    assert rec["state"] == "Success"
    assert _deployed(deploy, w.prod)["state"] == "Success"  # the proof was kept: a redeploy needs no --evidence
    phases = okj("lifecycle", "show", "acme-web", "1.5.0", home=w.prod)["lifecycle"]["phases"]
    assert [p["passed"] for p in phases] == [True, True, True]
    assert any("zone staging (receipt)" in e for e in phases[1]["evidence"])
    assert any("zone dev (attested)" in e for e in phases[0]["evidence"])


def test_import_evidence_is_kept_for_later_deployments(tmp_path: Path, pg: PostgresServer | None) -> None:
    w = make_promo(tmp_path / "w", pg)
    ok("releases", "create", w.release_dir / LIFECYCLE_RELEASE, home=w.dev)
    _bind(w, w.dev)
    w.targets(w.dev, "Development")
    w.targets(w.staging, "Staging")
    receipt = _through_staging(w, w.release_dir / LIFECYCLE_RELEASE, "1.5.0", "a")
    to_prod = w.export(w.release_dir / LIFECYCLE_RELEASE, "prod", "a-prod.bundle")
    r = run_cli("import", to_prod, "--evidence", receipt, "--json", home=w.prod)
    assert r.returncode == 0, r.stderr
    assert [(e["zone"], e["environment"], e["kind"]) for e in json.loads(r.stdout)["evidence"]] == [
        ("dev", "Development", "attested"), ("staging", "Staging", "receipt")]
    _bind(w, w.prod)
    w.targets(w.prod, "Production")
    assert _deployed(["deploy", "acme-web", "1.5.0", "--environment", "production"], w.prod)["state"] == "Success"


def test_redeploying_an_older_release_uses_its_own_variables_with_the_zones_values_on_top(tmp_path: Path) -> None:
    w = make_promo(tmp_path / "w")
    newer = w.release(LEGACY_RELEASE, ("Server=db.prod;", "Server=db2.prod;"),
                      ('value = "s3cret-value"', 'value = "n3w-s3cret-value"'), version="1.4.1")
    for release, name in ((w.release_dir / LEGACY_RELEASE, "old.bundle"), (newer, "new.bundle")):
        ok("import", w.export(release, "prod", name), home=w.prod)
    _bind(w, w.prod)
    w.targets(w.prod, "Production")
    deploy = ["deploy", "acme-web"]
    _deployed([*deploy, "1.4.1", "--environment", "Production"], w.prod)
    assert w.config(w.prod, "Production")["ConnectionStrings"]["Default"].startswith("Server=db2.prod;")
    _deployed([*deploy, "1.4.0", "--environment", "Production"], w.prod)
    old = w.config(w.prod, "Production")["ConnectionStrings"]["Default"]
    assert old.startswith("Server=db.prod;Database=acme_prod;") and old.endswith(f"Password={CANARY}")
    # the zone's own value applies on top of whichever release is deployed
    ok("variables", "set", "acme-web", "Acme.Db.Name", "acme_zone", "--environment", "Production", home=w.prod)
    _deployed([*deploy, "1.4.0", "--environment", "Production"], w.prod)
    assert "Database=acme_zone;" in w.config(w.prod, "Production")["ConnectionStrings"]["Default"]

    # update-variables: the plan first (secrets masked, nothing changed), then the refresh
    before = snapshot(w.prod)
    plan = okj("releases", "update-variables", "acme-web", "1.4.0", "--dry-run", home=w.prod)
    assert snapshot(w.prod) == before
    changes = {c["name"]: c for c in plan["changes"]}
    assert plan["from_release"] == "1.4.1" and set(changes) == {"ConnectionStrings:Default", "Acme.Db.Password"}
    assert changes["Acme.Db.Password"]["old"] == changes["Acme.Db.Password"]["new"] == "********"
    text = ok("releases", "update-variables", "acme-web", "1.4.0", "--dry-run", home=w.prod)
    assert CANARY not in json.dumps(plan) and CANARY not in text and "n3w-s3cret" not in text
    ok("releases", "update-variables", "acme-web", "1.4.0", home=w.prod)
    _deployed([*deploy, "1.4.0", "--environment", "Production"], w.prod)
    refreshed = w.config(w.prod, "Production")["ConnectionStrings"]["Default"]
    assert refreshed.startswith("Server=db2.prod;Database=acme_zone;") and refreshed.endswith("=n3w-s3cret-value")
    assert okj("releases", "update-variables", "acme-web", "1.4.0", "--dry-run", home=w.prod)["changes"] == []


def test_unset_removes_only_what_the_zone_set_and_set_asks_before_adding_a_name(tmp_path: Path) -> None:
    w = make_promo(tmp_path / "w")
    ok("import", w.export(w.release_dir / LEGACY_RELEASE, "prod", "a.bundle"), home=w.prod)
    err = _refused(["variables", "unset", "acme-web", "Acme.Db.Name"], w.prod, "not_local", 1)
    assert "overridden" in err["message"] and "variables set" in err["message"]
    err = _refused(["variables", "set", "acme-web", "Acme.Db.Nmae", "x"], w.prod, "unknown_variable", 1)
    assert err["details"]["suggestions"] == ["Acme.Db.Name"] and "--new" in err["message"]
    ok("variables", "set", "acme-web", "Acme.Feature", "on", "--new", home=w.prod)
    ok("variables", "set", "acme-web", "acme.db.name", "acme_local", home=w.prod)  # an override, same scope
    assert okj("variables", "unset", "acme-web", "Acme.Db.Name", home=w.prod)["restored"] is True
    rows = {(v["name"].lower(), json.dumps(v["scope"])): v for v in okj("variables", "list", "acme-web",
                                                                         home=w.prod)["variables"]}
    assert rows[("acme.db.name", "{}")]["value"] == "acme_dev"  # the release's value applies again
    assert okj("variables", "unset", "acme-web", "Acme.Feature", home=w.prod)["restored"] is False
    # a value set for a name that is sensitive anywhere in the project is sensitive too
    assert okj("variables", "set", "acme-web", "Acme.Db.Password", "p", "--environment", "Production",
               home=w.prod)["sensitive"] is True


def test_two_projects_carried_out_of_order_and_refusals_reach_the_source_dashboard(tmp_path: Path) -> None:
    w = make_promo(tmp_path / "w")
    legacy = w.release_dir / LEGACY_RELEASE
    billing = w.release(LEGACY_RELEASE, ('name = "Acme Web"', 'name = "Billing"'), as_name="billing.toml")
    a1 = w.export(legacy, "prod", "acme-1.4.0.bundle")
    b1 = w.export(billing, "prod", "billing-1.4.0.bundle")
    # a backup of dev taken now: restored from it, dev knows nothing of the export of 1.4.1 below
    restored = shutil.copytree(w.dev, w.root / "dev-restored", symlinks=True)
    a2 = w.export(w.release(LEGACY_RELEASE, version="1.4.1"), "prod", "acme-1.4.1.bundle")
    ok("import", a2, home=w.prod)
    r = run_cli("import", b1, "--json", home=w.prod)  # another project: never blocked by acme's numbers
    assert r.returncode == 0, r.stdout + r.stderr
    before = snapshot(w.prod)
    r = run_cli("import", a1, "--json", home=w.prod)
    err = json.loads(r.stdout)["error"]
    assert (err["code"], r.returncode) == ("rollback", 3)
    assert "re-export it in zone dev" in err["message"] and "Acme Web 1.4.1 (sequence 2)" in err["message"]
    assert err["details"]["last_release"] == "1.4.1" and err["details"]["hints"]
    after = snapshot(w.prod)
    assert {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)} == {str(w.prod / "state.db")}
    ok_again = snapshot(w.prod)
    assert run_cli("import", a1, home=w.prod).returncode == 3
    assert snapshot(w.prod) == ok_again  # the same refusal is reported once
    # the newest export is refused too: dev, restored from that backup, pins the sequence 1.4.1 had
    # (dev itself refuses to, sequence_taken: decision 800)
    a3 = w.root / "media" / "acme-1.4.2.bundle"
    ok("export", w.release(LEGACY_RELEASE, version="1.4.2"), "--to", "prod", "-o", a3, "--sequence", "2",
       home=restored)
    assert run_cli("import", a3, home=w.prod).returncode == 3
    refused = okj("outbox", "list", home=w.prod)["refusals"]
    assert sorted((x["release"], x["code"]) for x in refused) == [("1.4.0", "rollback"), ("1.4.2", "sequence_reused")]
    receipt = w.root / "media" / "refusals.bundle"
    packed = okj("outbox", "pack", "-o", receipt, home=w.prod)
    assert packed["deployments"] == [] and len(packed["refusals"]) == 2
    r = run_cli("import", receipt, "--json", home=restored)
    assert r.returncode == 0, r.stderr
    assert {x["code"] for x in json.loads(r.stdout)["refusals"]} == {"rollback", "sequence_reused"}
    view = json.loads(run_cli("dashboard", "--json", home=restored).stdout)
    acme = next(p for p in view["projects"] if p["slug"] == "acme-web")
    cell = acme["cells"][view["columns"].index(["prod", "(awaiting)"])]
    assert cell["latest"]["state"] == "refused" and cell["latest"]["release"] == "1.4.2"
    assert cell["latest"]["reason"].startswith("[sequence_reused]")
    assert [(f["release"], f["state"]) for f in cell["failures"]] == [("1.4.0", "refused")]
    text = run_cli("dashboard", home=restored, env={"COLUMNS": "300"}).stdout  # the header line is not cut
    assert "2 import(s) refused;" in text and "to look at: 2" in text and "1.4.2 refused" in text
    assert "sequence_reused" in text


def test_tenant_scoped_values_apply_to_that_tenants_deployments_only(tmp_path: Path) -> None:
    w = make_promo(tmp_path / "w")
    ok("import", w.export(w.release_dir / LEGACY_RELEASE, "prod", "a.bundle"), home=w.prod)
    w.targets(w.prod, "Production")
    _bind(w, w.prod, "k-untenanted")
    # the first value of a tenant names it: nothing knew it before, so it takes --new
    ok("variables", "set", "acme-web", "Acme.ApiKey", "k-acme-corp", "--tenant", "Acme Corp", "--new", home=w.prod)
    deploy = ["deploy", "acme-web", "1.4.0", "--environment", "Production"]
    rec = _deployed([*deploy, "--tenant", "acme corp"], w.prod)
    assert rec["tenant"] == "Acme Corp"
    assert w.config(w.prod, "Production")["Acme"]["ApiKey"] == "k-acme-corp"
    _deployed(deploy, w.prod)
    assert w.config(w.prod, "Production")["Acme"]["ApiKey"] == "k-untenanted"
    err = _refused([*deploy, "--tenant", "Acme Crop"], w.prod, "unknown_tenant", 1)
    assert "'Acme Corp'" in err["message"]
    # channel and step scopes set here apply by the same rules: a channel the release is not in
    # never matches; the release's channel beats no scope; a step scope beats a tenant's
    ok("variables", "set", "acme-web", "Acme.ApiKey", "k-beta", "--channel", "Beta", "--new", home=w.prod)
    ok(*deploy, home=w.prod)
    assert w.config(w.prod, "Production")["Acme"]["ApiKey"] == "k-untenanted"
    ok("variables", "set", "acme-web", "Acme.ApiKey", "k-default-channel", "--channel", "default", home=w.prod)
    ok(*deploy, home=w.prod)
    assert w.config(w.prod, "Production")["Acme"]["ApiKey"] == "k-default-channel"
    ok("variables", "set", "acme-web", "Acme.ApiKey", "k-step", "--step", "Deploy web", home=w.prod)
    ok(*deploy, "--tenant", "Acme Corp", home=w.prod)
    assert w.config(w.prod, "Production")["Acme"]["ApiKey"] == "k-step"
    receipt = w.root / "media" / "r.bundle"
    ok("outbox", "pack", "-o", receipt, home=w.prod)
    ok("import", receipt, home=w.dev)
    view = json.loads(run_cli("dashboard", "--json", home=w.dev).stdout)
    rows = {(p["slug"], p["tenant"]): p for p in view["projects"]}
    assert set(rows) == {("acme-web", None), ("acme-web", "Acme Corp")}
    column = view["columns"].index(["prod", "Production"])
    assert rows[("acme-web", "Acme Corp")]["cells"][column]["latest"]["tenant"] == "Acme Corp"
    assert rows[("acme-web", None)]["cells"][column]["latest"]["tenant"] is None


def test_releases_create_keeps_a_version_unless_replaced_and_never_authors_an_imported_project(
        tmp_path: Path) -> None:
    w = make_promo(tmp_path / "w")
    release = w.release_dir / LIFECYCLE_RELEASE
    assert okj("releases", "create", release, home=w.dev)["status"] == "created"
    assert okj("releases", "create", release, home=w.dev)["status"] == "unchanged"
    recut = w.release(LIFECYCLE_RELEASE, ('notes = "', 'notes = "re-cut: '))
    err = _refused(["releases", "create", recut], w.dev, "release_exists", 4)
    assert "--replace" in err["message"]
    assert okj("releases", "create", recut, "--replace", home=w.dev)["status"] == "replaced"
    listed = okj("releases", "list", home=w.dev)["releases"]
    assert [(r["version"], r["local"], r["lifecycle"] is not None) for r in listed] == [("1.5.0", True, True)]
    # a release created here has nobody to send a receipt to
    _bind(w, w.dev)
    w.targets(w.dev, "Development")
    _refused(["deploy", "acme-web", "1.5.0", "--environment", "Development", "--receipt-out",
              tmp_path / "r.bundle"], w.dev, "usage", 2)
    # a project that came from dev is authored in dev, not in prod (dev exports what it holds: the re-cut)
    ok("import", w.export(recut, "prod", "a.bundle"), home=w.prod)
    _refused(["releases", "create", release], w.prod, "not_local", 1)
    # the release digest is the same in the zone that made it and the one that imported it
    digests = {okj("lifecycle", "show", "acme-web", "1.5.0", home=h)["release_digest"] for h in (w.dev, w.prod)}
    assert len(digests) == 1 and None not in digests


def test_failures_reported_in_receipts_all_reach_the_source_dashboard_in_one_column(
        tmp_path: Path, pg: PostgresServer | None) -> None:
    """The issue's findings, with their right values: two failed deployments followed by a
    success, all reported in one receipt, are three deployments and two failures on the source
    dashboard (not 1 failure of 3); a deploy to ``production`` shares ``Production``'s column;
    a re-export of the release that last succeeded awaits its receipt in the zone's
    ``(awaiting)`` column and leaves the Production cell's success and failures where they are
    (decision 392); the receipt of a deployment of the re-export ends the wait. Staging and prod
    on each engine (``pg``)."""
    w = make_promo(tmp_path / "w", pg)
    fail = 'assert schema == "42", schema\nassert "#{Acme.Fail}" != "yes", "told to fail"'
    release = w.release(LEGACY_RELEASE, ('assert schema == "42", schema', fail),
                        ("[[variables]]", '[[variables]]\nname = "Acme.Fail"\nvalue = "no"\n\n[[variables]]'))
    ok("import", w.export(release, "prod", "a.bundle"), home=w.prod)
    _bind(w, w.prod)
    w.targets(w.prod, "Production")
    ok("variables", "set", "acme-web", "Acme.Fail", "yes", "--environment", "Production", home=w.prod)
    deploy = ["deploy", "acme-web", "1.4.0", "--environment"]
    for _ in range(2):
        assert run_cli(*deploy, "Production", home=w.prod).returncode == 5
    ok("variables", "unset", "acme-web", "Acme.Fail", "--environment", "Production", home=w.prod)
    assert _deployed([*deploy, "production"], w.prod)["state"] == "Success"
    receipt = w.root / "media" / "r.bundle"
    ok("outbox", "pack", "-o", receipt, home=w.prod)
    ok("import", receipt, home=w.dev)
    again = w.export(release, "prod", "again.bundle")  # the same release sent again

    view = json.loads(run_cli("dashboard", "--json", home=w.dev).stdout)
    assert view["columns"] == [["prod", "Production"], ["prod", "(awaiting)"]]
    (row,) = view["projects"]
    cell, sent = row["cells"]
    assert (cell["latest"]["state"], cell["latest"]["release"]) == ("succeeded", "1.4.0")
    assert cell["previous_success"] is None
    assert [f["state"] for f in cell["failures"]] == ["failed", "failed"]
    assert len({f["deployment_id"] for f in cell["failures"]} | {cell["latest"]["deployment_id"]}) == 3
    assert (sent["latest"]["state"], sent["latest"]["release"]) == ("exported", "1.4.0")
    text = run_cli("dashboard", home=w.dev, env={"COLUMNS": "200"}).stdout  # the header line is not cut
    assert "1 export(s) awaiting a receipt" in text
    assert "1.4.0 exported" in text and "1.4.0 succeeded" in text
    assert "+2 failed before" in text

    # prod imports the re-export and deploys it: its receipt answers the export
    ok("import", again, home=w.prod)
    assert _deployed([*deploy, "Production"], w.prod)["state"] == "Success"
    ok("outbox", "pack", "-o", w.root / "media" / "r2.bundle", home=w.prod)
    ok("import", w.root / "media" / "r2.bundle", home=w.dev)
    view = json.loads(run_cli("dashboard", "--json", home=w.dev).stdout)
    assert view["columns"] == [["prod", "Production"]]
    (cell,) = view["projects"][0]["cells"]
    assert (cell["latest"]["state"], cell["latest"]["release"]) == ("succeeded", "1.4.0")
    assert "awaiting a receipt" not in run_cli("dashboard", home=w.dev, env={"COLUMNS": "200"}).stdout
