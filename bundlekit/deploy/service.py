"""Deploy an imported release from the zone's state: build the request, plan, run, record, receipt.

What builds a release is read-only here (steps and packages come from the release as
imported or created); what customises a deployment is the zone's. Variables are the
release's own snapshot (the values it was created with; decision 156) with the zone's values
on top: those set here, placeholder bindings, and overrides of release values (entries of
the project's local copy that differ from the newest release). Steps are enabled or disabled
locally. The trust policy of the release's source must allow the environment, and the
release's lifecycle must have opened it (``promotion/gate.py``: ``lifecycle_violation``, a
refusal that records nothing). Environment and tenant names are compared case-insensitively
and recorded in the release's spelling. Every deployment, succeeded or failed, is recorded
and, for a release from another zone, queued as a receipt for that zone; a release created
in this zone (``releases create``, ``export``) is deployed the same way, and its deployments
feed this zone's dashboard directly.

Recording: a deployment gets its id (``Deployments-N``) in the transaction that first
records it, ``Executing``, before its first step runs; its outcome, its sealed outputs and
its receipt entry are written in one more transaction when it ends. A deployment refused by
its preflight is recorded too (one transaction: id, ``Failed`` record with a
``(preflight)`` run, receipt entry): the one documented exception to "a refusal leaves the
home as it was" (``spec/deploy.md`` section 9, decision 112), because the source zone must
learn that the release it sent was not deployed. A dry run writes nothing, here or on a target.

Targets (decisions 140-147): every step runs through bundlekit's step runner. Local folder
targets and zone-level steps run it on this machine under the zone's worker isolation (a
worker user, or a bubblewrap sandbox showing only the system and the step's own folder, said
in every record when there is no worker user); SSH targets over a connection whose host key is
pinned. The preflight connects to every target the plan uses before any step runs anywhere."""

from __future__ import annotations

import dataclasses
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from bundlekit.core.clock import EpochSeconds, stamp, to_datetime, utc_text
from bundlekit.core.files import refuse_unwritable_place
from bundlekit.core.names import check_environment
from bundlekit.core.hints import in_space, here_flags, home_flag, without_home
from bundlekit.core.selfproject import refuse_self_project
from bundlekit.core.text import closest, shell_word
from bundlekit.deploy import recording
from bundlekit.deploy.engine import execute
from bundlekit.deploy.fleet import DEFAULT_MAX_PARALLEL, Fleet, Health
from bundlekit.deploy.keeper import ClaimKeeper
from bundlekit.deploy.launch import bwrap_path, default_python
from bundlekit.deploy.model import DeploymentRecord, DeployRequest, PackageInput, StepRun, VariableInput
from bundlekit.deploy.plan import DeployPlan, build_plan
from bundlekit.deploy.scopes import environment_spelling, tenant_spelling
from bundlekit.deploy.targets import Isolation, LocalFolderTarget, SshTarget, Target
from bundlekit.errors import BundleError, ConflictError, DeployError, InputError, StateError, TrustError, UsageError
from bundlekit.format.manifest import Step
from bundlekit.importer.evidence import EvidenceRow, matching, read_receipt_evidence
from bundlekit.importer.verify import verifier_for
from bundlekit.promotion.gate import check, relied_waivers
from bundlekit.receipt.build import ReceiptFile, refuse_existing, write_receipt
from bundlekit.trust.policy import check_policy
from bundlekit.zone import audit, deployments, key_material, projects, retention, secrets, truststore
from bundlekit.zone.home import Zone
from bundlekit.zone.homescan import refuse_step_folders
from bundlekit.zone.outputs import refuse_in_home
from bundlekit.zone.sshkey import client_key
from bundlekit.zone.targets import TargetRecord, list_targets
from bundlekit.zone.worker import get_worker

__all__ = ["DeployOutcome", "prepare", "deploy", "open_target", "isolation", "zone_fleet", "PREFLIGHT"]

#: The step name under which a deployment refused by its preflight is recorded and reported.
PREFLIGHT = "(preflight)"


@dataclass
class DeployOutcome:
    request: DeployRequest
    plan: DeployPlan
    record: DeploymentRecord | None = None
    receipt: ReceiptFile | None = None
    waived: tuple[str, ...] = ()  # lifecycle phases a zone waiver let this deployment skip
    waivers: tuple[dict[str, Any], ...] = ()  # those waivers, as recorded with the deployment
    local: bool = False  # the release was created in this zone (no receipt to send)
    receipt_for: str | None = None  # the zone a queued receipt waits for (its name): `outbox pack --to` it
    #: set when the deployment lost its claims while it ran and was stopped (decision 421): why,
    #: and whether its record is its own (``recorded``) or another command closed it first
    claims_lost: "recording.Stopped | None" = None


def isolation(zone: Zone) -> Isolation:
    """How runners on this machine are kept from the zone's home (``zone/worker.py``)."""
    worker = get_worker(zone)
    # The worker user gets the system's Python (it may not enter the zone owner's folders); the
    # sandbox runs this process's own interpreter, with every configuration library.
    python = worker.python or (default_python() if worker.mode == "user" else sys.executable)
    return Isolation(worker.mode, worker.user, python, hide=(str(zone.home.resolve()),),
                     bwrap=bwrap_path() or "/usr/bin/bwrap")


def open_target(record: TargetRecord, local: Isolation) -> Target:
    """The one place a recorded target kind becomes an implementation."""
    if record.kind == "local":
        return LocalFolderTarget(record.name, record.environment, frozenset(record.roles), Path(record.root), local)
    if record.kind == "ssh":
        c = record.config
        return SshTarget(record.name, record.environment, frozenset(record.roles), c["host"], c["user"],
                         tuple(c["host_keys"]), int(c["port"]), c.get("identity_file"), c["work_dir"])
    raise StateError(f"target {record.name!r} has unknown kind {record.kind!r}", code="unknown_target_kind")


def zone_fleet(zone: Zone, max_parallel: int = DEFAULT_MAX_PARALLEL) -> Fleet:
    """A :class:`Fleet` that authenticates with the zone's SSH client key (read on first SSH use;
    never created here: a zone without one raises ``target_auth_failed`` saying how to make it)."""
    def key() -> Any:
        import asyncssh  # only when there are SSH targets

        data = client_key(zone, create=False)
        if data is None:
            raise DeployError("this zone has no SSH key yet, so no SSH target can know it: run `bundlekit targets "
                              f"ssh-key{home_flag()}` (it creates the key) and add the line it prints to each target user's "
                              "~/.ssh/authorized_keys.", code="target_auth_failed")
        return asyncssh.import_private_key(data)
    return Fleet(key, max_parallel=max_parallel)


def _variable(zone: Zone, v: dict[str, Any], source: str) -> VariableInput:
    value = v.get("value")
    if value is not None and v.get("sensitive") and secrets.is_secret_ref(value):
        value = secrets.reveal(zone, value)
    scope = {k: frozenset(x) for k, x in (v.get("scope") or {}).items()}
    return VariableInput(v["name"], value, bool(v.get("sensitive")), scope, source,
                         required=v.get("required", True) is not False)


def _variables(zone: Zone, project: projects.ProjectRecord, release: dict[str, Any]) -> tuple[VariableInput, ...]:
    """The release's own variables, then the zone's values (decision 156)."""
    out = []
    for v in release["snapshot"]["variables"].values():
        unbound = v.get("placeholder") and v.get("value") is None
        out.append(_variable(zone, v, "placeholder" if unbound else "release"))
    newest = project.base["variables"]
    for key, v in project.local["variables"].items():
        if newest.get(key) == v or (v.get("placeholder") and v.get("value") is None):
            continue  # the newest release's own value (or an unbound placeholder): not the zone's
        out.append(_variable(zone, v, "local"))
    return tuple(out)


def _resolve(zone: Zone, project_ref: str, version: str, environment: str,
             space: str | None = None) -> recording.Release:
    project = projects.find_project(zone.db, project_ref, zone.name, space=space)
    refuse_self_project(project.slug, zone.home, asked=f"deploy {project.slug} {version}")
    release = projects.get_release(zone.db, project, version)
    if project.source_zone_id == zone.zone_id:
        return recording.Release(project, release, None)
    source = next((s for s in truststore.sources(zone) if s.zone_id == project.source_zone_id), None)
    entry = truststore.entry_for_id(zone.db, project.source_zone_id)
    if source is None or entry is None:
        raise TrustError(f"project {project.name!r} came from a zone this zone no longer trusts; refusing to deploy",
                         code="policy_denied")
    check_policy(source, space=project.space, project=project.name, project_slug=project.slug,
                 environments=[environment], where=f"deploy {project.name} {version}")
    return recording.Release(project, release, entry)


def prepare(zone: Zone, project_ref: str, version: str, environment: str, *, now: EpochSeconds,
            tenant: str | None = None, space: str | None = None) -> DeployRequest:
    """The request for deploying ``version`` of a project to ``environment`` (``now``: Unix seconds).

    Its deployment id is the one the next deployment will probably get; :func:`deploy`
    replaces it by the id allocated when the deployment is recorded. Raises ``StateError``
    (``unknown_project``, ``unknown_release``, ``unknown_environment``, ``unknown_tenant``), ``TrustError``
    (``policy_denied``: the release's source is no longer trusted, or its policy denies the
    environment), ``DeployError`` ``no_targets``, ``UsageError`` ``self_not_deployable`` (project
    bundlekit). The project is looked up among ``space``'s (None: every space's); only its space's
    targets are used (decision 660)."""
    what = _resolve(zone, project_ref, version, environment, space)
    return _request(zone, what, environment_spelling(zone, what.project, what.release, environment), tenant_spelling(what.project, what.release, tenant), now)


def _request(zone: Zone, what: recording.Release, environment: str, tenant: str | None, now: EpochSeconds) -> DeployRequest:
    project, release = what.project, what.release
    snap = release["snapshot"]
    local_steps = project.local["steps"]
    steps = []
    for key in snap["step_order"]:
        d = dict(snap["steps"][key])
        if key in local_steps:
            d["enabled"] = local_steps[key].get("enabled", True)
        steps.append(Step.from_dict(d))
    store = zone.store
    packages = tuple(PackageInput(p["id"], p["version"], store.path(p["sha256"]), p["sha256"], p["file"])
                     for p in snap["packages"].values())
    local = isolation(zone)
    # Only the targets of the project's space: another space's machines are invisible to it (decision 660).
    targets = tuple(open_target(t, local) for t in list_targets(zone.db, environment=environment, space=project.in_space))
    if not targets:
        similar = closest(environment, [t.environment for t in list_targets(zone.db, space=project.in_space)])
        hint = f" (did you mean {', '.join(repr(k) for k in similar)}?)" if similar else ""
        raise DeployError(f"no targets in environment {environment!r}{in_space(project.in_space, 'of')}{hint}; add one with "
                          f"`bundlekit targets add NAME --environment {shell_word(environment)} --role ROLE --ssh USER@HOST "
                          f"--host-key KEY{here_flags(project.in_space)}` (or --root DIR)", code="no_targets",
                          details={"environment": environment, "space": project.in_space, "suggestions": similar})
    # Zone-level steps run on the worker: its folder is outside the home, its isolation the zone's.
    zone_target = LocalFolderTarget(zone.name, environment, frozenset(), Path(get_worker(zone).folder), local)
    return DeployRequest(
        deployment_id=deployments.peek_next_id(zone.db), project_name=project.name, project_slug=project.slug,
        # Octopus.Space.Name is the space the project belongs to here, never what its source wrote.
        space=project.in_space, release_version=release["version"], channel=release["channel"], environment=environment,
        steps=tuple(steps), packages=packages, variables=_variables(zone, project, release), targets=targets,
        now=to_datetime(now), zone_target=zone_target, tenant=tenant, protected=key_material.zone_key_material(zone.home),
        warnings=((local.warning,) if local.warning and _uses_this_machine(steps, targets) else ()) + _refreshed(release))


def _refreshed(release: dict[str, Any]) -> tuple[str, ...]:
    """The warning a deployment of a release whose variables were refreshed carries in its record
    (``releases update-variables``; decision 682): the phases it passed ran the earlier values."""
    updated = release.get("variables_updated")
    if updated is None:
        return ()
    return (f"the variables of {release['version']} were updated ({utc_text(updated)}, bundlekit releases "
            "update-variables): deployments of it before then, and the lifecycle proof they gave, ran the "
            "earlier values",)


def _uses_this_machine(steps: list[Step], targets: tuple[Target, ...]) -> bool:
    """Whether some step may run on this machine: a zone-level step, or any local target."""
    return any(not s.roles for s in steps) or any(isinstance(t, LocalFolderTarget) for t in targets)


def _refuse_missing_formats(request: DeployRequest, plan: DeployPlan, health: list[Health]) -> None:
    """Refuse, before any step runs, a run that configures a file in a format its target's python3
    cannot apply (XML without lxml), which would otherwise stop the deployment halfway (decision
    522). The runner's hello or the bootstrap's probe (a dry run) says what each target can
    apply; a target that did not say is not checked here.

    Raises DeployError ``structured_config_unavailable``."""
    known = {h.target: set(h.formats) for h in health if h.formats is not None}
    zone = request.zone_target.name if request.zone_target is not None else ""
    lacking: list[tuple[str, str, str, str]] = []
    for run in plan.runs:
        target = run.target or zone
        have = known.get(target) if run.action == "run" else None
        lacking.extend((run.step, target, file, fmt) for file, fmt, _ in run.structured_config
                       if have is not None and fmt not in have)
    if lacking:
        lines = "\n".join(f"  - step {step!r} on {target}: {file} ({fmt.upper()})"
                           for step, target, file, fmt in lacking)
        raise DeployError(
            f"{len(lacking)} structured configuration file(s) need a library the target's python3 does not have "
            "(XML needs lxml, which bundlekit cannot ship); nothing was run. Install it there (Debian: "
            f"python3-lxml) or leave the file out of the step's structured_config:\n{lines}",
            code="structured_config_unavailable",
            details=[{"step": step, "target": target, "file": file, "format": fmt}
                     for step, target, file, fmt in lacking])


def _used_targets(request: DeployRequest, plan: DeployPlan) -> list[Target]:
    """The targets the plan runs steps on (the zone's worker included), each once, in plan order."""
    by_name = {t.name: t for t in request.targets}
    used: dict[str, Target] = {}
    for run in plan.runs:
        if run.action != "run":
            continue
        target = by_name[run.target] if run.target is not None else request.zone_target
        if target is not None:
            used.setdefault(target.name.casefold(), target)
    return list(used.values())


def _offered(zone: Zone, what: recording.Release, paths: tuple[Path, ...], now: EpochSeconds) -> list[EvidenceRow]:
    """Receipts from other zones offered as lifecycle evidence, verified and matched to the release."""
    verifier = verifier_for(zone, now)
    out: list[EvidenceRow] = []
    for path in paths:
        verified, rows = read_receipt_evidence(verifier, path)
        out += matching(path, verified.source, rows, what.release.get("release_digest") or "",
                        project=what.project.name, version=what.release["version"], space=what.project.space,
                        slug=what.project.slug, steps=len(what.release["snapshot"]["steps"]))
    return out


def deploy(zone: Zone, project_ref: str, version: str, environment: str, *, now: EpochSeconds,
           dry_run: bool = False, receipt_out: Path | None = None,
           on_event: Callable[[dict[str, Any]], None] | None = None,
           tenant: str | None = None, evidence: tuple[Path, ...] = (), wait: float = 0.0,
           on_wait: Callable[[str], None] | None = None, max_parallel: int = DEFAULT_MAX_PARALLEL,
           fleet: Fleet | None = None, cancel: threading.Event | None = None,
           space: str | None = None) -> DeployOutcome:
    """Plan, check the targets, record, run and report one deployment (``now``: Unix seconds).

    Deployments of one project to one environment (and tenant) run one at a time across every
    node of the zone (decision 185): while one runs, another waits up to ``wait`` seconds
    (``on_wait`` is told once what it waits for, as a phrase), then is refused ``ConflictError``
    ``deployment_in_progress``; while ``bundlekit prune`` holds the zone's prune claim no
    deployment starts: it waits the same way, then is refused ``prune_in_progress``.

    The lifecycle gate comes first (``lifecycle_violation``: nothing recorded); ``evidence``
    are receipt bundles from other zones offered as proof of earlier phases (verified; stored
    with the deployment). The preflight plans every run, then connects to every target the
    plan uses (``max_parallel`` at a time) and starts its runner: a host key mismatch (exit 3),
    an unreachable target or one without a usable python refuses the deployment before any
    step runs anywhere (a dry run only probes), and is not recorded. A refusal of the plan (the
    release's own problem) is recorded as a failed deployment and queued for the source. A
    deployment whose steps fail is returned ``Failed``; the caller decides the exit status.
    ``receipt_out`` also writes the signed receipt there. ``fleet``: sessions to reuse. ``cancel``
    set before it is recorded: ``deployment_canceled``; while it runs: it ends ``Canceled`` (decision 402).
    The project is looked up among ``space``'s projects (None: every space's), and the deployment
    sees only the targets of the project's space (decision 660)."""
    check_environment(environment, error=InputError, code="invalid_label")
    _refuse_canceled(cancel)  # a signal since the command started: nothing is looked at or run
    what = _resolve(zone, project_ref, version, environment, space)
    if receipt_out is not None and what.local:
        raise UsageError(f"--receipt-out: {what.project.name} {version} was created in this zone, so no zone awaits "
                         "a receipt of it; to give a zone that holds it proof of this deployment, deploy without "
                         f"--receipt-out, then `bundlekit deployments receipt DEPLOYMENT-ID --to ZONE -o FILE{home_flag()}`",
                         code="usage")
    if receipt_out is not None and not dry_run:  # before anything runs: the receipt would have nowhere to go
        refuse_in_home(receipt_out, "--receipt-out", zone)  # never among the zone's files (decision 942)
        refuse_existing(receipt_out)
        refuse_unwritable_place(receipt_out, "--receipt-out")
    environment = environment_spelling(zone, what.project, what.release, environment)
    tenant = tenant_spelling(what.project, what.release, tenant)
    offered = tuple(_offered(zone, what, evidence, now))
    decision = check(zone.db, zone.name, what.project, what.release, environment, tenant=tenant, offered=offered)
    ctx = recording.Context(what, environment, tenant, relied_waivers(zone.db, what.project, what.release, decision),
                            offered)
    request = _request(zone, what, environment, tenant, now)
    for warning in request.warnings if on_event is not None else ():  # once, before any step's output
        on_event({"event": "warning", "text": warning})
    deadline = time.monotonic() + max(0.0, wait)
    if not dry_run:
        _await_prune(zone, deadline, on_wait, max(0.0, wait), cancel)  # before the preflight touches any target
    own = fleet is None
    fleet = fleet or zone_fleet(zone, max_parallel)
    try:
        checking = False  # True once the plan is made and the targets are being checked
        try:
            plan = build_plan(request)  # preflight_* (exit 5), package_hash_mismatch (3): nothing ran
            if not dry_run:
                _refuse_canceled(cancel)  # before any target is touched
            checking = True
            used = _used_targets(request, plan)
            refuse_step_folders([("the worker folder" if t is request.zone_target else f"target {t.name!r}", t.root)
                                 for t in used if isinstance(t, LocalFolderTarget)])  # decision 801
            # host_key_mismatch (3), target_unreachable (5), ...; a dry run only probes (writes nothing anywhere)
            _refuse_missing_formats(request, plan, fleet.preflight(used, start=not dry_run))
        except BundleError as err:
            # The release's own problems are recorded for its source; the targets' are not (decision 407).
            if not dry_run and not checking:  # nothing ran, but the source must learn it did not happen
                with zone.db.transaction() as tx:
                    deployment_id = recording.insert_running(tx, ctx, now)
                    at = stamp()
                    failed = DeploymentRecord(deployment_id, what.project.slug, what.release["version"], environment,
                                              "Failed", at, at,
                                              (StepRun(PREFLIGHT, None, "Failed", at, at, None, "", (),
                                                       f"[{err.code}] {without_home(err.message)}"),), tuple(map(without_home, request.warnings)))
                    recording.record(zone, tx, ctx, failed, now)
                _write_receipt(zone, what, deployment_id, now, receipt_out, err.code)
                recording.say_recorded(err, deployment_id, what.local)
            raise
        if dry_run:
            return DeployOutcome(request, plan, waived=ctx.waived, waivers=ctx.waivers, local=what.local)
        _refuse_canceled(cancel)  # a signal during the preflight
        slot = deployments.slot(what.project.slug, environment, tenant)
        cancel = cancel if cancel is not None else threading.Event()
        with ClaimKeeper(zone, cancel) as keeper:  # its connection first: a state that cannot give one refuses here
            deployment_id = _start(zone, ctx, now, slot, deadline, on_wait, max(0.0, wait), cancel)
            recording.running_here.add((zone.zone_id, deployment_id))
            try:
                keeper.start(deployment_id, slot)
                request = dataclasses.replace(request, deployment_id=deployment_id)
                plan = dataclasses.replace(plan, deployment_id=deployment_id)
                record = execute(plan, request, on_event=recording.noting_reached(zone, deployment_id, on_event),
                                 fleet=fleet, max_parallel=max_parallel, cancel=cancel)
                claims_lost = recording.record_kept(zone, ctx, record, now, keeper.halt(),
                                                    (deployments.claim_name(deployment_id), slot))
            finally:
                recording.running_here.discard((zone.zone_id, deployment_id))
                zone.db.release(deployments.claim_name(deployment_id))
                zone.db.release(slot)
    finally:
        if own:
            fleet.close()
    receipt = _write_receipt(zone, what, deployment_id, now, receipt_out, recording.failure_code(record, claims_lost))
    return DeployOutcome(request, plan, record, receipt, waived=ctx.waived, waivers=ctx.waivers, local=what.local,
                         claims_lost=claims_lost, receipt_for=None if what.source is None else what.source.name)


def _refuse_canceled(cancel: threading.Event | None) -> None:
    """``DeployError`` ``deployment_canceled`` when ``cancel`` is set before the deployment is
    recorded (a signal since the command started, during the preflight or while it waits)."""
    if cancel is not None and cancel.is_set():
        raise DeployError("canceled before any step ran; nothing was run or recorded. Deploy again to run it.",
                          code="deployment_canceled")


#: Seconds between two attempts to start a deployment that waits for another one.
POLL = 0.25
#: Times a deployment asks again, past its deadline, when the slot is claimed but no deployment of
#: it is recorded running (its holder is between recording its outcome and giving the claim back).
FINISHING_POLLS = 8


def _then(waited: float) -> str:
    """The way forward after a refusal for something still running: after a ``--wait`` that ran
    out, waiting again is no advice (the operator already chose how long to wait)."""
    if waited > 0:
        return f"Waited {waited:g} s and it still runs; run the command again when it ends"
    return "Run the command again when it ends, or give --wait SECONDS to queue behind it"


def _prune_running(zone: Zone, waited: float) -> ConflictError:
    return ConflictError(
        f"bundlekit prune is removing old releases' files in zone {zone.name} (on this or another node); no "
        f"deployment starts until it ends. {_then(waited)}", code="prune_in_progress")


def _await_prune(zone: Zone, deadline: float, on_wait: Callable[[str], None] | None, waited: float,
                 cancel: threading.Event | None = None) -> None:
    """Return once no prune holds the zone's prune claim; ``prune_in_progress`` at ``deadline``
    (``time.monotonic()`` seconds); ``deployment_canceled`` once ``cancel`` is set."""
    told = False
    while True:
        _refuse_canceled(cancel)
        with zone.db.read() as r:
            if not zone.db.held(r, retention.PRUNE_CLAIM):
                return
        if time.monotonic() >= deadline:
            raise _prune_running(zone, waited)
        if on_wait is not None and not told:
            on_wait(f"bundlekit prune in zone {zone.name}")
            told = True
        time.sleep(min(POLL, max(0.0, deadline - time.monotonic())))


def _start(zone: Zone, ctx: recording.Context, now: EpochSeconds, slot: str, deadline: float,
           on_wait: Callable[[str], None] | None, waited: float, cancel: threading.Event | None = None) -> str:
    """Claim the slot of the project, environment and tenant, and record the deployment ``Executing``.

    The claim (``Database.claim``) is held until the deployment is recorded, or until this
    process ends, on whichever node runs it. Another deployment for the same slot waits until
    ``deadline`` (``time.monotonic()`` seconds), then is refused ``deployment_in_progress``;
    while a prune holds the zone's prune claim, every deployment waits the same way, then is
    refused ``prune_in_progress`` (decision 197). Both are checked in the write transaction
    that records the deployment, which a prune's own transaction cannot interleave with.
    A ``cancel`` set while it waits: ``deployment_canceled``, nothing recorded."""
    project, environment = ctx.what.project, ctx.environment
    where = f"{environment}" + (f" for tenant {ctx.tenant}" if ctx.tenant else "")
    told = False
    finishing = 0
    while True:
        _refuse_canceled(cancel)
        with zone.db.transaction() as tx:
            pruning = zone.db.held(tx, retention.PRUNE_CLAIM)
            if not pruning and zone.db.claim(tx, slot):
                deployment_id = recording.insert_running(tx, ctx, now, recording.this_node(zone))
                # Held while it runs: a row still Executing that nobody claims was left by a dead process.
                if not zone.db.claim(tx, deployments.claim_name(deployment_id)):
                    # never without it: another command would take this run for a dead one (decision 770)
                    raise StateError(
                        f"{zone.db.location}: the claim of {deployment_id} is held by another connection, so "
                        f"the deployment of {project.name} to {where} was not started and nothing was recorded. "
                        "Run the command again", code="state_query_failed")
                return deployment_id
            running = None if pruning else deployments.running(tx, project.slug, environment, ctx.tenant)
            node = None if running is None else deployments.running_on(tx, running)
        if pruning and time.monotonic() >= deadline:
            raise _prune_running(zone, waited)
        if time.monotonic() >= deadline and running is None and finishing < FINISHING_POLLS:
            # the slot's holder has recorded its outcome and not yet given the claim back: name no
            # deployment that is not running; ask again a few times before refusing (decision 770)
            finishing += 1
        elif time.monotonic() >= deadline and running is None:
            raise ConflictError(
                f"the claim of {slot} (deployments of {project.name} to {where}) is still held by a connection "
                f"to zone {zone.name}'s state, and no deployment of it is recorded running (`bundlekit deployments "
                f"list{home_flag()}` shows the last ones); deployments of a project to one environment run one at a time. "
                f"{_then(waited)}", code="deployment_in_progress", details={"running": None, "node": None})
        elif time.monotonic() >= deadline:
            raise ConflictError(
                f"{running} of {project.name} to {where} is still running "
                f"({'on ' + node + ', a node' if node else 'on this or another node'} of zone {zone.name}; `bundlekit deployments "
                f"list{home_flag()}` shows it); deployments of a project to one environment run one at a time. {_then(waited)}",
                code="deployment_in_progress", details={"running": running, "node": node})
        if on_wait is not None and not told:
            on_wait(f"bundlekit prune in zone {zone.name}" if pruning
                    else f"{running or 'another deployment'} of {project.name} to {where}")
            told = True
        time.sleep(POLL if finishing else min(POLL, max(0.0, deadline - time.monotonic())))


def _write_receipt(zone: Zone, what: recording.Release, deployment_id: str, now: EpochSeconds,
                   receipt_out: Path | None, refused: str | None) -> ReceiptFile | None:
    if receipt_out is None:
        return None
    if refused is not None:
        audit.refused_now(refused)  # the receipt carries how the command ends (decision 790)
    return write_receipt(zone, what.project.source_zone_id, [deployment_id], receipt_out, now=int(now))
