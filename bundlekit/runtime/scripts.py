"""Run one deployment script as a real subprocess, with Octopus-style helpers.

This module owns the life of a script process: starting it with its text, helpers and
variables delivered through pipes (:mod:`bundlekit.runtime.helpers`), its clean environment,
reading its output incrementally into a bounded, masked log (:mod:`bundlekit.runtime.log`),
and ending it: normally, on timeout or on cancellation, always together with every process
it started in its process group.

Security rules (``docs/decisions/041-script-runner.md``, ``141-memory-only-secrets.md``):

* variable values and the substituted script text reach the script through pipes only, never
  through a file, the environment or the command line (other users read those in ``/proc``),
  so nothing secret is left on disk when a step or the runner is killed;
* every log line is masked before it is kept; a sensitive output variable is added to the
  masker the moment it is set, and the whole log is masked once more at the end.

Shipped to targets: Python 3.8 or newer, standard library only.
"""

from __future__ import annotations

import os
import selectors
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

from bundlekit.errors import DeployError
from bundlekit.runtime.helpers import PIPES, bash_delivery, python_delivery
from bundlekit.runtime.log import ScriptLog
from bundlekit.runtime.masking import Masker
from bundlekit.runtime.reaper import proc_stats
from bundlekit.runtime.service_messages import OutputVariable

__all__ = ["ScriptResult", "run_script", "SUPPORTED_SYNTAXES", "STATES"]

SUPPORTED_SYNTAXES = ("bash", "python")
STATES = ("Success", "Failed", "TimedOut", "Canceled")

#: Seconds between SIGTERM to the process group and SIGKILL.
KILL_GRACE = 3.0
#: Seconds to keep reading after the script exits, while background children hold the output.
DRAIN_GRACE = 2.0
_READ_CHUNK = 64 * 1024
_POLL = 0.1


@dataclass(frozen=True)
class ScriptResult:
    """What a script run produced. ``log`` is already masked; ``outputs`` are in order set."""

    state: str
    exit_code: int | None
    log: str
    outputs: tuple[OutputVariable, ...]
    started: float
    ended: float

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise ValueError(f"unknown script state {self.state!r}; expected one of {STATES}")

    @property
    def succeeded(self) -> bool:
        return self.state == "Success"


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


# --------------------------------------------------------------------------- processes


def _has_exited(pid: int) -> bool:
    """True once the process has exited, without reaping it (its pid, the group id, stays ours)."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _group_alive(pgid: int) -> bool:
    """Whether any non-zombie process is left in the group (Linux /proc; else assume yes)."""
    if not os.path.isdir("/proc"):
        return True
    return any(len(fields) > 2 and int(fields[2]) == pgid and fields[0] != b"Z" for _, fields in proc_stats())


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


def _drain(fd: int, log: ScriptLog, seconds: float) -> None:
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


def _start_pipes(syntax: str, script: str, variables: Mapping[str, str]) -> tuple[list[str], dict[int, int],
                                                                                 dict[int, bytes]]:
    """Create the pipes a script reads (read end -> write end) and the command and bytes for them."""
    ends: dict[int, int] = {}
    try:
        fds: dict[str, int] = {}
        for role in PIPES[syntax]:
            read_end, write_end = os.pipe()
            ends[read_end] = write_end
            fds[role] = read_end
        if syntax == "bash":
            bash = shutil.which("bash")
            if bash is None:
                raise DeployError("cannot run a bash script: no 'bash' on PATH. Install bash on this target.",
                                  code="interpreter_missing")
            delivery = bash_delivery(bash, script, variables, fds)
        else:
            delivery = python_delivery(sys.executable, script, variables, fds)
    except BaseException:
        _close_all(ends)
        raise
    return delivery.command, ends, delivery.pipes


def _close_all(ends: dict[int, int]) -> None:
    for read_end, write_end in ends.items():
        for fd in (read_end, write_end):
            try:
                os.close(fd)
            except OSError:
                pass


def _feed_pipes(writes: dict[int, bytes]) -> list[threading.Thread]:
    """Write each pipe's bytes and close it, one thread per pipe (a pipe holds only 64 KiB at a
    time, and the script reads them in its own order)."""
    def feed(fd: int, data: bytes) -> None:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view[:_READ_CHUNK]):]
        except OSError:
            pass  # the script exited without reading everything: nothing to deliver to
        finally:
            os.close(fd)
    threads = [threading.Thread(target=feed, args=item, name="bundlekit-script-pipe", daemon=True)
               for item in writes.items()]
    for thread in threads:
        thread.start()
    return threads


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
    on_line: Callable[[str], None] | None = None,
) -> ScriptResult:
    """Run ``script`` (already substituted) with ``bash`` or Python in ``workdir``.

    The process gets a clean environment (``PATH``, ``HOME=workdir``, ``LANG=C.UTF-8``,
    plus ``env``), stdin from ``/dev/null``, its own process group, and its text, helpers and
    variables through pipes (nothing is written to disk). Exit code 0 is ``Success``,
    anything else ``Failed`` (``-N`` when killed by signal N); past ``timeout`` seconds, or
    once ``cancel`` is set, the whole group is stopped and the state is ``TimedOut`` /
    ``Canceled`` with ``exit_code`` None. ``on_line`` receives each masked log line as it
    arrives. Refusals raise :class:`DeployError`.
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
    except OSError as error:
        raise DeployError(
            f"cannot use script working folder {workdir}: {error.strerror}. "
            "Check that it is a writable folder.",
            code="workdir_unusable",
        ) from None
    log = ScriptLog(masker, log_limit, on_line)
    process: subprocess.Popen[bytes] | None = None
    environment = _environment(syntax, workdir, env)
    command, ends, writes = _start_pipes(syntax, script, variables)
    started = time.time()
    try:
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
                pass_fds=tuple(ends),
            )
        except OSError as error:
            raise DeployError(
                f"cannot start {command[0]}: {error.strerror}.", code="interpreter_missing"
            ) from None
        for read_end in list(ends):
            os.close(read_end)
        feeder = _feed_pipes({ends.pop(read_end): writes[read_end] for read_end in list(ends)})
        state = _supervise(process, log, started_mono=time.monotonic(), timeout=timeout,
                           cancel=cancel, kill_grace=kill_grace)
        exit_code = process.wait()
        for thread in feeder:
            thread.join(timeout=1.0)
        log.finish()
        if state is None:
            state = "Success" if exit_code == 0 else "Failed"
            result_code: int | None = exit_code
        else:
            result_code = None
        ended = time.time()
        return ScriptResult(state, result_code, log.text(), tuple(log.outputs), started, ended)
    finally:
        _close_all(ends)  # only those not yet handed over (on an early exception)
        if process is not None:
            if process.returncode is None:
                # Leaving by an exception (even KeyboardInterrupt): never orphan the tree.
                _stop_group(process.pid, min(kill_grace, 1.0))
                process.wait()
            if process.stdout is not None:
                process.stdout.close()


def _supervise(
    process: subprocess.Popen[bytes],
    log: ScriptLog,
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
