"""The outbox: receipt entries waiting to travel back, and packing them into one bundle."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bundlekit.errors import StateError, UsageError
from bundlekit.receipt.build import ReceiptFile, write_receipt
from bundlekit.zone import state
from bundlekit.zone.home import Zone

__all__ = ["list_outbox", "pack", "mark_packed"]


def list_outbox(zone: Zone) -> dict[str, Any]:
    rows = zone.db.execute(
        "SELECT o.deployment_id, o.dest_zone_id, o.entry, o.created, o.packed_in, z.name FROM outbox o "
        "LEFT JOIN trusted_zones z ON z.zone_id = o.dest_zone_id ORDER BY o.created, o.deployment_id").fetchall()
    entries = []
    for r in rows:
        e = json.loads(r["entry"])
        entries.append({"deployment_id": r["deployment_id"], "destination": r["name"] or r["dest_zone_id"],
                        "project": e["project"]["name"], "release": e["release"], "environment": e["environment"],
                        "state": e["state"], "created": r["created"], "packed_in": r["packed_in"]})
    files = [{"path": r["path"], "sequence": r["sequence"], "deployments": json.loads(r["deployments"]),
              "created": r["created"]}
             for r in zone.db.execute("SELECT * FROM receipt_files ORDER BY created, sequence")]
    return {"pending": [e for e in entries if e["packed_in"] is None],
            "packed": [e for e in entries if e["packed_in"] is not None], "files": files}


def mark_packed(zone: Zone, receipt: ReceiptFile) -> None:
    with state.transaction(zone.db):
        for dep in receipt.deployments:
            zone.db.execute("UPDATE outbox SET packed_in = ? WHERE deployment_id = ?", (receipt.bundle_id, dep))


def pack(zone: Zone, out: Path, *, to: str | None, now: int) -> ReceiptFile:
    """One receipt bundle with every entry not yet packed (for one destination)."""
    rows = zone.db.execute("SELECT o.deployment_id, o.dest_zone_id, z.name FROM outbox o LEFT JOIN trusted_zones z "
                           "ON z.zone_id = o.dest_zone_id WHERE o.packed_in IS NULL ORDER BY o.created").fetchall()
    if to is not None:
        rows = [r for r in rows if r["name"] is not None and r["name"].lower() == to.lower() or r[1] == to]
    if not rows:
        raise StateError("the outbox has no receipt waiting to be packed" + (f" for zone {to!r}" if to else ""),
                         code="outbox_empty")
    dests = {r["dest_zone_id"] for r in rows}
    if len(dests) > 1:
        names = ", ".join(sorted({r["name"] or r["dest_zone_id"] for r in rows}))
        raise UsageError(f"receipts wait for several zones ({names}); pack one at a time with --to ZONE",
                         code="usage")
    dest = dests.pop()
    receipt = write_receipt(zone, dest, [r["deployment_id"] for r in rows], out, now=now)
    mark_packed(zone, receipt)
    return receipt
