"""The content-addressed package store of a zone, and the staging area imports write into.

``HOME/packages/sha256/ab/<digest>`` holds package bytes, named by their SHA-256, so the
store is a cache that can only grow by content that was verified: a file lands there only
by rename from staging after its blob passed every check. The ``packages`` table
(``zone/packages.py``: id, version -> digest) is the state; a crash between moving a file
into the store and committing the transaction leaves an unreferenced file, harmless and
reused on re-run.
"""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path
from typing import Callable

from bundlekit.core.atomic import AtomicFile, commit_all

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
        self._files: dict[str, AtomicFile] = {}

    def sink_for(self, digest: str) -> Callable[[bytes], object] | None:
        if self.store.has(digest):
            return None
        if self.dir is None:
            self.dir = self.base / secrets.token_hex(8)
            self.dir.mkdir(parents=True)
        out = AtomicFile(self.store.path(digest), 0o644, temp_dir=self.dir, prefix=f"{digest}.")
        self._files[digest] = out
        return out.write

    def commit(self) -> list[str]:
        """fsync every staged blob, then move them all into the store; returns the digests moved."""
        commit_all(list(self._files.values()))
        moved = list(self._files)
        self._files.clear()
        return moved

    def cleanup(self) -> None:
        for out in self._files.values():
            out.discard()
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
