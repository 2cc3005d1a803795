"""Build the dashboard view model from a zone's state.

On a source zone the grid shows what came back in receipts (and what was exported and is
still awaiting one); on a secure zone it shows its own deployments. Columns are
(zone, environment). A release exported to a zone but not yet reported deployed appears as
``exported`` in that zone's columns where it is newer than the latest deployment, or in a
``(awaiting)`` column when the zone has reported no deployment of the project yet.
"""

from __future__ import annotations

from typing import Any

from bundlekit.core.clock import EpochSeconds
from bundlekit.core.text import MASK
from bundlekit.dashboard.view import CellView, DashboardView, DeploymentView, OutputView, ProjectRow, StepView
from bundlekit.zone import exports, projects, remote, truststore
from bundlekit.zone.deployments import deployments_by_start
from bundlekit.zone.db import Reader, Row
from bundlekit.zone.home import Zone
from bundlekit.zone.logs import get_log

__all__ = ["build_view", "AWAITING"]

AWAITING = "(awaiting)"


def _log(db: Reader, digest: str | None, cache: dict[str, str]) -> str:
    if not digest:
        return ""
    if digest not in cache:
        cache[digest] = (get_log(db, digest) or b"").decode("utf-8", "replace")
    return cache[digest]


def _state(record_state: str, runs: list[dict[str, Any]]) -> str:
    if record_state == "Success":
        return "succeeded"
    if record_state == "Executing":  # still running, or the process died before recording the outcome
        return "running"
    by_step: dict[str, set[str]] = {}
    for r in runs:
        by_step.setdefault(r["step"], set()).add(r["state"])
    mixed = any("Success" in states and states & {"Failed", "TimedOut", "Canceled"} for states in by_step.values())
    return "partial" if mixed else "failed"


def _remote(db: Reader, row: Row, zone_name: str, cache: dict[str, str]) -> DeploymentView:
    e = row["entry"]
    steps = tuple(StepView(
        step=r["step"], target=r.get("target"), state=r["state"],
        started=r["started_ms"] / 1000 if "started_ms" in r else None,
        ended=r["ended_ms"] / 1000 if "ended_ms" in r else None, exit_code=r.get("exit_code"),
        log=_log(db, r.get("log"), cache),
        outputs=tuple(OutputView(o["name"], MASK if o["sensitive"] else o["value"], o["sensitive"])
                      for o in r["outputs"]),
        reason=r.get("reason")) for r in e["runs"])
    return DeploymentView(deployment_id=e["deployment_id"], project=e["project"]["name"],
                          project_slug=e["project"]["slug"], release=e["release"], zone=zone_name,
                          environment=e["environment"], state=_state(e["state"], e["runs"]),
                          started=e["started_ms"] / 1000, ended=e["ended_ms"] / 1000, steps=steps,
                          receipt_received=float(row["received"]))


def _local(row: Row, zone_name: str, project_name: str) -> DeploymentView:
    rec = dict(row["record"])
    rec.setdefault("runs", [])
    steps = tuple(StepView(step=r["step"], target=r["target"], state=r["state"], started=r["started"],
                           ended=r["ended"], exit_code=r["exit_code"], log=r["log"],
                           outputs=tuple(OutputView(o["name"], MASK if o["sensitive"] else o["value"], o["sensitive"])
                                         for o in r["outputs"]), reason=r["reason"]) for r in rec["runs"])
    return DeploymentView(deployment_id=row["id"], project=project_name, project_slug=row["project_slug"],
                          release=row["release"], zone=zone_name, environment=row["environment"],
                          state=_state(row["state"], rec["runs"]), started=row["started"], ended=row["ended"],
                          steps=steps, receipt_received=None)


def build_view(zone: Zone, now: EpochSeconds) -> DashboardView:
    """The dashboard of ``zone`` at ``now`` (Unix seconds), read from one consistent state."""
    with zone.db.read() as db:
        return _build(zone, db, now)


def _build(zone: Zone, db: Reader, now: EpochSeconds) -> DashboardView:
    cache: dict[str, str] = {}
    zone_names = truststore.zone_names(db)
    deployments: list[DeploymentView] = []
    for row in remote.remote_deployments(db):
        source: str = row["source_zone_id"]
        deployments.append(_remote(db, row, zone_names.get(source, source), cache))
    project_names = projects.project_names(db)
    for row in deployments_by_start(db):
        slug: str = row["project_slug"]
        deployments.append(_local(row, zone.name, project_names.get(slug, slug)))
    exported = exports.list_exports(db)
    names = {d.project_slug: d.project for d in deployments}
    names.update({e["project_slug"]: e["project"] for e in exported})
    columns = sorted({(d.zone, d.environment) for d in deployments})
    latest_export: dict[tuple[str, str], Any] = {}
    for e in exported:
        latest_export[(e["project_slug"], e["dest_name"])] = e
    for (slug, dest), e in latest_export.items():
        if not any(d.project_slug == slug and d.zone == dest for d in deployments):
            columns.append((dest, AWAITING))
    columns = sorted(set(columns))
    rows = []
    pending_views: list[DeploymentView] = []
    for slug in sorted(names, key=lambda s: names[s].lower()):
        cells: list[CellView | None] = []
        for zname, env in columns:
            mine = [d for d in deployments if d.project_slug == slug and d.zone == zname and d.environment == env]
            latest = mine[-1] if mine else None
            prev = next((d for d in reversed(mine[:-1]) if d.state == "succeeded"), None) if mine else None
            exp = latest_export.get((slug, zname))
            exported_at = None
            if exp is not None and (latest is None and env == AWAITING or
                                    latest is not None and (latest.started or 0) < exp["exported_at"]
                                    and exp["release"] != latest.release):
                exported_at = float(exp["exported_at"])
            if latest is None and exported_at is None:
                cells.append(None)
                continue
            if exported_at is not None:
                assert exp is not None
                pending = DeploymentView(deployment_id=f"export-{slug}-{exp['release']}-{zname}-{env}", project=names[slug],
                                         project_slug=slug, release=exp["release"], zone=zname, environment=env,
                                         state="exported", started=None, ended=None, steps=(), receipt_received=None)
                prev_ok = latest if latest is not None and latest.state == "succeeded" else prev
                pending_views.append(pending)
                cells.append(CellView(zname, env, pending, prev_ok, exported_at))
            else:
                cells.append(CellView(zname, env, latest, prev, None))
        rows.append(ProjectRow(names[slug], slug, tuple(cells)))
    return DashboardView(zone_name=zone.name, zone_id=zone.zone_id, generated=now, columns=tuple(columns),
                         projects=tuple(rows),
                         deployments=tuple(pending_views) + tuple(sorted(deployments, key=lambda d: d.started or 0,
                                                                         reverse=True)))
