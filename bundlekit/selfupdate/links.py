"""``HOME/self``: which installation is current, which was before, and the switch between them
(decisions 561, 931).

``HOME/self/current`` and ``HOME/self/previous`` are symbolic links bundlekit makes; nothing else
may stand at their names (:func:`read_links` refuses ``invalid_self_link`` before anything is
written). The two links change together through a switch record, ``HOME/self/switch.json``
(``{"current": ..., "previous": ...}``), written atomically first: the links are then replaced
and the record removed. A run killed between the record and the removal leaves the record, and
the next self-update or rollback finishes it (:func:`finish_switch`) before anything else, so the
pair always ends as one switch made it, never as half of one.

Every run that writes holds an exclusive advisory lock (``flock``) on the ``HOME/self`` folder
(:func:`self_lock`): while it is held no other self-update runs there, so whatever a killed run
left (a ``.wheels-*`` work folder, an environment under ``venvs/`` that was never finished) has no
writer and :func:`sweep` removes it. An environment is finished when it holds
:data:`MARKER`, written once its ``bundlekit --version`` ran; only a finished environment, or
one a link names, is ever reused or switched to.
"""

from __future__ import annotations

import fcntl
import json
import os
import stat
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

from bundlekit.core.text import shell_word
from bundlekit.core.atomic import fsync_dir, replace_symlink, write_atomic
from bundlekit.core.tree import remove_tree
from bundlekit.errors import BundleError, StateError
from bundlekit.format.audit import decode_body
from bundlekit.zone import audit
from bundlekit.zone.db import Reader

__all__ = ["Links", "MARKER", "read_links", "check_made", "self_lock", "write_switch", "finish_switch", "sweep",
           "home_option_of", "switched_installations"]

#: The switch record's file name in ``HOME/self``.
JOURNAL = "switch.json"
#: The file a finished environment holds (its version and the bundle digest it came from).
MARKER = ".bundlekit-self-update"
#: Work folders of a self-update in ``HOME/self``: ``.wheels-<12 hex>``.
WORK_PREFIX = ".wheels-"
#: Largest switch record read, in bytes (two paths).
_MAX_JOURNAL = 1 << 16


@dataclass(frozen=True, slots=True)
class Links:
    """What ``current`` and ``previous`` name (None: absent), as a pending switch record leaves
    them once finished; ``pending``: a record a killed run left is still to be finished."""

    current: str | None
    previous: str | None
    pending: bool = False

    def named(self, root: Path) -> set[Path]:
        """The installations the links name, as paths."""
        return {root / name for name in (self.current, self.previous) if name}


def home_option_of(root: Path) -> str:
    """``--home HOME`` for the home whose ``HOME/self`` is ``root``, as a shell would take it: the
    hints of self-update name the home it was given, never a placeholder."""
    return f"--home {shell_word(str(root.parent))}"


def _refuse(path: Path, what: str) -> StateError:
    root = path.parent
    return StateError(f"{path}: {what}, not a link bundlekit made; self-update and --rollback manage "
                      f"HOME/self/current and HOME/self/previous themselves. Nothing was changed. Move it away "
                      f"(keep what you need of it), then run `bundlekit self-update BUNDLE {home_option_of(root)}` "
                      "(or `--rollback`) again", code="invalid_self_link", details={"path": str(path)})


def _lstat(path: Path) -> os.stat_result | None:
    """``path``'s own status, None when nothing is there (``invalid_self_link`` when unreadable)."""
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as err:
        raise _refuse(path, f"cannot be read ({err.strerror})") from None


def _link(path: Path) -> str | None:
    """The target of link ``path``, None when nothing is there; ``invalid_self_link`` for
    anything else (a folder, a file)."""
    info = _lstat(path)
    if info is None:
        return None
    if not stat.S_ISLNK(info.st_mode):
        kind = "a folder" if stat.S_ISDIR(info.st_mode) else "a file"
        raise _refuse(path, f"is {kind}")
    return os.readlink(path)


def read_links(root: Path) -> Links:
    """``current`` and ``previous`` of ``root`` (``HOME/self``), a pending switch record applied.
    Raises ``StateError`` ``invalid_self_link`` when either is not a link, or the record is not
    one bundlekit wrote; reads only."""
    current, previous = _link(root / "current"), _link(root / "previous")
    record = _read_journal(root)
    if record is not None:
        return Links(record[0], record[1], pending=True)
    return Links(current, previous)


def made_here(root: Path, target: str) -> bool:
    """Whether link target ``target`` names an environment of ``root/venvs`` (one folder in it, as
    self-update names what it made: ``venvs/VERSION-DIGEST``)."""
    return os.path.dirname(os.path.normpath(os.path.join(root, target))) == os.path.normpath(root / "venvs")


def check_made(root: Path, links: Links, recorded: Callable[[], Iterable[str]]) -> None:
    """Refuse (``StateError`` ``invalid_self_link``) a ``current`` or ``previous`` of ``root`` that
    names neither an environment of ``root/venvs`` nor an installation bundlekit recorded switching
    from or to (``recorded()``: absolute paths, asked only when a link names something else; the
    running installation before the first switch is one). A link made by hand (``ln -sfn /usr
    HOME/self/current``) would otherwise be swapped into ``previous`` and offered as a way back
    (newuser35 finding 7). Reads only."""
    known: set[str] | None = None
    for name, target in (("current", links.current), ("previous", links.previous)):
        if target is None or made_here(root, target):
            continue
        if known is None:
            known = {os.path.normpath(p) for p in recorded()}
        if os.path.isabs(target) and os.path.normpath(target) in known:
            continue
        raise _refuse(root / name, f"names {target} (neither an environment in {root / 'venvs'} nor an installation "
                      "a self-update of this zone switched from or to, as its audit trail records them)")


def switched_installations(db: Reader) -> set[str]:
    """The installations outside ``HOME/self/venvs`` a bundlekit link may name: the running one
    (``sys.prefix``), and every one the zone's audit trail records a self-update switching from or
    to (each entry's ``from``/``to``, ``PATH (bundlekit VERSION)``; a switch made outside a command,
    through the library, names no installation in its entry). Entries that do not decode are skipped:
    ``audit --verify`` is the place that names them."""
    out = {sys.prefix}
    for stored in audit.entries(db):
        try:
            entry = decode_body(stored.body, stored.seq)
        except BundleError:
            continue
        if entry.command != "self-update":
            continue
        for key in ("from", "to"):
            value = entry.object.get(key)
            if isinstance(value, str):
                out.add(value.rpartition(" (bundlekit ")[0] or value)
    return out


def _read_journal(root: Path) -> tuple[str, str] | None:
    path = root / JOURNAL
    info = _lstat(path)
    if info is None:
        return None
    if not stat.S_ISREG(info.st_mode) or info.st_size > _MAX_JOURNAL:
        raise _refuse(path, "is not a switch record")
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        data = None
    if not (isinstance(data, dict) and set(data) == {"current", "previous"}
            and all(isinstance(v, str) and v and "\0" not in v for v in data.values())):
        raise _refuse(path, "is not a switch record bundlekit wrote")
    return data["current"], data["previous"]


@contextmanager
def self_lock(root: Path) -> Iterator[None]:
    """Hold the exclusive lock of ``root`` (made if absent) while the block runs; another
    self-update in the same home waits for it. The kernel gives it back when the process dies."""
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def write_switch(root: Path, current: str, previous: str) -> None:
    """Switch ``root``'s links to ``current`` and ``previous`` as one change: the record first,
    then the links (:func:`finish_switch`). The caller holds :func:`self_lock`."""
    write_atomic(root / JOURNAL, json.dumps({"current": current, "previous": previous}).encode("utf-8"))
    finish_switch(root)


def finish_switch(root: Path) -> bool:
    """Apply and remove the switch record a run left in ``root`` (the caller holds
    :func:`self_lock`); False when there was none."""
    record = _read_journal(root)
    if record is None:
        return False
    replace_symlink(root / "previous", record[1])
    replace_symlink(root / "current", record[0])
    os.unlink(root / JOURNAL)
    fsync_dir(root)
    return True


def sweep(root: Path, links: Links) -> list[Path]:
    """Remove what killed self-updates left in ``root`` (the caller holds :func:`self_lock`, so
    none is running): every ``.wheels-*`` work folder, and every environment in ``venvs/`` that
    is not finished (no :data:`MARKER`) and that no link names. Returns what was removed."""
    removed: list[Path] = []
    named = {os.path.normpath(p) for p in links.named(root)}
    for folder, test in ((root, lambda p: p.name.startswith(WORK_PREFIX)),
                         (root / "venvs", lambda p: not (p / MARKER).exists() and os.path.normpath(p) not in named)):
        try:
            entries = sorted(folder.iterdir())
        except OSError:
            continue
        for path in entries:
            if path.is_dir() and not path.is_symlink() and test(path):
                remove_tree(path, ignore_errors=True)
                removed.append(path)
    return removed
