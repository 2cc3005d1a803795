"""Sequence numbers in the zone's state: reserving outgoing ones, guarding incoming ones.

Outgoing numbers grow per key (a destination zone id for releases, ``receipt/<zone id>``
for receipts) and are reserved in their own transaction, so a failed write burns a number
and never reuses one. Incoming bundles are checked against the last accepted number per key:
an identical bundle (same digest) is a no-op, an older number is a rollback or replay, the
same number with other bytes is refused.
"""

from __future__ import annotations

import sqlite3

from bundlekit.errors import VerificationError
from bundlekit.zone import state

__all__ = ["reserve_outgoing", "already_imported", "check_incoming", "record_incoming"]


def reserve_outgoing(db: sqlite3.Connection, key: str, pinned: int | None = None) -> int:
    """The next number for ``key`` (or ``pinned``); the high-water mark only ever grows."""
    with state.transaction(db):
        row = db.execute("SELECT last_sequence FROM outgoing WHERE dest_zone_id = ?", (key,)).fetchone()
        seq = pinned if pinned is not None else (row[0] if row else 0) + 1
        db.execute("INSERT INTO outgoing(dest_zone_id, last_sequence) VALUES (?, ?) "
                   "ON CONFLICT(dest_zone_id) DO UPDATE SET last_sequence = max(last_sequence, excluded.last_sequence)",
                   (key, seq))
    return seq


def already_imported(db: sqlite3.Connection, digest: str) -> bool:
    return db.execute("SELECT 1 FROM imports WHERE digest = ?", (digest,)).fetchone() is not None


def check_incoming(db: sqlite3.Connection, key: str, sequence: int, *, older_code: str, older: str,
                   reused: str) -> None:
    """Refuse a sequence below the last accepted for ``key``, or equal to it (the bundle differs).

    ``older`` may contain ``{last}``, replaced by the last accepted number.
    """
    row = db.execute("SELECT last_sequence FROM incoming WHERE source_zone_id = ?", (key,)).fetchone()
    if row is not None and sequence < row[0]:
        raise VerificationError(older.replace("{last}", str(row[0])), code=older_code)
    if row is not None and sequence == row[0]:
        raise VerificationError(reused, code="sequence_reused")


def record_incoming(db: sqlite3.Connection, key: str, sequence: int, digest: str, *, bundle_id: str,
                    source_zone_id: str, project_slug: str, release: str, now: int, plan: str) -> None:
    """Accept a bundle (call inside the caller's transaction): new high-water mark, import record."""
    db.execute("INSERT INTO incoming(source_zone_id, last_sequence, last_digest) VALUES (?,?,?) "
               "ON CONFLICT(source_zone_id) DO UPDATE SET last_sequence = excluded.last_sequence, "
               "last_digest = excluded.last_digest", (key, sequence, digest))
    db.execute("INSERT INTO imports(digest, bundle_id, source_zone_id, sequence, project_slug, release, "
               "imported_at, plan) VALUES (?,?,?,?,?,?,?,?)",
               (digest, bundle_id, source_zone_id, sequence, project_slug, release, now, plan))
