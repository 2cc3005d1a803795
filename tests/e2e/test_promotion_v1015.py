"""Promotion findings still open after verification v1015, through the real CLI: a receipt entry
that says Success with no run, a changed lifecycle, refreshed variables on the source dashboard, a
refusal a later success supersedes, tenant variables in an untenanted project, wording."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import run_cli, snapshot
from tests.e2e.promotion_world import LIFECYCLE_RELEASE, Promo, make_promo, ok, okj


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
    assert "keeping 1.5.0's (Development > Staging > Production)" in text
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
