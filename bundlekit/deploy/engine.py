"""Execute a planned deployment: run every step on its targets, in order, and record it.

This module owns the apply half of "plan, then apply": :func:`execute` walks the steps of a
:class:`DeployPlan` (from :func:`bundlekit.deploy.plan.build_plan`), decides from each step's
condition whether it runs, builds the variables each run sees (scoped values, system
variables and the output variables of the runs before it) and hands each (step, target) run
to that target's step runner through a :class:`~bundlekit.deploy.fleet.Fleet`: the runner
renders and runs scripts, installs packages (extract, ``PreDeploy``, substitute, structured
configuration, swap in, ``Deploy``, ``PostDeploy``) and streams its log back.

Parallel and rolling (``docs/decisions/145-parallel-and-rolling.md``): a step runs on all its
targets at once, at most ``max_parallel`` at a time, or ``window_size`` when the step sets one;
the next step starts on no target before this one has ended on every target. After a failure
no new target of that step starts; the ones running finish; the others are recorded as never
started. A failure of one run is recorded, never raised: the result is a
:class:`DeploymentRecord`. One :class:`Masker` serves the whole deployment; every log line
from a runner is masked again in the zone, and every log once more at the end so a value that
became secret late is hidden everywhere. Rules: ``spec/deploy.md``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from bundlekit.core.clock import Clock, Timestamp, stamp
from bundlekit.core.hints import without_home
from bundlekit.core.names import LABEL_RULE, label_problem
from bundlekit.core.text import size_text
from bundlekit.deploy.context import OutputStore, build_dictionary, scope_context, system_variables, winners
from bundlekit.deploy.fleet import DEFAULT_MAX_PARALLEL, Fleet
from bundlekit.deploy.model import DeploymentRecord, DeployRequest, PackageInput, StepRun
from bundlekit.deploy.plan import DeployPlan, PlannedRun, verify_package
from bundlekit.deploy.targets import Target
from bundlekit.errors import BundleError, DeployError
from bundlekit.format.manifest import Step
from bundlekit.runtime.log import ScriptLog
from bundlekit.runtime.masking import LineMasker, Masker, encoded_forms
from bundlekit.runtime.service_messages import OutputVariable
from bundlekit.substitution import VariableDictionary

__all__ = ["execute"]

Event = dict[str, Any]


def _mask_event(value: Any, masker: Masker) -> Any:
    if isinstance(value, str):
        return masker.mask(value)
    if isinstance(value, dict):
        return {key: _mask_event(item, masker) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_mask_event(item, masker) for item in value]
    return value



#: Seconds the zone waits past a step's timeout for its runner's answer before giving the target up.
WATCHDOG_GRACE = 30.0
#: Seconds a package transfer may go without a byte moving (or its answer coming) before the target is given up.
TRANSFER_STALL = 60.0
#: Seconds more allowed before a transfer's first byte (a transfer process connects and starts the runner).
TRANSFER_START = 60.0
#: The most a run's log keeps in the zone (bytes; the first 3/4 and the last quarter).
LOG_LIMIT = 10 * 1024 * 1024


class _PackageEvents:
    """A package's progress as events: ``package_started`` (``total`` bytes) and
    ``package_progress`` (``bytes`` more), with the step, target and package, for ``on_event``
    (the CLI draws one bar per target and package). ``phase`` is ``transfer`` while the zone
    sends the package to the target, then ``extract`` while the target's runner extracts it."""

    def __init__(self, emit: Callable[[Event], None], step: str, target: str, package: str) -> None:
        self.emit, self.base = emit, {"step": step, "target": target, "package": package}
        self.phase = "transfer"
        #: When the package last moved (``time.monotonic()``): a transfer that stops moving is given up.
        self.moved = time.monotonic()
        self.begun = False  # whether the archive started to go (the target's runner is there)

    def begin(self, label: str, total: int | None) -> None:
        self.moved, self.begun = time.monotonic(), True
        self.emit({"event": "package_started", **self.base, "phase": self.phase, "total": total})

    def __call__(self, n: int) -> None:
        self.moved = time.monotonic()
        self.emit({"event": "package_progress", **self.base, "phase": self.phase, "bytes": n})

    def reported(self, message: dict[str, Any]) -> None:
        """A runner's ``progress`` message (``spec/runner.md`` section 5)."""
        self.phase = str(message.get("phase") or "extract")
        if "total" in message:
            total = message.get("total")
            self.begin(self.base["package"], int(total) if isinstance(total, int) else None)
        elif isinstance(message.get("bytes"), int):
            self(int(message["bytes"]))


#: Most output variables one run may set: what a receipt carries for one run (the format's limit).
MAX_OUTPUTS_PER_RUN = 10_000


def refused_outputs(outputs: Sequence[OutputVariable]) -> tuple[list[OutputVariable], DeployError | None]:
    """The outputs a receipt can carry, and the error that fails the run for the others (or None).

    An output variable's name is a label (spec/names.md): a script that sets one with a tab,
    an escape sequence or 300 characters in its name fails its step here, with the reason,
    instead of queuing a receipt the source zone would refuse (decision 125).
    """
    kept, why = [], ""
    for output in outputs:
        problem = label_problem(output.name)
        if problem is None:
            kept.append(output)
        elif not why:
            why = (f"the script set an output variable named {output.name!r}, which {problem}: {LABEL_RULE}; "
                   "rename it in the script")
    if len(kept) > MAX_OUTPUTS_PER_RUN:
        why = why or (f"the script set {len(kept)} output variables, more than the {MAX_OUTPUTS_PER_RUN} one run may "
                      "carry back")
        kept = kept[:MAX_OUTPUTS_PER_RUN]
    return kept, (DeployError(why, code="invalid_output_variable") if why else None)


def secret_in_names(outputs: Sequence[OutputVariable], masker: Masker) -> tuple[list[OutputVariable],
                                                                                 DeployError | None]:
    """The outputs whose names carry no secret, and the error that fails the run for the others
    (or None). A name is never sealed or masked: it is the key under which a value is stored,
    shown and carried to the source. A name that contains anything ``masker`` hides (a sensitive
    value, a derived one, the zone's key material in any of its forms, a sensitive output set
    before the check) would carry it out in clear, so the output is dropped and the run fails, its reason
    showing the name masked (decision 470)."""
    kept, why = [], ""
    for output in outputs:
        shown = masker.mask(output.name)
        if shown == output.name:
            kept.append(output)
        elif not why:
            why = ("the script set an output variable whose name contains a sensitive value or the zone's key "
                   f"material (shown masked: {shown!r}); a name is never masked or sealed, so it may not carry "
                   "one: name the variable with plain text and put the value in its value, marked sensitive")
    return kept, (DeployError(why, code="invalid_output_variable") if why else None)


def derived_sensitive(outputs: Sequence[OutputVariable], masker: Masker) -> list[OutputVariable]:
    """``outputs`` with every value that contains a sensitive value of the run, or one of its
    encodings (as ``masker`` finds it in logs), marked sensitive: a value derived from a secret is
    a secret, so it is sealed at rest, masked in every output and receipt, and sensitive for the
    steps after it (decisions 410, 550)."""
    return [o if o.sensitive or not masker.hides(o.value) else OutputVariable(o.name, o.value, True)
            for o in outputs]


def wire_variables(dictionary: VariableDictionary) -> list[list[Any]]:
    """A dictionary as the runner receives it: ``[name, raw value, sensitive]`` in definition order."""
    return [[name, dictionary.get_raw(name), dictionary.is_sensitive(name)] for name in dictionary.names()]


class _Executor:
    def __init__(self, plan: DeployPlan, request: DeployRequest, on_event: Callable[[Event], None] | None,
                 cancel: threading.Event | None, fleet: Fleet, max_parallel: int, clock: Clock) -> None:
        self.plan, self.request, self.on_event, self.cancel = plan, request, on_event, cancel
        self.clock = clock
        self.fleet, self.max_parallel = fleet, max_parallel
        # The zone's keys, in every encoding a script could print them, are masked in logs with the
        # run's secrets, and in every output value, plain or sensitive (a sensitive one travels
        # sealed to the source, which must not get the zone's keys either): decision 380.
        key_forms = [form for value in request.protected for form in encoded_forms(value)]
        self.keys = Masker(forms=key_forms)
        self.masker = Masker([v.value for v in request.variables if v.sensitive and v.value is not None],
                             forms=key_forms)
        self.outputs = OutputStore()
        self.targets = {t.name: t for t in request.targets}
        self.steps = {s.name.casefold(): s for s in request.steps}
        self.packages = {p.id.casefold(): p for p in request.packages}
        self.hashed: set[str] = set()

    def now(self) -> Timestamp:
        """A measured time for the record: the injected clock, to the millisecond (decisions 122, 430)."""
        return stamp(self.clock)

    def emit(self, event: Event) -> None:
        if self.on_event is not None:
            self.on_event(_mask_event(event, self.masker))

    def dictionary(self, step: Step, target: Target | None, package: PackageInput | None) -> VariableDictionary:
        chosen = winners(self.request.variables, scope_context(self.request, step, target),
                         step=step.name, target=target)
        system = system_variables(self.request, step, target, package)
        return build_dictionary(chosen, system, self.outputs, target.name if target is not None else None)

    # -- one run ----------------------------------------------------------------------------
    async def run(self, step: Step, planned: PlannedRun) -> StepRun:
        target = self.targets[planned.target] if planned.target is not None else self.request.zone_target
        assert target is not None  # the plan refuses zone steps without a zone target
        self.emit({"event": "run_started", "step": step.name, "target": planned.target})
        started = self.now()
        log = ScriptLog(self.masker, LOG_LIMIT)
        state, exit_code, reason = "Failed", None, None  # type: str, int | None, str | None
        outputs: list[OutputVariable] = []
        timeout = float(step.timeout or self.request.script_timeout)

        def store(masked: str) -> None:
            log.store(masked)
            self.emit({"event": "run_log", "step": step.name, "target": planned.target, "line": masked})

        # A line that may be one line of a wrapped encoding waits for the next one (decision 670).
        held = LineMasker(self.masker, store)
        line = held.line

        self.fleet.hold(target)
        try:
            session = await self.fleet.session(target)
            package = None
            events: _PackageEvents | None = None
            if step.type == "package":
                package = self.packages[(step.package or "").casefold()]
                if package.id not in self.hashed:
                    verify_package(package, self.request.space)  # again: the store may have changed since then
                    self.hashed.add(package.id)
                size = package.path.stat().st_size
                events = _PackageEvents(self.emit, step.name, target.name, f"{package.id} {package.version}")
                sent = await self.transfer(target, session, package, size, events)
                discarded = session.discarded.pop(package.sha256, None)
                if discarded is not None:
                    line(f"[bundlekit] the target's copy of package {package.id} {package.version} {discarded}; "
                         "it was removed and the package sent again")
                if sent:
                    line(f"[bundlekit] sent package {package.id} {package.version} ({size_text(size)})")
                else:
                    line(f"[bundlekit] package {package.id} {package.version} already on the target; not sent")
            for warning in planned.config_warnings:  # the target's own warnings come with its log lines
                line(f"[bundlekit] structured configuration warning: {warning}")
            dictionary = self.dictionary(step, target, package)
            message = self.step_request(step, planned, dictionary, package, timeout)
            result = await self.watch(session, target, message, line, timeout, events)
            state, exit_code, reason = result["state"], result.get("exit_code"), result.get("reason")
            for value in result.get("secrets") or []:
                self.masker.add(str(value))
            outputs = derived_sensitive(
                [OutputVariable(str(n), self.keys.mask(str(v)), bool(s)) for n, v, s in result.get("outputs") or []],
                self.masker)
        except BundleError as error:
            held.flush()
            reason = self.masker.mask(f"{error.message} [{error.code}]")
            if error.code in ("target_connection_lost", "target_timed_out"):
                await self.fleet.drop(target)
            state = "TimedOut" if error.code == "target_timed_out" else "Failed"
            log.note(f"error: {reason}")
        except OSError as error:
            held.flush()
            reason = f"cannot read the package to send: {error.strerror}"
            log.note(f"error: {reason}")
        finally:
            held.flush()
            self.fleet.release(target)
        for output in outputs:
            if output.sensitive:  # before the names are checked: a name may not carry a sibling's value
                self.masker.add(output.value)
        outputs, refused = refused_outputs(outputs)
        outputs, secret_named = secret_in_names(outputs, self.masker)
        refused = refused or secret_named
        if refused is not None:
            note = self.masker.mask(f"{refused.message} [{refused.code}]")
            log.note(f"error: {note}")
            if state == "Success":
                state, reason = "Failed", note
        record = StepRun(step=step.name, target=planned.target, state=state, started=started, ended=self.now(),
                         exit_code=exit_code, log=log.text(), outputs=tuple(outputs),
                         reason=self.masker.mask(reason) if reason else reason)
        self.emit({"event": "run_finished", "step": step.name, "target": planned.target, "state": record.state,
                   "exit_code": record.exit_code, "reason": record.reason})
        return record

    def step_request(self, step: Step, planned: PlannedRun, dictionary: VariableDictionary,
                     package: PackageInput | None, timeout: float) -> dict[str, Any]:
        message: dict[str, Any] = {
            "op": "step", "deployment_id": self.request.deployment_id, "step": step.name, "type": step.type,
            "variables": wire_variables(dictionary), "now": self.request.now.isoformat(), "timeout": timeout,
        }
        if step.type == "script":
            message.update(syntax=step.syntax, script=step.script or "")
        else:
            assert package is not None
            message.update(package={"id": package.id, "version": package.version, "sha256": package.sha256,
                                    "file_name": package.file_name},
                           package_scripts=list(planned.package_scripts),
                           substitute_files=list(planned.substitute_files),
                           structured_config=[[file, fmt, list(keys)] for file, fmt, keys in planned.structured_config])
        return message

    async def transfer(self, target: Target, session: Any, package: PackageInput, size: int,
                       events: _PackageEvents) -> bool:
        """Send ``package`` to ``target`` unless it holds it (True if sent); give the target up
        (``target_timed_out``) when the transfer stops moving for :data:`TRANSFER_STALL` seconds
        (before the archive starts to go, :data:`TRANSFER_START` more: a transfer process may have
        to start and connect first)."""
        task = asyncio.ensure_future(self.fleet.send_package(target, session, package.path, package.sha256,
                                                             package.file_name, size, events))
        events.moved = time.monotonic()
        while True:
            done, _ = await asyncio.wait({task}, timeout=0.2)
            if done:
                return task.result()
            if time.monotonic() - events.moved > TRANSFER_STALL + (0 if events.begun else TRANSFER_START):
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                raise DeployError(f"target {target.name!r}: sending package {package.id} {package.version} made no "
                                  f"progress for {TRANSFER_STALL:g} s; the target was given up.",
                                  code="target_timed_out")

    async def watch(self, session: Any, target: Target, message: dict[str, Any], line: Callable[[str], None],
                    timeout: float, events: _PackageEvents | None = None) -> dict[str, Any]:
        """Run the step on ``session``; pass a cancel on; give the target up past the watchdog."""
        task = asyncio.ensure_future(session.run_step(message, line, events.reported if events else None))
        deadline = time.monotonic() + timeout + WATCHDOG_GRACE
        canceled = False
        while True:
            done, _ = await asyncio.wait({task}, timeout=0.2)
            if done:
                return task.result()
            if not canceled and self.cancel is not None and self.cancel.is_set():
                canceled = True
                await session.cancel()
            if time.monotonic() > deadline:
                task.cancel()
                raise DeployError(f"target {target.name!r} did not answer within the step's timeout of {timeout:g} s "
                                  f"(plus {WATCHDOG_GRACE:g} s); it was given up.", code="target_timed_out")

    # -- one step on all its targets -----------------------------------------------------
    async def run_group(self, step: Step, group: list[PlannedRun]) -> list[StepRun]:
        width = min(self.max_parallel, step.window_size or self.max_parallel)
        gate = asyncio.Semaphore(width)
        results: dict[int, StepRun] = {}
        failed: list[str] = []

        async def one(index: int, planned: PlannedRun) -> None:
            async with gate:
                if failed:
                    where = planned.target or "the zone"
                    results[index] = self.skipped(planned, "Skipped", f"never started on {where}: step "
                                                  f"{step.name!r} had already failed on {failed[0]}")
                    return
                if self.cancel is not None and self.cancel.is_set():
                    results[index] = self.skipped(planned, "Canceled", "the deployment was canceled")
                    return
                record = await self.run(step, planned)
                results[index] = record
                if record.failed:
                    failed.append(record.target or "the zone")

        await asyncio.gather(*(one(i, p) for i, p in enumerate(group)))
        ordered = [results[i] for i in range(len(group))]
        # Outputs are stored in plan order, whatever order the targets finished in, so "the value
        # set last" (the unscoped form read elsewhere) is the same on every run (decision 145).
        for record in ordered:
            for output in record.outputs:
                self.outputs.add(step.name, record.target, output)
        return ordered

    # -- the deployment -------------------------------------------------------------------
    def skipped(self, planned: PlannedRun, state: str, reason: str) -> StepRun:
        self.emit({"event": "run_skipped", "step": planned.step, "target": planned.target, "state": state,
                   "reason": reason})
        return StepRun(planned.step, planned.target, state, None, None, None, "", (), reason)

    def execute(self) -> DeploymentRecord:
        started = self.now()
        self.emit({"event": "deployment_started", "deployment_id": self.request.deployment_id,
                   "environment": self.request.environment, "release_version": self.request.release_version,
                   "runs": len(self.plan.runs)})
        records: list[StepRun] = []
        first_failure: str | None = None
        groups: list[list[PlannedRun]] = []
        for planned in self.plan.runs:
            if groups and groups[-1][0].step == planned.step:
                groups[-1].append(planned)
            else:
                groups.append([planned])
        for group in groups:
            step = self.steps[group[0].step.casefold()]
            if group[0].action == "skip":
                records.append(self.skipped(group[0], "Skipped", group[0].reason or "skipped"))
                continue
            # The condition is decided once per step: all its targets run, like Octopus's parallel targets.
            verdict: tuple[str, str] | None = None
            if self.cancel is not None and self.cancel.is_set():
                verdict = ("Canceled", "the deployment was canceled")
            elif step.condition == "success" and first_failure is not None:
                verdict = ("Skipped", f"condition 'success': an earlier step failed ({first_failure})")
            elif step.condition == "failure" and first_failure is None:
                verdict = ("Skipped", "condition 'failure': no earlier step failed")
            if verdict is not None:
                records.extend(self.skipped(planned, *verdict) for planned in group)
                continue
            ran = self.fleet.run(self.run_group(step, group))
            records.extend(ran)
            for record in ran:
                if record.failed and first_failure is None:
                    where = f"on {record.target}" if record.target else "on the zone"
                    first_failure = f"{record.step!r} {where}: {record.state}"
        # A value that became secret late may have been printed in an earlier log, or set in a plain
        # output of an earlier run (or of another target of the same step): the record is what every
        # listing, state row and receipt takes its outputs from, so it is checked once more here.
        # The record also goes to the source in a receipt: a hint's --home of this zone is left out (decision 964).
        runs = tuple(dataclasses.replace(r, log=without_home(self.masker.mask(r.log)),
                                         reason=without_home(self.masker.mask(r.reason)) if r.reason else r.reason,
                                         outputs=tuple(derived_sensitive(r.outputs, self.masker)))
                     for r in records)
        state = "Failed" if any(r.failed for r in runs) else "Success"
        if state == "Failed" and self.cancel is not None and self.cancel.is_set() and any(
                r.state == "Canceled" for r in runs):
            state = "Canceled"  # stopped on purpose: what had ended keeps its own state (decision 402)
        self.emit({"event": "deployment_finished", "deployment_id": self.request.deployment_id, "state": state})
        # Recorded and sent back in receipts: this zone's --home in a hint means nothing elsewhere.
        warnings = tuple(dict.fromkeys(without_home(w) for w in (*(self.request.warnings or ()), *self.fleet.notices) if w))
        return DeploymentRecord(self.request.deployment_id, self.request.project_slug, self.request.release_version,
                                self.request.environment, state, started, self.now(), runs, warnings)


def execute(plan: DeployPlan, request: DeployRequest, *, on_event: Callable[[Event], None] | None = None,
            cancel: threading.Event | None = None, fleet: Fleet | None = None,
            max_parallel: int = DEFAULT_MAX_PARALLEL, clock: Clock = time.time) -> DeploymentRecord:
    """Run ``plan`` (made by ``build_plan(request)``) and return what happened.

    Steps run in order; ``success`` steps run while nothing has failed, ``failure`` steps
    only after a failure, ``always`` steps regardless. A failing run is recorded (state
    ``Failed``, ``TimedOut`` or ``Canceled`` with a masked reason) and the deployment's state
    becomes ``Failed``; only a plan that does not belong to ``request`` raises
    (``plan_mismatch``). Setting ``cancel`` stops the running scripts and cancels every run
    not started yet; the deployment's state is then ``Canceled`` (when a run was canceled). ``fleet`` (optional) carries sessions already opened by the preflight's connection check;
    without one, a fleet is made for this deployment and closed at the end. ``on_event``
    receives progress events (``run_started``, ``run_log`` with one masked line,
    ``run_finished``, ``run_skipped``, ...), every string masked. Start and end times are whole
    epoch seconds read from ``clock`` (decision 122); timeouts are measured with
    :func:`time.monotonic`.
    """
    steps = {s.name.casefold() for s in request.steps}
    targets = {t.name for t in request.targets}
    if plan.deployment_id != request.deployment_id or any(
            r.step.casefold() not in steps or (r.target is not None and r.target not in targets) for r in plan.runs):
        raise DeployError(
            f"the plan for deployment {plan.deployment_id} does not belong to deployment {request.deployment_id}; "
            "build the plan from the same request. Nothing was run.",
            code="plan_mismatch",
        )
    own = fleet is None
    fleet = fleet or Fleet(max_parallel=max_parallel)
    try:
        return _Executor(plan, request, on_event, cancel, fleet, max_parallel, clock).execute()
    finally:
        if own:
            fleet.close()
