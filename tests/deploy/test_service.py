"""Deploying from the zone's state: trust policy on environments, targets, records and the outbox."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path


import pytest

from bundlekit.deploy.service import deploy
from bundlekit.importer.importer import import_bundle
from bundlekit.trust.policy import SourcePolicy
from bundlekit.importer import edits
from bundlekit.zone import deployments, outbox
from bundlekit.zone.targets import add_target
from bundlekit.zone.state import open_state
from tests.conftest import CANARY, make_zones, raises_code, snapshot
from tests.importer.helpers import export

#: Their state tests run on both engines (decision 772).
pytestmark = pytest.mark.usefixtures("state_engine")


def _ready(tmp_path: Path, policy: SourcePolicy | None = None):  # type: ignore[no-untyped-def]
    z = make_zones(tmp_path, policy=policy)
    import_bundle(z.prod, export(z, tmp_path / "a.bundle"), now=int(time.time()))
    edits.set_variable(z.prod, "acme-web", "Acme.ApiKey", "k-456789", sensitive=True, now=int(time.time()))
    return z


def test_deploy_to_an_environment_outside_the_source_policy_is_refused(tmp_path: Path) -> None:
    z = _ready(tmp_path, SourcePolicy(environments=("Production",)))
    add_target(z.prod, "web-s", "Staging", ("web", "db"), tmp_path / "t" / "web-s", 0)
    with raises_code("policy_denied") as info:
        deploy(z.prod, "acme-web", "1.4.0", "Staging", now=time.time())
    assert info.value.exit_code == 3
    assert not list((tmp_path / "t" / "web-s").iterdir())


def test_deploy_without_targets_is_refused_with_a_hint(tmp_path: Path) -> None:
    z = _ready(tmp_path)
    with raises_code("no_targets") as info:
        deploy(z.prod, "acme-web", "1.4.0", "Production", now=time.time())
    assert "targets add" in info.value.message


def test_deploy_records_masked_and_queues_a_receipt(tmp_path: Path) -> None:
    z = _ready(tmp_path)
    add_target(z.prod, "db-01", "Production", ("db",), tmp_path / "t" / "db-01", 0)
    add_target(z.prod, "web-01", "Production", ("web",), tmp_path / "t" / "web-01", 0)
    out = deploy(z.prod, "acme-web", "1.4.0", "Production", now=time.time())
    assert out.record is not None and out.record.state == "Success"
    row = z.prod.db.one("SELECT state, record, outputs FROM deployments")
    assert row is not None and row["state"] == "Success"
    assert CANARY not in row["record"] and CANARY not in row["outputs"]
    outputs = json.loads(row["outputs"])
    token = next(o for o in outputs if o["name"] == "MigrationToken")
    assert token["sensitive"] and token["value"].startswith("secret:")
    pending = outbox.listing(z.prod.db)["pending"]
    assert [(r["deployment_id"], r["packed_in"]) for r in pending] == [(out.record.deployment_id, None)]


def test_a_locally_disabled_step_is_skipped(tmp_path: Path) -> None:
    z = _ready(tmp_path)
    add_target(z.prod, "db-01", "Production", ("db",), tmp_path / "t" / "db-01", 0)
    add_target(z.prod, "web-01", "Production", ("web",), tmp_path / "t" / "web-01", 0)
    edits.set_step_enabled(z.prod, "acme-web", "Smoke test", False, 0)
    out = deploy(z.prod, "acme-web", "1.4.0", "Production", now=time.time())
    assert out.record is not None
    smoke = [r for r in out.record.runs if r.step == "Smoke test"]
    assert smoke and all(r.state == "Skipped" for r in smoke)


def test_dashboard_of_the_secure_zone_shows_its_own_deployments_and_a_running_one(tmp_path: Path) -> None:
    from bundlekit.dashboard.model import build_view

    z = _ready(tmp_path)
    add_target(z.prod, "db-01", "Production", ("db",), tmp_path / "t" / "db-01", 0)
    add_target(z.prod, "web-01", "Production", ("web",), tmp_path / "t" / "web-01", 0)
    deploy(z.prod, "acme-web", "1.4.0", "Production", now=time.time())
    # A deployment recorded Executing (running, or not yet found interrupted) shows as running.
    with z.prod.db.transaction() as tx:
        deployments.insert_running(tx, "Deployments-9", project_slug="acme-web", release="1.4.0", environment="Staging",
                                   source_zone_id="x", bundle_digest="y", started=time.time())
    view = build_view(z.prod, time.time())
    states = {(c.zone, c.environment): c.latest.state for row in view.projects for c in row.cells if c and c.latest}
    assert states == {("prod", "Production"): "succeeded", ("prod", "Staging"): "running"}


def _state_rows(home: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, read with a fresh connection (to compare before and after)."""
    if (home / "bundlekit.conf").exists():  # the state is in PostgreSQL
        db = open_state(home)
        try:
            with db.read() as r:
                return {t: sorted((tuple(row.values()) for row in r.all(f"SELECT * FROM {t}")), key=repr)
                        for t in sorted(db.table_names(r))}
        finally:
            db.close()
    conn = sqlite3.connect(str(home / "state.db"))
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {t: sorted(map(tuple, conn.execute(f"SELECT * FROM {t}")), key=repr) for t in tables}
    finally:
        conn.close()


def _unbound(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A prod zone whose release has an unbound placeholder: its preflight refuses every deployment."""
    z = make_zones(tmp_path)
    import_bundle(z.prod, export(z, tmp_path / "a.bundle"), now=int(time.time()))
    add_target(z.prod, "db-01", "Production", ("db",), tmp_path / "t" / "db-01", 0)
    add_target(z.prod, "web-01", "Production", ("web",), tmp_path / "t" / "web-01", 0)
    z.close()
    return z


def test_a_preflight_refusal_records_only_a_failed_deployment_and_its_receipt_entry(tmp_path: Path) -> None:
    # The documented exception to "a refusal leaves the home as it was" (spec/deploy.md section 9).
    z = _unbound(tmp_path)
    state_db = str(z.prod.home / "state.db")
    files = {k: v for k, v in snapshot(z.prod.home).items() if k != state_db}
    targets = snapshot(tmp_path / "t")
    rows = _state_rows(z.prod.home)
    with raises_code("preflight_unresolved_variables") as info:
        deploy(z.prod, "acme-web", "1.4.0", "Production", now=time.time())
    assert info.value.code == "preflight_unresolved_variables" and info.value.exit_code == 5
    z.close()
    assert {k: v for k, v in snapshot(z.prod.home).items() if k != state_db} == files
    assert snapshot(tmp_path / "t") == targets
    after = _state_rows(z.prod.home)
    # ... and the audit trail's entry of that record, its link to the deployment and the trail's head (meta)
    assert {t for t in after if after[t] != rows[t]} == {"deployments", "outbox", "counters", "audit_entries",
                                                         "audit_deployments", "meta"}
    assert {r[0] for r in set(after["meta"]) ^ set(rows["meta"])} == {"audit_head", "audit_head_sig"}
    [row] = deployments.list_deployments(z.prod.db)
    assert (row["id"], row["state"]) == ("Deployments-1", "Failed")
    [run] = deployments.get_deployment(z.prod.db, "Deployments-1")["record"]["runs"]  # type: ignore[index]
    assert run["step"] == "(preflight)" and run["reason"].startswith("[preflight_unresolved_variables]")
    [entry] = outbox.listing(z.prod.db)["pending"]
    assert (entry["deployment_id"], entry["state"], entry["destination"]) == ("Deployments-1", "Failed", "dev")


def test_a_dry_run_refused_by_its_preflight_leaves_the_home_byte_identical(tmp_path: Path) -> None:
    z = _unbound(tmp_path)
    before = snapshot(z.prod.home)
    with raises_code("preflight_unresolved_variables") as info:
        deploy(z.prod, "acme-web", "1.4.0", "Production", now=time.time(), dry_run=True)
    assert info.value.code == "preflight_unresolved_variables"
    z.close()
    assert snapshot(z.prod.home) == before


def test_deployment_ids_are_allocated_when_recorded_and_never_shared(tmp_path: Path) -> None:
    z = _ready(tmp_path)
    for env in ("Production", "Staging", "Test"):
        add_target(z.prod, f"db-{env}", env, ("db",), tmp_path / "t" / env / "db", 0)
        add_target(z.prod, f"web-{env}", env, ("web",), tmp_path / "t" / env / "web", 0)
    z.close()
    procs = [subprocess.Popen([sys.executable, "-m", "bundlekit", "deploy", "acme-web", "1.4.0", "--environment", env,
                               "--home", str(z.prod.home), "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for env in ("Production", "Staging", "Test")]
    results = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in results]
    ids = sorted(json.loads(out)["deployment_id"] for out, _ in results)
    assert ids == ["Deployments-1", "Deployments-2", "Deployments-3"]
    assert sorted(r["id"] for r in deployments.list_deployments(z.prod.db)) == ids
    assert sorted(e["deployment_id"] for e in outbox.listing(z.prod.db)["pending"]) == ids
    # A dry run names the next id without taking it.
    out = deploy(z.prod, "acme-web", "1.4.0", "Production", now=time.time(), dry_run=True)
    assert out.plan.deployment_id == "Deployments-4" and len(deployments.list_deployments(z.prod.db)) == 3


def test_a_tampered_package_store_is_refused_in_the_preflight_and_reported_as_failed(tmp_path: Path) -> None:
    z = _ready(tmp_path)
    add_target(z.prod, "db-01", "Production", ("db",), tmp_path / "t" / "db-01", 0)
    add_target(z.prod, "web-01", "Production", ("web",), tmp_path / "t" / "web-01", 0)
    [blob] = [p for p in (z.prod.home / "packages").rglob("*") if p.is_file()]
    blob.write_bytes(blob.read_bytes() + b"tampered")
    with raises_code("package_hash_mismatch") as info:
        deploy(z.prod, "acme-web", "1.4.0", "Production", now=time.time())
    assert info.value.code == "package_hash_mismatch" and info.value.exit_code == 3
    assert not list((tmp_path / "t" / "web-01").iterdir())
    [row] = deployments.list_deployments(z.prod.db)
    assert row["state"] == "Failed"
    [entry] = outbox.listing(z.prod.db)["pending"]
    assert entry["deployment_id"] == row["id"] and entry["state"] == "Failed"
