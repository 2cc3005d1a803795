"""Execute a planned deployment: run every step on its targets, in order, and record it.

This module owns the apply half of "plan, then apply": :func:`execute` walks the runs of a
:class:`DeployPlan` (from :func:`bundlekit.deploy.plan.build_plan`), decides from each
step's condition whether it runs, builds the variables each run sees (scoped values, system
variables and the output variables of the runs before it), renders and runs scripts, and
installs packages (extract, ``PreDeploy``, substitute, structured configuration, ``Deploy``,
``PostDeploy``). A failure of one run is recorded, never raised: the result is a
:class:`DeploymentRecord`. One :class:`Masker` serves the whole deployment; every log line,
reason and event passes through it, and every log is masked once more at the end so a
value that became secret late is hidden everywhere. Rules: ``spec/deploy.md``.
"""

from __future__ import annotations

import dataclasses
import glob
import shlex
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import PurePath
from typing import Any

from bundlekit.core.clock import Clock, EpochSeconds
from bundlekit.core.names import LABEL_RULE, label_problem
from bundlekit.deploy.context import (
    CURRENT_INSTALL_DIR,
    INSTALL_DIR_OUTPUT,
    OutputStore,
    build_dictionary,
    evaluated_values,
    scope_context,
    system_variables,
    token_secrets,
    winners,
)
from bundlekit.deploy.masking import Masker
from bundlekit.deploy.model import DeploymentRecord, DeployRequest, PackageInput, StepRun
from bundlekit.deploy.plan import SCRIPT_SYNTAX, DeployPlan, PlannedRun, verify_package
from bundlekit.deploy.runner import ScriptResult
from bundlekit.deploy.service_messages import OutputVariable
from bundlekit.deploy.targets import Target
from bundlekit.errors import BundleError, DeployError
from bundlekit.format.manifest import Step
from bundlekit.substitution import SubstitutionError, VariableDictionary, evaluate, render
from bundlekit.substitution.errors import UNRESOLVED

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


def _package_script(name: str, folder: PurePath) -> tuple[str, str]:
    """(syntax, wrapper script) that runs a package's own script inside its folder."""
    syntax = SCRIPT_SYNTAX[name[name.rfind("."):].lower()]
    if syntax == "bash":
        # Sourced, not executed: the script keeps the Octopus helper functions.
        return syntax, f"cd -- {shlex.quote(str(folder))} || exit 1\n. ./{shlex.quote(name)}\n"
    return syntax, (
        "import os, runpy, sys\n"
        f"os.chdir({str(folder)!r})\n"
        "sys.path.insert(0, os.getcwd())\n"
        f"sys.argv = [{name!r}]\n"
        f"runpy.run_path({name!r}, run_name='__main__')\n"
    )


class _PackageEvents:
    """A package's progress as events: ``package_started`` (``total`` bytes) and
    ``package_progress`` (``bytes`` more), with the step, target and package, for ``on_event``
    (the CLI draws one bar per target and package). ``phase`` is ``extract`` here; a target
    that copies the package over a connection first reports ``transfer`` the same way."""

    def __init__(self, emit: Callable[[Event], None], step: str, target: str, package: str) -> None:
        self.emit, self.base = emit, {"step": step, "target": target, "package": package}
        self.phase = "extract"

    def begin(self, label: str, total: int | None) -> None:
        self.emit({"event": "package_started", **self.base, "phase": self.phase, "total": total})

    def __call__(self, n: int) -> None:
        self.emit({"event": "package_progress", **self.base, "phase": self.phase, "bytes": n})


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


class _Run:
    """What one (step, target) run accumulates: log parts, outputs, the last script result."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.outputs: list[OutputVariable] = []
        self.state = "Success"
        self.exit_code: int | None = None
        self.reason: str | None = None

    def note(self, text: str) -> None:
        self.log.append(f"[bundlekit] {text}")

    def script(self, label: str, result: ScriptResult, timeout: float) -> bool:
        """Record a script's result; True if the run may go on."""
        if result.log:
            self.log.append(result.log)
        self.outputs.extend(result.outputs)
        self.exit_code = result.exit_code
        if result.state == "Success":
            return True
        self.state = result.state
        self.reason = {
            "Failed": f"{label} exited with code {result.exit_code}",
            "TimedOut": f"{label} ran longer than the step's timeout of {timeout:g} s and was stopped",
            "Canceled": "the deployment was canceled",
        }[result.state]
        return False


class _Executor:
    def __init__(self, plan: DeployPlan, request: DeployRequest, on_event: Callable[[Event], None] | None,
                 cancel: threading.Event | None, clock: Clock) -> None:
        self.plan, self.request, self.on_event, self.cancel = plan, request, on_event, cancel
        self.clock = clock
        self.masker = Masker(v.value for v in request.variables if v.sensitive and v.value is not None)
        self.outputs = OutputStore()
        self.targets = {t.name: t for t in request.targets}
        self.steps = {s.name.casefold(): s for s in request.steps}
        self.packages = {p.id.casefold(): p for p in request.packages}
        self.hashed: set[str] = set()

    def now(self) -> EpochSeconds:
        """A measured time for the record: whole epoch seconds from the injected clock."""
        return int(self.clock())

    def emit(self, event: Event) -> None:
        if self.on_event is not None:
            self.on_event(_mask_event(event, self.masker))

    # -- variables ----------------------------------------------------------------------
    def dictionary(self, step: Step, target: Target | None, package: PackageInput | None) -> VariableDictionary:
        chosen = winners(self.request.variables, scope_context(self.request, step, target),
                         step=step.name, target=target)
        system = system_variables(self.request, step, target, package)
        return build_dictionary(chosen, system, self.outputs, target.name if target is not None else None)

    def values_for(self, dictionary: VariableDictionary) -> dict[str, str]:
        values, secrets = evaluated_values(dictionary, self.request.now)
        for secret in secrets:
            self.masker.add(secret)
        return values

    def render(self, template: str, dictionary: VariableDictionary, *, lenient: bool = False) -> str:
        """Strict rendering; ``lenient`` (substituted files) leaves a ``#{`` that is not a token as text."""
        for secret in token_secrets(template, dictionary, self.request.now):
            self.masker.add(secret)
        return render(template, dictionary, allow_missing=False, lenient_syntax=lenient, now=self.request.now).text

    # -- one run ------------------------------------------------------------------------
    def run(self, step: Step, planned: PlannedRun) -> StepRun:
        target = self.targets[planned.target] if planned.target is not None else self.request.zone_target
        assert target is not None  # the plan refuses zone steps without a zone target
        self.emit({"event": "run_started", "step": step.name, "target": planned.target})
        started = self.now()
        run = _Run()
        timeout = float(step.timeout or self.request.script_timeout)
        try:
            if step.type == "script":
                self.script_step(step, target, run, timeout)
            else:
                self.package_step(step, planned, target, run, time.monotonic() + timeout, timeout)
        except BundleError as error:
            run.state = "Failed"
            run.reason = self.masker.mask(f"{error.message} [{error.code}]")
            run.note(f"error: {run.reason}")
        run.outputs, refused = refused_outputs(run.outputs)
        if refused is not None:
            reason = self.masker.mask(f"{refused.message} [{refused.code}]")
            run.note(f"error: {reason}")
            if run.state == "Success":
                run.state, run.reason = "Failed", reason
        ended = self.now()
        record = StepRun(step=step.name, target=planned.target, state=run.state, started=started, ended=ended,
                         exit_code=run.exit_code, log=self.masker.mask("\n".join(run.log)),
                         outputs=tuple(run.outputs), reason=run.reason)
        for output in record.outputs:
            if output.sensitive:
                self.masker.add(output.value)
            self.outputs.add(step.name, planned.target, output)
        # No log text in events: an event cannot be re-masked when a value turns secret later.
        self.emit({"event": "run_finished", "step": step.name, "target": planned.target, "state": record.state,
                   "exit_code": record.exit_code, "reason": record.reason})
        return record

    def script_step(self, step: Step, target: Target, run: _Run, timeout: float) -> None:
        dictionary = self.dictionary(step, target, None)
        values = self.values_for(dictionary)
        text = self.render(step.script or "", dictionary)
        workdir = target.prepare_workdir(step.name, self.request.deployment_id)
        result = target.run_script(step.syntax or "", text, workdir=workdir, variables=values, masker=self.masker,
                                   timeout=timeout, cancel=self.cancel)
        run.script("the script", result, timeout)

    def package_step(self, step: Step, planned: PlannedRun, target: Target, run: _Run, deadline: float,
                     timeout: float) -> None:
        package = self.packages[(step.package or "").casefold()]
        if package.id not in self.hashed:
            verify_package(package)  # again: the store may have changed since the preflight
            self.hashed.add(package.id)
        folder = target.install_package(package.path, package.id, package.version, replace=True,
                                        progress=_PackageEvents(self.emit, step.name, target.name,
                                                                f"{package.id} {package.version}"))
        run.note(f"installed {package.id} {package.version} to {folder}")
        run.outputs.append(OutputVariable(INSTALL_DIR_OUTPUT, str(folder), False))
        dictionary = self.dictionary(step, target, package)
        dictionary.set(CURRENT_INSTALL_DIR, str(folder))
        values = self.values_for(dictionary)
        scripts = {name.casefold().rsplit(".", 1)[0]: name for name in planned.package_scripts}
        workdir = target.prepare_workdir(step.name, self.request.deployment_id) if scripts else None

        def phase(name: str) -> bool:
            script = scripts.get(name.casefold())
            if script is None:
                return True
            assert workdir is not None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                run.state, run.reason = "TimedOut", f"the step's timeout of {timeout:g} s ran out before {script}"
                return False
            syntax, wrapper = _package_script(script, folder)
            run.note(f"running {script}")
            result = target.run_script(syntax, wrapper, workdir=workdir, variables=values, masker=self.masker,
                                       timeout=remaining, cancel=self.cancel)
            return run.script(script, result, timeout)

        if not phase("PreDeploy"):
            return
        if planned.substitute_files:
            done = target.substitute_files(folder, [glob.escape(f) for f in planned.substitute_files],
                                           lambda text: self.render(text, dictionary, lenient=True))
            run.note(f"substituted variables in {', '.join(done) or 'no files'}")
        if planned.structured_config:
            names = sorted({key for _, _, keys in planned.structured_config for key in keys})
            config_values = {name: self.config_value(name, dictionary) for name in names}
            replaced = target.replace_structured_config(
                folder, [(file, fmt) for file, fmt, _ in planned.structured_config], config_values)
            formats = {file: fmt for file, fmt, _ in planned.structured_config}
            for file, keys in replaced.items():
                run.note(f"structured configuration ({formats[file].upper()}): replaced "
                         f"{', '.join(keys) or 'nothing'} in {file}")
        if phase("Deploy"):
            phase("PostDeploy")

    def config_value(self, name: str, dictionary: VariableDictionary) -> str:
        result = evaluate(name, dictionary, now=self.request.now)
        if result.missing:
            raise SubstitutionError(
                f"structured configuration variable {name!r} refers to {', '.join(result.missing)}, which "
                "is not defined for this run (an output variable that was never set?).",
                code=UNRESOLVED, details=list(result.missing),
            )
        if result.sensitive:
            self.masker.add(result.text)
        return result.text

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
        canceled = False
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
            if canceled:
                verdict = ("Canceled", "the deployment was canceled")
            elif step.condition == "success" and first_failure is not None:
                verdict = ("Skipped", f"condition 'success': an earlier step failed ({first_failure})")
            elif step.condition == "failure" and first_failure is None:
                verdict = ("Skipped", "condition 'failure': no earlier step failed")
            for planned in group:
                if verdict is None and self.cancel is not None and self.cancel.is_set():
                    canceled = True
                    verdict = ("Canceled", "the deployment was canceled")
                if verdict is not None:
                    records.append(self.skipped(planned, *verdict))
                    continue
                record = self.run(step, planned)
                records.append(record)
                canceled = canceled or record.state == "Canceled"
                if record.failed and first_failure is None:
                    where = f"on {record.target}" if record.target else "on the zone"
                    first_failure = f"{record.step!r} {where}: {record.state}"
        # A value that became secret late may have been printed in an earlier log.
        runs = tuple(dataclasses.replace(r, log=self.masker.mask(r.log),
                                         reason=self.masker.mask(r.reason) if r.reason else r.reason)
                     for r in records)
        state = "Failed" if any(r.failed for r in runs) else "Success"
        self.emit({"event": "deployment_finished", "deployment_id": self.request.deployment_id, "state": state})
        return DeploymentRecord(self.request.deployment_id, self.request.project_slug, self.request.release_version,
                                self.request.environment, state, started, self.now(), runs)


def execute(plan: DeployPlan, request: DeployRequest, *, on_event: Callable[[Event], None] | None = None,
            cancel: threading.Event | None = None, clock: Clock = time.time) -> DeploymentRecord:
    """Run ``plan`` (made by ``build_plan(request)``) and return what happened.

    Steps run in order; ``success`` steps run while nothing has failed, ``failure`` steps
    only after a failure, ``always`` steps regardless. A failing run is recorded (state
    ``Failed``, ``TimedOut`` or ``Canceled`` with a masked reason) and the deployment's state
    becomes ``Failed``; only a plan that does not belong to ``request`` raises
    (``plan_mismatch``). ``on_event`` receives masked progress events; setting ``cancel``
    stops the running script and cancels every run not started yet. Start and end times are
    whole epoch seconds read from ``clock`` (decision 122); timeouts are measured with
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
    return _Executor(plan, request, on_event, cancel, clock).execute()
