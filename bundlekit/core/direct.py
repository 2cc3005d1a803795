"""Appending a large file with direct I/O: the bytes go to disk without passing the page cache.

A zone copies every package it authors or imports into its store, hundreds of MiB at a time,
while it compresses or verifies the same bytes; nothing reads the copy back soon. Written
through the page cache, each MiB first takes fresh cache pages: system time the kernel spends
on the writing thread (about 2.5 ms per MiB on virtual machines whose free memory goes back to
the host: decision 890), and cache space taken from the files the machine is working on.
:class:`DirectAppend` writes the same bytes with ``O_DIRECT`` (Linux ``open(2)``): from an
aligned buffer of :data:`BUFFER` bytes, in multiples of :data:`ALIGN`, the tail below
:data:`ALIGN` bytes written normally once ``O_DIRECT`` is switched off again.

It falls back to ordinary writes, silently and for the rest of the file, where direct I/O is
not available: no ``O_DIRECT`` on the system, a file system that refuses the flag (``fcntl``
fails) or its alignment (``EINVAL`` on a write). The file's content is the same either way.

Standard library only, Python 3.8 and later (the remote step runtime ships ``core``).
"""

from __future__ import annotations

import errno
import mmap
import os

try:
    import fcntl
except ImportError:  # not a POSIX system: ordinary writes
    fcntl = None  # type: ignore[assignment]

__all__ = ["DirectAppend", "ALIGN", "BUFFER"]

#: Offsets, lengths and the buffer's address are multiples of this (the largest logical block
#: size of common disks; a multiple of 512 also satisfies 512-byte devices).
ALIGN = 4096

#: Bytes gathered before one direct write (large writes keep a disk's queue full).
BUFFER = 4 << 20

_O_DIRECT = getattr(os, "O_DIRECT", 0)


class DirectAppend:
    """Appends bytes to the open file ``fd`` from its current position (which must be 0 or a
    multiple of :data:`ALIGN` for direct I/O; otherwise ordinary writes are used).

    :meth:`write` takes pieces of any size; :meth:`close` writes what is buffered and leaves
    ``fd`` open, without ``O_DIRECT``, positioned at the end of what was written. ``direct``
    says whether direct I/O is (still) in use. Raises :class:`OSError` from the file system
    (a full disk, for instance) as an ordinary write would; the caller discards the file.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.direct = False
        self._buf: mmap.mmap | None = None
        self._fill = 0
        self.written = 0
        if not _O_DIRECT or fcntl is None or os.lseek(fd, 0, os.SEEK_CUR) % ALIGN:
            return
        try:
            flags = fcntl.fcntl(fd, fcntl.F_GETFL)
            fcntl.fcntl(fd, fcntl.F_SETFL, flags | _O_DIRECT)
        except OSError:
            return
        self._buf = mmap.mmap(-1, BUFFER)  # anonymous maps are page-aligned
        self.direct = True

    def write(self, data: bytes) -> int:
        """Append ``data``; returns its length."""
        if not self.direct:
            self._write_all(memoryview(data))
            return len(data)
        assert self._buf is not None
        view = memoryview(data)
        while view:
            n = min(len(view), BUFFER - self._fill)
            self._buf[self._fill:self._fill + n] = view[:n]
            self._fill += n
            view = view[n:]
            if self._fill == BUFFER:
                self._drain(BUFFER)
        return len(data)

    def close(self) -> None:
        """Write what is buffered (whole blocks directly, the tail normally); idempotent."""
        if self._buf is None:
            return
        whole = self._fill - self._fill % ALIGN
        if self.direct and whole:
            self._drain(whole)
        self._stop_direct()
        if self._fill:
            self._write_all(memoryview(self._buf)[:self._fill])
            self._fill = 0
        self._buf.close()
        self._buf = None

    def _drain(self, n: int) -> None:
        """Write the buffer's first ``n`` bytes (a multiple of ALIGN) and keep the rest."""
        assert self._buf is not None
        view = memoryview(self._buf)
        done = 0
        try:
            while done < n and self.direct:
                try:
                    wrote = os.write(self.fd, view[done:n])
                except OSError as error:
                    if error.errno != errno.EINVAL:
                        raise
                    self._stop_direct()  # the file system will not take these writes directly
                    break
                done += wrote
                self.written += wrote
                if wrote % ALIGN:  # a short write off the alignment: finish normally
                    self._stop_direct()
            if done < n:
                self._write_all(view[done:n])
            rest = self._fill - n
            if rest:
                self._buf[:rest] = self._buf[n:self._fill]
            self._fill = rest
        finally:
            view.release()

    def _write_all(self, view: memoryview) -> None:
        while view:
            wrote = os.write(self.fd, view)
            self.written += wrote
            view = view[wrote:]

    def _stop_direct(self) -> None:
        if not self.direct:
            return
        self.direct = False
        assert fcntl is not None
        flags = fcntl.fcntl(self.fd, fcntl.F_GETFL)
        fcntl.fcntl(self.fd, fcntl.F_SETFL, flags & ~_O_DIRECT)
