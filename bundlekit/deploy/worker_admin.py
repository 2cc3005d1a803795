"""Setting up the zone's worker and the folders steps on this machine write to.

This module owns the few system changes bundlekit makes for isolation
(``docs/decisions/143-worker-isolation.md``): creating the unprivileged worker user
(``useradd --system``, no login shell, no home of its own; root only), handing it the worker
folder and the local target folders (``chown``), and keeping the zone's home 0700 and its keys
0600. Refusals are ``InputError`` ``invalid_worker`` naming what to do.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from pathlib import Path
from typing import Callable

from bundlekit.core.hints import home_flag
from bundlekit.core.tree import tree_apply
from bundlekit.deploy.launch import bwrap_path
from bundlekit.errors import InputError
from bundlekit.zone.home import Zone
from bundlekit.zone.homescan import refuse_folder_with_home
from bundlekit.zone.targets import inside_home, list_targets
from bundlekit.zone.worker import WorkerSettings, default_folder, get_worker, set_worker

__all__ = ["setup_worker", "choose_worker", "prepare_local_folder", "worker_notice", "DEFAULT_WORKER_USER"]

DEFAULT_WORKER_USER = "bundlekit-worker"


def _bad(message: str) -> InputError:
    return InputError(message, code="invalid_worker")


def _folder(zone: Zone, folder: Path | None, warn: Callable[[str], object] | None) -> Path:
    chosen = (folder or default_folder(zone)).expanduser().resolve()
    if inside_home(zone, chosen):
        raise _bad(f"the worker folder {chosen} is the zone's home, inside it or above it; steps must never reach "
                   "the zone's keys. Choose a folder outside it.")
    refuse_folder_with_home(chosen, f"the worker folder {chosen}", warn)  # another zone's home (decision 801)
    return chosen


def _chown_tree(root: Path, uid: int, gid: int) -> None:
    os.chown(root, uid, gid, follow_symlinks=False)
    # Iterative and through folder descriptors: the folder may hold trees of any depth (decision 541).
    tree_apply(root, lambda fd, name: os.chown(name, uid, gid, dir_fd=fd, follow_symlinks=False))


def _tighten_home(zone: Zone) -> None:
    os.chmod(zone.home, 0o700)
    keys = zone.home / "keys"
    if keys.is_dir():
        os.chmod(keys, 0o700)
        for entry in keys.iterdir():
            if entry.is_file() and not entry.is_symlink():
                os.chmod(entry, 0o600)


def prepare_local_folder(zone: Zone, folder: Path) -> None:
    """Hand ``folder`` to the worker user when the zone runs as root and has one (else nothing)."""
    worker = get_worker(zone)
    if worker.mode != "user" or os.geteuid() != 0 or not worker.user:
        return
    entry = pwd.getpwnam(worker.user)
    folder.mkdir(parents=True, exist_ok=True)
    _chown_tree(folder, entry.pw_uid, entry.pw_gid)


def setup_worker(zone: Zone, user: str = DEFAULT_WORKER_USER, folder: Path | None = None,
                 warn: Callable[[str], object] | None = None) -> WorkerSettings:
    """Create (if needed) the worker user and its folder, hand it the local targets; root only."""
    if os.geteuid() != 0:
        raise _bad(f"`worker setup` creates an OS user and must run as root (sudo bundlekit worker setup --home "
                   f"{zone.home}); or name an existing user with `bundlekit worker set --user NAME{home_flag()}`.")
    work = _folder(zone, folder, None)  # refused before any user is made; choose_worker warns
    try:
        pwd.getpwnam(user)
    except KeyError:
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        done = subprocess.run([useradd, "--system", "--no-create-home", "--home-dir", str(work), "--shell",
                               "/usr/sbin/nologin", "--user-group", user], capture_output=True, text=True)
        if done.returncode != 0:
            raise _bad(f"useradd could not create the worker user {user!r}: {done.stderr.strip()}") from None
    return choose_worker(zone, "user", user=user, folder=work, warn=warn)


def choose_worker(zone: Zone, mode: str, *, user: str | None = None, folder: Path | None = None,
                  python: str | None = None, warn: Callable[[str], object] | None = None) -> WorkerSettings:
    """Record how steps on this machine run (``user``, ``sandbox`` or ``unconfined``), after checking it.

    A folder that is, holds or lies in another zone's home is refused (``folder_holds_home``,
    decision 801; ``warn`` gets the note when it was too large to look through whole)."""
    work = _folder(zone, folder, warn)
    if python is not None and not (os.path.isabs(python) and os.path.isfile(python) and os.access(python, os.X_OK)):
        raise _bad(f"--python {python!r} must be the absolute path of a Python 3.8+ interpreter on this machine.")
    if mode == "user":
        try:
            entry = pwd.getpwnam(user or "")
        except KeyError:
            raise _bad(f"there is no OS user {user!r}; create one (or run `bundlekit worker setup{home_flag()}` as root).") from None
        if entry.pw_uid == 0 or entry.pw_uid == os.geteuid() or entry.pw_uid == zone.home.stat().st_uid:
            raise _bad(f"the worker user {user!r} must be an unprivileged user that is not the zone's owner.")
        work.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            _chown_tree(work, entry.pw_uid, entry.pw_gid)
            os.chmod(work, 0o700)
            for target in list_targets(zone.db):
                if target.kind == "local":
                    _chown_tree(Path(target.root), entry.pw_uid, entry.pw_gid)
    elif mode == "sandbox":
        if bwrap_path() is None:
            raise _bad("bubblewrap (`bwrap`) is not installed: install it (Debian: apt-get install bubblewrap) or set "
                       f"up a worker user with `bundlekit worker setup{home_flag()}`.")
        work.mkdir(parents=True, exist_ok=True)
    elif mode == "unconfined":
        work.mkdir(parents=True, exist_ok=True)
    else:
        raise _bad(f"worker mode {mode!r} is not one of user, sandbox, unconfined.")
    _tighten_home(zone)
    return set_worker(zone, WorkerSettings(mode, str(work), user if mode == "user" else None, python))


def worker_notice(zone: Zone) -> str | None:
    """What an operator must hear about the worker (None when a worker user is set)."""
    worker = get_worker(zone)
    if worker.mode == "user":
        return None
    if worker.mode == "unconfined":
        return ("WARNING: steps on this machine (zone-level steps, local folder targets) run UNCONFINED as this "
                f"zone's own OS user and can read its keys. Set up a worker user: `bundlekit worker setup{home_flag()}`.")
    if bwrap_path() is None:
        return ("WARNING: no worker user and no bubblewrap: zone-level steps and local folder targets cannot run. "
                f"Run `bundlekit worker setup{home_flag()}` as root (creates an unprivileged worker user), install bubblewrap, or "
                f"accept the risk with `bundlekit worker set --unconfined{home_flag()}`.")
    return ("WARNING: no separate worker user: zone-level steps and local folder targets run inside a bubblewrap "
            "sandbox that shows them only the system's folders, the interpreter and their own folder (not the zone's "
            "home nor any other file of its OS user), as `nobody` when the zone runs as root, else as this zone's own "
            f"OS user. `bundlekit worker setup{home_flag()}` (as root) creates an unprivileged worker user.")
