"""Settling deployments whose process died: closed ``Interrupted`` once, reported once, never a live one."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from bundlekit.deploy import recording
from bundlekit.deploy.model import DeploymentRecord, StepRun
from bundlekit.deploy.recording import settle_interrupted
from bundlekit.deploy.service import deploy
from bundlekit.zone import deployments, outbox
from bundlekit.zone.home import open_zone
from tests.conftest import Zones
from tests.importer.helpers import deployable_prod

#: Their state tests run on both engines (decision 772).
pytestmark = pytest.mark.usefixtures("state_engine")


def _ready(tmp_path: Path) -> Zones:
    return deployable_prod(tmp_path)


def _orphan(z: Zones, *, reached: tuple[str, str | None] | None = None) -> str:
    """Record a deployment ``Executing`` as a process would, without the claim a live process holds."""
    row = {"project_slug": "acme-web", "release": "1.4.0", "environment": "Production", "tenant": None, "waived": []}
    ctx = recording.resolve_recorded(z.prod, row)
    with z.prod.db.transaction() as tx:
        deployment_id = recording.insert_running(tx, ctx, int(time.time()) - 5)
        if reached is not None:
            deployments.note_reached(tx, deployment_id, reached[0], reached[1], int(time.time()))
    return deployment_id


def _queued(z: Zones) -> list[str]:
    return [r["deployment_id"] for r in outbox.pending(z.prod.db)]


def test_an_unclaimed_executing_deployment_is_closed_interrupted_and_queued_once(tmp_path: Path) -> None:
    z = _ready(tmp_path)
    dead = _orphan(z, reached=("Deploy web", "web-01"))
    assert settle_interrupted(z.prod) == [dead]
    row = deployments.get_deployment(z.prod.db, dead)
    assert row is not None and row["state"] == "Interrupted" and row["ended"] is not None
    assert row["record"]["interrupted"]["step"] == "Deploy web"
    [run] = row["record"]["runs"]
    assert (run["step"], run["target"], run["state"]) == ("Deploy web", "web-01", "Failed")
    assert settle_interrupted(z.prod) == []  # settled once
    assert _queued(z) == [dead]
    [entry] = outbox.entries(z.prod.db, z.prod.db.scalar("SELECT dest_zone_id FROM outbox"), [dead])
    assert entry["state"] == "Failed" and entry["runs"][0]["reason"].startswith("interrupted:")


def test_a_deployment_killed_before_its_first_step_is_interrupted_on_the_zone(tmp_path: Path) -> None:
    z = _ready(tmp_path)
    dead = _orphan(z)
    settle_interrupted(z.prod)
    row = deployments.get_deployment(z.prod.db, dead)
    assert row is not None
    [run] = row["record"]["runs"]
    assert (run["step"], run["target"]) == (recording.INTERRUPTED_STEP, None)
    assert "no step ran" in run["reason"]


def test_two_commands_settling_at_once_report_each_deployment_once(tmp_path: Path) -> None:
    z = _ready(tmp_path)
    dead = [_orphan(z) for _ in range(3)]
    z.prod.close()
    gate = threading.Barrier(4)
    closed: list[list[str]] = []

    def settle() -> None:
        with open_zone(z.prod.home) as zone:
            gate.wait()
            closed.append(settle_interrupted(zone))

    threads = [threading.Thread(target=settle) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(i for c in closed for i in c) == sorted(dead)
    assert sorted(_queued(z)) == sorted(dead)


def test_an_outcome_recorded_after_the_row_was_closed_changes_nothing(tmp_path: Path) -> None:
    z = _ready(tmp_path)
    dead = _orphan(z)
    settle_interrupted(z.prod)
    ctx = recording.resolve_recorded(z.prod, deployments.get_deployment(z.prod.db, dead))  # type: ignore[arg-type]
    late = DeploymentRecord(dead, "acme-web", "1.4.0", "Production", "Success", 1, 2,
                            (StepRun("Run migrations", "db-01", "Success", 1, 2, 0, "", (), None),))
    with z.prod.db.transaction() as tx:
        assert recording.record(z.prod, tx, ctx, late, 2) is False
    assert deployments.get_deployment(z.prod.db, dead)["state"] == "Interrupted"  # type: ignore[index]
    assert _queued(z) == [dead]


def test_a_deployment_this_process_runs_is_never_settled(tmp_path: Path) -> None:
    z = _ready(tmp_path)
    seen: list[list[str]] = []

    def watch(event: dict) -> None:  # type: ignore[type-arg]
        if event["event"] == "run_started":
            seen.append(settle_interrupted(z.prod))  # the same connection that runs it

    record = deploy(z.prod, "acme-web", "1.4.0", "Production", now=time.time(), on_event=watch).record
    assert record is not None and record.state == "Success"
    assert seen and all(s == [] for s in seen)
    assert [d["state"] for d in deployments.list_deployments(z.prod.db)] == ["Success"]
