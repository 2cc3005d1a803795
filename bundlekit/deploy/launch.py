"""Starting the step runner on this machine, for a local folder target or a zone-level step.

This module owns the command that starts a local runner under the zone's :class:`Isolation`
(``docs/decisions/143-worker-isolation.md``):

* ``user``: as the worker user: directly (``setuid`` through ``subprocess``'s ``user=``, no
  supplementary groups) when the zone runs as root, else through ``sudo -n -u USER``;
* ``sandbox``: inside bubblewrap: the whole file system read-only, the target's folder
  writable, a private ``/tmp`` and an empty folder over the zone's OS user's own home directory
  (with the interpreter's own trees and the target's folder bound back in when they live there),
  every hidden path (the zone's home) replaced by an empty folder, new PID, IPC and UTS
  namespaces (so ``/proc`` shows no zone process whose ``cwd`` or ``environ`` could lead back to
  the home), a new session, killed with its parent. A zone run by root does not hand the
  sandbox root's powers: the runner starts as the unprivileged ``nobody`` with no capability
  at all (``setpriv``), so it can neither remove the mounts that hide the home nor read a file
  only root may read; the target's folder is handed to ``nobody`` first
  (``docs/decisions/450-a-root-zone-sandbox-runs-steps-as-nobody.md``). A non-root zone's
  runner keeps the zone's user, with no capability in its user namespace;
* ``unconfined``: as the zone's own user, nothing hidden (the operator chose it; every record says so).

The runner's environment is three variables (``PATH``, ``LANG``, ``HOME`` = the work folder):
nothing of the zone's own environment reaches it.
"""

from __future__ import annotations

import os
import pwd
import stat
import shutil
import sys
from pathlib import Path
from typing import Any

from bundlekit.core.tree import tree_apply
from bundlekit.deploy.targets import Isolation
from bundlekit.errors import DeployError
from bundlekit.runtime.boot import bootstrap_argv

__all__ = ["local_command", "default_python", "bwrap_path", "interpreter_trees", "RUNNER_PATH", "sandbox_user",
           "hand_to_sandbox", "owner_home"]

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


def interpreter_trees(python: str, covered: tuple[str, ...] = ("/tmp",)) -> list[str]:
    """The folders under ``covered`` (absolute paths the sandbox replaces with empty ones: its
    private ``/tmp``, the zone's OS user's home directory) that a sandboxed runner needs to start
    ``python`` (an absolute path): an interpreter (or a virtual environment, or bundlekit's own
    install) that lives there is bound back in, read-only. Paths are absolute, outermost only,
    sorted; empty when nothing of the interpreter is under a covered folder."""
    if not os.path.isabs(python):
        return []
    found: set[str] = set()
    for path in (os.path.abspath(python), os.path.realpath(python)):
        found.add(os.path.dirname(os.path.dirname(path)))  # PREFIX/bin/python3 -> PREFIX
    if os.path.realpath(python) == os.path.realpath(sys.executable):
        found.update((sys.prefix, sys.exec_prefix, sys.base_prefix))
        found.update(p for p in sys.path if p and os.path.isabs(p) and os.path.exists(p))
    under = sorted({p for p in found if any(_inside(p, c) and p != c for c in covered) and os.path.exists(p)})
    return [p for p in under if not any(q != p and _inside(p, q) for q in under)]


def _existing(folder: Path) -> Path:
    """``folder``, or the nearest folder above it that exists."""
    while not os.path.lexists(folder) and folder.parent != folder:
        folder = folder.parent
    return folder


def sandbox_user() -> tuple[int, int]:
    """``(uid, gid)`` a root zone's sandboxed runner runs as: ``nobody`` and its group (65534
    where the machine has no such user)."""
    try:
        entry = pwd.getpwnam("nobody")
        return entry.pw_uid, entry.pw_gid
    except KeyError:
        return 65534, 65534


def owner_home() -> str | None:
    """The home directory of the OS user this process runs as (resolved), hidden in the sandbox
    (``~/.pgpass``, tool credentials, ...); None when it is ``/``, missing or unknown."""
    try:
        home = os.path.realpath(pwd.getpwuid(os.geteuid()).pw_dir)
    except KeyError:
        return None
    return home if home != "/" and os.path.isdir(home) else None


def hand_to_sandbox(folder: Path) -> None:
    """Give a sandboxed target's folder to :func:`sandbox_user` when this process is root
    (else nothing): created if missing, and, once (while it is not already that user's), every
    folder and file in it chowned. Symbolic links are changed themselves, never followed; a file
    with more than one link is left alone, so a link planted there never hands over a file
    elsewhere. Raises OSError."""
    if os.geteuid() != 0:
        return
    uid, gid = sandbox_user()
    folder.mkdir(parents=True, exist_ok=True)
    if folder.lstat().st_uid == uid:
        return

    def hand_over(fd: int, name: str) -> None:
        st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode) or st.st_nlink == 1:
            os.chown(name, uid, gid, dir_fd=fd, follow_symlinks=False)

    tree_apply(folder, hand_over)  # no recursion: a script may have made a tree of any depth (decision 541)
    os.chown(folder, uid, gid, follow_symlinks=False)


def _tmpfs_parents(path: str, covered: list[str], made: set[str]) -> list[str]:
    """``--dir`` arguments (mode 0755) for the folders between a covered (tmpfs) folder and ``path``:
    bubblewrap makes them 0700, which an unprivileged runner could not pass through."""
    args: list[str] = []
    for cover in covered:
        if _inside(path, cover) and path != cover:
            parts = Path(path).relative_to(cover).parts[:-1]
            current = cover
            for part in parts:
                current = os.path.join(current, part)
                if current not in made:
                    made.add(current)
                    args += ["--perms", "0755", "--dir", current]
            break
    return args


def _verified_runner_folder(work_dir: Path, runner_sha: str, runner_size: int) -> int | None:
    """An ``O_PATH`` descriptor of ``WORK/.bundlekit/runner`` when the runner cached there is
    exactly the runner (read and hashed here; no symbolic link followed below the work folder),
    else None (missing or altered: the bootstrap replaces it, so the folder must stay writable)."""
    import hashlib
    import stat

    flags = os.O_PATH | os.O_DIRECTORY
    opened: list[int] = []
    try:
        opened.append(os.open(work_dir, flags))
        for name in (".bundlekit", "runner"):
            opened.append(os.open(name, flags | os.O_NOFOLLOW, dir_fd=opened[-1]))
        cached = os.open(f"{runner_sha}.pyz", os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=opened[-1])
        try:
            if not stat.S_ISREG(os.fstat(cached).st_mode):
                return None
            digest, left = hashlib.sha256(), runner_size + 1
            while left > 0:
                chunk = os.read(cached, min(left, 1 << 20))
                if not chunk:
                    break
                digest.update(chunk)
                left -= len(chunk)
        finally:
            os.close(cached)
        if left != 1 or digest.hexdigest() != runner_sha:
            return None
        return opened.pop()
    except OSError:
        return None
    finally:
        for fd in opened:
            os.close(fd)


def local_command(isolation: Isolation, work_dir: Path, runner_sha: str, runner_size: int, *,
                  probe: bool = False, inventory: bool = False) -> tuple[list[str], dict[str, Any]]:
    """``(argv, extra keyword arguments for the process)`` that start a runner for ``work_dir``
    (with ``probe``: the bootstrap that only reports and writes nothing; ``work_dir`` may not exist;
    with ``inventory``: a probe that also lists what bundlekit holds there).

    Raises DeployError ``worker_unavailable`` when the isolation cannot be had here (no such
    user, no bubblewrap, the worker's python missing). The keyword arguments may hold
    ``pass_fds``: descriptors the caller closes once the process has started.
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
        covered = ["/tmp"]
        sandbox = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
        home = owner_home()
        if home is not None and not _inside(home, "/tmp"):
            covered.append(home)
            sandbox += ["--tmpfs", home]
        made: set[str] = set()
        for tree in interpreter_trees(isolation.python, tuple(covered)):
            sandbox += _tmpfs_parents(tree, covered, made) + ["--ro-bind", tree, tree]
        sandbox += _tmpfs_parents(writable, covered, made) + ["--bind", writable, writable]
        runner_folder = None if probe else _verified_runner_folder(work_dir, runner_sha, runner_size)
        if runner_folder is not None:  # steps cannot change the cached runner (decision 451)
            sandbox += ["--ro-bind", f"/proc/self/fd/{runner_folder}", os.path.join(work, ".bundlekit", "runner")]
            kwargs["pass_fds"] = (runner_folder,)
        for hidden in isolation.hide:
            sandbox += ["--tmpfs", hidden]
        sandbox += ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent", "--new-session",
                    "--chdir", "/" if probe else work, "--"]
        if os.geteuid() == 0 and not probe:
            setpriv = shutil.which("setpriv", path="/usr/bin:/bin:/usr/sbin:/sbin")
            if setpriv is None:
                raise DeployError("steps on this machine run in a bubblewrap sandbox as the unprivileged `nobody`, "
                                  "but `setpriv` (util-linux) is not installed. Install it, or set up a worker user "
                                  "with `bundlekit worker setup`.", code="worker_unavailable")
            uid, gid = sandbox_user()
            sandbox += [setpriv, f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--inh-caps=-all",
                        "--bounding-set=-all", "--no-new-privs", "--"]
        return sandbox + argv, kwargs
    return argv, kwargs
