"""Recording a deployment in the zone's state: start, progress, outcome, and interrupted ones.

A deployment is recorded ``Executing`` (its id allocated in that same transaction) and the
process running it claims it (``deployments.claim_name``) until its outcome is recorded; the
start of each run is noted in its row as the step and target reached. The outcome and, for a
release from another zone, its receipt entry are written in one transaction, once.

A process can die without recording the outcome (killed, a crash, a power cut). Its row stays
``Executing`` and its claim ends with it (``Database.claim``: with the process on SQLite, with
the connection on PostgreSQL, so on any node). :func:`settle_interrupted`, which every command
that opens a zone runs first, closes such a row ``Interrupted``, says which step and target it
had reached, and queues its receipt entry like any other deployment's: exactly once, since the
check and the change are one write transaction. The receipt format knows ``Success`` and
``Failed``; an interrupted deployment travels as ``Failed`` with the interruption as the reason
of the run it reached (decision 370).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Any, Callable

from bundlekit.core.hints import home_flag
from bundlekit.core import clock
from bundlekit.core.clock import EpochSeconds
from bundlekit.deploy.model import DeploymentRecord, StepRun
from bundlekit.deploy.keeper import Loss
from bundlekit.errors import BundleError, DeployError, StateError
from bundlekit.importer.evidence import EvidenceRow
from bundlekit.receipt.build import make_entry
from bundlekit.zone import deployments, outbox, projects, secrets, sequences, truststore
from bundlekit.zone.db import Writer
from bundlekit.zone.evidence import record_evidence
from bundlekit.zone.home import Zone
from bundlekit.zone.truststore import TrustEntry

__all__ = ["Release", "Context", "Stopped", "insert_running", "this_node", "noting_reached", "record", "record_kept",
           "resolve_recorded", "settle_interrupted", "running_here", "INTERRUPTED_STEP", "say_recorded"]

#: Deployments this process is running now, as ``(zone id, deployment id)``: alive whatever a
#: claim check from this very connection would say.
running_here: set[tuple[str, str]] = set()

#: The step an interrupted deployment is recorded under when its process died before any step started.
INTERRUPTED_STEP = "(interrupted)"


@dataclass(frozen=True, slots=True)
class Release:
    """What a deployment is of: the project, the release and the zone it came from (None: this zone)."""

    project: projects.ProjectRecord
    release: dict[str, Any]
    source: TrustEntry | None

    @property
    def local(self) -> bool:
        return self.source is None


@dataclass(frozen=True, slots=True)
class Context:
    """One deployment's who and what: the release, where it goes, and what the lifecycle let it skip."""

    what: Release
    environment: str
    tenant: str | None
    waivers: tuple[dict[str, Any], ...]  # promotion.gate.relied_waivers
    evidence: tuple[EvidenceRow, ...]

    @property
    def waived(self) -> tuple[str, ...]:
        """The lifecycle phases a waiver let this deployment skip."""
        return tuple(w["phase"] for w in self.waivers)


def this_node(zone: Zone) -> dict[str, Any]:
    """This node as a running deployment's record names it: its host, its home and this process."""
    return {"host": socket.gethostname(), "home": str(zone.home), "pid": os.getpid()}


def insert_running(tx: Writer, ctx: Context, now: EpochSeconds, node: dict[str, Any] | None = None) -> str:
    """Allocate the deployment's id and record it ``Executing`` (with the evidence offered, and the
    ``node`` running it: :func:`this_node`); returns the id.

    Its start is the moment it is recorded (:func:`clock.stamp`, to the millisecond; decision 430),
    not ``now``, which the command read before it planned, checked targets or waited its turn."""
    what = ctx.what
    deployment_id = deployments.allocate_id(tx)
    deployments.insert_running(tx, deployment_id, project_slug=what.project.slug, release=what.release["version"],
                               environment=ctx.environment, source_zone_id=what.project.source_zone_id,
                               bundle_digest=what.release["bundle_digest"], started=clock.stamp(),
                               release_digest=what.release.get("release_digest"), tenant=ctx.tenant,
                               waived=list(ctx.waivers), node=node)
    record_evidence(tx, ctx.evidence, now)
    return deployment_id


def noting_reached(zone: Zone, deployment_id: str,
                    on_event: Callable[[dict[str, Any]], None] | None) -> Callable[[dict[str, Any]], None]:
    """``on_event``, after noting each run's start in the deployment's row (what an ``Interrupted``
    record names as reached). The fleet runs the steps on this thread, between transactions."""
    def event(e: dict[str, Any]) -> None:
        if e.get("event") == "run_started":
            try:
                with zone.db.transaction() as tx:
                    deployments.note_reached(tx, deployment_id, str(e["step"]), e.get("target"), clock.stamp())
            except StateError:
                pass  # a busy state costs the note, never the deployment (it only sharpens an Interrupted record)
        if on_event is not None:
            on_event(e)
    return event


def record(zone: Zone, tx: Writer, ctx: Context, outcome: DeploymentRecord, now: EpochSeconds,
           state: str | None = None, extra: dict[str, Any] | None = None) -> bool:
    """Store the outcome (sensitive outputs sealed at rest) and, for a release from another zone,
    queue its receipt entry, in ``tx``. ``state``: the state kept here when it is not the record's
    (``Interrupted``, whose receipt says ``Failed``); ``extra``: more keys for the stored record.
    Returns False, writing nothing, for a deployment that is no longer ``Executing``."""
    what = ctx.what
    project = what.project
    outputs = []
    for step, target, o in outcome.outputs():
        value = secrets.store(zone, tx, o.value) if o.sensitive else o.value
        outputs.append({"step": step, "target": target, "name": o.name, "sensitive": o.sensitive, "value": value})
    stored = outcome.to_dict(mask=True)
    if state is not None:
        stored["state"] = state
    stored.update(extra or {})
    if not deployments.finish(tx, outcome.deployment_id, state=state or outcome.state, ended=outcome.ended,
                              record=stored, outputs=outputs):
        return False  # closed Interrupted meanwhile: it was reported once already
    if what.source is None:
        return True
    entry, logs = make_entry(outcome, release=what.release,
                             project={"name": project.name, "slug": project.slug, "space": project.space},
                             recipient_public=what.source.sealing_key, recipient_key_id=what.source.sealing_key_id,
                             tenant=ctx.tenant, waivers=ctx.waivers,
                             relay_hops=sequences.relay_hops_of(tx, what.release["bundle_digest"]))
    outbox.queue_entry(tx, project.source_zone_id, entry, logs, int(now))
    return True


@dataclass(frozen=True, slots=True)
class Stopped:
    """A deployment stopped because its claims ended while it ran and could not be retaken
    (decision 421): ``why``; ``recorded``: its own outcome is the record (False: another command
    had closed it ``Interrupted`` first, and what this process did was added to that record)."""

    deployment_id: str
    why: str
    recorded: bool

    def error(self, outcome: DeploymentRecord) -> DeployError:
        """The command's failure (``deployment_claim_lost``), with what ran and where it is recorded."""
        counts = {s: sum(1 for r in outcome.runs if r.state == s) for s in ("Success", "Canceled", "Failed")}
        ran = (f"{counts['Success']} run(s) had succeeded, {counts['Canceled']} were stopped"
               + (f", {counts['Failed']} failed" if counts["Failed"] else ""))
        where = ("it is recorded " + outcome.state if self.recorded else
                 "another command had already closed it Interrupted; what this process did is added to that record")
        return DeployError(f"deployment {self.deployment_id} lost its claim on the zone's state while it ran and was "
                           f"stopped, so that no other node runs beside it: {self.why}. {ran}; {where}. See "
                           f"`bundlekit deployments show {self.deployment_id}{home_flag()}`; check the targets, then deploy again",
                           code="deployment_claim_lost",
                           details={"deployment_id": self.deployment_id, "recorded": self.recorded})


def failure_code(outcome: DeploymentRecord, stopped: Stopped | None) -> str | None:
    """The code ``deploy`` ends with for a deployment recorded as ``outcome`` (None: it succeeded):
    ``deployment_claim_lost`` when ``stopped``, ``deployment_canceled``, or ``deploy_failed``."""
    if stopped is not None:
        return "deployment_claim_lost"
    if outcome.state == "Canceled":
        return "deployment_canceled"
    return None if outcome.state == "Success" else "deploy_failed"


def record_kept(zone: Zone, ctx: Context, outcome: DeploymentRecord, now: EpochSeconds, losses: list[Loss],
                names: tuple[str, ...]) -> Stopped | None:
    """Record the outcome of a run whose claims (``names``, taken by ``zone.db``) a ``ClaimKeeper``
    watched, with the ``losses`` it saw; None when nothing stopped the deployment.

    After a loss the zone's connection holds nothing (its claims ended with it; the keeper's
    holds them if it retook them): it is let go, so the record is written on a new one. A
    deployment closed ``Interrupted`` meanwhile keeps that record (its receipt entry went out
    once); what this process did is added to it as ``after_closed``. Raises ``DeployError``
    ``deployment_claim_lost`` when a stopped deployment cannot be recorded (the next command
    closes it ``Interrupted``), and the state errors of a write transaction otherwise."""
    extra = {"claims_lost": [loss.to_dict() for loss in losses]} if losses else None
    stop = next((loss for loss in losses if not loss.retaken), None)
    if losses:
        for name in names:
            zone.db.release(name)
    try:
        with zone.db.transaction() as tx:
            written = record(zone, tx, ctx, outcome, now, extra=extra)
            if not written and losses:
                deployments.annotate(tx, outcome.deployment_id, "after_closed",
                                     {"state": outcome.state, **(extra or {}),
                                      "runs": outcome.to_dict(mask=True)["runs"]})
    except StateError as error:
        if stop is None:
            raise
        raise DeployError(f"deployment {outcome.deployment_id} lost its claim on the zone's state while it ran and "
                          f"was stopped ({stop.why}), and its outcome could not be recorded ({error.message}). The "
                          "next command that opens the zone closes it Interrupted; check the targets, then deploy "
                          "again", code="deployment_claim_lost",
                          details={"deployment_id": outcome.deployment_id, "recorded": False}) from None
    if stop is None and written:
        return None
    why = stop.why if stop is not None else "another command closed it meanwhile"
    return Stopped(outcome.deployment_id, why, written)


def resolve_recorded(zone: Zone, row: dict[str, Any]) -> Context:
    """The context of a recorded deployment (a ``deployments`` row), to record its outcome later.
    Its waivers: the row's ``waivers``, else its ``waived`` (phase names, or the waivers as recorded).

    Its source is None when the release was created here or the source is no longer in the trust
    store (then no receipt can be sealed for it). Raises ``StateError`` when the project or release is gone."""
    project = projects.find_project(zone.db, row["project_slug"], zone.name)
    release = projects.get_release(zone.db, project, row["release"])
    source = None if project.source_zone_id == zone.zone_id else truststore.entry_for_id(zone.db, project.source_zone_id)
    waivers = row.get("waivers") or [w if isinstance(w, dict) else {"phase": w} for w in row.get("waived") or ()]
    return Context(Release(project, release, source), row["environment"], row["tenant"], tuple(waivers), ())


def _interrupted_outcome(row: dict[str, Any], when: clock.Timestamp) -> tuple[DeploymentRecord, dict[str, Any]]:
    """The record of a deployment whose process died: ``Failed`` for the receipt, one run (the step and
    target it reached, else :data:`INTERRUPTED_STEP`) saying so; and what the stored record adds."""
    reached = (row["record"] or {}).get("reached") or None
    started = float(row["started"])
    if reached:
        step, target, at = str(reached["step"]), reached.get("target"), float(reached.get("at") or started)
        where = f"step {step!r} on {target or 'the zone'}"
        reason = (f"interrupted: the process running this deployment ended (killed or crashed) during {where}, "
                  "before it recorded the outcome; what that step had done on its target is not known. "
                  "Check the target, then deploy again")
    else:
        step, target, at = INTERRUPTED_STEP, None, started
        reason = ("interrupted: the process running this deployment ended (killed or crashed) before its first step "
                  "started; no step ran. Deploy again")
    ended = max(float(when), at)
    run = StepRun(step, target, "Failed", at, ended, None, "", (), reason)
    outcome = DeploymentRecord(row["id"], row["project_slug"], row["release"], row["environment"], "Failed",
                               started, ended, (run,))
    node = (row["record"] or {}).get("node")
    return outcome, {"interrupted": {"step": None if reached is None else step, "target": target, "at": ended},
                     **({"node": node} if node else {})}


def _gone(zone: Zone, db: Any, deployment_id: str) -> bool:
    """Whether the process that ran ``deployment_id`` has ended without recording its outcome."""
    if (zone.zone_id, deployment_id) in running_here:
        return False
    return not zone.db.held(db, deployments.claim_name(deployment_id))


def settle_interrupted(zone: Zone, now: EpochSeconds | None = None) -> list[str]:
    """Close ``Interrupted`` every deployment left ``Executing`` by a process that is gone; their ids.

    Each gets a final record naming the step and target it had reached and, for a release from
    another zone, its receipt entry (``Failed``, the interruption as its reason), in one write
    transaction that checks again that the row is still ``Executing`` and unclaimed: two
    commands settling at once record each deployment once. A deployment whose process runs on
    another machine of a SQLite zone (not a supported layout) is never judged gone. Reads only
    when nothing is stuck, so a refused command still leaves the state as it was. ``now``: Unix
    seconds (default: the clock). Raises the state errors of a write transaction.
    """
    rows = deployments.executing(zone.db)
    if not any(_gone(zone, zone.db, r["id"]) for r in rows):
        return []
    when = clock.stamp() if now is None else float(now)
    closed: list[str] = []
    with zone.db.transaction() as tx:
        for row in deployments.executing(tx):
            if not _gone(zone, tx, row["id"]):
                continue
            outcome, extra = _interrupted_outcome(row, when)
            try:
                ctx = resolve_recorded(zone, row)
            except BundleError:
                # The project or release is gone from the state: close the row, nothing to report it with.
                stored = {**outcome.to_dict(mask=True), "state": deployments.INTERRUPTED, **extra}
                deployments.finish(tx, row["id"], state=deployments.INTERRUPTED, ended=outcome.ended,
                                   record=stored, outputs=[])
            else:
                record(zone, tx, ctx, outcome, when, deployments.INTERRUPTED, extra)
            closed.append(row["id"])
    return closed


def say_recorded(err: BundleError, deployment_id: str, local: bool) -> None:
    """Add to the preflight's refusal ``err`` that it was recorded as the failed deployment
    ``deployment_id`` (decision 112): its "nothing was run" is true, and the deployment list and the
    dashboard then show the failure (new-user review 38, F4)."""
    told = "" if local else "; its receipt entry tells the source zone that this deployment did not happen"
    err.reword(f"{err.message.rstrip()} (Recorded as {deployment_id}, Failed before any step ran{told}; "
               "--dry-run checks without recording.)")
