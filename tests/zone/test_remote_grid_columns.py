"""The grid's columns of a reported deployment (decision 870): written with the receipt entry,
and filled from their entries for rows an older bundlekit recorded, on both engines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bundlekit.zone import remote
from bundlekit.zone.schema import SCHEMA_VERSION
from tests.pgserver import PostgresServer
from tests.zone.old_schema import before_migration, lay_schema
from tests.zone.test_db import State


def _entry(n: int, state: str = "Success", **more: Any) -> dict[str, Any]:
    ms = 1_700_000_000_000 + n * 60_000
    return {"deployment_id": f"Deployments-{n}", "project": {"name": "Acme Web", "slug": "acme-web", "space": "Payments"},
            "release_bundle": {"bundle_id": f"b{n}", "digest": "0" * 64, "sequence": 40 + n},
            "release": f"1.{n}.0", "environment": "Production", "state": state, "started_ms": ms, "ended_ms": ms + 5000,
            "runs": [{"step": "Deploy", "target": "web-01", "state": state, "outputs": []}], **more}


ENTRIES = {
    "plain": _entry(1),
    # a step that succeeded on one target and failed on the other: partial
    "partial": {**_entry(2, "Failed"), "runs": [{"step": "Deploy", "target": "web-01", "state": "Success", "outputs": []},
                                                {"step": "Deploy", "target": "web-02", "state": "Failed", "outputs": []}]},
    # failed everywhere it ran: failed, not partial
    "failed": {**_entry(3, "Failed"), "runs": [{"step": "Deploy", "target": "web-01", "state": "Failed", "outputs": []},
                                               {"step": "Smoke", "state": "Skipped", "outputs": []}]},
    "tenant": _entry(4, tenant="Globex", waived=["Staging"], variables_updated_ms=1_699_999_999_999,
                     waivers=[{"phase": "Staging", "release": "1.4.0", "reason": "CAB-7", "author": "alice",
                               "created_ms": 1_699_000_000_000}]),
    # an entry of an older format: the phases it waived, no waiver records
    "waived only": _entry(5, waived=["Test", "Staging"]),
}

#: GRID_COLUMNS of each entry, as the dashboard must show them
EXPECTED = {
    "plain": ("Acme Web", "Payments", None, 0, "[]", "[]", None, 41),
    "partial": ("Acme Web", "Payments", None, 1, "[]", "[]", None, 42),
    "failed": ("Acme Web", "Payments", None, 0, "[]", "[]", None, 43),
    "tenant": ("Acme Web", "Payments", "Globex", 0, '["Staging"]',
               json.dumps(ENTRIES["tenant"]["waivers"]), 1_699_999_999, 44),
    "waived only": ("Acme Web", "Payments", None, 0, '["Test", "Staging"]', "[]", None, 45),
}


def _columns(db: Any) -> dict[str, tuple[Any, ...]]:
    names = {e["deployment_id"]: k for k, e in ENTRIES.items()}
    names["Deployments-9"] = "damaged"
    rows = db.all(f"SELECT deployment_id, {', '.join(remote.GRID_COLUMNS)} FROM remote_deployments")
    return {names[r["deployment_id"]]: tuple(r[c] for c in remote.GRID_COLUMNS) for r in rows
            if r["deployment_id"] in names}


def test_migrating_fills_the_grid_columns_of_every_reported_deployment_from_its_entry(
        tmp_path: Path, pg: PostgresServer | None) -> None:
    state = State(tmp_path, pg)
    old = state.raw()
    before = before_migration("ADD COLUMN project_name")
    with old.transaction() as tx:  # a home that imported receipts before the columns existed
        lay_schema(old, tx, before)
        for entry in [*ENTRIES.values(), {**_entry(9), "deployment_id": "Deployments-9"}]:
            text = json.dumps(entry) if entry["deployment_id"] != "Deployments-9" else '{"deployment_id": "Deplo'
            tx.run("INSERT INTO remote_deployments(source_zone_id, deployment_id, bundle_id, receipt_bundle_id, "
                   "project_slug, release, environment, state, started, ended, entry, received) "
                   "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                   ("z-prod", entry["deployment_id"], entry["release_bundle"]["bundle_id"], "r1", "acme-web",
                    entry["release"], "Production", entry["state"], entry["started_ms"] / 1000,
                    entry["ended_ms"] / 1000, text, 1_700_100_000))
        for n in range(100, 1300):  # more than one batch of the fill, over two zones
            entry = _entry(n)
            tx.run("INSERT INTO remote_deployments(source_zone_id, deployment_id, bundle_id, receipt_bundle_id, "
                   "project_slug, release, environment, state, started, ended, entry, received) "
                   "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                   (f"z-{n % 2}", entry["deployment_id"], f"b{n}", "r2", "acme-web", entry["release"], "Production",
                    "Success", entry["started_ms"] / 1000, entry["ended_ms"] / 1000, json.dumps(entry), 1_700_100_000))
    old.close()
    db = state.open()
    try:
        assert db.schema_version(db) == SCHEMA_VERSION
        many = db.all("SELECT deployment_id, space, sequence FROM remote_deployments WHERE source_zone_id LIKE 'z-_'")
        assert sorted((r["deployment_id"], r["space"], r["sequence"]) for r in many) == sorted(
            (f"Deployments-{n}", "Payments", 40 + n) for n in range(100, 1300))
        migrated = _columns(db)
        # an entry that no longer reads keeps the defaults, its project named by its slug
        assert migrated.pop("damaged") == ("acme-web", "Default", None, 0, "[]", "[]", None, 0)
        assert migrated == EXPECTED
        # the entries themselves are left as they were
        ids = {e["deployment_id"] for e in ENTRIES.values()}
        assert [json.loads(r["entry"]) for r in remote.remote_deployments(db, parse=False)
                if r["deployment_id"] in ids] == list(ENTRIES.values())
    finally:
        db.close()


def test_recording_a_receipt_entry_writes_the_same_grid_columns(tmp_path: Path, pg: PostgresServer | None) -> None:
    db = State(tmp_path, pg).open(create=True)
    try:
        with db.transaction() as tx:
            for entry in ENTRIES.values():
                remote.record_remote(tx, "z-prod", "r1", entry, 1_700_100_000)
        assert _columns(db) == EXPECTED
    finally:
        db.close()


def test_the_grid_reads_the_shown_state_and_no_string_for_an_empty_list_on_both_engines(
        tmp_path: Path, pg: PostgresServer | None) -> None:
    db = State(tmp_path, pg).open(create=True)
    try:
        with db.transaction() as tx:
            for entry in [*ENTRIES.values(), _entry(6, "Executing")]:
                remote.record_remote(tx, "z-prod", "r1", entry, 1_700_100_000)
        rows = {r["deployment_id"]: r for r in (dict(zip(remote.GRID_ROW, v)) for v in remote.grid_rows(db))}
        # the state as every dashboard shows it (decision 900), from state and partial
        assert {d: r["shown_state"] for d, r in rows.items()} == {
            "Deployments-1": "succeeded", "Deployments-2": "partial", "Deployments-3": "failed",
            "Deployments-4": "succeeded", "Deployments-5": "succeeded", "Deployments-6": "running"}
        # an empty list is no string at all; a list is the column's JSON as written
        assert {d: (r["waived"], r["waivers"]) for d, r in rows.items() if d != "Deployments-6"} == {
            "Deployments-1": (None, None), "Deployments-2": (None, None), "Deployments-3": (None, None),
            "Deployments-4": ('["Staging"]', json.dumps(ENTRIES["tenant"]["waivers"])),
            "Deployments-5": ('["Test", "Staging"]', None)}
        assert [r["deployment_id"] for r in rows.values()] == [f"Deployments-{n}" for n in range(1, 7)]  # by start
        assert remote.grid_sequences(db) == {("z-prod", f"Deployments-{n}"): 40 + n for n in range(1, 7)}
    finally:
        db.close()
