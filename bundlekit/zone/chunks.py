"""A source zone's chunk lists: for each package it has shipped, where its content-defined chunks lie.

``HOME/chunks/sha256/ab/<digest>`` holds the encoded chunk list of the package whose SHA-256
is ``<digest>`` (the encoding belongs to ``export/chunking.py``). Like the package store it
is a cache named by content: a file is written atomically and only ever replaced by the same
list, so a crash leaves either no list (the next delta export makes it again or ships the
package whole) or a complete one. Decision 201 says why the lists stay here and do not
travel in receipts.
"""

from __future__ import annotations

from pathlib import Path

from bundlekit.core.atomic import write_atomic

__all__ = ["ChunkListStore"]


class ChunkListStore:
    """Encoded chunk lists by package SHA-256 (64 lowercase hex digits)."""

    def __init__(self, home: Path) -> None:
        self.root = home / "chunks" / "sha256"

    def path(self, digest: str) -> Path:
        return self.root / digest[:2] / digest

    def read(self, digest: str) -> bytes | None:
        """The stored list, or ``None`` when this zone has none for ``digest``."""
        try:
            return self.path(digest).read_bytes()
        except FileNotFoundError:
            return None

    def write(self, digest: str, data: bytes) -> None:
        """Store (or replace) the list for ``digest``, atomically."""
        path = self.path(digest)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, data)
