"""Refused imports in a zone's state: entries waiting to travel back, and those other zones reported.

Secure side: when ``import`` refuses a release bundle that really came from its source (the
signatures verify, the source is trusted, the bundle is addressed here), a refusal entry is
queued for the source, like a deployment's receipt entry (``spec/bundle-format.md`` §7.1). One
entry per (bundle, code): refusing the same bundle again for the same reason adds nothing.
Refusal ids are ``Refusals-N``, allocated in the transaction that queues the entry.

Source side: entries other zones reported in receipts, one per (reporting zone, refusal id).
"""

from __future__ import annotations

import json
from typing import Any, Mapping, Sequence

from bundlekit.core.hints import home_flag
from bundlekit.core.clock import EpochSeconds
from bundlekit.errors import StateError
from bundlekit.zone.db import Reader, Row, Writer

__all__ = ["ID_PREFIX", "queue_refusal", "pending", "entries", "mark_packed", "listing", "record_remote",
           "is_recorded", "remote_refusals"]

ID_PREFIX = "Refusals-"
_COUNTER = "refusal"


def queue_refusal(tx: Writer, dest_zone_id: str, bundle_digest: str, code: str, make_entry: Any,
                  now: EpochSeconds) -> str | None:
    """Queue a refusal entry for ``dest_zone_id`` unless one for (bundle, code) exists; returns
    its id, or None when it was already queued. ``make_entry(refusal_id)`` builds the entry."""
    if tx.one("SELECT 1 AS hit FROM refusals WHERE bundle_digest = ? AND code = ?", (bundle_digest, code)):
        return None
    value = int(tx.scalar("SELECT value FROM counters WHERE name = ?", (_COUNTER,), 0)) + 1
    tx.run("INSERT INTO counters(name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value",
           (_COUNTER, value))
    refusal_id = f"{ID_PREFIX}{value}"
    tx.run("INSERT INTO refusals(refusal_id, dest_zone_id, bundle_digest, code, entry, created) VALUES (?,?,?,?,?,?)",
           (refusal_id, dest_zone_id, bundle_digest, code, json.dumps(make_entry(refusal_id)), now))
    return refusal_id


def pending(db: Reader) -> list[Row]:
    """Refusal entries not yet packed, oldest first: refusal_id, dest_zone_id, dest_name."""
    return db.all("SELECT r.refusal_id, r.dest_zone_id, z.name AS dest_name FROM refusals r "
                  "LEFT JOIN trusted_zones z ON z.zone_id = r.dest_zone_id WHERE r.packed_in IS NULL "
                  "ORDER BY r.created, r.refusal_id")


def entries(db: Reader, dest_zone_id: str, refusal_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The queued entries of ``refusal_ids``, in that order, all for ``dest_zone_id``
    (``StateError`` ``unknown_deployment`` otherwise: they travel like deployments' entries)."""
    out = []
    for rid in refusal_ids:
        row = db.one("SELECT entry, dest_zone_id FROM refusals WHERE refusal_id = ?", (rid,))
        if row is None or row["dest_zone_id"] != dest_zone_id:
            raise StateError(f"refusal {rid!r} has no entry in the outbox for zone {dest_zone_id}; see "
                             f"`bundlekit outbox list{home_flag()}`", code="unknown_deployment")
        out.append(json.loads(row["entry"]))
    return out


def mark_packed(tx: Writer, receipt_bundle_id: str, refusal_ids: Sequence[str]) -> list[str]:
    """Claim refusal entries for a receipt, as ``outbox.mark_packed`` does; returns those taken first."""
    return [rid for rid in refusal_ids
            if tx.run("UPDATE refusals SET packed_in = ? WHERE refusal_id = ? AND packed_in IS NULL",
                      (receipt_bundle_id, rid)) != 1]


def listing(db: Reader) -> list[dict[str, Any]]:
    """Every refusal entry with its destination's name and whether a receipt carried it."""
    rows = db.all("SELECT r.refusal_id, r.dest_zone_id, r.entry, r.created, r.packed_in, z.name AS dest_name "
                  "FROM refusals r LEFT JOIN trusted_zones z ON z.zone_id = r.dest_zone_id "
                  "ORDER BY r.created, r.refusal_id")
    out = []
    for r in rows:
        e = json.loads(r["entry"])
        out.append({"refusal_id": r["refusal_id"], "destination": r["dest_name"] or r["dest_zone_id"],
                    "project": e["project"]["name"], "release": e["release"], "code": e["code"],
                    "created": r["created"], "packed_in": r["packed_in"]})
    return out


def is_recorded(db: Reader, source_zone_id: str, refusal_id: str) -> bool:
    return db.one("SELECT 1 AS hit FROM remote_refusals WHERE source_zone_id = ? AND refusal_id = ?",
                  (source_zone_id, refusal_id)) is not None


def record_remote(tx: Writer, source_zone_id: str, receipt_bundle_id: str, entry: Mapping[str, Any],
                  now: EpochSeconds) -> None:
    """Record one refusal a zone reported (inside the receipt import's transaction)."""
    tx.run("INSERT INTO remote_refusals(source_zone_id, refusal_id, bundle_id, receipt_bundle_id, code, refused, "
           "entry, received) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(source_zone_id, refusal_id) DO NOTHING",
           (source_zone_id, entry["refusal_id"], entry["release_bundle"]["bundle_id"], receipt_bundle_id,
            entry["code"], entry["refused_ms"] / 1000, json.dumps(entry), now))


def remote_refusals(db: Reader) -> list[Row]:
    """Every refusal other zones reported, oldest first: source_zone_id, bundle_id, receipt_bundle_id
    (the receipt that reported it), code, refused, received and the parsed ``entry``."""
    rows = db.all("SELECT source_zone_id, bundle_id, receipt_bundle_id, code, refused, received, entry "
                  "FROM remote_refusals ORDER BY refused")
    for row in rows:
        row["entry"] = json.loads(row["entry"])
    return rows
