"""Deployment logs kept in the zone's state, compressed and named by their SHA-256."""

from __future__ import annotations

import sqlite3

import zstandard

__all__ = ["put_log", "get_log"]


def put_log(db: sqlite3.Connection, digest: str, data: bytes) -> None:
    """Store a log once (call inside the caller's transaction)."""
    db.execute("INSERT OR IGNORE INTO logs(digest, data) VALUES (?, ?)",
               (digest, zstandard.ZstdCompressor(level=9).compress(data)))


def get_log(db: sqlite3.Connection, digest: str) -> bytes | None:
    row = db.execute("SELECT data FROM logs WHERE digest = ?", (digest,)).fetchone()
    return None if row is None else zstandard.ZstdDecompressor().decompress(bytes(row[0]))
