"""Deployment logs kept in the zone's state, compressed and named by their SHA-256."""

from __future__ import annotations

import zstandard

from bundlekit.zone.db import Reader, Writer

__all__ = ["put_log", "get_log"]


def put_log(tx: Writer, digest: str, data: bytes) -> None:
    """Store a log once (inside the caller's transaction); ``digest`` is the SHA-256 of ``data``."""
    tx.run("INSERT INTO logs(digest, data) VALUES (?, ?) ON CONFLICT(digest) DO NOTHING",
           (digest, zstandard.ZstdCompressor(level=9).compress(data)))


def get_log(db: Reader, digest: str) -> bytes | None:
    """The log stored under ``digest``, or ``None``."""
    data = db.scalar("SELECT data FROM logs WHERE digest = ?", (digest,))
    return None if data is None else zstandard.ZstdDecompressor().decompress(bytes(data))
