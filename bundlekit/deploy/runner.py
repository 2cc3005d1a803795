"""Run one deployment script as a real subprocess, with Octopus-style helpers.

This module owns the life of a script process: the files it needs (script text, helper
functions, the variables file), its clean environment, reading its output incrementally
into a bounded, masked log, honouring ``setVariable`` service messages, and ending it:
normally, on timeout or on cancellation, always together with every process it started
in its process group.

Security rules (``docs/decisions/041-script-runner.md``):

* variable values reach the script through a file (mode 0600, inside a private 0700
  folder in the workdir), never through the environment or the command line, which other
  users can read in ``/proc``; the folder is deleted when the script ends, whatever happens;
* every log line is masked before it is kept; a sensitive output variable is added to the
  masker the moment it is set, and the whole log is masked once more at the end.
"""

from __future__ import annotations

import base64
import os
import selectors
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bundlekit.core.clock import Clock, EpochSeconds
from bundlekit.deploy.masking import Masker
from bundlekit.deploy.service_messages import OutputVariable, scan_line
from bundlekit.errors import DeployError

__all__ = ["ScriptResult", "run_script", "SUPPORTED_SYNTAXES", "STATES"]

SUPPORTED_SYNTAXES = ("bash", "python")
STATES = ("Success", "Failed", "TimedOut", "Canceled")

#: Seconds between SIGTERM to the process group and SIGKILL.
KILL_GRACE = 3.0
#: Seconds to keep reading after the script exits, while background children hold the output.
DRAIN_GRACE = 2.0
#: A line longer than this is split (bounded memory even for output without newlines).
MAX_LINE = 1 << 20
_READ_CHUNK = 64 * 1024
_POLL = 0.1


@dataclass(frozen=True, slots=True)
class ScriptResult:
    """What a script run produced. ``log`` is already masked; ``outputs`` are in order set."""

    state: str
    exit_code: int | None
    log: str
    outputs: tuple[OutputVariable, ...]
    started: EpochSeconds
    ended: EpochSeconds

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise ValueError(f"unknown script state {self.state!r}; expected one of {STATES}")

    @property
    def succeeded(self) -> bool:
        return self.state == "Success"


# --------------------------------------------------------------------------- helper files

_BASH_HELPERS = """\
# Helpers bundlekit defines for deployment scripts (sourced before the script runs).
__bundlekit_variables_file=%(variables)s

get_octopusvariable() {
    # Print the value of a variable; names are matched case-insensitively.
    local __bk_name="${1-}" __bk_want __bk_key __bk_value
    __bk_want=$(printf '%%s' "${__bk_name,,}" | base64 -w0)
    while IFS=' ' read -r __bk_key __bk_value; do
        if [[ "$__bk_key" == "$__bk_want" ]]; then
            printf '%%s' "$__bk_value" | base64 -d
            return 0
        fi
    done < "$__bundlekit_variables_file"
    return 0
}

set_octopusvariable() {
    # set_octopusvariable NAME VALUE [-sensitive]: set an output variable of this step.
    local __bk_name __bk_value __bk_sensitive=""
    __bk_name=$(printf '%%s' "${1-}" | base64 -w0)
    __bk_value=$(printf '%%s' "${2-}" | base64 -w0)
    if [[ "${3-}" == "-sensitive" ]]; then
        __bk_sensitive=" sensitive='$(printf 'True' | base64 -w0)'"
    fi
    printf "##octopus[setVariable name='%%s' value='%%s'%%s]\\n" "$__bk_name" "$__bk_value" "$__bk_sensitive"
}
"""

_PYTHON_HELPERS = '''\
"""Helpers bundlekit gives Python deployment scripts (also available as builtins)."""

import base64 as _b64
import sys as _sys

__all__ = ["get_octopusvariable", "set_octopusvariable"]

_VARIABLES_FILE = %(variables)r
_values = None


def _load():
    values = {}
    with open(_VARIABLES_FILE, "rb") as handle:
        for line in handle:
            key, _, value = line.strip().partition(b" ")
            values[_b64.b64decode(key).decode("utf-8")] = _b64.b64decode(value).decode("utf-8")
    return values


def get_octopusvariable(name):
    """The value of a variable (names are case-insensitive); "" when it is not defined."""
    global _values
    if _values is None:
        _values = _load()
    return _values.get(str(name).lower(), "")


def set_octopusvariable(name, value, sensitive=False):
    """Set an output variable of this step (printed as an Octopus service message)."""
    def enc(text):
        return _b64.b64encode(str(text).encode("utf-8")).decode("ascii")
    message = "##octopus[setVariable name='%%s' value='%%s'" %% (enc(name), enc(value))
    if sensitive:
        message += " sensitive='%%s'" %% enc("True")
    _sys.stdout.write(message + "]\\n")
    _sys.stdout.flush()
'''

_PYTHON_BOOTSTRAP = """\
import builtins, os, runpy, sys
sys.path[0] = %(run_dir)r
import octopus_helpers
sys.path[0] = os.getcwd()
builtins.get_octopusvariable = octopus_helpers.get_octopusvariable
builtins.set_octopusvariable = octopus_helpers.set_octopusvariable
sys.argv = [%(script)r]
runpy.run_path(%(script)r, run_name="__main__")
"""


def _write_private(path: Path, data: bytes) -> None:
    """Create ``path`` (must not exist, never through a link) readable by its owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _variables_file_bytes(variables: Mapping[str, str]) -> bytes:
    # One line per name folded to lower case (bash's ${name,,} and Python's str.lower agree
    # on the letters names use); names equal but for case: the last one wins, in both helpers.
    folded = {str(name).lower(): str(value) for name, value in variables.items()}
    return b"".join(
        base64.b64encode(name.encode("utf-8")) + b" " + base64.b64encode(value.encode("utf-8")) + b"\n"
        for name, value in folded.items()
    )


def _prepare(syntax: str, script: str, run_dir: Path, variables: Mapping[str, str]) -> list[str]:
    """Write the run's private files; return the command line (which holds no value)."""
    variables_file = run_dir / "variables.b64"
    _write_private(variables_file, _variables_file_bytes(variables))
    if syntax == "bash":
        bash = shutil.which("bash")
        if bash is None:
            raise DeployError(
                "cannot run a bash script: no 'bash' on PATH. Install bash on this target.",
                code="interpreter_missing",
            )
        helpers = run_dir / "octopus_helpers.sh"
        _write_private(helpers, (_BASH_HELPERS % {"variables": shlex.quote(str(variables_file))}).encode())
        # Same first line, so the script's own line numbers in bash errors stay right.
        prefix = f". {shlex.quote(str(helpers))} || exit 90; "
        script_file = run_dir / "script.sh"
        _write_private(script_file, (prefix + script).encode("utf-8"))
        return [bash, "--noprofile", "--norc", str(script_file)]
    helpers = run_dir / "octopus_helpers.py"
    _write_private(helpers, (_PYTHON_HELPERS % {"variables": str(variables_file)}).encode())
    script_file = run_dir / "script.py"
    _write_private(script_file, script.encode("utf-8"))
    bootstrap = run_dir / "bootstrap.py"
    _write_private(bootstrap, (_PYTHON_BOOTSTRAP % {"run_dir": str(run_dir), "script": str(script_file)}).encode())
    return [sys.executable, "-B", str(bootstrap)]


def _environment(syntax: str, workdir: Path, extra: Mapping[str, str] | None) -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", os.defpath), "HOME": str(workdir), "LANG": "C.UTF-8"}
    if syntax == "python":
        env["PYTHONUNBUFFERED"] = "1"  # keep print() and stderr interleaved as written
        env["PYTHONIOENCODING"] = "utf-8"
    for key, value in (extra or {}).items():
        if not isinstance(key, str) or not key or "=" in key or "\0" in key:
            raise DeployError(
                f"environment variable name {key!r} is invalid for a script: it must be non-empty "
                "text without '=' or NUL.",
                code="invalid_environment",
            )
        if not isinstance(value, str) or "\0" in value:
            raise DeployError(
                f"environment variable {key!r} must be text without NUL characters.",
                code="invalid_environment",
            )
        env[key] = value
    return env


# --------------------------------------------------------------------------- the log


class _Log:
    """Bounded, masked log: the first bytes and the last bytes, with a note in between."""

    def __init__(self, masker: Masker, limit: int) -> None:
        self.masker = masker
        self.tail_budget = min(limit // 4, 1 << 20)
        self.head_budget = limit - self.tail_budget
        self.head: list[str] = []
        self.head_bytes = 0
        self.tail: deque[tuple[str, int]] = deque()
        self.tail_bytes = 0
        self.truncated = False
        self.omitted_bytes = 0
        self.outputs: list[OutputVariable] = []
        self._partial = bytearray()

    def feed(self, chunk: bytes) -> None:
        self._partial += chunk
        while True:
            newline = self._partial.find(b"\n")
            if newline < 0:
                break
            raw = bytes(self._partial[:newline])
            del self._partial[: newline + 1]
            self._line(raw)
        while len(self._partial) > MAX_LINE:
            raw = bytes(self._partial[:MAX_LINE])
            del self._partial[:MAX_LINE]
            self._line(raw)

    def finish(self) -> None:
        if self._partial:
            raw = bytes(self._partial)
            self._partial.clear()
            self._line(raw)

    def _line(self, raw: bytes) -> None:
        text = raw.decode("utf-8", "replace")
        if text.endswith("\r"):
            text = text[:-1]
        scanned = scan_line(text)
        for variable in scanned.variables:
            self.outputs.append(variable)
            if variable.sensitive:
                # Before masking this very line: later text must never show the value.
                self.masker.add(variable.value)
        self.store(self.masker.mask(scanned.text))

    def note(self, text: str) -> None:
        self.store(f"[bundlekit] {text}")

    def store(self, line: str) -> None:
        size = len(line.encode("utf-8")) + 1
        if not self.truncated and self.head_bytes + size <= self.head_budget:
            self.head.append(line)
            self.head_bytes += size
            return
        self.truncated = True
        self.tail.append((line, size))
        self.tail_bytes += size
        while self.tail and self.tail_bytes > self.tail_budget:
            _, dropped = self.tail.popleft()
            self.tail_bytes -= dropped
            self.omitted_bytes += dropped

    def text(self) -> str:
        lines = list(self.head)
        if self.truncated:
            lines.append(
                f"[bundlekit] log truncated: {self.omitted_bytes} bytes of output omitted here "
                f"(the log keeps at most {self.head_budget + self.tail_budget} bytes)"
            )
        lines.extend(line for line, _ in self.tail)
        # A value set as sensitive late in the run may have been printed earlier.
        return self.masker.mask("\n".join(lines))


# --------------------------------------------------------------------------- processes


def _has_exited(pid: int) -> bool:
    """True once the process has exited, without reaping it (its pid, the group id, stays ours)."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _group_alive(pgid: int) -> bool:
    """Whether any non-zombie process is left in the group (Linux /proc; else assume yes)."""
    try:
        entries = os.listdir("/proc")
    except OSError:
        return True
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        # Fields after the command name, which is in parentheses and may contain spaces.
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] != b"Z":
            return True
    return False


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _stop_group(pgid: int, grace: float) -> None:
    """SIGTERM the whole group, give it ``grace`` seconds, then SIGKILL whatever is left."""
    _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and _group_alive(pgid):
        time.sleep(0.05)
    _signal_group(pgid, signal.SIGKILL)


def _drain(fd: int, log: _Log, seconds: float) -> None:
    """Read what is left in the pipe once every writer should be gone."""
    deadline = time.monotonic() + seconds
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not selector.select(min(_POLL, max(0.0, deadline - time.monotonic()))):
                continue
            chunk = os.read(fd, _READ_CHUNK)
            if not chunk:
                return
            log.feed(chunk)


# --------------------------------------------------------------------------- run_script


def run_script(
    syntax: str,
    script: str,
    *,
    workdir: Path,
    variables: Mapping[str, str],
    masker: Masker,
    timeout: float = 3600.0,
    env: Mapping[str, str] | None = None,
    log_limit: int = 10 * 1024 * 1024,
    cancel: threading.Event | None = None,
    kill_grace: float = KILL_GRACE,
    clock: Clock = time.time,
) -> ScriptResult:
    """Run ``script`` (already substituted) with ``bash`` or Python in ``workdir`` (refusals: ``DeployError``).

    The process gets a clean environment (``PATH``, ``HOME=workdir``, ``LANG=C.UTF-8``,
    plus ``env``), stdin from ``/dev/null`` and its own process group. Exit code 0 is
    ``Success``, anything else ``Failed`` (``-N`` when killed by signal N); past ``timeout``
    seconds, or once ``cancel`` is set, the whole group is stopped and the state is
    ``TimedOut`` / ``Canceled`` with ``exit_code`` None; times are whole seconds from ``clock``.
    """
    if syntax not in SUPPORTED_SYNTAXES:
        raise DeployError(
            f"script syntax {syntax!r} is not supported; use one of: {', '.join(SUPPORTED_SYNTAXES)}.",
            code="unsupported_syntax",
        )
    if not timeout > 0 or not log_limit > 0:
        raise DeployError(
            f"script timeout ({timeout}) and log limit ({log_limit}) must be positive.",
            code="invalid_script_options",
        )
    workdir = Path(workdir).absolute()
    try:
        workdir.mkdir(parents=True, exist_ok=True)
        run_dir = Path(tempfile.mkdtemp(prefix=".bundlekit-run-", dir=workdir))
    except OSError as error:
        raise DeployError(
            f"cannot use script working folder {workdir}: {error.strerror}. "
            "Check that it is a writable folder.",
            code="workdir_unusable",
        ) from None
    log = _Log(masker, log_limit)
    process: subprocess.Popen[bytes] | None = None
    try:
        command = _prepare(syntax, script, run_dir, variables)
        environment = _environment(syntax, workdir, env)
        started = int(clock())
        try:
            process = subprocess.Popen(
                command,
                cwd=workdir,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
        except OSError as error:
            raise DeployError(
                f"cannot start {command[0]}: {error.strerror}.", code="interpreter_missing"
            ) from None
        state = _supervise(process, log, started_mono=time.monotonic(), timeout=timeout,
                           cancel=cancel, kill_grace=kill_grace)
        exit_code = process.wait()
        log.finish()
        if state is None:
            state = "Success" if exit_code == 0 else "Failed"
            result_code: int | None = exit_code
        else:
            result_code = None
        ended = int(clock())
        return ScriptResult(state, result_code, log.text(), tuple(log.outputs), started, ended)
    finally:
        if process is not None:
            if process.returncode is None:
                # Leaving by an exception (even KeyboardInterrupt): never orphan the tree.
                _stop_group(process.pid, min(kill_grace, 1.0))
                process.wait()
            if process.stdout is not None:
                process.stdout.close()
        shutil.rmtree(run_dir, ignore_errors=True)


def _supervise(
    process: subprocess.Popen[bytes],
    log: _Log,
    *,
    started_mono: float,
    timeout: float,
    cancel: threading.Event | None,
    kill_grace: float,
) -> str | None:
    """Pump output until the script ends; return "TimedOut"/"Canceled" or None (it exited)."""
    assert process.stdout is not None
    fd = process.stdout.fileno()
    deadline = started_mono + timeout
    exited_at: float | None = None
    eof = False
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while True:
            now = time.monotonic()
            if exited_at is None and _has_exited(process.pid):
                exited_at = now
            if exited_at is not None and eof:
                return None
            if exited_at is None and cancel is not None and cancel.is_set():
                log.note("deployment canceled: stopping the script and its child processes")
                _stop_group(process.pid, kill_grace)
                _drain(fd, log, 1.0)
                return "Canceled"
            if exited_at is None and now >= deadline:
                log.note(f"script timed out after {timeout:g} s: stopping it and its child processes")
                _stop_group(process.pid, kill_grace)
                _drain(fd, log, 1.0)
                return "TimedOut"
            if exited_at is not None and now >= exited_at + DRAIN_GRACE:
                log.note("the script exited but background processes kept its output open; they were stopped")
                _stop_group(process.pid, kill_grace)
                _drain(fd, log, 1.0)
                return None
            if eof:
                time.sleep(_POLL / 2)
                continue
            if selector.select(_POLL):
                chunk = os.read(fd, _READ_CHUNK)
                if chunk:
                    log.feed(chunk)
                else:
                    eof = True
