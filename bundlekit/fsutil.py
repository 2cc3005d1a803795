"""Atomic file writes: temp file in the same folder, fsync, ``os.replace``, fsync the folder.

Every file bundlekit produces for a user (bundles, cards, volumes, receipts, extracted
packages) goes through here, so a crash leaves either the old file or the new one, never
half of one.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

__all__ = ["AtomicFile", "atomic_write_bytes", "fsync_dir", "CHUNK"]

#: Read/write chunk size for streaming (bounded memory whatever the file size).
CHUNK = 1 << 20


def fsync_dir(path: Path) -> None:
    """Flush a folder's entry table so a rename inside it survives power loss."""
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


class AtomicFile:
    """Write a file under a temporary name; it appears under its final name only on commit.

    Use as a context manager: leaving the block normally commits, an exception discards
    the temp file and leaves any existing file at ``path`` untouched.
    """

    def __init__(self, path: Path | str, mode: int = 0o644) -> None:
        self.path = Path(path)
        self.mode = mode
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        self.tmp_path = Path(tmp)
        os.fchmod(fd, mode)
        self.file: BinaryIO = os.fdopen(fd, "w+b")
        self._done = False

    def write(self, data: bytes) -> int:
        return self.file.write(data)

    def commit(self) -> Path:
        if self._done:
            return self.path
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        os.replace(self.tmp_path, self.path)
        fsync_dir(self.path.parent)
        self._done = True
        return self.path

    def discard(self) -> None:
        if self._done:
            return
        self._done = True
        try:
            self.file.close()
        finally:
            try:
                self.tmp_path.unlink()
            except FileNotFoundError:
                pass

    def __enter__(self) -> "AtomicFile":
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()


def atomic_write_bytes(path: Path | str, data: bytes, mode: int = 0o644) -> Path:
    """Write ``data`` to ``path`` atomically (see :class:`AtomicFile`)."""
    with AtomicFile(path, mode) as f:
        f.write(data)
    return Path(path)
