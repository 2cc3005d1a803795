"""One step on one target, as the runner executes it: what Calamari does for a Tentacle.

The zone sends a step request (``spec/runner.md``): the step's kind, the run's variables
(``[name, value, sensitive]`` in the order the zone set them: scoped values, system variables,
output variables of earlier runs), the reference time and what to do. This module does it:

* a script step: render the script (strict), run it in the step's working folder;
* a package step: under the package's lock, sweep leftovers, extract the archive (already in
  the cache, hashed on arrival) into a staging folder, run ``PreDeploy`` there, substitute
  variables in files and apply structured configuration there, swap the complete folder in,
  then run ``Deploy`` and ``PostDeploy`` in the installed folder
  (``docs/decisions/142-runner-leftovers.md``).

Every log line (script output and ``[bundlekit]`` notes) is masked and passed to ``on_line``
as it happens. Secrets derived on the target (a rendered ``#{Secret | ToBase64}``) are masked
here and returned, so the zone masks them too. A refusal or failure ends the run ``Failed``
with the error's code; it never raises. Shipped to targets: Python 3.8 or newer.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from bundlekit.core.tree import remove_tree
from bundlekit.errors import BundleError
from bundlekit.package.extract import stage_package, swap_in
from bundlekit.runtime.files import apply_structured_file, matching_files, substitute_file
from bundlekit.runtime.helpers import package_script_wrapper
from bundlekit.runtime.masking import Masker
from bundlekit.runtime.phases import PHASES, SCRIPT_SYNTAX
from bundlekit.runtime.scripts import ScriptResult, run_script
from bundlekit.runtime.service_messages import OutputVariable
from bundlekit.runtime.variables import (
    CURRENT_INSTALL_DIR,
    INSTALL_DIR_OUTPUT,
    dictionary_from,
    evaluated_values,
    token_secrets,
)
from bundlekit.runtime.workdir import WorkFolder
from bundlekit.substitution import SubstitutionError, VariableDictionary, evaluate, render
from bundlekit.substitution.errors import UNRESOLVED

__all__ = ["run_step", "SCRIPT_SYNTAX", "PHASES"]



class _Stop(Exception):
    """A script ended the run (failed, timed out, canceled)."""


class _Progress:
    """Extraction progress as ``progress`` messages for the zone (``spec/runner.md`` section 5):
    the total once the archive is checked, then the bytes written, at most a few times a second."""

    EVERY = 0.25  # seconds between two messages

    def __init__(self, send: Callable[[Dict[str, Any]], None]) -> None:
        self.send, self.pending, self.last = send, 0, 0.0

    def begin(self, label: str, total: Optional[int]) -> None:
        self.send({"phase": "extract", "total": total})
        self.last = time.monotonic()

    def __call__(self, n: int) -> None:
        self.pending += n
        if time.monotonic() - self.last >= self.EVERY:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.send({"phase": "extract", "bytes": self.pending})
            self.pending, self.last = 0, time.monotonic()


class _Run:
    def __init__(self, request: Dict[str, Any], work: WorkFolder, on_line: Callable[[str], None],
                 cancel: Optional[threading.Event], on_progress: Optional[Callable[[Dict[str, Any]], None]]) -> None:
        self.request, self.work, self.on_line, self.cancel = request, work, on_line, cancel
        self.on_progress = on_progress
        self.dictionary: VariableDictionary = dictionary_from(request.get("variables") or [])
        self.masker = Masker(str(v) for _, v, s in request.get("variables") or [] if s)
        self.now = datetime.fromisoformat(request["now"]) if request.get("now") else None
        self.timeout = float(request.get("timeout") or 3600.0)
        self.deadline = time.monotonic() + self.timeout
        self.outputs: List[OutputVariable] = []
        self.secrets: List[str] = []
        self.state, self.exit_code, self.reason = "Success", None, None  # type: str, Optional[int], Optional[str]
        self.workdir: Optional[Path] = None

    # -- helpers --------------------------------------------------------------------------
    def note(self, text: str) -> None:
        self.on_line(self.masker.mask(f"[bundlekit] {text}"))

    def secret(self, value: str) -> None:
        self.masker.add(value)
        self.secrets.append(value)

    def values(self) -> Dict[str, str]:
        values, secrets = evaluated_values(self.dictionary, self.now)
        for value in secrets:
            self.secret(value)
        return values

    def render(self, template: str, *, lenient: bool = False) -> str:
        for value in token_secrets(template, self.dictionary, self.now):
            self.secret(value)
        return render(template, self.dictionary, allow_missing=False, lenient_syntax=lenient, now=self.now).text

    def config_value(self, name: str) -> str:
        result = evaluate(name, self.dictionary, now=self.now)
        if result.missing:
            raise SubstitutionError(
                f"structured configuration variable {name!r} refers to {', '.join(result.shown_missing)}, which "
                "is not defined for this run (an output variable that was never set?).",
                code=UNRESOLVED, details=list(result.shown_missing),
            )
        if result.sensitive:
            self.secret(result.text)
        return result.text

    def script(self, label: str, syntax: str, text: str) -> None:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            self.state, self.reason = "TimedOut", f"the step's timeout of {self.timeout:g} s ran out before {label}"
            raise _Stop()
        if self.workdir is None:
            self.workdir = self.work.step_folder(self.request["deployment_id"], self.request["step"])
        result: ScriptResult = run_script(syntax, text, workdir=self.workdir, variables=self.values(),
                                          masker=self.masker, timeout=remaining, cancel=self.cancel,
                                          on_line=self.on_line)
        self.outputs.extend(result.outputs)
        for output in result.outputs:
            if output.sensitive:
                self.secrets.append(output.value)
        self.exit_code = result.exit_code
        if result.state != "Success":
            self.state = result.state
            self.reason = {
                "Failed": f"{label} exited with code {result.exit_code}",
                "TimedOut": f"{label} ran longer than the step's timeout of {self.timeout:g} s and was stopped",
                "Canceled": "the deployment was canceled",
            }[result.state]
            raise _Stop()

    # -- the two kinds ---------------------------------------------------------------------
    def script_step(self) -> None:
        text = self.render(self.request.get("script") or "")
        self.script("the script", self.request["syntax"], text)

    def package_step(self) -> None:
        package = self.request["package"]
        archive = self.work.verified_archive(package["sha256"], package["file_name"])  # hashed before use
        dest = self.work.package_folder(package["id"], package["version"])
        scripts = {name.casefold().rsplit(".", 1)[0]: name for name in self.request.get("package_scripts") or []}
        self.dictionary.set(CURRENT_INSTALL_DIR, str(dest))
        progress = _Progress(self.on_progress) if self.on_progress is not None else None
        with self.work.package_lock(package["id"]):
            staging, _ = stage_package(archive, dest, replace=True, progress=progress)
            if progress is not None:
                progress.flush()
            try:
                self.phase("PreDeploy", scripts, staging)
                self.configure(staging)
                swap_in(staging, dest, replace=True)
            finally:
                remove_tree(staging, ignore_errors=True)
        self.note(f"installed {package['id']} {package['version']} to {dest}")
        self.outputs.append(OutputVariable(INSTALL_DIR_OUTPUT, str(dest), False))
        self.phase("Deploy", scripts, dest)
        self.phase("PostDeploy", scripts, dest)

    def phase(self, name: str, scripts: Dict[str, str], folder: Path) -> None:
        script = scripts.get(name.casefold())
        if script is None:
            return
        syntax = SCRIPT_SYNTAX[script[script.rfind("."):].lower()]
        self.note(f"running {script}")
        self.script(script, syntax, package_script_wrapper(syntax, script, str(folder)))

    def configure(self, folder: Path) -> None:
        patterns = self.request.get("substitute_files") or []
        if patterns:
            done = [relative for relative, path in matching_files(folder, patterns)
                    if substitute_file(path, lambda text: self.render(text, lenient=True))]
            self.note(f"substituted variables in {', '.join(sorted(done)) or 'no files'}")
        structured = self.request.get("structured_config") or []
        if structured:
            names = sorted({key for _, _, keys in structured for key in keys})
            values = {name: self.config_value(name) for name in names}
            formats = {file: fmt for file, fmt, _ in structured}
            for relative, path in matching_files(folder, list(formats)):
                replaced, warnings = apply_structured_file(path, formats[relative], values)
                self.note(f"structured configuration ({formats[relative].upper()}): replaced "
                          f"{', '.join(replaced) or 'nothing'} in {relative}")
                for warning in warnings:  # masked like every line of the log
                    self.note(f"structured configuration warning: {relative}: {warning}")

    def result(self) -> Dict[str, Any]:
        return {"op": "result", "state": self.state, "exit_code": self.exit_code, "reason": self.reason,
                "outputs": [[o.name, o.value, o.sensitive] for o in self.outputs],
                "secrets": sorted(set(self.secrets))}


def run_step(request: Dict[str, Any], work: WorkFolder, on_line: Callable[[str], None],
             cancel: Optional[threading.Event] = None,
             on_progress: Optional[Callable[[Dict[str, Any]], None]] = None) -> Dict[str, Any]:
    """Execute one step request; return its ``result`` message (never raises a BundleError).

    ``on_progress`` gets ``{"phase": "extract", "total": N}`` once a package's archive is
    checked, then ``{"phase": "extract", "bytes": n}`` as it is extracted."""
    run = _Run(request, work, on_line, cancel, on_progress)
    try:
        if request.get("type") == "package":
            run.package_step()
        else:
            run.script_step()
    except _Stop:
        pass
    except BundleError as error:
        run.state = "Failed"
        run.reason = run.masker.mask(f"{error.message} [{error.code}]")
        run.note(f"error: {run.reason}")
    except OSError as error:  # the target's file system refused something no check foresaw
        run.state = "Failed"
        run.reason = run.masker.mask(f"{error.strerror or error}: {error.filename or ''} [runner_failed]")
        run.note(f"error: {run.reason}")
    if run.state == "Success" and run.workdir is not None:
        # An empty folder of a run that succeeded tells nothing: it goes now, not at the next
        # prune (decision 431). A failed run's folder stays for whoever looks into it.
        work.drop_empty_step_folder(run.workdir)
    return run.result()
