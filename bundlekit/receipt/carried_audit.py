"""Audit entries other zones sent back in receipts, as the source zone shows them (`audit --from ZONE`).

A deploying zone's egress policy may let its receipts carry the audit entries of each
deployment they report (``spec/audit.md`` §6, ``spec/bundle-format.md`` §7.3). The import checks
each against that zone's keys before it records the receipt entry, and the entry is recorded as
it arrived (``zone/remote.py``), entries included; this module lists them, per deployment, as
``outbox pack --dry-run`` lists what leaves (:func:`bundlekit.receipt.egress.audit_listing`).
Reads only; decision 712.
"""

from __future__ import annotations

from typing import Any

from bundlekit.receipt.egress import audit_listing
from bundlekit.zone import remote, truststore
from bundlekit.zone.home import Zone

__all__ = ["carried_audit"]


def carried_audit(zone: Zone, zone_name: str, since: float | None = None) -> dict[str, Any]:
    """The audit entries zone ``zone_name`` (a trusted zone's name or id) sent back in receipts
    this zone imported: ``{zone: {name, zone_id}, deployments: [{deployment_id, project, release,
    environment, state, received, audit_entries: [...]}], entries}``, deployments oldest first,
    only those that carried entries (after ``since``, Unix seconds, when given); ``entries`` counts
    them. Raises ``StateError`` ``unknown_zone`` for a zone this one does not trust."""
    source = truststore.get_zone(zone, zone_name)
    deployments = []
    for row in remote.remote_deployments(zone.db):
        if row["source_zone_id"] != source.zone_id:
            continue
        e = row["entry"]
        listed = [a for a in audit_listing(e.get("audit", []))
                  if since is None or a.get("unreadable") or a["at"] >= since]
        if listed:
            deployments.append({"deployment_id": e["deployment_id"], "project": e["project"]["name"],
                                "release": e["release"], "environment": e["environment"], "state": e["state"],
                                "received": row["received"], "audit_entries": listed})
    return {"zone": {"name": source.name, "zone_id": source.zone_id}, "deployments": deployments,
            "entries": sum(len(d["audit_entries"]) for d in deployments)}
