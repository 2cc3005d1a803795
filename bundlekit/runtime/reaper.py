"""Ending every process a step started, also those that left the step's process group.

A script runs in its own process group, which :mod:`bundlekit.runtime.scripts` stops when the
step ends. A process that calls ``setsid`` (``setsid nohup sleep 300 &``, a double fork into a
new session) leaves that group; on a worker user or a local target without a PID namespace it
would outlive the deployment, running as the user every later step and runner shares.

So the runner makes itself a *child subreaper* (Linux ``prctl(PR_SET_CHILD_SUBREAPER)``): a
process orphaned anywhere below it becomes its child, not init's, whatever session or group it
moved to. A runner runs one step at a time and starts no other processes, so once a step is over
every child it still has was left by that step: :func:`end_leftovers` kills them all (and what
they started, which becomes the runner's in turn). Processes of other deployments, even of the
same user, are never its descendants and are left alone (decision 471).

Where the call is refused (not Linux, or a seccomp filter forbids it), nothing changes: the
process group is still stopped, and :func:`become_subreaper` says so by returning False.
Shipped to targets: Python 3.8 or newer, standard library only.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import time
from typing import Iterator, List, Tuple

__all__ = ["become_subreaper", "end_leftovers", "is_subreaper", "proc_stats"]

#: ``PR_SET_CHILD_SUBREAPER`` from ``<linux/prctl.h>``.
_PR_SET_CHILD_SUBREAPER = 36
#: Rounds of "kill every child, reap, look again" before giving up (a process forked in the instant
#: before its parent was killed turns up in the next round; a fork bomb is bounded by this).
_ROUNDS = 1000

_state = {"subreaper": False}


def become_subreaper() -> bool:
    """Make this process the subreaper of everything it starts; True if the kernel agreed."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
            return False
    except (OSError, AttributeError):
        return False
    _state["subreaper"] = True
    return True


def is_subreaper() -> bool:
    """Whether :func:`become_subreaper` succeeded in this process."""
    return _state["subreaper"]


def proc_stats() -> Iterator[Tuple[int, List[bytes]]]:
    """``(pid, fields)`` of every process in ``/proc`` (Linux; nothing elsewhere): the fields of
    its ``stat`` after the command name (which may hold spaces), so ``fields[0]`` is the state,
    ``[1]`` the parent pid, ``[2]`` the process group. A process gone meanwhile is skipped."""
    try:
        entries = os.listdir("/proc")
    except OSError:
        return
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        yield int(entry), stat[stat.rfind(b")") + 2:].split()


def _children(parent: int) -> List[int]:
    """The pids of the running (not yet exited) children of ``parent``. A child that has exited
    has handed its own children to ``parent`` already (the kernel does it before the child
    becomes a zombie), so none is missed."""
    return [pid for pid, fields in proc_stats() if len(fields) > 1 and int(fields[1]) == parent and fields[0] != b"Z"]


def _reap() -> None:
    """Collect every child that has exited (their children are already ours by then)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def end_leftovers() -> int:
    """Kill (SIGKILL) every process still below this runner, round after round until none is left;
    return how many were killed. Call it only between steps, when the runner has no process of its
    own running. Does nothing (0) unless :func:`become_subreaper` succeeded."""
    if not _state["subreaper"]:
        return 0
    me, killed = os.getpid(), set()
    for _ in range(_ROUNDS):
        _reap()
        alive = _children(me)
        if not alive:
            break
        for pid in alive:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.005)  # let the killed exit, so their children are handed to us
    _reap()
    return len(killed)
