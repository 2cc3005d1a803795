"""Deploy an imported release from the zone's state: build the request, plan, run, record, receipt.

What builds a release is read-only here (steps and packages come from the release as
imported); what customises a deployment is the zone's (variables from the project's local
copy, including placeholder bindings; steps enabled or disabled locally). The trust policy
of the release's source must allow the environment. Every deployment, succeeded or
failed, is recorded and queued as a receipt for the source zone.

Recording: a deployment gets its id (``Deployments-N``) in the transaction that first
records it, ``Executing``, before its first step runs; its outcome, its sealed outputs and
its receipt entry are written in one more transaction when it ends. A deployment refused by
its preflight is recorded too (one transaction: id, ``Failed`` record with a
``(preflight)`` run, receipt entry): the one documented exception to "a refusal leaves the
home as it was" (``spec/deploy.md`` section 9, decision 112), because the source zone must
learn that the release it sent was not deployed. A dry run writes nothing.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from bundlekit.core.clock import EpochSeconds, to_datetime
from bundlekit.deploy.engine import execute
from bundlekit.deploy.model import DeploymentRecord, DeployRequest, PackageInput, StepRun, VariableInput
from bundlekit.deploy.plan import DeployPlan, build_plan
from bundlekit.deploy.targets import LocalFolderTarget, Target
from bundlekit.errors import BundleError, DeployError, StateError, TrustError
from bundlekit.format.manifest import Step
from bundlekit.receipt.build import ReceiptFile, make_entry, write_receipt
from bundlekit.trust.policy import check_policy
from bundlekit.zone import deployments, outbox, projects, secrets, truststore
from bundlekit.zone.db import Writer
from bundlekit.zone.home import Zone
from bundlekit.zone.store import PackageStore
from bundlekit.zone.targets import TargetRecord, list_targets
from bundlekit.zone.truststore import TrustEntry

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
        out.append(VariableInput(v["name"], value, bool(v.get("sensitive")), scope, source,
                                 required=v.get("required", True) is not False))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class _Release:
    """What a deployment is of: the project, the imported release and the zone it came from."""

    project: projects.ProjectRecord
    release: dict[str, Any]
    source: TrustEntry


def _resolve(zone: Zone, project_ref: str, version: str, environment: str) -> _Release:
    project = projects.find_project(zone.db, project_ref, zone.name)
    release = projects.get_release(zone.db, project, version)
    source = next((s for s in truststore.sources(zone) if s.zone_id == project.source_zone_id), None)
    entry = truststore.entry_for_id(zone.db, project.source_zone_id)
    if source is None or entry is None:
        raise TrustError(f"project {project.name!r} came from a zone this zone no longer trusts; refusing to deploy",
                         code="policy_denied")
    check_policy(source, space=project.space, project=project.name, project_slug=project.slug,
                 environments=[environment], where=f"deploy {project.name} {version}")
    return _Release(project, release, entry)


def prepare(zone: Zone, project_ref: str, version: str, environment: str, *, now: EpochSeconds) -> DeployRequest:
    """The request for deploying ``version`` of a project to ``environment`` (``now``: Unix seconds).

    Its deployment id is the one the next deployment will probably get; :func:`deploy`
    replaces it by the id allocated when the deployment is recorded. Raises ``StateError``
    (``unknown_project``, ``unknown_release``), ``TrustError`` (``policy_denied``: the
    release's source is no longer trusted, or its policy denies the environment) and
    ``DeployError`` ``no_targets``.
    """
    return _request(zone, _resolve(zone, project_ref, version, environment), environment, now)


def _request(zone: Zone, what: _Release, environment: str, now: EpochSeconds) -> DeployRequest:
    project, release = what.project, what.release
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
    targets = tuple(open_target(t) for t in list_targets(zone.db, environment=environment))
    if not targets:
        raise DeployError(f"no targets in environment {environment!r}; add one with `bundlekit targets add NAME "
                          f"--environment {environment} --role ROLE --root DIR`", code="no_targets")
    zone_target = LocalFolderTarget(zone.name, environment, frozenset(), zone.home / "zone-target")
    return DeployRequest(
        deployment_id=deployments.peek_next_id(zone.db), project_name=project.name, project_slug=project.slug,
        space=project.space, release_version=release["version"], channel=release["channel"], environment=environment,
        steps=tuple(steps), packages=packages, variables=_variables(zone, project), targets=targets,
        now=to_datetime(now), zone_target=zone_target)


def deploy(zone: Zone, project_ref: str, version: str, environment: str, *, now: EpochSeconds,
           dry_run: bool = False, receipt_out: Path | None = None,
           on_event: Callable[[dict[str, Any]], None] | None = None) -> DeployOutcome:
    """Plan, record, run and report one deployment (``now``: Unix seconds).

    A preflight refusal is recorded as a failed deployment and queued for the source, then
    re-raised (unless ``dry_run``, which records nothing). A deployment whose steps fail is
    returned with state ``Failed``; the caller decides the exit status. ``receipt_out`` also
    writes the signed receipt bundle there.
    """
    what = _resolve(zone, project_ref, version, environment)
    request = _request(zone, what, environment, now)
    try:
        plan = build_plan(request)  # preflight_* (exit 5), package_hash_mismatch (3): nothing ran
    except BundleError as err:
        if not dry_run:
            # Nothing ran, but the source must still learn that this deployment did not happen.
            with zone.db.transaction() as tx:
                deployment_id = _insert_running(tx, what, environment, now)
                failed = DeploymentRecord(deployment_id, what.project.slug, what.release["version"], environment,
                                          "Failed", now, now, (StepRun(PREFLIGHT, None, "Failed", now, now, None, "",
                                                                       (), f"[{err.code}] {err.message}"),))
                _record(zone, tx, what, failed, now)
            _write_receipt(zone, what, deployment_id, now, receipt_out)
        raise
    if dry_run:
        return DeployOutcome(request, plan)
    with zone.db.transaction() as tx:
        deployment_id = _insert_running(tx, what, environment, now)
    request = dataclasses.replace(request, deployment_id=deployment_id)
    plan = dataclasses.replace(plan, deployment_id=deployment_id)
    record = execute(plan, request, on_event=on_event)
    with zone.db.transaction() as tx:
        _record(zone, tx, what, record, now)
    return DeployOutcome(request, plan, record, _write_receipt(zone, what, deployment_id, now, receipt_out))


def _insert_running(tx: Writer, what: _Release, environment: str, now: EpochSeconds) -> str:
    """Allocate the deployment's id and record it ``Executing``; returns the id."""
    deployment_id = deployments.allocate_id(tx)
    deployments.insert_running(tx, deployment_id, project_slug=what.project.slug, release=what.release["version"],
                               environment=environment, source_zone_id=what.project.source_zone_id,
                               bundle_digest=what.release["bundle_digest"], started=now)
    return deployment_id


def _record(zone: Zone, tx: Writer, what: _Release, record: DeploymentRecord, now: EpochSeconds) -> None:
    """Store the outcome (sensitive outputs sealed at rest) and queue its receipt entry, in ``tx``."""
    project = what.project
    entry, logs = make_entry(record, release=what.release,
                             project={"name": project.name, "slug": project.slug, "space": project.space},
                             recipient_public=what.source.sealing_key, recipient_key_id=what.source.sealing_key_id)
    outputs = []
    for step, target, o in record.outputs():
        value = secrets.store(zone, tx, o.value) if o.sensitive else o.value
        outputs.append({"step": step, "target": target, "name": o.name, "sensitive": o.sensitive, "value": value})
    deployments.finish(tx, record.deployment_id, state=record.state, ended=record.ended,
                       record=record.to_dict(mask=True), outputs=outputs)
    outbox.queue_entry(tx, project.source_zone_id, entry, logs, int(now))


def _write_receipt(zone: Zone, what: _Release, deployment_id: str, now: EpochSeconds,
                   receipt_out: Path | None) -> ReceiptFile | None:
    if receipt_out is None:
        return None
    return write_receipt(zone, what.project.source_zone_id, [deployment_id], receipt_out, now=int(now))
