"""Deployments this zone ran, as recorded in its state.

A deployment id (``Deployments-N``, Octopus's form) is allocated from a counter inside the
transaction that first records the deployment, so two processes never share one and a
number is never handed out twice. A deployment is recorded ``Executing`` before its first
step runs and gets its final state, masked record and outputs (sensitive ones as
``secret:`` references) when it ends.

While it runs, the process running it holds the claim :func:`claim_name` (``Database.claim``:
it ends with the process, on whichever node), and its record holds only ``reached``: the
step and target it started last. A row still ``Executing`` whose claim nobody holds was
left by a process that died; it is closed ``Interrupted`` (``deploy/interrupted.py``).
"""

from __future__ import annotations

import json
from typing import Any

from bundlekit.core.clock import Timestamp
from bundlekit.zone.db import Reader, Row, Writer

__all__ = ["ID_PREFIX", "INTERRUPTED", "peek_next_id", "allocate_id", "insert_running", "finish", "annotate", "slot", "running",
           "claim_name", "note_reached", "executing", "running_on",
           "deployment_number", "BY_NUMBER", "get_deployment", "list_deployments", "deployments_by_start", "successes_of", "release_history", "deployed_scopes",
           "relied_on_waivers", "mixed_runs"]

ID_PREFIX = "Deployments-"
_COUNTER = "deployment"
#: SQL: a deployment's number (``Deployments-N`` -> N), the zone's own order of its deployments.
#: No clock can reorder it: a deploy made while the wall clock ran ahead still comes before the
#: ones made after it (decision 680).
BY_NUMBER = f"CAST(substr(id, {len(ID_PREFIX) + 1}) AS INTEGER)"
#: The final state of a deployment whose process ended before it recorded the outcome.
INTERRUPTED = "Interrupted"


def deployment_number(deployment_id: str) -> int:
    """The N of ``Deployments-N`` (any zone's id: receipts carry the deploying zone's own), the
    order in which that zone ran its deployments; -1 for an id of another form."""
    head, _, tail = deployment_id.rpartition("-")
    return int(tail) if head and tail.isdigit() else -1


def mixed_runs(runs: list[dict[str, Any]]) -> bool:
    """Whether a step of ``runs`` (each with its ``step`` and ``state``) succeeded on some targets
    and failed, timed out or was canceled on others: a deployment that did not succeed is then
    ``partial`` on every dashboard, not ``failed``."""
    by_step: dict[str, set[str]] = {}
    for r in runs:
        by_step.setdefault(r["step"], set()).add(r["state"])
    return any("Success" in states and states & {"Failed", "TimedOut", "Canceled"} for states in by_step.values())


def peek_next_id(db: Reader) -> str:
    """The id the next deployment will probably get (for a dry run's plan; never recorded)."""
    return f"{ID_PREFIX}{int(db.scalar('SELECT value FROM counters WHERE name = ?', (_COUNTER,), 0)) + 1}"


def allocate_id(tx: Writer) -> str:
    """Allocate the next deployment id (inside the transaction that records the deployment)."""
    value = int(tx.scalar("SELECT value FROM counters WHERE name = ?", (_COUNTER,), 0)) + 1
    tx.run("INSERT INTO counters(name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value",
           (_COUNTER, value))
    return f"{ID_PREFIX}{value}"


def insert_running(tx: Writer, deployment_id: str, *, project_slug: str, release: str, environment: str,
                   source_zone_id: str, bundle_digest: str, started: Timestamp, release_digest: str | None = None,
                   tenant: str | None = None, waived: list[dict[str, Any]] | None = None,
                   node: dict[str, Any] | None = None) -> None:
    """Record a deployment in state ``Executing`` (``started``: Unix seconds to the millisecond); idempotent.

    ``waived``: the zone waivers that let this deployment skip lifecycle phases, recorded with it
    as they were then (``{phase, release, reason, author, created}``; decision 391); ``node``: the
    node running it (``host``, ``home``, ``pid``), kept in its record while it runs."""
    tx.run("INSERT INTO deployments(id, project_slug, release, environment, source_zone_id, bundle_digest, state, "
           "started, ended, record, outputs, release_digest, tenant, waived) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
           "ON CONFLICT(id) DO NOTHING",
           (deployment_id, project_slug, release, environment, source_zone_id, bundle_digest, "Executing", started,
            None, json.dumps({"node": node} if node else {}), "[]", release_digest, tenant, json.dumps(waived or [])))


def finish(tx: Writer, deployment_id: str, *, state: str, ended: Timestamp, record: dict[str, Any],
           outputs: list[dict[str, Any]]) -> bool:
    """Record how a deployment ended: its final state, its masked record and its outputs.

    Only a deployment still ``Executing`` is changed; returns False (nothing written) for one
    already ended, e.g. closed ``Interrupted`` meanwhile because its process seemed gone."""
    return tx.run("UPDATE deployments SET state = ?, ended = ?, record = ?, outputs = ? WHERE id = ? "
                  "AND state = 'Executing'",
                  (state, ended, json.dumps(record), json.dumps(outputs), deployment_id)) == 1


def annotate(tx: Writer, deployment_id: str, key: str, value: Any) -> bool:
    """Add ``key`` to the stored record of a deployment that has ended (what its process did after
    another command closed it, decision 421); False when it has not ended, or is not recorded."""
    row = tx.one("SELECT record FROM deployments WHERE id = ? AND state <> 'Executing'", (deployment_id,))
    if row is None:
        return False
    record = json.loads(row["record"] or "{}")
    record[key] = value
    return tx.run("UPDATE deployments SET record = ? WHERE id = ?", (json.dumps(record), deployment_id)) == 1


def claim_name(deployment_id: str) -> str:
    """The claim the process running ``deployment_id`` holds until it records the outcome."""
    return f"deployment/{deployment_id}"


def note_reached(tx: Writer, deployment_id: str, step: str, target: str | None, at: Timestamp) -> None:
    """Note in a running deployment's record the step and target (None: the zone) it started last
    (``at``: Unix seconds to the millisecond); what an ``Interrupted`` record says it reached."""
    record = json.loads(tx.scalar("SELECT record FROM deployments WHERE id = ? AND state = 'Executing'",
                                  (deployment_id,), None) or "{}")
    record["reached"] = {"step": step, "target": target, "at": at}
    tx.run("UPDATE deployments SET record = ? WHERE id = ? AND state = 'Executing'", (json.dumps(record), deployment_id))


def executing(db: Reader) -> list[Row]:
    """Every deployment still ``Executing`` (full rows; ``record`` parsed, ``waived`` and ``waivers``
    as :func:`get_deployment` gives them), oldest first."""
    rows = db.all("SELECT * FROM deployments WHERE state = 'Executing' ORDER BY " + BY_NUMBER)
    for row in rows:
        row["record"] = json.loads(row["record"] or "{}")
        _waivers(row)
    return rows


def slot(project_slug: str, environment: str, tenant: str | None = None) -> str:
    """The claim name that serialises deployments of a project to an environment and tenant (case-insensitive)."""
    return f"deploy/{project_slug.lower()}/{environment.lower()}" + (f"/{tenant.lower()}" if tenant else "")


def running(db: Reader, project_slug: str, environment: str, tenant: str | None = None) -> str | None:
    """The id of the latest deployment of the project to the environment (and tenant) still ``Executing``."""
    value = db.scalar("SELECT id FROM deployments WHERE project_slug = ? AND lower(environment) = lower(?) AND "
                      "lower(COALESCE(tenant, '')) = lower(?) AND state = 'Executing' ORDER BY "
                      f"{BY_NUMBER} DESC LIMIT 1", (project_slug, environment, tenant or ""))
    return None if value is None else str(value)


def running_on(db: Reader, deployment_id: str) -> str | None:
    """Where a deployment still ``Executing`` runs, in words ("host H (home P, process N)"), or None
    when it is not running or its record does not say (recorded by an older bundlekit)."""
    raw = db.scalar("SELECT record FROM deployments WHERE id = ? AND state = 'Executing'", (deployment_id,))
    node = json.loads(raw or "{}").get("node") if raw else None
    if not isinstance(node, dict) or not node.get("host"):
        return None
    return f"host {node['host']} (home {node.get('home')}, process {node.get('pid')})"


def get_deployment(db: Reader, deployment_id: str) -> Row | None:
    """One deployment's row (``record`` and ``outputs`` parsed from JSON; ``waived``: the phase names
    a waiver let it skip, ``waivers``: those waivers as recorded; ``in_space``: the space of this
    zone its project belongs to), or ``None``."""
    row = db.one("SELECT * FROM deployments WHERE id = ?", (deployment_id,))
    if row is not None:
        row["in_space"] = db.scalar("SELECT in_space FROM projects WHERE slug = ?", (row["project_slug"],)) or "Default"
        row["record"] = json.loads(row["record"])
        row["outputs"] = json.loads(row["outputs"])
        _waivers(row)
    return row


def _waivers(row: Row) -> None:
    """Parse the ``waived`` column into ``waived`` (phase names) and ``waivers`` (what was recorded
    of each; deployments recorded before decision 391 kept only the phase's name)."""
    items = json.loads(row["waived"] or "[]")
    row["waivers"] = [w if isinstance(w, dict) else {"phase": w} for w in items]
    row["waived"] = [w["phase"] for w in row["waivers"]]


def relied_on_waivers(db: Reader, project_slug: str, release: str) -> list[Row]:
    """Deployments of one release of a project that relied on a waiver, oldest first: id,
    environment, tenant, state, started, ``waived`` and ``waivers`` (see :func:`get_deployment`)."""
    rows = db.all("SELECT id, environment, tenant, state, started, waived FROM deployments WHERE project_slug = ? "
                  "AND release = ? AND waived <> '[]' ORDER BY " + BY_NUMBER, (project_slug, release))
    for row in rows:
        _waivers(row)
    return rows


def waiver_records(db: Reader, project_slug: str | None = None) -> list[Row]:
    """Every deployment (of one project when ``project_slug``) that relied on a waiver, oldest
    first: id, project_slug, release, environment, state, started and ``waivers`` as recorded."""
    rows = db.all("SELECT id, project_slug, release, environment, state, started, waived FROM deployments "
                  "WHERE waived <> '[]' ORDER BY " + BY_NUMBER)
    rows = [r for r in rows if project_slug is None or r["project_slug"].casefold() == project_slug.casefold()]
    for row in rows:
        _waivers(row)
    return rows


def list_deployments(db: Reader, *, space: str | None = None) -> list[Row]:
    """Every deployment, newest first (by number, :data:`BY_NUMBER`): id, project_slug, release,
    environment, tenant, state, started, ended and ``in_space``, the space of this zone its
    project belongs to; only those of ``space``'s projects when it is given (decision 750)."""
    rows = db.all("SELECT d.id, d.project_slug, d.release, d.environment, d.tenant, d.state, d.started, d.ended, "
                  "p.in_space FROM deployments d LEFT JOIN projects p ON p.slug = d.project_slug "
                  f"ORDER BY CAST(substr(d.id, {len(ID_PREFIX) + 1}) AS INTEGER) DESC")
    for r in rows:
        r["in_space"] = r["in_space"] or "Default"
    return [r for r in rows if space is None or r["in_space"].casefold() == space.casefold()]


def successes_of(db: Reader, release_digest: str) -> list[Row]:
    """This zone's successful deployments of the release with ``release_digest``, oldest first:
    id, environment, tenant, ended."""
    return db.all("SELECT id, environment, tenant, ended FROM deployments WHERE release_digest = ? AND "
                  "state = 'Success' ORDER BY " + BY_NUMBER, (release_digest,))


def release_history(db: Reader, project_slug: str, release: str, source_zone_id: str) -> list[Row]:
    """Deployments of one release (by project, version and source), oldest first: id, environment,
    tenant, state, ended, release_digest (None for deployments recorded before format 1.1)."""
    return db.all("SELECT id, environment, tenant, state, ended, release_digest FROM deployments WHERE "
                  "project_slug = ? AND release = ? AND source_zone_id = ? ORDER BY " + BY_NUMBER,
                  (project_slug, release, source_zone_id))


def deployments_by_start(db: Reader) -> list[Row]:
    """Every deployment's full row, oldest first by number (:data:`BY_NUMBER`; ``record`` parsed from JSON)."""
    rows = db.all("SELECT * FROM deployments ORDER BY " + BY_NUMBER)
    for row in rows:
        row["record"] = json.loads(row["record"])
        _waivers(row)
    return rows


def deployed_scopes(db: Reader, slug: str) -> list[tuple[str, str | None]]:
    """Every (environment, tenant) project ``slug`` was deployed to in this zone (tenant None: untenanted)."""
    return [(r["environment"], r["tenant"]) for r in
            db.all("SELECT DISTINCT environment, tenant FROM deployments WHERE project_slug = ?", (slug,))]
