"""Deployments other zones reported in receipts (the source side of the round trip).

One row per (reporting zone, deployment id); an entry seen again in a later receipt is
left as first recorded. ``entry`` is the receipt entry as it arrived (``spec`` §receipts).
"""

from __future__ import annotations

import json
from typing import Any, Mapping, Sequence

from bundlekit.core.clock import EpochSeconds
from bundlekit.zone.db import Reader, Row, Writer

__all__ = ["is_recorded", "record_remote", "remote_deployments", "reported_for_project", "entries_for_slug",
           "receipt_plan", "receipt_relays"]


def is_recorded(db: Reader, source_zone_id: str, deployment_id: str) -> bool:
    """True if zone ``source_zone_id`` already reported ``deployment_id``."""
    return db.one("SELECT 1 AS hit FROM remote_deployments WHERE source_zone_id = ? AND deployment_id = ?",
                  (source_zone_id, deployment_id)) is not None


def record_remote(tx: Writer, source_zone_id: str, receipt_bundle_id: str, entry: Mapping[str, Any],
                  now: EpochSeconds) -> None:
    """Record one receipt entry from ``source_zone_id`` (inside the receipt import's transaction)."""
    tx.run("INSERT INTO remote_deployments(source_zone_id, deployment_id, bundle_id, receipt_bundle_id, project_slug, "
           "release, environment, state, started, ended, entry, received) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
           (source_zone_id, entry["deployment_id"], entry["release_bundle"]["bundle_id"], receipt_bundle_id,
            entry["project"]["slug"], entry["release"], entry["environment"], entry["state"],
            entry["started_ms"] / 1000, entry["ended_ms"] / 1000, json.dumps(entry), now))


def remote_deployments(db: Reader, *, parse: bool = True) -> list[Row]:
    """Every reported deployment, oldest first: source_zone_id, deployment_id, bundle_id (the
    release's), receipt_bundle_id (the receipt that reported it), project_slug, release, environment,
    state (``Success`` or ``Failed``), started, ended (Unix seconds), received and ``entry``, parsed unless ``parse``
    is False (then its JSON text: a caller that shows a few of many parses only those)."""
    rows = db.all("SELECT source_zone_id, deployment_id, bundle_id, receipt_bundle_id, project_slug, release, "
                  "environment, state, started, ended, received, entry FROM remote_deployments ORDER BY started")
    if parse:
        for row in rows:
            row["entry"] = json.loads(row["entry"])
    return rows


def reported_for_project(db: Reader, source_zone_id: str, project_ref: str) -> list[dict[str, Any]]:
    """The entries zone ``source_zone_id`` reported for a project this zone exported (by name or
    slug, case-insensitive), oldest first."""
    rows = db.all("SELECT entry FROM remote_deployments WHERE source_zone_id = ? AND project_slug IN "
                  "(SELECT project_slug FROM exports WHERE lower(project) = lower(?) OR "
                  "lower(project_slug) = lower(?)) ORDER BY started", (source_zone_id, project_ref, project_ref))
    return [json.loads(r["entry"]) for r in rows]


def entries_for_slug(db: Reader, project_slug: str) -> list[dict[str, Any]]:
    """Every entry other zones reported for project ``project_slug``, oldest first, with ``zone_id``
    (the reporting zone) added."""
    rows = db.all("SELECT source_zone_id, entry FROM remote_deployments WHERE project_slug = ? ORDER BY started",
                  (project_slug,))
    return [{**json.loads(r["entry"]), "zone_id": r["source_zone_id"]} for r in rows]


def receipt_plan(recorded: Sequence[str], relayed: Sequence[Mapping[str, Any]]) -> str:
    """The ``plan`` kept in the import record of a receipt: the deployment ids it ``recorded``
    and the zones that relayed it back, in the order they relayed it (``relayed``: one
    ``{zone_id, name, relayed}`` per hop, ``relayed`` in Unix seconds as the hop record says;
    empty for a receipt that came straight from the deploying zone; decision 740)."""
    plan: dict[str, Any] = {"receipt": list(recorded)}
    if relayed:
        plan["relayed"] = [{"zone_id": str(h["zone_id"]), "name": str(h["name"]), "relayed": int(h["relayed"])}
                           for h in relayed]
    return json.dumps(plan)


def receipt_relays(db: Reader) -> dict[str, list[dict[str, Any]]]:
    """The relays that carried each receipt imported here, by the receipt's bundle id
    (``remote_deployments.receipt_bundle_id``): ``[{zone_id, name, relayed}, ...]`` in hop order.
    Receipts that came straight from the deploying zone, or were imported before the relays
    were kept (decision 740), are absent."""
    out: dict[str, list[dict[str, Any]]] = {}
    for row in db.all("SELECT bundle_id, plan FROM imports WHERE project_slug = '' AND plan LIKE ?",
                      ('%"relayed"%',)):
        hops = json.loads(row["plan"]).get("relayed")
        if isinstance(hops, list) and hops:
            out[row["bundle_id"]] = hops
    return out
