"""Promotion findings still open after verification v1015, through the real CLI: a receipt entry
that says Success with no run, a changed lifecycle, refreshed variables on the source dashboard, a
refusal a later success supersedes, tenant variables in an untenanted project, wording."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import run_cli, snapshot
from tests.e2e.promotion_world import LIFECYCLE_RELEASE, Promo, make_promo, ok


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
