"""Sequence numbers in the zone's state: allocating outgoing ones, guarding incoming ones.

Outgoing numbers grow per key: ``project/<space>/<slug>`` for releases (one counter per
project, whatever the destination: the unit a user promotes, so bundles of different projects
never block each other, and a release relayed through another zone is still numbered by its
origin), ``receipt/<zone id>`` for receipts, and, before format 1.1, the destination zone id
for releases. One is allocated inside the transaction that records what carries it, after
every check: a refused export or receipt consumes no number, and two processes can never be
handed the same one (the transaction holds the write lock). Incoming bundles are checked
against the last accepted number per key (``release/<source>/<space>/<slug>`` for releases,
``receipt/<source>`` for receipts): an identical bundle (same digest) is a no-op, an older
number is a rollback or replay, the same number with other bytes is refused.
"""

from __future__ import annotations

import base64
import json

from bundlekit.core.clock import EpochSeconds
from bundlekit.errors import VerificationError
from bundlekit.zone.db import Reader, Row, Writer

__all__ = ["next_outgoing", "next_release_sequence", "already_imported", "check_incoming", "record_incoming",
           "receipt_key", "release_key", "last_import", "import_by_digest_prefix", "last_incoming",
           "receipt_sequence_taken", "highest_exported", "relay_hops_of"]


def receipt_key(dest_zone_id: str) -> str:
    """The sequence key of receipts sent to (or received from) zone ``dest_zone_id``."""
    return f"receipt/{dest_zone_id}"


def release_key(source_zone_id: str, space: str, slug: str) -> str:
    """The anti-rollback key of releases of one project (``space``, ``slug``) from one source zone."""
    return f"release/{source_zone_id}/{space.lower()}/{slug.lower()}"


def next_release_sequence(tx: Writer, space: str, slug: str, pinned: int | None = None) -> int:
    """Allocate the next release number of project (``space``, ``slug``), for any destination.

    A project's first number under this rule continues above every number its bundles had
    before (when numbers grew per destination), so a zone that imported one of them never
    sees the project go back.
    """
    key = f"project/{space.lower()}/{slug.lower()}"
    if tx.one("SELECT 1 AS hit FROM outgoing WHERE dest_zone_id = ?", (key,)) is None:
        floor = tx.scalar("SELECT MAX(sequence) AS n FROM exports WHERE lower(space) = ? AND lower(project_slug) = ?",
                          (space.lower(), slug.lower()))
        if floor is not None:
            tx.run("INSERT INTO outgoing(dest_zone_id, last_sequence) VALUES (?, ?)", (key, int(floor)))
    return next_outgoing(tx, key, pinned)


def highest_exported(db: Reader, space: str, slug: str) -> int | None:
    """The highest sequence this zone's exports of project (``space``, ``slug``) had, or None."""
    value = db.scalar("SELECT MAX(sequence) AS n FROM exports WHERE lower(space) = ? AND lower(project_slug) = ?",
                      (space.lower(), slug.lower()))
    return None if value is None else int(value)


def last_import(db: Reader, source_zone_id: str, slug: str) -> Row | None:
    """The release import from ``source_zone_id`` of project ``slug`` with the highest sequence:
    {sequence, release, imported_at}, or None."""
    return db.one("SELECT sequence, release, imported_at FROM imports WHERE source_zone_id = ? AND project_slug = ? "
                  "ORDER BY sequence DESC LIMIT 1", (source_zone_id, slug))


def import_by_digest_prefix(db: Reader, prefix: str, slug: str) -> Row | None:
    """The import of project ``slug`` whose bundle digest starts with ``prefix`` (an installation's
    folder names 12 characters of it): {source_zone_id, sequence, release}, or None when no import,
    or more than one, has it."""
    rows = db.all("SELECT source_zone_id, sequence, release FROM imports WHERE substr(digest, 1, ?) = ? "
                  "AND project_slug = ?", (len(prefix), prefix, slug))
    return rows[0] if len(rows) == 1 else None


def next_outgoing(tx: Writer, key: str, pinned: int | None = None) -> int:
    """Allocate the next number for ``key`` (or ``pinned``); the high-water mark only ever grows."""
    last = tx.scalar("SELECT last_sequence FROM outgoing WHERE dest_zone_id = ?", (key,), 0)
    seq = pinned if pinned is not None else int(last) + 1
    tx.run("INSERT INTO outgoing(dest_zone_id, last_sequence) VALUES (?, ?) "
           "ON CONFLICT(dest_zone_id) DO UPDATE SET last_sequence = CASE "
           "WHEN excluded.last_sequence > outgoing.last_sequence THEN excluded.last_sequence "
           "ELSE outgoing.last_sequence END", (key, seq))
    return seq


def already_imported(db: Reader, digest: str) -> bool:
    """True if a bundle with this digest (release or receipt) was accepted before."""
    return db.one("SELECT 1 AS hit FROM imports WHERE digest = ?", (digest,)) is not None


def last_incoming(db: Reader, key: str) -> int | None:
    """The last accepted sequence for ``key`` (the high-water mark), or None before the first."""
    last = db.scalar("SELECT last_sequence FROM incoming WHERE source_zone_id = ?", (key,))
    return None if last is None else int(last)


def receipt_sequence_taken(db: Reader, source_zone_id: str, sequence: int) -> bool:
    """True if a receipt with ``sequence`` from ``source_zone_id`` was accepted (whatever its digest)."""
    return db.one("SELECT 1 AS hit FROM imports WHERE source_zone_id = ? AND sequence = ? AND project_slug = ''",
                  (source_zone_id, sequence)) is not None


def check_incoming(db: Reader, key: str, sequence: int, *, older_code: str, older: str,
                   reused: str, details: object = None) -> None:
    """Refuse a sequence below the last accepted for ``key``, or equal to it (the bundle differs).

    ``older`` may contain ``{last}``, replaced by the last accepted number. Raises
    ``VerificationError`` with ``older_code`` or ``sequence_reused`` (with ``details``).
    """
    last = db.scalar("SELECT last_sequence FROM incoming WHERE source_zone_id = ?", (key,))
    if last is not None and sequence < last:
        raise VerificationError(older.replace("{last}", str(last)), code=older_code, details=details)
    if last is not None and sequence == last:
        raise VerificationError(reused, code="sequence_reused", details=details)


def record_incoming(tx: Writer, key: str, sequence: int, digest: str, *, bundle_id: str,
                    source_zone_id: str, project_slug: str, release: str, now: EpochSeconds, plan: str,
                    high_water: bool = True, relay_hops: bytes | None = None) -> None:
    """Accept a bundle (inside the caller's transaction): new high-water mark, import record.

    ``high_water=False`` records the import only, for a receipt accepted late (below the mark,
    decision 153): the mark never goes down. ``relay_hops``: the hops section of a relayed
    release, kept with the import record (``plan``, a JSON map, as ``relay_hops`` in base64) for
    its receipts to carry back (:func:`relay_hops_of`, decision 906).
    """
    if relay_hops is not None:
        plan = json.dumps({**json.loads(plan), "relay_hops": base64.b64encode(relay_hops).decode("ascii")})
    if high_water:
        tx.run("INSERT INTO incoming(source_zone_id, last_sequence, last_digest) VALUES (?,?,?) "
               "ON CONFLICT(source_zone_id) DO UPDATE SET last_sequence = excluded.last_sequence, "
               "last_digest = excluded.last_digest", (key, sequence, digest))
    tx.run("INSERT INTO imports(digest, bundle_id, source_zone_id, sequence, project_slug, release, "
           "imported_at, plan) VALUES (?,?,?,?,?,?,?,?)",
           (digest, bundle_id, source_zone_id, sequence, project_slug, release, now, plan))


def relay_hops_of(db: Reader, digest: str) -> str | None:
    """The hops section (base64) of the relayed release this zone imported as bundle ``digest``
    (the origin's digest), or None: it came directly, or before imports kept them (decision 906)."""
    row = db.one("SELECT plan FROM imports WHERE digest = ?", (digest,))
    hops = json.loads(row["plan"]).get("relay_hops") if row is not None else None
    return hops if isinstance(hops, str) else None
