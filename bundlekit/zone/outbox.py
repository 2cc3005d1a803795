"""The outbox in a zone's state: receipt entries waiting to travel back, and receipt files written.

An entry is queued in the transaction that records its deployment's outcome (exactly once
per deployment). Packing writes a receipt file and, in one transaction, allocates its
sequence, records the file and claims its entries: an entry another process packed meanwhile
is never packed again (:func:`mark_packed`).
"""

from __future__ import annotations

import json
from typing import Any, Sequence

from bundlekit.core.hints import home_flag
from bundlekit.core.clock import EpochSeconds
from bundlekit.errors import StateError
from bundlekit.zone.db import Reader, Row, Writer
from bundlekit.zone.logs import put_log

__all__ = ["queue_entry", "pending", "entries", "mark_packed", "packed_into", "record_receipt_file", "listing",
           "receipt_files"]


def queue_entry(tx: Writer, dest_zone_id: str, entry: dict[str, Any], logs: dict[str, bytes],
                now: EpochSeconds) -> None:
    """Put a receipt entry (and the logs it names, by SHA-256) in the outbox for ``dest_zone_id``."""
    for digest, data in logs.items():
        put_log(tx, digest, data)
    tx.run("INSERT INTO outbox(deployment_id, dest_zone_id, entry, created) VALUES (?,?,?,?)",
           (entry["deployment_id"], dest_zone_id, json.dumps(entry), now))


def pending(db: Reader) -> list[Row]:
    """Entries not yet packed, oldest first: deployment_id, dest_zone_id, dest_name (None if untrusted)."""
    return db.all("SELECT o.deployment_id, o.dest_zone_id, z.name AS dest_name FROM outbox o "
                  "LEFT JOIN trusted_zones z ON z.zone_id = o.dest_zone_id WHERE o.packed_in IS NULL "
                  "ORDER BY o.created, o.deployment_id")


def entries(db: Reader, dest_zone_id: str, deployment_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The queued entries of ``deployment_ids``, in that order, all addressed to ``dest_zone_id``.

    Raises ``StateError`` ``unknown_deployment`` for an id with no entry for that zone.
    """
    out = []
    for dep in deployment_ids:
        row = db.one("SELECT entry, dest_zone_id FROM outbox WHERE deployment_id = ?", (dep,))
        if row is None or row["dest_zone_id"] != dest_zone_id:
            raise StateError(f"deployment {dep!r} has no receipt entry in the outbox for zone {dest_zone_id}; "
                             f"see `bundlekit outbox list{home_flag()}`", code="unknown_deployment")
        out.append(json.loads(row["entry"]))
    return out


def mark_packed(tx: Writer, receipt_bundle_id: str, deployment_ids: Sequence[str]) -> list[str]:
    """Claim entries for the receipt bundle ``receipt_bundle_id``: each is marked only if no receipt
    carries it yet. Returns the ids another receipt took first (the caller must then roll back).

    The check and the mark are one statement inside the write transaction, which the write lock
    serialises across processes and nodes: two packers can never both claim an entry.
    """
    return [dep for dep in deployment_ids
            if tx.run("UPDATE outbox SET packed_in = ? WHERE deployment_id = ? AND packed_in IS NULL",
                      (receipt_bundle_id, dep)) != 1]


def packed_into(db: Reader, deployment_id: str) -> str | None:
    """The path of the receipt file that carries ``deployment_id``'s entry, or None."""
    row = db.one("SELECT f.path FROM outbox o JOIN receipt_files f ON f.bundle_id = o.packed_in "
                 "WHERE o.deployment_id = ?", (deployment_id,))
    return None if row is None else str(row["path"])


def record_receipt_file(tx: Writer, *, path: str, bundle_id: str, dest_zone_id: str, sequence: int,
                        deployment_ids: Sequence[str], now: EpochSeconds) -> None:
    """Record a receipt file written (``path`` absolute), replacing an earlier record of that path."""
    tx.run("INSERT INTO receipt_files(path, bundle_id, dest_zone_id, sequence, deployments, created) "
           "VALUES (?,?,?,?,?,?) ON CONFLICT(path) DO UPDATE SET bundle_id = excluded.bundle_id, "
           "dest_zone_id = excluded.dest_zone_id, sequence = excluded.sequence, deployments = excluded.deployments, "
           "created = excluded.created", (path, bundle_id, dest_zone_id, sequence, json.dumps(list(deployment_ids)),
                                          now))


def listing(db: Reader) -> dict[str, Any]:
    """{pending: [...], packed: [...], files: [...]}: every entry (with its destination's name) and file."""
    rows = db.all("SELECT o.deployment_id, o.dest_zone_id, o.entry, o.created, o.packed_in, z.name AS dest_name "
                  "FROM outbox o LEFT JOIN trusted_zones z ON z.zone_id = o.dest_zone_id "
                  "ORDER BY o.created, o.deployment_id")
    items = []
    for r in rows:
        e = json.loads(r["entry"])
        items.append({"deployment_id": r["deployment_id"], "destination": r["dest_name"] or r["dest_zone_id"],
                      "project": e["project"]["name"], "release": e["release"], "environment": e["environment"],
                      "state": e["state"], "created": r["created"], "packed_in": r["packed_in"]})
    files = [{"path": r["path"], "sequence": r["sequence"], "deployments": json.loads(r["deployments"]),
              "created": r["created"]}
             for r in db.all("SELECT path, sequence, deployments, created FROM receipt_files "
                             "ORDER BY created, sequence")]
    return {"pending": [e for e in items if e["packed_in"] is None],
            "packed": [e for e in items if e["packed_in"] is not None], "files": files}


def receipt_files(db: Reader) -> list[Row]:
    """Every receipt file recorded as written: path, bundle_id (oldest first)."""
    return db.all("SELECT path, bundle_id FROM receipt_files ORDER BY created, sequence")
