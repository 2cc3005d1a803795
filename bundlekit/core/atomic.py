"""The one atomic file writer: temporary file, fsync, rename, fsync the folder.

Every file bundlekit writes for a user or keeps as state (bundles, cards, keys, media
volumes, files received through a diode, packages in a zone's store, substituted
configuration files on a target) goes through :class:`AtomicFile`, so a crash or a refusal
leaves either the old file or the new one, never half of one, and nothing under the final
name before the data is on disk.

Writing streams: :meth:`AtomicFile.write` takes chunks and :meth:`AtomicFile.copy_from`
copies a stream in :data:`CHUNK`-sized pieces, so memory stays bounded whatever the size.
Writers that need to patch or fill the file out of order (a volume header written last,
diode blocks arriving in any order) use :meth:`AtomicFile.pwrite` or the file object.

The temporary file is created in the final folder (or in ``temp_dir``, which must be on the
same file system) with a hidden name ``.bundlekit-<random>.<name>.tmp`` (:data:`TEMP_PREFIX`),
and its writer holds an advisory lock (``flock``) on it until it is committed or discarded. So a
process killed mid-write leaves a file that is recognisably bundlekit's and whose lock is gone:
:func:`sweep_leftovers` removes exactly those from a folder (a writer made with ``sweep=True``
does so before writing, in a user's output folder; decision 886). Committing is two steps that
can be taken together (:meth:`AtomicFile.commit`) or apart (:meth:`AtomicFile.sync` for
every file first, then :func:`commit_all`), so a set of files can be fully written before
any of them appears. ``exclusive=True`` never replaces an existing file (the rename is a
hard link that fails if the name is taken, where the file system has hard links).
``bulk=True`` appends through :class:`~bundlekit.core.direct.DirectAppend` (direct I/O, past
the page cache) until anything but :meth:`AtomicFile.write` is asked of the file: for large
copies nothing reads back soon (packages in a zone's store).
``durable=False`` keeps the temporary name and the rename but leaves the flush to disk to the
system: only for a file whose content is checked before every use (a package archive on a
target, hashed by each runner process before it uses it), where a crash may cost the file but
can never make a wrong one trusted.

Standard library only, Python 3.8 and later: the remote step runtime ships this module.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Iterable, List, Optional, Sequence, Type, Union

from bundlekit.core.direct import DirectAppend
from bundlekit.core.files import refuse_special
from bundlekit.core.leftovers import (NAME_ROOM, TEMP_PREFIX, Swept, TempFolder, is_temp_name, sweep_leftovers,
                                      tell_swept, try_lock, unlink_if_same)
from bundlekit.core.tree import tree_paths

__all__ = ["AtomicFile", "write_atomic", "commit_all", "commit_parked", "fsync_dir", "fsync_tree", "replace_symlink",
           "CHUNK", "TEMP_PREFIX", "TempFolder", "is_temp_name", "sweep_leftovers", "tell_swept"]

#: Read/write chunk size for streaming (bounded memory whatever the file size).
CHUNK = 1 << 20

PathLike = Union[str, "os.PathLike[str]"]


def fsync_dir(path: PathLike) -> None:
    """Flush a folder's entry table so a rename inside it survives power loss (best effort:
    some file systems cannot open or fsync a folder)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


#: Threads :func:`fsync_tree` syncs files from at once (the file system batches their journal commits).
FSYNC_THREADS = 8


def fsync_tree(top: PathLike) -> None:
    """fsync every regular file and folder under ``top`` (links are neither followed nor synced;
    other special files are skipped), so that a folder of many files written without a commit
    each (an extracted package) is on disk before one rename makes it visible.

    Only that folder's files (decision 432): ``os.sync()`` flushes everything every program on
    the machine has written and waits for all of it. Files are synced from
    :data:`FSYNC_THREADS` threads, since one at a time costs about half a millisecond each
    (seconds for thousands of files). Raises ``OSError`` when a file cannot be synced."""
    folders, files = tree_paths(top)

    def sync(path: str, kind: int) -> None:
        try:
            # non-blocking: a FIFO a script made in the folder must not hold the open
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK | kind)
        except OSError as error:
            if error.errno == errno.ELOOP:  # a link: nothing of ours to flush
                return
            raise
        try:
            if kind or stat.S_ISREG(os.fstat(fd).st_mode):
                os.fsync(fd)
        finally:
            os.close(fd)

    directory = getattr(os, "O_DIRECTORY", 0)
    if len(files) <= 1:
        for path in files:
            sync(path, 0)
    else:
        from concurrent.futures import ThreadPoolExecutor  # here: it imports logging, which a runner start need not

        with ThreadPoolExecutor(min(FSYNC_THREADS, len(files))) as pool:
            for _ in pool.map(lambda p: sync(p, 0), files):
                pass
    for folder in reversed(folders):  # entries first, then the folders that name them
        try:
            sync(folder, directory)
        except OSError:
            pass  # some file systems cannot fsync a folder (as fsync_dir)


class AtomicFile:
    """A file written under a temporary name that appears under ``path`` only on commit.

    As a context manager, leaving the block normally commits and an exception discards the
    temporary file, leaving any existing file at ``path`` untouched. ``mode`` is the final
    permission bits (set on the temporary file before any byte is written, so a private
    file is never readable by others, even half-written). ``path=None`` leaves the final
    name open until :meth:`commit` is given one (it must be in ``temp_dir``'s folder).

    Raises :class:`OSError` from the file system (the caller turns it into a
    :class:`~bundlekit.errors.BundleError` naming what it was writing),
    :class:`FileExistsError` on an ``exclusive`` commit over an existing file, and
    ``InputError`` ``not_a_file`` when a folder, FIFO, device or socket is at the final path
    (when opened and again at commit: the rename would replace it, ``/dev/null`` included).

    ``sweep``: first remove the leftovers of killed writers from the folder
    (:func:`sweep_leftovers`; a user's output folder, decision 886); they are in :attr:`swept`.
    """

    def __init__(self, path: Optional[PathLike], mode: int = 0o644, *, temp_dir: Optional[PathLike] = None,
                 exclusive: bool = False, prefix: Optional[str] = None, durable: bool = True,
                 sweep: bool = False, bulk: bool = False) -> None:
        if path is None and temp_dir is None:
            raise ValueError("AtomicFile without a path needs temp_dir")
        self.path: Optional[Path] = Path(path) if path is not None else None
        if self.path is not None:
            refuse_special(self.path)  # before a byte is written (InputError not_a_file)
        self.mode = mode
        self.exclusive = exclusive
        self.durable = durable
        folder = Path(temp_dir) if temp_dir is not None else self.path.parent  # type: ignore[union-attr]
        folder.mkdir(parents=True, exist_ok=True)
        #: The leftovers of killed writers this one removed first (``sweep``): (path, bytes).
        self.swept: List[Swept] = sweep_leftovers(folder) if sweep else []
        name = self.path.name if self.path is not None else "file"
        #: Whether the temporary file is locked (on the file's own descriptor, so it stays open
        #: until the file is renamed or removed: a lock given back earlier would let a sweep take it).
        self._locked = False
        while True:
            if prefix is not None:
                fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=folder)
                break
            fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=f".{name[:NAME_ROOM]}.tmp", dir=folder)
            if self._hold(fd):
                break
            # A sweep took it for a leftover in the instant before the lock: take another name.
            unlink_if_same(tmp, fd)
            os.close(fd)
        self.tmp_path = Path(tmp)
        try:
            os.fchmod(fd, mode)
        except BaseException:
            os.unlink(tmp)
            os.close(fd)
            raise
        self.file: BinaryIO = os.fdopen(fd, "w+b")
        self._bulk: Optional[DirectAppend] = DirectAppend(fd) if bulk else None
        self._synced = False
        self._done = False

    def _hold(self, fd: int) -> bool:
        """Lock the new temporary file open as ``fd`` until it is renamed or removed. False when
        a sweep removed it between its creation and the lock: the caller takes another name."""
        taken = try_lock(fd)
        if taken is None:  # no advisory locks here: nothing is swept on this file system either
            return True
        if not taken or os.fstat(fd).st_nlink == 0:
            return False
        self._locked = True
        return True

    def _close(self) -> None:
        """Close the file, giving its lock back (once it is renamed or removed)."""
        if not self.file.closed:
            self.file.close()

    # ------------------------------------------------------------------ writing
    def write(self, data: bytes) -> int:
        """Append ``data`` (one chunk) at the current position."""
        if self._bulk is not None:
            return self._bulk.write(data)
        return self.file.write(data)

    def _end_bulk(self) -> None:
        """Leave direct appending (its buffer written) before any other use of the file."""
        if self._bulk is not None:
            bulk, self._bulk = self._bulk, None
            bulk.close()
            self.file.seek(0, os.SEEK_END)

    def copy_from(self, source: BinaryIO, length: Optional[int] = None) -> int:
        """Copy ``source`` (to its end, or ``length`` bytes) in :data:`CHUNK` pieces; returns
        the bytes copied. Fewer than ``length`` available is an :class:`EOFError`."""
        copied = 0
        while length is None or copied < length:
            want = CHUNK if length is None else min(CHUNK, length - copied)
            chunk = source.read(want)
            if not chunk:
                if length is not None:
                    raise EOFError(f"source ended after {copied} of {length} bytes")
                break
            self.write(chunk)
            copied += len(chunk)
        return copied

    def write_chunks(self, chunks: Iterable[bytes]) -> int:
        """Append every chunk of ``chunks``; returns the bytes written."""
        total = 0
        for chunk in chunks:
            total += self.write(chunk)
        return total

    def pwrite(self, data: bytes, offset: int) -> int:
        """Write ``data`` at ``offset`` without moving the position (out-of-order writers)."""
        self._end_bulk()
        self.file.flush()
        return os.pwrite(self.file.fileno(), data, offset)

    def pread(self, size: int, offset: int) -> bytes:
        """Read back ``size`` bytes at ``offset`` of what was written so far."""
        self._end_bulk()
        self.file.flush()
        return os.pread(self.file.fileno(), size, offset)

    def truncate(self, size: int) -> None:
        """Set the file's length to ``size`` bytes."""
        self._end_bulk()
        self.file.flush()
        os.ftruncate(self.file.fileno(), size)

    def fileno(self) -> int:
        self._end_bulk()
        return self.file.fileno()

    # ------------------------------------------------------------------ committing
    def sync(self) -> None:
        """Flush and fsync the data (not fsync'd when not ``durable``) and close the file, or keep
        it open but written no more while it holds the lock (idempotent); nothing is renamed yet."""
        if self._synced:
            return
        self._end_bulk()
        self.file.flush()
        if self.durable:
            os.fsync(self.file.fileno())
        if not self._locked:
            self.file.close()
        self._synced = True

    def park(self, name: PathLike) -> None:
        """Sync, then rename the temporary file to ``name`` (in the same folder; a name the caller
        can find again after a crash) and fsync the folder. It is still temporary: :meth:`commit`
        moves it to its final name, :meth:`discard` removes it."""
        self.sync()
        target = Path(name)
        os.replace(self.tmp_path, target)
        self.tmp_path = target
        fsync_dir(target.parent)

    def commit(self, to: Optional[PathLike] = None, *, fsync_folder: bool = True) -> Path:
        """Sync, then move the file to its final name (``to`` overrides ``path``) and fsync the
        folder. Returns the final path. On failure the temporary file is removed."""
        if self._done:
            assert self.path is not None
            return self.path
        final = Path(to) if to is not None else self.path
        if final is None:
            raise ValueError("AtomicFile.commit needs a final path")
        try:
            refuse_special(final)  # what is there may have changed since the file was opened
            self.sync()
            if final.parent != self.tmp_path.parent:
                final.parent.mkdir(parents=True, exist_ok=True)
            if self.exclusive:
                _rename_exclusive(self.tmp_path, final)
            else:
                os.replace(self.tmp_path, final)
        except BaseException:
            self.discard()
            raise
        self.path = final
        self._done = True
        self._close()
        if fsync_folder and self.durable:
            fsync_dir(final.parent)
        return final

    def discard(self) -> None:
        """Close and remove the temporary file (idempotent); ``path`` is left as it was."""
        if self._done:
            return
        self._done = True
        self._bulk = None  # its buffer is dropped unwritten
        try:
            self.tmp_path.unlink()  # before the lock is given back: no sweep sees it unlocked
        except FileNotFoundError:
            pass
        finally:
            self._close()

    def __enter__(self) -> "AtomicFile":
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()


def commit_parked(parked: PathLike, final: PathLike) -> bool:
    """Finish the commit of a file a process parked (:meth:`AtomicFile.park`: complete and on
    disk) but did not live to rename: move it to ``final`` and fsync the folder. False when
    nothing is parked there (never parked, or another process finished it first)."""
    try:
        os.replace(parked, final)
    except FileNotFoundError:
        return False
    fsync_dir(Path(final).parent)
    return True


def _rename_exclusive(tmp: Path, final: Path) -> None:
    try:
        os.link(tmp, final)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
            raise
        # No hard links here (FAT media): check, then rename; the window is tiny and local.
        if os.path.lexists(final):
            raise FileExistsError(errno.EEXIST, "file exists", str(final)) from None
        os.rename(tmp, final)
        return
    os.unlink(tmp)


def commit_all(files: Sequence[AtomicFile]) -> List[Path]:
    """Sync every file, then rename each into place, then fsync each folder once.

    So no file of the set appears before all of them are on disk. If a rename fails, the
    files not yet renamed are discarded and the error is raised (those already renamed stay).
    """
    try:
        for f in files:
            f.sync()
    except BaseException:
        for f in files:
            f.discard()
        raise
    done: List[Path] = []
    try:
        for f in files:
            done.append(f.commit(fsync_folder=False))
    except BaseException:
        for f in files[len(done):]:
            f.discard()
        raise
    finally:
        for folder in sorted({str(p.parent) for p in done}):
            fsync_dir(folder)
    return done


def write_atomic(path: PathLike, data: Union[bytes, Iterable[bytes]], mode: int = 0o644, *,
                 exclusive: bool = False, sweep: bool = False) -> Path:
    """Write ``data`` (bytes, or an iterable of chunks) to ``path`` atomically; returns the path.
    ``sweep``: a user's output folder, whose leftovers of killed writers go first (decision 886)."""
    with AtomicFile(path, mode, exclusive=exclusive, sweep=sweep) as f:
        if isinstance(data, (bytes, bytearray, memoryview)):
            f.write(bytes(data))
        else:
            f.write_chunks(data)
    return Path(path)


def replace_symlink(path: PathLike, target: str) -> Path:
    """Make ``path`` a symbolic link to ``target`` atomically: a reader sees the old link or the new
    one, never none (a new link under a temporary name, renamed over ``path``, the folder synced)."""
    final = Path(path)
    tmp = final.with_name(f".{final.name}.{os.urandom(6).hex()}.tmp")
    os.symlink(target, tmp)
    try:
        os.replace(tmp, final)
    except BaseException:
        os.unlink(tmp)
        raise
    fsync_dir(final.parent)
    return final
