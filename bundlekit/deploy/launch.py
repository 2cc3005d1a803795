"""Starting the step runner on this machine, for a local folder target or a zone-level step.

This module owns the command that starts a local runner under the zone's :class:`Isolation`
(``docs/decisions/143-worker-isolation.md``):

* ``user``: as the worker user: directly (``setuid`` through ``subprocess``'s ``user=``, no
  supplementary groups) when the zone runs as root, else through ``sudo -n -u USER``;
* ``sandbox``: as the zone's own user inside bubblewrap: the whole file system read-only, the
  target's folder writable, a private ``/tmp`` (with the interpreter's own tree bound back in,
  read-only, when it lives under ``/tmp``), every hidden path (the zone's home) replaced by
  an empty folder, new PID, IPC and UTS namespaces (so ``/proc`` shows no zone process whose
  ``cwd`` or ``environ`` could lead back to the home), a new session, killed with its parent;
* ``unconfined``: as the zone's own user, nothing hidden (the operator chose it; every record says so).

The runner's environment is three variables (``PATH``, ``LANG``, ``HOME`` = the work folder):
nothing of the zone's own environment reaches it.
"""

from __future__ import annotations

import os
import pwd
import shutil
import sys
from pathlib import Path
from typing import Any

from bundlekit.deploy.targets import Isolation
from bundlekit.errors import DeployError
from bundlekit.runtime.boot import bootstrap_argv

__all__ = ["local_command", "default_python", "bwrap_path", "interpreter_trees", "RUNNER_PATH"]

#: The PATH a local runner (and so every script it starts) sees.
RUNNER_PATH = "/usr/local/bin:/usr/bin:/bin"


def bwrap_path() -> str | None:
    """bubblewrap's path when it is installed (Debian ``bubblewrap``), else None."""
    return shutil.which("bwrap", path="/usr/bin:/bin:/usr/local/bin")


def default_python() -> str:
    """A Python 3 that any user of this machine can run: the system one when there is one."""
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if os.access(candidate, os.X_OK):
            return candidate
    return os.path.realpath(sys.executable)


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def interpreter_trees(python: str) -> list[str]:
    """The folders under ``/tmp`` a sandboxed runner needs to start ``python`` (an absolute path):
    the sandbox gets a private, empty ``/tmp``, so an interpreter (or a virtual environment, or
    bundlekit's own install) that lives there is bound back in, read-only. Paths are absolute,
    outermost only, sorted; empty when nothing of the interpreter is under ``/tmp``."""
    if not os.path.isabs(python):
        return []
    found: set[str] = set()
    for path in (os.path.abspath(python), os.path.realpath(python)):
        found.add(os.path.dirname(os.path.dirname(path)))  # PREFIX/bin/python3 -> PREFIX
    if os.path.realpath(python) == os.path.realpath(sys.executable):
        found.update((sys.prefix, sys.exec_prefix, sys.base_prefix))
        found.update(p for p in sys.path if p and os.path.isabs(p) and os.path.exists(p))
    under = sorted({p for p in found if _inside(p, "/tmp") and p != "/tmp" and os.path.exists(p)})
    return [p for p in under if not any(q != p and _inside(p, q) for q in under)]


def _existing(folder: Path) -> Path:
    """``folder``, or the nearest folder above it that exists."""
    while not os.path.lexists(folder) and folder.parent != folder:
        folder = folder.parent
    return folder


def local_command(isolation: Isolation, work_dir: Path, runner_sha: str, runner_size: int, *,
                  probe: bool = False, inventory: bool = False) -> tuple[list[str], dict[str, Any]]:
    """``(argv, extra keyword arguments for the process)`` that start a runner for ``work_dir``
    (with ``probe``: the bootstrap that only reports and writes nothing; ``work_dir`` may not exist;
    with ``inventory``: a probe that also lists what bundlekit holds there).

    Raises DeployError ``worker_unavailable`` when the isolation cannot be had here (no such
    user, no bubblewrap, the worker's python missing).
    """
    work = str(work_dir)
    if os.path.isabs(isolation.python) and not os.access(isolation.python, os.X_OK):
        raise DeployError(f"the Python that runs steps on this machine, {isolation.python}, is missing or cannot be "
                          "run. Install it, or choose another with `bundlekit worker set ... --python PATH`.",
                          code="worker_unavailable")
    probe = probe or inventory
    argv = bootstrap_argv(isolation.python, work, runner_sha, runner_size, probe=probe, inventory=inventory)
    env = {"PATH": RUNNER_PATH, "LANG": "C.UTF-8", "HOME": work}
    kwargs: dict[str, Any] = {"env": env, "start_new_session": True}
    if isolation.mode == "user":
        try:
            entry = pwd.getpwnam(isolation.user or "")
        except KeyError:
            raise DeployError(f"the worker user {isolation.user!r} does not exist on this machine; create it with "
                              "`bundlekit worker setup` (as root) or name another with `bundlekit worker set`.",
                              code="worker_unavailable") from None
        if os.geteuid() == 0:
            kwargs.update(user=entry.pw_uid, group=entry.pw_gid, extra_groups=[], cwd="/")
        else:
            argv = ["sudo", "-n", "-u", entry.pw_name, "--", *argv]
        return argv, kwargs
    if isolation.mode == "sandbox":
        bwrap = isolation.bwrap if os.access(isolation.bwrap, os.X_OK) else bwrap_path()
        if bwrap is None:
            raise DeployError("steps on this machine run in a bubblewrap sandbox, but `bwrap` is not installed. "
                              "Install it (Debian: apt-get install bubblewrap) or set up a worker user with "
                              "`bundlekit worker setup`.", code="worker_unavailable")
        # A probe writes nothing: it sees the nearest existing folder as the runner would, and starts in /.
        writable = str(_existing(work_dir)) if probe else work
        sandbox = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
        for tree in interpreter_trees(isolation.python):
            sandbox += ["--ro-bind", tree, tree]
        sandbox += ["--bind", writable, writable]
        for hidden in isolation.hide:
            sandbox += ["--tmpfs", hidden]
        sandbox += ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent", "--new-session",
                    "--chdir", "/" if probe else work, "--"]
        return sandbox + argv, kwargs
    return argv, kwargs
