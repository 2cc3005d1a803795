"""Starting the step runner on this machine, for a local folder target or a zone-level step.

This module owns the command that starts a local runner under the zone's :class:`Isolation`
(``docs/decisions/143-worker-isolation.md``):

* ``user``: as the worker user: directly (``setuid`` through ``subprocess``'s ``user=``, no
  supplementary groups) when the zone runs as root, else through ``sudo -n -u USER``;
* ``sandbox``: inside bubblewrap, shown an allow-list of the machine and nothing else
  (``docs/decisions/760-the-sandbox-shows-an-allow-list-of-the-machine.md``): the system's
  folders (:data:`SANDBOX_SYSTEM`) and the interpreter's own files (:func:`interpreter_trees`)
  read-only, the target's folder writable, a private ``/tmp``, ``/dev`` and ``/proc``; every
  hidden path (the zone's home) that one of those holds replaced by an empty folder; new PID, IPC
  and UTS namespaces (so ``/proc`` shows no zone process whose ``cwd`` or ``environ`` could lead back to
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

from bundlekit.core.hints import home_flag
from bundlekit.core.tree import tree_apply
from bundlekit.deploy.targets import Isolation
from bundlekit.errors import DeployError
from bundlekit.runtime.boot import bootstrap_argv

__all__ = ["local_command", "default_python", "bwrap_path", "interpreter_trees", "RUNNER_PATH", "sandbox_user",
           "hand_to_sandbox", "SANDBOX_SYSTEM", "PREFIX_PARTS"]

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


#: What a sandboxed runner sees of the machine besides its own folders, read-only, where each
#: exists (decision 760): the system's programs, libraries and configuration. One that is a
#: symbolic link (a merged ``/usr``'s ``/bin -> usr/bin``) is made again as the same link.
SANDBOX_SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")

#: What a sandboxed runner sees of an interpreter's prefix (``PREFIX/bin/python3``): never the
#: whole prefix, which may be a user's home directory.
PREFIX_PARTS = ("bin", "lib", "lib64", "pyvenv.cfg")


def _in_system(path: str) -> bool:
    return any(_inside(path, folder) for folder in SANDBOX_SYSTEM)


def _venv_home(prefix: str) -> str | None:
    """The prefix of the Python a virtual environment at ``prefix`` was made from (its
    ``pyvenv.cfg``'s ``home``, the folder of that Python's executable), else None."""
    try:
        with open(os.path.join(prefix, "pyvenv.cfg"), encoding="utf-8") as handle:
            lines = handle.read(1 << 16).splitlines()
    except (OSError, ValueError):
        return None
    for line in lines:
        key, sep, value = line.partition("=")
        if sep and key.strip() == "home" and os.path.isabs(value.strip()):
            return os.path.dirname(value.strip().rstrip("/"))
    return None


def interpreter_trees(python: str) -> list[str]:
    """The files and folders outside :data:`SANDBOX_SYSTEM` that a sandboxed runner needs to
    start ``python`` (an absolute path), bound in read-only: the interpreter file (as named and
    as its links resolve) and, of each of its prefixes, only :data:`PREFIX_PARTS`. Its prefixes:
    ``PREFIX`` of ``PREFIX/bin/python3`` (named and resolved), the Python a virtual environment
    was made from (``pyvenv.cfg``), and for this process's own interpreter ``sys.prefix`` and
    ``sys.base_prefix``. Paths are absolute, existing, outermost only, sorted; empty for a
    relative ``python`` or one wholly inside the system folders."""
    if not os.path.isabs(python):
        return []
    names = {os.path.abspath(python), os.path.realpath(python)}
    prefixes = [os.path.dirname(os.path.dirname(path)) for path in sorted(names)]
    if os.path.realpath(python) == os.path.realpath(sys.executable):
        prefixes += [sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix]
    seen: set[str] = set()
    found: set[str] = set(names)
    while prefixes and len(seen) < 32:
        prefix = os.path.abspath(prefixes.pop())
        if prefix in seen or prefix == "/":
            continue
        seen.add(prefix)
        found.update(os.path.join(prefix, part) for part in PREFIX_PARTS)
        prefixes += [p for p in (_venv_home(prefix), os.path.realpath(prefix)) if p]
    kept = sorted(p for p in found if not _in_system(p) and os.path.exists(p))
    return [p for p in kept if not any(q != p and _inside(p, q) for q in kept)]


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


def _system_view() -> list[str]:
    """bubblewrap arguments that show :data:`SANDBOX_SYSTEM` read-only, those that exist: a
    folder bound read-only, a symbolic link made again as the same link."""
    args: list[str] = []
    for path in SANDBOX_SYSTEM:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    return args


def _resolver() -> list[str]:
    """``[path]`` of the file ``/etc/resolv.conf`` leads to when it is a link out of the system
    folders (a resolver's file under ``/run``), so name lookups work in the sandbox; else ``[]``."""
    target = os.path.realpath("/etc/resolv.conf")
    return [target] if os.path.islink("/etc/resolv.conf") and not _in_system(target) and os.path.isfile(target) else []


def _parents(path: str, made: set[str]) -> list[str]:
    """``--dir`` arguments (mode 0755) for the folders above ``path`` that the sandbox's empty
    root lacks: bubblewrap would make them 0700, which an unprivileged runner could not pass."""
    args: list[str] = []
    current = "/"
    for part in Path(path).parts[1:-1]:
        current = os.path.join(current, part)
        if current not in made and not _in_system(current):
            made.add(current)
            args += ["--perms", "0755", "--dir", current]
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
                          f"run. Install it, or choose another with `bundlekit worker set --python PATH{home_flag()}`.",
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
                              f"`bundlekit worker setup{home_flag()}` (as root) or name another with `bundlekit worker set{home_flag()}`.",
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
                              f"`bundlekit worker setup{home_flag()}`.", code="worker_unavailable")
        # A probe writes nothing: it sees the nearest existing folder as the runner would, and starts in /.
        writable = str(_existing(work_dir)) if probe else work
        # Nothing of the machine but what is listed here (decision 760): an empty root, the system
        # folders and the interpreter read-only, the target's folder writable, its own /tmp.
        sandbox = [bwrap, *_system_view(), "--dev", "/dev", "--proc", "/proc",
                   "--perms", "01777", "--tmpfs", "/tmp"]
        made: set[str] = {"/tmp"}
        readable = interpreter_trees(isolation.python) + _resolver()
        for tree in readable:
            sandbox += _parents(tree, made) + ["--ro-bind", tree, tree]
        sandbox += _parents(writable, made) + ["--bind", writable, writable]
        runner_folder = None if probe else _verified_runner_folder(work_dir, runner_sha, runner_size)
        if runner_folder is not None:  # steps cannot change the cached runner (decision 451)
            sandbox += ["--ro-bind", f"/proc/self/fd/{runner_folder}", os.path.join(work, ".bundlekit", "runner")]
            kwargs["pass_fds"] = (runner_folder,)
        shown = [*readable, writable, *SANDBOX_SYSTEM]
        for hidden in isolation.hide:  # the zone's home, should a folder shown hold it
            if any(_inside(hidden, tree) for tree in shown):
                sandbox += ["--tmpfs", hidden]
        sandbox += ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent", "--new-session",
                    "--chdir", "/" if probe else work, "--"]
        if os.geteuid() == 0 and not probe:
            setpriv = shutil.which("setpriv", path="/usr/bin:/bin:/usr/sbin:/sbin")
            if setpriv is None:
                raise DeployError("steps on this machine run in a bubblewrap sandbox as the unprivileged `nobody`, "
                                  "but `setpriv` (util-linux) is not installed. Install it, or set up a worker user "
                                  f"with `bundlekit worker setup{home_flag()}`.", code="worker_unavailable")
            uid, gid = sandbox_user()
            sandbox += [setpriv, f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--inh-caps=-all",
                        "--bounding-set=-all", "--no-new-privs", "--"]
        return sandbox + argv, kwargs
    return argv, kwargs
