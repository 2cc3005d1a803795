"""Temporary files a killed writer left, and the proof that their writer is gone (decision 886).

:class:`~bundlekit.core.atomic.AtomicFile` names its temporary files ``.bundlekit-<random>.<final
name>.tmp`` (:data:`TEMP_PREFIX`) and holds an advisory lock (``flock``) on each until it is
renamed or removed; :class:`TempFolder` does the same for a scratch folder. The kernel gives a
lock back when its process dies, however it dies, so an entry with bundlekit's name whose lock
can be taken has no writer: :func:`sweep_leftovers` removes exactly those from one folder (a
user's output folder, before a command writes there). Nothing else is ever removed.

Standard library only, Python 3.8 and later: the remote step runtime ships this module.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Callable, List, Optional, Tuple, Type, Union

try:
    import fcntl
except ImportError:  # no advisory locks (Windows): no writer can be proven gone, so nothing is swept
    fcntl = None  # type: ignore[assignment]

__all__ = ["TEMP_PREFIX", "NAME_ROOM", "Swept", "TempFolder", "is_temp_name", "sweep_leftovers", "tell_swept",
           "try_lock", "unlink_if_same"]

PathLike = Union[str, "os.PathLike[str]"]

#: How every default temporary name starts: ``.bundlekit-<8 random>.<final name>.tmp``.
TEMP_PREFIX = ".bundlekit-"
#: The name part of a temporary name is cut to this many characters (the name is only a hint to
#: a person; the whole stays within the 255 bytes file systems allow).
NAME_ROOM = 200
#: mkstemp's random part: 8 of ``[a-z0-9_]``.
_TEMP_NAME = re.compile(re.escape(TEMP_PREFIX) + r"[a-z0-9_]{8}\.(.+)\.tmp", re.S)

#: The labels :class:`TempFolder` may give its folders; a sweep removes a folder only when its
#: name carries one of them, so a user's folder that merely looks like a temporary name stays.
FOLDER_LABELS = frozenset({"backup"})

Swept = Tuple[Path, int]
_told: List[Callable[[Path, int], None]] = []


def is_temp_name(name: str) -> bool:
    """Whether ``name`` is a temporary name :class:`AtomicFile` gives by default."""
    return _TEMP_NAME.fullmatch(name) is not None


def tell_swept(callback: Optional[Callable[[Path, int], None]]) -> None:
    """Have ``callback`` told (path, bytes) of each leftover a ``sweep=True`` writer removes (the
    command line names them to the user); ``None``: tell nobody again."""
    _told.clear()
    if callback is not None:
        _told.append(callback)


def try_lock(fd: int) -> Optional[bool]:
    """Take the exclusive advisory lock of the file open as ``fd`` without waiting: True when
    taken, False when another open file holds it, None when the file system has no such locks."""
    if fcntl is None:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        return None
    return True


def unlink_if_same(path: str, fd: int) -> None:
    """Remove ``path`` if it still names the file open as ``fd``."""
    try:
        info, now = os.fstat(fd), os.lstat(path)
        if info.st_nlink and (now.st_dev, now.st_ino) == (info.st_dev, info.st_ino):
            os.unlink(path)
    except OSError:
        pass


def _flat_files(folder: str) -> Optional[List[Tuple[str, int]]]:
    """The regular files and links directly in ``folder`` with their sizes; None when it holds
    anything else (a subfolder: not a scratch folder of bundlekit's, or not only)."""
    out: List[Tuple[str, int]] = []
    with os.scandir(folder) as found:
        for entry in found:
            info = entry.stat(follow_symlinks=False)
            if not (stat.S_ISREG(info.st_mode) or stat.S_ISLNK(info.st_mode)):
                return None
            out.append((entry.path, info.st_size if stat.S_ISREG(info.st_mode) else 0))
    return out


def _remove_flat(folder: str) -> Optional[int]:
    """Remove a scratch folder holding only files (:func:`_flat_files`); returns their bytes, or
    None when it holds something else (left as it is)."""
    files = _flat_files(folder)
    if files is None:
        return None
    for path, _ in files:
        os.unlink(path)
    os.rmdir(folder)
    return sum(size for _, size in files)


class TempFolder:
    """A scratch folder in ``parent`` (a user's folder: a backup's copy of the state), named as
    temporary files are (``.bundlekit-<random>.<label>.tmp``) and locked while it lives, so a
    killed writer's folder is swept like its files (:func:`sweep_leftovers`). As a context
    manager it gives the folder's path and removes it (and the files in it) on leaving."""

    def __init__(self, parent: PathLike, label: str) -> None:
        if label not in FOLDER_LABELS:
            raise ValueError(f"TempFolder label {label!r} is not in FOLDER_LABELS (a sweep would never remove it)")
        while True:
            path = tempfile.mkdtemp(prefix=TEMP_PREFIX, suffix=f".{label}.tmp", dir=parent)
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
            taken = try_lock(fd)
            if taken is None or (taken and os.fstat(fd).st_nlink > 0):
                break
            os.close(fd)  # swept in the instant before the lock: another name
            try:
                os.rmdir(path)
            except OSError:
                pass
        self.path = Path(path)
        self._fd: Optional[int] = fd

    def __enter__(self) -> Path:
        return self.path

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        try:
            _remove_flat(str(self.path))
        except OSError:
            pass
        finally:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


def sweep_leftovers(folder: PathLike, *, tell: bool = True) -> List[Swept]:
    """Remove from ``folder`` (not below it) the temporary files bundlekit's writers left when they
    were killed: regular files named as :class:`AtomicFile` names them (:func:`is_temp_name`),
    owned by this account, whose lock nobody holds (a live writer holds it until it commits or
    discards), and :class:`TempFolder` folders of that kind holding only files. Returns what was
    removed (path, bytes), sorted. Nothing else is touched: another name, a link, another
    account's file, a file being written, a folder holding a folder or whose label is not one of
    :data:`FOLDER_LABELS`, or anything on a file
    system without advisory locks (no writer can be proven gone there). Errors reading the folder
    or a file leave it as it is. ``tell``: the callback of :func:`tell_swept` is told of each
    (a caller that reports them itself says False)."""
    removed: List[Swept] = []
    if fcntl is None:
        return removed
    try:
        with os.scandir(folder) as found:
            names = [e.name for e in found if is_temp_name(e.name)]
    except OSError:
        return removed
    for name in sorted(names):
        path = os.path.join(folder, name)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            continue  # a link (ELOOP), gone, or not ours to read
        try:
            info = os.fstat(fd)
            folder_kind = stat.S_ISDIR(info.st_mode)
            if not (stat.S_ISREG(info.st_mode) or folder_kind) or info.st_uid != os.geteuid() or not try_lock(fd):
                continue
            now = os.lstat(path)  # still the file we hold (a name is never reused: mkstemp, mkdtemp)
            if (now.st_dev, now.st_ino) != (info.st_dev, info.st_ino):
                continue
            if folder_kind:
                match = _TEMP_NAME.fullmatch(name)
                if match is None or match.group(1) not in FOLDER_LABELS:
                    continue
                size = _remove_flat(path)
                if size is None:
                    continue
            else:
                size = info.st_size
                os.unlink(path)
        except OSError:
            continue
        finally:
            os.close(fd)  # gives the lock back: a writer that opened it meanwhile sees it unlinked
        removed.append((Path(path), size))
    if removed:  # not synced to disk: a removal lost to a power cut is swept again next time
        for callback in _told if tell else ():
            for path_removed, size in removed:
                callback(path_removed, size)
    return removed
