"""Promotion findings still open after verification v1015, through the real CLI: a receipt entry
that says Success with no run, a changed lifecycle, refreshed variables on the source dashboard, a
refusal a later success supersedes, tenant variables in an untenanted project, wording."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import run_cli, snapshot
from tests.e2e.promotion_world import LIFECYCLE_RELEASE, make_promo, ok, okj
from tests.e2e.test_promotion_r1015 import LEGACY_RELEASE, _staged, _staged_then_newer_in_prod


def _error(r: Any) -> dict[str, Any]:
    return json.loads(r.stdout)["error"]  # type: ignore[no-any-return]


def test_a_receipt_saying_success_with_no_run_at_all_is_no_lifecycle_proof_at_deploy_or_import(
        tmp_path: Path) -> None:
    """v1015 A8: staging signs, with its own key, an entry that says Success but carries no run
    although 1.5.0 has steps. Offered with `deploy --evidence` or `import --evidence` it is refused
    receipt_mismatch (exit 3), prod's home unchanged; the honest receipt opens Production."""
    from tests.refusals.forge import resign
    w = make_promo(tmp_path / "w")
    honest = _staged(w)

    def nothing_ran(m: dict[str, Any]) -> None:
        assert len(m["receipts"]) == 1 and m["receipts"][0]["runs"]
        m["receipts"][0]["runs"] = []  # the entry still says Success
        m["blobs"] = []  # the runs' logs went with them

    forged = resign(honest, w.root / "media" / "norun.bundle", w.staging, mutate=nothing_ran, blobs=b"")
    release = w.export(w.release_dir / LIFECYCLE_RELEASE, "prod", "p.bundle")
    before = snapshot(w.prod)
    r = run_cli("import", release, "--evidence", forged, "--json", home=w.prod)
    err = _error(r)
    assert (err["code"], r.returncode) == ("receipt_mismatch", 3), r.stdout + r.stderr
    assert "reports no run" in err["message"] and "step(s)" in err["message"]
    assert snapshot(w.prod) == before
    ok("import", release, home=w.prod)
    ok("variables", "set", "acme-web", "Acme.ApiKey", "k-zone", "--sensitive", home=w.prod)
    w.targets(w.prod, "Production")
    before = snapshot(w.prod)
    deploy = ("deploy", "acme-web", "1.5.0", "--environment", "Production")
    for extra in (("--dry-run",), ()):
        r = run_cli(*deploy, *extra, "--evidence", forged, "--json", home=w.prod)
        assert (_error(r)["code"], r.returncode) == ("receipt_mismatch", 3), r.stdout + r.stderr
        assert snapshot(w.prod) == before
    r = run_cli(*deploy, "--json", home=w.prod)
    assert _error(r)["code"] == "lifecycle_violation"
    r = run_cli(*deploy, "--evidence", honest, "--json", home=w.prod)
    assert r.returncode == 0 and json.loads(r.stdout)["state"] == "Success", r.stdout + r.stderr


STAGING_PHASE = '[[lifecycle.phases]]\nname = "Staging"\nenvironments = ["Staging"]\n'
DEV_PHASE = 'name = "Development"\nenvironments = ["Development"]\n\n' + STAGING_PHASE
#: 1.5.0's lifecycle with its Staging phase dropped (Staging joins the Development phase).
NO_STAGING_PHASE = 'name = "Development"\nenvironments = ["Development", "Staging"]\n'


def test_a_release_whose_lifecycle_drops_a_phase_keeps_the_earlier_demand_unless_the_operator_accepts(
        tmp_path: Path) -> None:
    """v1015 A6 follow-up (decision 720): 1.5.0 carries Development > Staging > Production; 1.6.0's
    file drops the Staging phase (Staging joins Development's). The import plan says the lifecycle changed and what it no longer demands,
    1.6.0 keeps 1.5.0's lifecycle, and Production stays closed without Staging proof (home
    unchanged). Only `--accept-lifecycle-removal` takes 1.7.0's own (Staging made optional). A release that adds a phase
    (1.8.0: QA before Staging) demands more and keeps its own without a word."""
    w = make_promo(tmp_path / "w")
    ok("import", w.export(w.release_dir / LIFECYCLE_RELEASE, "prod", "a.bundle"), home=w.prod)
    ok("variables", "set", "acme-web", "Acme.ApiKey", "k-zone", "--sensitive", home=w.prod)
    w.targets(w.prod, "Production")
    ok("lifecycle", "waive", "acme-web", "--phase", "Development", "--reason", "no dev zone", home=w.prod)
    dropped = w.export(w.release(LIFECYCLE_RELEASE, (DEV_PHASE, NO_STAGING_PHASE), version="1.6.0"), "prod", "b.bundle")
    plan = okj("import", dropped, "--dry-run", home=w.prod)
    assert plan["lifecycle_weakened"] == {
        "last_with_lifecycle": "1.5.0", "kept": True,
        "skipped": ["Staging needed phase Development (1 of Development) passed first",
                    "Production needed phase Development (1 of Development) passed first",
                    "Production needed phase Staging (1 of Staging) passed first"]}, plan
    text = ok("import", dropped, home=w.prod)
    assert "lifecycle: CHANGED in 1.6.0: it demands less than 1.5.0's: Staging needed phase Development" in text
    assert "\n    keeping 1.5.0's (Development > Staging > Production)" in text and "\\x0a" not in text
    before = snapshot(w.prod)
    deploy = ("deploy", "acme-web", "1.6.0", "--environment", "Production", "--json")
    r = run_cli(*deploy, home=w.prod)
    err = _error(r)
    assert (err["code"], r.returncode) == ("lifecycle_violation", 5), r.stdout + r.stderr
    assert "Staging" in err["message"]
    assert snapshot(w.prod) == before
    shown = okj("lifecycle", "show", "acme-web", "1.6.0", home=w.prod)
    assert shown["lifecycle_kept_from"] == "1.5.0" and shown["lifecycle_weakened"]
    assert [p["name"] for p in shown["lifecycle"]["phases"]] == ["Development", "Staging", "Production"]
    assert "this release's own demands less (Staging needed phase Development" in ok(
        "lifecycle", "show", "acme-web", "1.6.0", home=w.prod)

    accepted = w.export(w.release(LIFECYCLE_RELEASE, (STAGING_PHASE, STAGING_PHASE + "optional = true\n"),
                                    version="1.7.0"), "prod", "c.bundle")
    text = ok("import", accepted, "--accept-lifecycle-removal", home=w.prod)
    assert "CHANGED in 1.7.0" in text and "accepted (--accept-lifecycle-removal): its own lifecycle applies" in text
    r = run_cli("deploy", "acme-web", "1.7.0", "--environment", "Production", "--json", home=w.prod)
    assert r.returncode == 0, r.stdout + r.stderr

    qa = '[[lifecycle.phases]]\nname = "QA"\nenvironments = ["QA"]\n\n' + STAGING_PHASE
    stricter = w.export(w.release(LIFECYCLE_RELEASE, (STAGING_PHASE, qa), version="1.8.0"), "prod", "d.bundle")
    plan = okj("import", stricter, "--dry-run", home=w.prod)
    assert "lifecycle_weakened" not in plan and "lifecycle_removed" not in plan


def test_a_deployment_after_update_variables_says_so_in_its_receipt_and_on_the_source_dashboard(
        tmp_path: Path) -> None:
    """v1015 A1 (decision 722): prod refreshes 1.5.0's variables from 1.5.1 after Staging passed and
    deploys 1.5.0 to Production. The deploy prints the warning under one label; the receipt entry
    carries `variables_updated_ms` (header minor 7); dev's dashboard says "variables updated" in
    its text, JSON and HTML. A deployment before the refresh says nothing of it."""
    w = make_promo(tmp_path / "w")
    _staged_then_newer_in_prod(w)
    deploy = ("deploy", "acme-web", "1.5.0", "--environment", "Production")
    before = run_cli(*deploy, home=w.prod)  # Deployments-1: before the refresh
    assert before.returncode == 0 and "were updated" not in before.stderr, before.stdout + before.stderr
    ok("releases", "update-variables", "acme-web", "1.5.0", home=w.prod)
    after = run_cli(*deploy, home=w.prod)  # Deployments-2: runs the refreshed values
    assert after.returncode == 0, after.stdout + after.stderr
    assert "warning: the variables of 1.5.0 were updated" in after.stderr
    assert "warning: WARNING" not in after.stderr and "warning: warning" not in after.stderr
    shown = run_cli("deployments", "show", "Deployments-2", home=w.prod).stdout
    assert "warning: the variables of 1.5.0 were updated" in shown and "warning: WARNING" not in shown
    packed = w.root / "media" / "prod-r.bundle"
    ok("outbox", "pack", "-o", packed, home=w.prod)
    assert packed.read_bytes()[10:12] == b"\x00\x07"  # the header's minor: an entry uses format 1.7
    # v30-10 NEW-3: `inspect` shows the carried fact before the receipt is imported, in each form
    shown = run_cli("inspect", packed).stdout
    assert shown.count("variables updated") == 1, shown
    assert shown.index("Deployments-2") < shown.index("variables updated") and "before this deployment" in shown
    listed = run_cli("inspect", packed, "--contents").stdout
    assert listed.count("variables updated") == 1 and "Deployments-1: " in listed, listed
    assert listed.index("Deployments-2") < listed.index("variables updated")
    inspected = {d["deployment_id"]: d for d in json.loads(run_cli("inspect", packed, "--json").stdout)["deployments"]}
    contents = {d["deployment_id"]: d
                for d in json.loads(run_cli("inspect", packed, "--contents", "--json").stdout)["deployments"]}
    assert inspected["Deployments-1"]["variables_updated"] is None
    assert contents["Deployments-1"]["variables_updated"] is None
    refreshed = inspected["Deployments-2"]["variables_updated"]
    assert isinstance(refreshed, (int, float)) and refreshed >= inspected["Deployments-1"]["ended"] - 1
    assert contents["Deployments-2"]["variables_updated"] == int(refreshed)
    ok("import", packed, home=w.dev)

    r = run_cli("dashboard", "--json", home=w.dev)
    board = json.loads(r.stdout)
    by_id = {d["deployment_id"]: d for d in board["deployments"] if d["zone"] == "prod"}
    assert by_id["Deployments-1"]["variables_updated"] is None
    updated = by_id["Deployments-2"]["variables_updated"]
    assert isinstance(updated, int) and updated >= by_id["Deployments-1"]["started"] - 1
    (row,) = board["projects"]
    (cell,) = [c for c in row["cells"] if c is not None and c["environment"] == "Production"]
    assert cell["latest"]["deployment_id"] == "Deployments-2" and cell["latest"]["variables_updated"] == updated
    text = run_cli("dashboard", home=w.dev, env={"COLUMNS": "300"}).stdout
    assert "variables updated" in text
    html = w.root / "dash.html"
    assert run_cli("dashboard", "--html", html, home=w.dev).returncode == 0
    page = html.read_text()
    assert page.count("variables updated") == 1 and "releases update-variables</code>) before this deployment" in page


def test_a_refusal_is_settled_on_the_source_dashboard_once_the_same_release_later_succeeded_there(
        tmp_path: Path) -> None:
    """v1015 A7 (decision 723): prod refuses 1.4.0 as a rollback (1.4.1 came first); dev's dashboard
    counts it to look at. dev re-exports 1.4.0, prod imports and deploys it: the refusal is then
    settled (`superseded_by` the deployment), out of the cell and of "to look at" in text, JSON
    and HTML, and still listed with what settled it."""
    w = make_promo(tmp_path / "w")
    old = w.export(w.release_dir / LEGACY_RELEASE, "prod", "a.bundle")
    newer = w.release(LEGACY_RELEASE, ("Server=db.prod;", "Server=db2.prod;"), version="1.4.1")
    ok("import", w.export(newer, "prod", "b.bundle"), home=w.prod)
    r = run_cli("import", old, "--json", home=w.prod)
    assert (_error(r)["code"], r.returncode) == ("rollback", 3), r.stdout + r.stderr
    ok("outbox", "pack", "-o", w.root / "media" / "r1.bundle", home=w.prod)
    ok("import", w.root / "media" / "r1.bundle", home=w.dev)
    text = run_cli("dashboard", home=w.dev, env={"COLUMNS": "300"}).stdout
    assert "1 import(s) refused" in text and "to look at: 1" in text and "refused in prod: rollback" in text

    ok("import", w.export(w.release_dir / LEGACY_RELEASE, "prod", "c.bundle"), home=w.prod)  # re-exported
    ok("variables", "set", "acme-web", "Acme.ApiKey", "k-zone", "--sensitive", home=w.prod)
    w.targets(w.prod, "Production")
    r = run_cli("deploy", "acme-web", "1.4.0", "--environment", "Production", "--json", home=w.prod)
    assert r.returncode == 0, r.stdout + r.stderr
    deployment = json.loads(r.stdout)["deployment_id"]
    ok("outbox", "pack", "-o", w.root / "media" / "r2.bundle", home=w.prod)
    ok("import", w.root / "media" / "r2.bundle", home=w.dev)

    board = json.loads(run_cli("dashboard", "--json", home=w.dev).stdout)
    (refusal,) = [d for d in board["deployments"] if d["state"] == "refused"]
    assert (refusal["release"], refusal["superseded_by"]) == ("1.4.0", deployment)
    for row in board["projects"]:
        for cell in row["cells"]:
            assert cell is None or all(f["state"] != "refused" for f in cell["failures"]), cell
    text = run_cli("dashboard", home=w.dev, env={"COLUMNS": "300"}).stdout
    assert "to look at" not in text and "import(s) refused" not in text and "refused in prod" not in text, text
    assert "1 refusal(s) settled by a later success" in text
    html = w.root / "dash.html"
    assert run_cli("dashboard", "--html", html, home=w.dev).returncode == 0
    page = html.read_text()
    assert 'id="failures"' not in page and f"Settled</dt><dd>by <code>{deployment}</code>" in page


def test_the_tenant_name_in_an_untenanted_project_is_a_lint_warning_and_the_deploy_hint_says_tenant_or_if(
        tmp_path: Path) -> None:
    """v1015 F3 (decision 724): a script echoes #{Octopus.Deployment.Tenant.Name} in a release that
    scopes nothing to a tenant. `lint` warns (tenant_name_without_tenants); an untenanted deploy is
    refused with a hint to deploy --tenant or guard it with #{if}, not to define a system variable
    with --new (nothing run). Guarded, lint is quiet and the deploy runs, leaving it out."""
    w = make_promo(tmp_path / "w")
    script = "#{Acme.Db.Name} on"
    bare = w.release(LEGACY_RELEASE, (script, "#{Acme.Db.Name} for #{Octopus.Deployment.Tenant.Name} on"))
    r = run_cli("lint", bare, "--json", home=None)
    found = [f for f in json.loads(r.stdout)["findings"] if f["code"] == "tenant_name_without_tenants"]
    assert len(found) == 1 and found[0]["severity"] == "warning" and found[0]["line"], r.stdout
    assert "--tenant NAME" in found[0]["suggestion"] and "#{if Octopus.Deployment.Tenant.Name}" in found[0]["suggestion"]
    ok("releases", "create", bare, home=w.dev)
    ok("variables", "set", "acme-web", "Acme.ApiKey", "k-zone", "--sensitive", home=w.dev)
    w.targets(w.dev, "Development")
    r = run_cli("deploy", "acme-web", "1.4.0", "--environment", "Development", "--json", home=w.dev)
    err = _error(r)  # a preflight failure is recorded as a deployment that ran nothing (decision 407)
    assert (err["code"], r.returncode) == ("preflight_unresolved_variables", 5), r.stdout + r.stderr
    assert "set only in a deployment for a tenant: deploy with --tenant NAME" in err["message"]
    assert "--new" not in err["message"] and "Nothing was run" in err["message"]

    guarded = w.release(LEGACY_RELEASE, (script, "#{Acme.Db.Name}#{if Octopus.Deployment.Tenant.Name} for "
                                                 "#{Octopus.Deployment.Tenant.Name}#{/if} on"), version="1.4.1")
    r = run_cli("lint", guarded, "--json", home=None)
    assert not [f for f in json.loads(r.stdout)["findings"] if f["code"] == "tenant_name_without_tenants"]
    ok("releases", "create", guarded, home=w.dev)
    r = run_cli("deploy", "acme-web", "1.4.1", "--environment", "Development", "--json", home=w.dev)
    assert r.returncode == 0 and json.loads(r.stdout)["state"] == "Success", r.stdout + r.stderr


def test_releases_create_places_a_misspelt_key_and_evidence_mismatch_names_projects_one_way(
        tmp_path: Path) -> None:
    """v1015 F9: `releases create` of a file with `optinal` says where (file:line:column) and what
    was meant ('optional'), as lint does, not the schema's raw words (code kept, home unchanged);
    evidence_mismatch names this release and what the receipt names both by project slug."""
    from tests.refusals.forge import resign
    w = make_promo(tmp_path / "w")
    typo = w.release(LIFECYCLE_RELEASE, (STAGING_PHASE, STAGING_PHASE + "optinal = true\n"), version="1.5.9")
    before = snapshot(w.dev)
    r = run_cli("releases", "create", typo, "--json", home=w.dev)
    err = _error(r)
    assert (err["code"], r.returncode) == ("invalid_release", 2), r.stdout + r.stderr
    line = next(n for n, text in enumerate(typo.read_text().splitlines(), 1) if text.startswith("optinal"))
    assert f"{typo}:{line}:1: error [unknown_key]" in err["message"], err["message"]
    assert "did you mean 'optional'?" in err["message"] and "Additional properties" not in err["message"]
    assert snapshot(w.dev) == before

    honest = _staged(w)
    newer = w.release(LIFECYCLE_RELEASE, version="1.5.1")
    for release, name in ((w.release_dir / LIFECYCLE_RELEASE, "p.bundle"), (newer, "p2.bundle")):
        ok("import", w.export(release, "prod", name), home=w.prod)
    ok("variables", "set", "acme-web", "Acme.ApiKey", "k-zone", "--sensitive", home=w.prod)
    w.targets(w.prod, "Production")
    r = run_cli("deploy", "acme-web", "1.5.1", "--environment", "Production", "--evidence", honest, "--json",
                home=w.prod)
    message = _error(r)["message"]
    assert "no successful deployment of Acme Web 1.5.1 (project acme-web)" in message, message
    assert "it reports: project acme-web 1.5.0 to Staging: Success" in message, message

    def relabel(m: dict[str, Any]) -> None:
        m["receipts"][0]["project"]["slug"] = "billing"

    forged = resign(honest, w.root / "media" / "relabelled.bundle", w.staging, mutate=relabel)
    r = run_cli("deploy", "acme-web", "1.5.0", "--environment", "Production", "--evidence", forged, "--json",
                home=w.prod)
    err = _error(r)
    assert (err["code"], r.returncode) == ("evidence_mismatch", 3), r.stdout + r.stderr
    assert "carries the release digest of Acme Web 1.5.0 (project acme-web) but names project billing 1.5.0" \
        in err["message"], err["message"]


def test_a_receipt_saying_success_with_no_run_is_refused_by_the_zone_that_exported_the_release(
        tmp_path: Path) -> None:
    """v1015 A8 at the source (decision 721): prod signs, with its own key, a receipt whose entry
    says Success but carries no run of 1.4.0, which dev holds with its steps. `import` in dev
    refuses it receipt_mismatch (exit 3), dev's home unchanged; the honest receipt is recorded."""
    from tests.refusals.forge import resign
    w = make_promo(tmp_path / "w")
    ok("import", w.export(w.release_dir / LEGACY_RELEASE, "prod", "a.bundle"), home=w.prod)
    ok("variables", "set", "acme-web", "Acme.ApiKey", "k-zone", "--sensitive", home=w.prod)
    w.targets(w.prod, "Production")
    ok("deploy", "acme-web", "1.4.0", "--environment", "Production", home=w.prod)
    honest = w.root / "media" / "r.bundle"
    ok("outbox", "pack", "-o", honest, home=w.prod)

    def nothing_ran(m: dict[str, Any]) -> None:
        assert len(m["receipts"]) == 1 and m["receipts"][0]["runs"] and m["receipts"][0]["state"] == "Success"
        m["receipts"][0]["runs"] = []
        m["blobs"] = []  # the runs' logs went with them

    forged = resign(honest, w.root / "media" / "norun.bundle", w.prod, mutate=nothing_ran, blobs=b"")
    before = snapshot(w.dev)
    r = run_cli("import", forged, "--json", home=w.dev)
    err = _error(r)
    assert (err["code"], r.returncode) == ("receipt_mismatch", 3), r.stdout + r.stderr
    assert "it says Success but reports no run, although the release has" in err["message"], err["message"]
    assert snapshot(w.dev) == before
    r = run_cli("import", honest, home=w.dev)
    assert r.returncode == 0 and "recorded deployment Deployments-1" in r.stdout, r.stdout + r.stderr
