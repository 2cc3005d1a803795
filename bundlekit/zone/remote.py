"""Deployments other zones reported in receipts (the source side of the round trip).

One row per (reporting zone, deployment id); an entry seen again in a later receipt is
left as first recorded. ``entry`` is the receipt entry as it arrived (``spec`` §receipts);
the few of its fields a dashboard's grid shows are copied into columns of their own when it is
recorded (:data:`GRID_COLUMNS`; schema 17 filled them for rows recorded before, decision 870),
so the grid reads rows and parses no entry.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Mapping, Sequence

from bundlekit.core.clock import EpochSeconds
from bundlekit.zone.db import Reader, Row, Writer
from bundlekit.zone.deployments import mixed_runs

__all__ = ["is_recorded", "record_remote", "remote_deployments", "reported_for_project", "entries_for_slug",
           "receipt_plan", "receipt_relays", "GRID_COLUMNS", "GRID_ROW", "grid_fields", "grid_rows", "grid_sequences",
           "entries_of", "fill_grid_columns", "reported_counts", "reported_with_id"]

#: The columns copied from a reported deployment's entry (decision 870): the project's name and
#: space, the tenant (None: untenanted), ``partial`` (1: a step succeeded on some targets and
#: failed on others), ``waived`` and ``waivers`` (JSON lists, as the entry has them, ``[]`` when
#: it has none), ``variables_updated`` (whole Unix seconds, or None) and ``sequence`` (the
#: deployed bundle's).
GRID_COLUMNS = ("project_name", "space", "tenant", "partial", "waived", "waivers", "variables_updated", "sequence")


def is_recorded(db: Reader, source_zone_id: str, deployment_id: str) -> bool:
    """True if zone ``source_zone_id`` already reported ``deployment_id``."""
    return db.one("SELECT 1 AS hit FROM remote_deployments WHERE source_zone_id = ? AND deployment_id = ?",
                  (source_zone_id, deployment_id)) is not None


def record_remote(tx: Writer, source_zone_id: str, receipt_bundle_id: str, entry: Mapping[str, Any],
                  now: EpochSeconds) -> None:
    """Record one receipt entry from ``source_zone_id`` (inside the receipt import's transaction),
    with its :data:`GRID_COLUMNS`."""
    tx.run("INSERT INTO remote_deployments(source_zone_id, deployment_id, bundle_id, receipt_bundle_id, project_slug, "
           f"release, environment, state, started, ended, entry, received, {', '.join(GRID_COLUMNS)}) "
           "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
           (source_zone_id, entry["deployment_id"], entry["release_bundle"]["bundle_id"], receipt_bundle_id,
            entry["project"]["slug"], entry["release"], entry["environment"], entry["state"],
            entry["started_ms"] / 1000, entry["ended_ms"] / 1000, json.dumps(entry), now, *grid_fields(entry)))


def grid_fields(entry: Mapping[str, Any]) -> tuple[Any, ...]:
    """The values of :data:`GRID_COLUMNS` for a receipt ``entry``, in that order. What an entry of
    an older format lacks takes the value the dashboard gave it before: the project's slug as its
    name, space ``Default``, no tenant, waivers or variables refresh, sequence 0. Raises
    ``KeyError`` or ``TypeError`` for a run without its step or state."""
    project = entry.get("project") or {}
    ms = entry.get("variables_updated_ms")
    return (str(project.get("name", project.get("slug", ""))), str(project.get("space", "Default")),
            entry.get("tenant"), int(mixed_runs(entry.get("runs") or [])),
            json.dumps(list(entry.get("waived") or [])), json.dumps(list(entry.get("waivers") or [])),
            ms // 1000 if isinstance(ms, int) else None,
            int((entry.get("release_bundle") or {}).get("sequence", 0)))


def fill_grid_columns(tx: Writer) -> int:
    """Schema 17's step its SQL cannot take on both engines: copy :data:`GRID_COLUMNS` out of the
    entry of every reported deployment recorded before, 500 rows at a time. An entry that does not
    read (not JSON, or a run without its step or state) keeps the columns' defaults, its project's
    name being its slug: its cell still shows, and a view that reads the entry in full reports it
    (``state_damaged``). Returns the rows filled."""
    last, filled = ("", ""), 0
    while True:
        rows = tx.all("SELECT source_zone_id, deployment_id, project_slug, entry FROM remote_deployments "
                      "WHERE source_zone_id > ? OR (source_zone_id = ? AND deployment_id > ?) "
                      "ORDER BY source_zone_id, deployment_id LIMIT 500", (last[0], last[0], last[1]))
        if not rows:
            return filled
        params = []
        for row in rows:
            try:
                entry = json.loads(row["entry"])
                values = grid_fields(entry if isinstance(entry, dict) else {})
            except (ValueError, KeyError, TypeError):
                values = (row["project_slug"], "Default", None, 0, "[]", "[]", None, 0)
            params.append((*values, row["source_zone_id"], row["deployment_id"]))
        tx.run_many(f"UPDATE remote_deployments SET {', '.join(c + ' = ?' for c in GRID_COLUMNS)} "
                    "WHERE source_zone_id = ? AND deployment_id = ?", params)
        filled += len(rows)
        last = (rows[-1]["source_zone_id"], rows[-1]["deployment_id"])


#: The values of each of :func:`grid_rows`' tuples, in order: columns, but for ``shown_state``,
#: the state every dashboard shows (``succeeded``, ``running``, ``partial`` or ``failed``, from
#: ``state`` and ``partial``; ``dashboard.model.outcome`` says the same of an entry), and
#: ``waived`` and ``waivers``, None for an empty list (``[]``, as nearly every row has).
GRID_ROW = ("source_zone_id", "deployment_id", "bundle_id", "receipt_bundle_id", "project_slug", "release",
            "environment", "shown_state", "started", "ended", "received", "project_name", "space", "tenant",
            "waived", "waivers", "variables_updated")
_GRID_SELECT = {"shown_state": "CASE WHEN state = 'Success' THEN 'succeeded' WHEN state = 'Executing' THEN 'running' "
                               "WHEN partial <> 0 THEN 'partial' ELSE 'failed' END",
                "waived": "NULLIF(waived, '[]')", "waivers": "NULLIF(waivers, '[]')"}


def grid_rows(db: Reader) -> list[tuple[Any, ...]]:
    """Every reported deployment as a dashboard's grid reads it, oldest first, without its entry:
    a tuple of the values :data:`GRID_ROW` names, tens of thousands of them with no mapping each.
    One pass over the table (:func:`entries_of` reads the entries of those shown in full,
    :func:`grid_sequences` the deployed bundles' sequences). The query gives each value in the
    form the grid uses: every column it does not need and every string it makes costs at that
    scale (decision 900)."""
    # each computed value named (a backend may key a row by its columns' names before making the tuple)
    return db.values(f"SELECT {', '.join(f'{_GRID_SELECT[c]} AS {c}' if c in _GRID_SELECT else c for c in GRID_ROW)} "
                     "FROM remote_deployments ORDER BY started")


def grid_sequences(db: Reader) -> dict[tuple[str, str], int]:
    """The sequence of the bundle each reported deployment deployed, by (reporting zone id,
    deployment id): what settles a refusal (decision 723), read only when there are refusals."""
    return {(zone_id, deployment_id): int(sequence) for zone_id, deployment_id, sequence in
            db.values("SELECT source_zone_id, deployment_id, sequence FROM remote_deployments")}


def entries_of(db: Reader, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """The entries (JSON text, unparsed) of the reported deployments ``keys`` names, by
    (reporting zone id, deployment id); a key not recorded is absent."""
    by_zone: dict[str, list[str]] = {}
    for zone_id, deployment_id in keys:
        by_zone.setdefault(zone_id, []).append(deployment_id)
    out: dict[tuple[str, str], str] = {}
    for zone_id, ids in by_zone.items():
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            for r in db.all("SELECT deployment_id, entry FROM remote_deployments WHERE source_zone_id = ? AND "
                            f"deployment_id IN ({', '.join('?' * len(chunk))})", (zone_id, *chunk)):
                out[(zone_id, r["deployment_id"])] = r["entry"]
    return out


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


def receipt_plan(recorded: Sequence[str], relayed: Sequence[Mapping[str, Any]],
                 release_paths: Mapping[str, Sequence[Mapping[str, Any]]] | None = None) -> str:
    """The ``plan`` kept in the import record of a receipt: the deployment ids it ``recorded``;
    the zones that relayed it back, in the order they relayed it (``relayed``: one ``{zone_id,
    name, relayed[, known]}`` per hop, ``relayed`` in Unix seconds as the hop record says,
    ``known`` when ``name`` is the one this zone trusted the relay by, not its record's; empty for a
    receipt that came straight from the deploying zone; decision 740); and, by release bundle id,
    the relays each relayed release took to the deploying zone, as the hops its entries carry
    (``release_paths``, same shape, decision 906)."""
    def hops(items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        return [{"zone_id": str(h["zone_id"]), "name": str(h["name"]), "relayed": int(h["relayed"]),
                 **({"known": True} if h.get("known") else {})} for h in items]

    plan: dict[str, Any] = {"receipt": list(recorded)}
    if relayed:
        plan["relayed"] = hops(relayed)
    if release_paths:
        plan["release_paths"] = {bundle_id: hops(items) for bundle_id, items in release_paths.items()}
    return json.dumps(plan)


def receipt_relays(db: Reader) -> tuple[dict[str, list[dict[str, Any]]], dict[str, dict[str, list[dict[str, Any]]]]]:
    """What the import records of receipts say of relays, by the receipt's bundle id
    (``remote_deployments.receipt_bundle_id``): the relays that carried each receipt back
    (``[{zone_id, name, relayed}, ...]`` in hop order), and the relays each relayed release took
    to the deploying zone, by release bundle id (:func:`receipt_plan`'s ``release_paths``).
    Receipts that came straight from the deploying zone, about releases it was sent directly, or
    imported before these were kept (decisions 740, 906), are absent."""
    back: dict[str, list[dict[str, Any]]] = {}
    forward: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for row in db.all("SELECT bundle_id, plan FROM imports WHERE project_slug = '' AND (plan LIKE ? OR plan LIKE ?)",
                      ('%"relayed"%', '%"release_paths"%')):
        plan = json.loads(row["plan"])
        hops, paths = plan.get("relayed"), plan.get("release_paths")
        if isinstance(hops, list) and hops:
            back[row["bundle_id"]] = hops
        if isinstance(paths, dict) and paths:
            forward[row["bundle_id"]] = paths
    return back, forward


_REPORTER = "COALESCE(z.name, r.source_zone_id)"
_REPORTED_FROM = "FROM remote_deployments r LEFT JOIN trusted_zones z ON z.zone_id = r.source_zone_id "


def reported_counts(db: Reader, *, space: str | None = None) -> list[Row]:
    """How many deployments other zones reported in receipts (of projects of ``space`` only,
    when given), by reporting zone and project: ``zone`` (its name here, or its zone id once no
    longer trusted), ``project_slug``, ``n``; ordered by zone, then project. For a zone whose own
    deployment list is empty to say where the reported ones are (finding newuser35 #14)."""
    where, params = ("WHERE lower(r.space) = lower(?) ", (space,)) if space is not None else ("", ())
    return db.all(f"SELECT {_REPORTER} AS zone, r.project_slug AS project_slug, COUNT(*) AS n {_REPORTED_FROM}"
                  f"{where}GROUP BY {_REPORTER}, r.project_slug ORDER BY 1, 2", params)


def reported_with_id(db: Reader, deployment_id: str) -> list[Row]:
    """The deployments other zones reported under the id ``deployment_id`` (ids are per zone, so
    several zones may have one): ``zone`` (as :func:`reported_counts`), ``project_slug``,
    ``release``, ``environment``, ``state``, ``space``; oldest first."""
    return db.all(f"SELECT {_REPORTER} AS zone, r.project_slug AS project_slug, r.release AS release, "
                  f"r.environment AS environment, r.state AS state, r.space AS space {_REPORTED_FROM}"
                  "WHERE lower(r.deployment_id) = lower(?) ORDER BY r.started", (deployment_id,))
