"""The outbox: receipt entries waiting to travel back, and packing them into one bundle."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bundlekit.core.clock import EpochSeconds
from bundlekit.core.hints import home_flag
from bundlekit.errors import StateError, UsageError
from bundlekit.receipt import egress
from bundlekit.receipt.build import (RECEIPT_FEATURES, ReceiptContents, ReceiptFile, finish_parked, gather, pack_command,
                                     write_receipt)
from bundlekit.zone import outbox, refusals, truststore
from bundlekit.zone.home import Zone
from bundlekit.zone.outputs import refuse_in_home

__all__ = ["list_outbox", "pack", "preview", "previews", "empty_listing", "pack_command", "ATTEMPTS"]


def list_outbox(zone: Zone) -> dict[str, Any]:
    """{pending, packed, files, refusals}: deployment entries by whether a receipt carried them,
    receipt files written, and refused imports to report (``packed_in`` None: not carried yet)."""
    finish_parked(zone)  # a receipt recorded as written is on disk before it is listed
    info = outbox.listing(zone.db)
    info["refusals"] = refusals.listing(zone.db)
    return info


#: Times ``pack`` reads the outbox again after another process packed part of what it read.
ATTEMPTS = 3


def pack(zone: Zone, out: Path, *, to: str | None, now: EpochSeconds) -> ReceiptFile:
    """One receipt bundle with every entry not yet packed (for one destination: ``to``, a zone
    name or id, is needed when entries wait for several). Raises ``StateError``
    ``outbox_empty``, ``unknown_zone`` (``to`` names no trusted zone), ``UsageError`` ``usage``,
    and what :func:`write_receipt` raises.

    Entries are claimed in the receipt's transaction: when another process (this node's or
    another node's) packs some of them first, this one reads the outbox again and packs what
    is left, so no entry travels in two receipts (``outbox_empty`` when nothing is left).
    """
    refuse_in_home(out, "-o", zone)  # before any work (decision 942); write_receipt looks again
    finish_parked(zone)
    for attempt in range(1, ATTEMPTS + 1):
        dest, deployment_ids, refusal_ids = _waiting(zone, to, again=attempt > 1)
        try:
            return write_receipt(zone, dest, deployment_ids, out, now=now, refusal_ids=refusal_ids)
        except StateError as error:
            if error.code != "outbox_entry_packed" or attempt == ATTEMPTS:
                raise
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def preview(zone: Zone, *, to: str | None) -> ReceiptContents | None:
    """What :func:`pack` would put in the receipt now, the zone's egress policy applied, writing
    nothing (``outbox pack --dry-run``); ``.listing()`` lists it. None when nothing waits (for
    ``to``): a dry run of nothing to send is an answer, not a refusal (:func:`empty_listing`).
    Raises what :func:`pack` raises before it writes, but ``outbox_empty``."""
    try:
        dest, deployment_ids, refusal_ids = _waiting(zone, to)
    except StateError as error:
        if error.code != "outbox_empty":
            raise
        return None
    return gather(zone, dest, deployment_ids, refusal_ids=refusal_ids)


def previews(zone: Zone) -> list[ReceiptContents]:
    """What :func:`pack` would put in a receipt for each zone receipts wait for, by zone name
    (``outbox pack --dry-run`` without ``--to``: a dry run shows what waits for several zones
    where packing asks for one, newuser36 finding 3); empty when nothing waits."""
    rows = outbox.pending(zone.db) + refusals.pending(zone.db)
    by_dest: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_dest.setdefault(r["dest_zone_id"], []).append(r)
    found = [gather(zone, dest, [r["deployment_id"] for r in waiting if "deployment_id" in r],
                    refusal_ids=[r["refusal_id"] for r in waiting if "refusal_id" in r])
             for dest, waiting in by_dest.items()]
    return sorted(found, key=lambda c: c.dest.name.casefold())


def empty_listing() -> dict[str, Any]:
    """The listing of a receipt that would carry nothing: every list empty, every total 0."""
    return egress.contents([], [], [], RECEIPT_FEATURES, {})


def _unknown_destination(zone: Zone, to: str) -> None:
    """Refuse ``--to`` naming no zone this one trusts (``StateError`` ``unknown_zone``, naming
    ``to`` and the trusted zones): nothing waits for it because it is not a zone, not because
    its receipts were packed."""
    try:
        truststore.get_zone(zone, to)
    except StateError as error:
        if error.code != "unknown_zone":
            raise
        known = sorted(truststore.zone_names(zone.db).values(), key=str.casefold)
        trusted = f"it trusts {', '.join(known)}" if known else "it trusts no zone yet"
        raise truststore.unknown_zone(zone.db, to, f"--to {to!r}: zone {zone.name} trusts no zone of that name or "
                                      f"id ({trusted})") from None


def _waiting(zone: Zone, to: str | None, again: bool = False) -> tuple[str, list[str], list[str]]:
    """The destination, deployment ids and refusal ids the next receipt packs (for ``to``, a zone name or id)."""
    rows = outbox.pending(zone.db) + refusals.pending(zone.db)
    if to is not None:
        rows = [r for r in rows if (r["dest_name"] or "").lower() == to.lower() or r["dest_zone_id"] == to]
        if not rows:
            _unknown_destination(zone, to)
    if not rows:
        raise StateError("the outbox has no receipt waiting to be packed" + (f" for zone {to!r}" if to else "")
                         + ("; another process of this zone packed them meanwhile" if again else ""),
                         code="outbox_empty")
    dests = {r["dest_zone_id"] for r in rows}
    if len(dests) > 1:
        names = sorted({r["dest_name"] or r["dest_zone_id"] for r in rows}, key=str.casefold)
        commands = "; ".join(f"`{pack_command(n)}`" for n in names)
        raise UsageError(f"receipts wait for several zones ({', '.join(names)}); pack one receipt per zone with --to "
                         f"ZONE: {commands} (`bundlekit outbox pack --dry-run{home_flag()}` lists what waits for each)",
                         code="usage")
    return (dests.pop(), [r["deployment_id"] for r in rows if "deployment_id" in r],
            [r["refusal_id"] for r in rows if "refusal_id" in r])
