"""The content-addressed package store of a zone, and the staging area imports write into.

``HOME/packages/sha256/ab/<digest>`` holds package bytes, named by their SHA-256, so the
store is a cache that can only grow by content that was verified: a file lands there only
by rename from staging after its blob passed every check. The ``packages`` table
(``zone/packages.py``: id, version -> digest) is the state; a crash between moving a file
into the store and committing the transaction leaves an unreferenced file, harmless and
reused on re-run.
"""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path
from typing import BinaryIO, Callable

from bundlekit.fsutil import fsync_dir

__all__ = ["PackageStore", "Staging"]


class PackageStore:
    def __init__(self, home: Path) -> None:
        self.root = home / "packages" / "sha256"

    def path(self, digest: str) -> Path:
        return self.root / digest[:2] / digest

    def has(self, digest: str) -> bool:
        return self.path(digest).is_file()


class Staging:
    """Blobs being verified are written here, then moved into the store only when all passed."""

    def __init__(self, home: Path, store: PackageStore) -> None:
        self.base = home / "staging"
        self.store = store
        self.dir: Path | None = None
        self._files: dict[str, BinaryIO] = {}

    def sink_for(self, digest: str) -> Callable[[bytes], object] | None:
        if self.store.has(digest):
            return None
        if self.dir is None:
            self.dir = self.base / secrets.token_hex(8)
            self.dir.mkdir(parents=True)
        fh = open(self.dir / digest, "wb")
        self._files[digest] = fh
        return fh.write

    def commit(self) -> list[str]:
        """fsync and move every staged blob into the store; returns the digests moved."""
        moved = []
        for digest, fh in self._files.items():
            fh.flush()
            os.fsync(fh.fileno())
            fh.close()
            dest = self.store.path(digest)
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.dir / digest, dest)  # type: ignore[operator]
            fsync_dir(dest.parent)
            moved.append(digest)
        self._files.clear()
        return moved

    def cleanup(self) -> None:
        for fh in self._files.values():
            fh.close()
        self._files.clear()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
        try:
            self.base.rmdir()
        except OSError:
            pass

    @staticmethod
    def sweep(home: Path) -> None:
        """Remove what an interrupted import left in staging."""
        shutil.rmtree(home / "staging", ignore_errors=True)
