"""Small helpers shared by media volumes and the diode: sizes, file names, overlapped hashing."""

from __future__ import annotations

import ctypes
import os
import queue
import sys
import re
import threading
from pathlib import Path
from typing import Any, Protocol

from bundlekit.core.names import check_file_name
from bundlekit.errors import UsageError

__all__ = ["parse_size", "carried_name", "HashPipe", "Hasher", "EarlyFlush",
           "keep_freed_memory"]

_SIZE_RE = re.compile(r"^\s*([0-9]+)\s*([kmgt]?)(i?b)?\s*$", re.IGNORECASE)  # ASCII digits only
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text: str, *, what: str = "size") -> int:
    """``4G``, ``700M``, ``64K``, ``64KiB`` or plain bytes; the units are powers of 1024."""
    m = _SIZE_RE.match(str(text))
    if not m:
        raise UsageError(
            f"{what} {text!r} is not a size: expected a whole number of bytes, optionally followed by "
            "K, M, G or T (powers of 1024), for example 4G, 700M or 65536",
            code="invalid_size",
        )
    return int(m.group(1)) * _UNITS[m.group(2).lower()]


def carried_name(path: Path) -> str:
    """The file name ``path`` travels under (in volume headers and diode announcements), checked.

    It becomes a file name on the receiving side, next to bundlekit's own hidden temporary
    files, so it must be a valid file name (:mod:`bundlekit.core.names`) not starting with '.'.
    """
    return check_file_name(path.name, what=f"{path}: file name", hidden=False, error=UsageError,
                           code="invalid_file_name")


class Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...


class HashPipe:
    """Feed chunks to hash objects on a worker thread, in order.

    hashlib releases the GIL on large buffers, so hashing on this thread overlaps the
    main thread's reads and writes; the bounded queue keeps memory at a few chunks.
    """

    def __init__(self, depth: int = 8) -> None:
        self._q: queue.Queue[tuple[bytes, tuple[Hasher, ...]] | None] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="bundlekit-hash", daemon=True)
        self._thread.start()
        self._closed = False

    def _run(self) -> None:
        while True:
            item = self._q.get()
            try:
                if item is None:
                    return
                data, hashers = item
                if self._error is None:
                    for h in hashers:
                        h.update(data)
            except BaseException as exc:  # handed to the caller in drain()
                self._error = exc
            finally:
                self._q.task_done()

    def feed(self, data: bytes, *hashers: Hasher) -> None:
        self._q.put((data, hashers))

    def drain(self) -> None:
        """Wait until every chunk fed so far has been hashed."""
        self._q.join()
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._q.put(None)
            self._thread.join()

    def __enter__(self) -> "HashPipe":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class EarlyFlush:
    """Push a growing file's dirty pages to disk on a thread while the writer carries on.

    The final fsync (which atomic writes need anyway) then only waits for the tail instead
    of the whole file, so durability costs little extra time on large volumes and bundles.
    """

    def __init__(self, every: int = 32 << 20) -> None:
        self.every = every
        self._fd = -1
        self._written = 0
        self._wake = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="bundlekit-flush", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._stop:
                return
            fd = self._fd
            try:
                if fd >= 0:
                    os.fdatasync(fd)
            except OSError:
                pass  # best effort: the writer's own fsync still decides
            finally:
                self._idle.set()

    def wrote(self, fd: int, n: int) -> None:
        """Record ``n`` more bytes written to ``fd``; start a flush when enough piled up."""
        if fd != self._fd:
            self.settle()
            self._fd, self._written = fd, 0
        self._written += n
        if self._written >= self.every and self._idle.is_set():
            self._written = 0
            self._idle.clear()
            self._wake.set()

    def settle(self) -> None:
        """Wait for a flush in progress (call before closing the file it works on)."""
        self._idle.wait()

    def close(self) -> None:
        self.settle()
        self._stop = True
        self._wake.set()
        self._thread.join()

    def __enter__(self) -> "EarlyFlush":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def keep_freed_memory() -> bool:
    """Ask glibc to keep freed large buffers for reuse (process-wide; Linux/glibc only, best effort).

    The diode allocates and frees megabyte-sized buffers per FEC block (RaptorQ work areas,
    decoded blocks). By default glibc hands each back to the kernel and faults it in again
    next time: ~50,000 page faults per 128 MiB received, ~7% of the receiver's CPU. Called by
    the CLI's diode commands only, never on import.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        ok = libc.mallopt(m_mmap_threshold, 64 << 20) == 1
        return bool(libc.mallopt(m_trim_threshold, 256 << 20) == 1 and ok)
    except (OSError, AttributeError):
        return False
