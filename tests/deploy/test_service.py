"""Deploying from the zone's state: trust policy on environments, targets, records and the outbox."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from bundlekit.deploy.service import deploy
from bundlekit.errors import BundleError
from bundlekit.importer.importer import import_bundle
from bundlekit.trust.policy import SourcePolicy
from bundlekit.importer import projects
from bundlekit.zone.targets import add_target
from tests.conftest import CANARY, make_zones
from tests.importer.helpers import export


def _ready(tmp_path: Path, policy: SourcePolicy | None = None):  # type: ignore[no-untyped-def]
    z = make_zones(tmp_path, policy=policy)
    import_bundle(z.prod, export(z, tmp_path / "a.bundle"), now=int(time.time()))
    projects.set_variable(z.prod, "acme-web", "Acme.ApiKey", "k-456789", sensitive=True, now=int(time.time()))
    return z


def test_deploy_to_an_environment_outside_the_source_policy_is_refused(tmp_path: Path) -> None:
    z = _ready(tmp_path, SourcePolicy(environments=("Production",)))
    add_target(z.prod, "web-s", "Staging", ("web", "db"), tmp_path / "t" / "web-s", 0)
    with pytest.raises(BundleError) as info:
        deploy(z.prod, "acme-web", "1.4.0", "Staging", now=time.time())
    assert info.value.code == "policy_denied" and info.value.exit_code == 3
    assert not list((tmp_path / "t" / "web-s").iterdir())


def test_deploy_without_targets_is_refused_with_a_hint(tmp_path: Path) -> None:
    z = _ready(tmp_path)
    with pytest.raises(BundleError) as info:
        deploy(z.prod, "acme-web", "1.4.0", "Production", now=time.time())
    assert info.value.code == "no_targets" and "targets add" in info.value.message


def test_deploy_records_masked_and_queues_a_receipt(tmp_path: Path) -> None:
    z = _ready(tmp_path)
    add_target(z.prod, "db-01", "Production", ("db",), tmp_path / "t" / "db-01", 0)
    add_target(z.prod, "web-01", "Production", ("web",), tmp_path / "t" / "web-01", 0)
    out = deploy(z.prod, "acme-web", "1.4.0", "Production", now=time.time())
    assert out.record is not None and out.record.state == "Success"
    row = z.prod.db.execute("SELECT state, record, outputs FROM deployments").fetchone()
    assert row[0] == "Success"
    assert CANARY not in row[1] and CANARY not in row[2]
    outputs = json.loads(row[2])
    token = next(o for o in outputs if o["name"] == "MigrationToken")
    assert token["sensitive"] and token["value"].startswith("secret:")
    pending = z.prod.db.execute("SELECT deployment_id, packed_in FROM outbox").fetchall()
    assert [(r[0], r[1]) for r in pending] == [(out.record.deployment_id, None)]


def test_a_locally_disabled_step_is_skipped(tmp_path: Path) -> None:
    z = _ready(tmp_path)
    add_target(z.prod, "db-01", "Production", ("db",), tmp_path / "t" / "db-01", 0)
    add_target(z.prod, "web-01", "Production", ("web",), tmp_path / "t" / "web-01", 0)
    projects.set_step_enabled(z.prod, "acme-web", "Smoke test", False, 0)
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
    # A deployment whose process died before recording its outcome stays visible as running.
    z.prod.db.execute("INSERT INTO deployments(id, project_slug, release, environment, source_zone_id, bundle_digest, "
                      "state, started, ended, record, outputs) VALUES ('Deployments-9', 'acme-web', '1.4.0', "
                      "'Staging', 'x', 'y', 'Executing', ?, NULL, '{}', '[]')", (time.time(),))
    view = build_view(z.prod, time.time())
    states = {(c.zone, c.environment): c.latest.state for row in view.projects for c in row.cells if c and c.latest}
    assert states == {("prod", "Production"): "succeeded", ("prod", "Staging"): "running"}
