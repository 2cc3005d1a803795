"""Deploy an imported release from the zone's state: build the request, plan, run, record, receipt.

What builds a release is read-only here (steps and packages come from the release as
imported); what customises a deployment is the zone's (variables from the project's local
copy, including placeholder bindings; steps enabled or disabled locally). The trust policy
of the release's source must allow the environment. Every deployment, succeeded or
failed, is recorded and queued as a receipt for the source zone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from bundlekit.deploy.engine import execute
from bundlekit.deploy.model import DeploymentRecord, DeployRequest, PackageInput, StepRun, VariableInput
from bundlekit.deploy.plan import DeployPlan, build_plan
from bundlekit.deploy.targets import LocalFolderTarget, Target
from bundlekit.errors import DeployError, StateError, TrustError
from bundlekit.format.crypto import key_id
from bundlekit.format.manifest import Step
from bundlekit.receipt.build import ReceiptFile, make_entry, queue_entry, write_receipt
from bundlekit.trust.policy import check_policy
from bundlekit.importer import projects
from bundlekit.zone import secrets, state, truststore
from bundlekit.zone.home import Zone
from bundlekit.zone.store import PackageStore
from bundlekit.zone.targets import TargetRecord, list_targets

__all__ = ["DeployOutcome", "prepare", "deploy", "open_target", "PREFLIGHT"]

#: The step name under which a deployment refused by its preflight is recorded and reported.
PREFLIGHT = "(preflight)"


@dataclass
class DeployOutcome:
    request: DeployRequest
    plan: DeployPlan
    record: DeploymentRecord | None = None
    receipt: ReceiptFile | None = None


def open_target(record: TargetRecord) -> Target:
    """The one place a recorded target kind becomes an implementation (an SSH target adds a branch)."""
    if record.kind == "local":
        return LocalFolderTarget(record.name, record.environment, frozenset(record.roles), Path(record.root))
    raise StateError(f"target {record.name!r} has unknown kind {record.kind!r}", code="unknown_target_kind")


def _next_id(zone: Zone) -> str:
    n = zone.db.execute("SELECT COUNT(*) FROM deployments").fetchone()[0] + 1
    return f"Deployments-{n}"


def _variables(zone: Zone, project: projects.ProjectRecord) -> tuple[VariableInput, ...]:
    out = []
    for key, v in project.local["variables"].items():
        value = v.get("value")
        if value is not None and v.get("sensitive") and secrets.is_secret_ref(value):
            value = secrets.reveal(zone, value)
        base = project.base["variables"].get(key)
        if v.get("placeholder") and v.get("value") is None:
            source = "placeholder"
        elif base is None or base != v or v.get("placeholder"):
            source = "local"
        else:
            source = "release"
        scope = {k: frozenset(x) for k, x in (v.get("scope") or {}).items()}
        out.append(VariableInput(v["name"], value, bool(v.get("sensitive")), scope, source))
    return tuple(out)


def prepare(zone: Zone, project_ref: str, version: str, environment: str, *, now: float) -> DeployRequest:
    project = projects.find_project(zone, project_ref)
    release = projects.get_release(zone, project, version)
    source = next((s for s in truststore.sources(zone) if s.zone_id == project.source_zone_id), None)
    if source is None:
        raise TrustError(f"project {project.name!r} came from a zone this zone no longer trusts; refusing to deploy",
                         code="policy_denied")
    check_policy(source, space=project.space, project=project.name, project_slug=project.slug,
                 environments=[environment], where=f"deploy {project.name} {version}")
    snap = release["snapshot"]
    local_steps = project.local["steps"]
    steps = []
    for key in snap["step_order"]:
        d = dict(snap["steps"][key])
        if key in local_steps:
            d["enabled"] = local_steps[key].get("enabled", True)
        steps.append(Step.from_dict(d))
    store = PackageStore(zone.home)
    packages = tuple(PackageInput(p["id"], p["version"], store.path(p["sha256"]), p["sha256"], p["file"])
                     for p in snap["packages"].values())
    targets = tuple(open_target(t) for t in list_targets(zone, environment=environment))
    if not targets:
        raise DeployError(f"no targets in environment {environment!r}; add one with `bundlekit targets add NAME "
                          f"--environment {environment} --role ROLE --root DIR`", code="no_targets")
    zone_target = LocalFolderTarget(zone.name, environment, frozenset(), zone.home / "zone-target")
    return DeployRequest(
        deployment_id=_next_id(zone), project_name=project.name, project_slug=project.slug, space=project.space,
        release_version=release["version"], channel=release["channel"], environment=environment,
        steps=tuple(steps), packages=packages, variables=_variables(zone, project), targets=targets,
        now=datetime.fromtimestamp(now, timezone.utc), zone_target=zone_target)


def deploy(zone: Zone, project_ref: str, version: str, environment: str, *, now: float, dry_run: bool = False,
           receipt_out: Path | None = None, on_event: Callable[[dict[str, Any]], None] | None = None) -> DeployOutcome:
    request = prepare(zone, project_ref, version, environment, now=now)
    project = projects.find_project(zone, project_ref)
    release = projects.get_release(zone, project, version)
    try:
        plan = build_plan(request)  # unresolved_variables (exit 5) before anything runs
    except DeployError as err:
        if not dry_run:
            # Nothing ran, but the source must still learn that this deployment did not happen.
            failed = DeploymentRecord(request.deployment_id, project.slug, release["version"], environment, "Failed",
                                      now, now, (StepRun(PREFLIGHT, None, "Failed", now, now, None, "", (),
                                                         f"[{err.code}] {err.message}"),))
            _record(zone, project, release, request, failed, now, receipt_out)
        raise
    if dry_run:
        return DeployOutcome(request, plan)
    with state.transaction(zone.db):
        _insert_running(zone, project, release, request, now)
    record = execute(plan, request, on_event=on_event)  # type: ignore[arg-type]
    receipt = _record(zone, project, release, request, record, now, receipt_out)
    return DeployOutcome(request, plan, record, receipt)


def _insert_running(zone: Zone, project: projects.ProjectRecord, release: dict[str, Any], request: DeployRequest,
                    now: float) -> None:
    """The deployment's row in state ``Executing`` (inside the caller's transaction; idempotent)."""
    zone.db.execute("INSERT OR IGNORE INTO deployments(id, project_slug, release, environment, source_zone_id, "
                    "bundle_digest, state, started, ended, record, outputs) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (request.deployment_id, project.slug, release["version"], request.environment,
                     project.source_zone_id, release["bundle_digest"], "Executing", now, None, "{}", "[]"))


def _record(zone: Zone, project: projects.ProjectRecord, release: dict[str, Any], request: DeployRequest,
            record: DeploymentRecord, now: float, receipt_out: Path | None) -> ReceiptFile | None:
    """Store the outcome (sensitive outputs sealed at rest) and queue its receipt entry."""
    dest = zone.db.execute("SELECT sealing_key FROM trusted_zones WHERE zone_id = ?",
                           (project.source_zone_id,)).fetchone()
    entry, logs = make_entry(record, release=release,
                             project={"name": project.name, "slug": project.slug, "space": project.space},
                             recipient_public=bytes(dest[0]), recipient_key_id=key_id("x25519", bytes(dest[0])))
    with state.transaction(zone.db):
        _insert_running(zone, project, release, request, now)  # a preflight refusal has no row yet
        outputs = []
        for step, target, o in record.outputs():
            value = secrets.store(zone, o.value) if o.sensitive else o.value
            outputs.append({"step": step, "target": target, "name": o.name, "sensitive": o.sensitive, "value": value})
        zone.db.execute("UPDATE deployments SET state = ?, ended = ?, record = ?, outputs = ? WHERE id = ?",
                        (record.state, record.ended, json.dumps(record.to_dict(mask=True)), json.dumps(outputs),
                         request.deployment_id))
        queue_entry(zone, project.source_zone_id, entry, logs, int(now))
    receipt = None
    if receipt_out is not None:
        from bundlekit.receipt.outbox import mark_packed

        receipt = write_receipt(zone, project.source_zone_id, [request.deployment_id], receipt_out, now=int(now))
        mark_packed(zone, receipt)
    return receipt
