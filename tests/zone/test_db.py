"""The zone's data layer: transactions, snapshots, migrations and allocation, on real SQLite files."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from bundlekit.zone import deployments, sequences
from bundlekit.zone.schema import MIGRATIONS, SCHEMA_VERSION
from bundlekit.zone.sqlite import SQLiteDatabase
from bundlekit.zone.state import open_state
from tests.conftest import raises_code


@pytest.fixture
def db(tmp_path: Path):  # type: ignore[no-untyped-def]
    d = open_state(tmp_path, create=True)
    yield d
    d.close()


def test_a_transaction_that_raises_leaves_nothing_behind(db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ZeroDivisionError, match="division by zero"):
        with db.transaction() as tx:
            sequences.next_outgoing(tx, "zone-a")
            1 / 0
    assert db.scalar("SELECT COUNT(*) AS n FROM outgoing") == 0
    with db.transaction() as tx:
        assert sequences.next_outgoing(tx, "zone-a") == 1


def test_transactions_do_not_nest(db) -> None:  # type: ignore[no-untyped-def]
    with db.transaction():
        with pytest.raises(RuntimeError, match="do not nest"):
            with db.transaction():
                pass
    with db.transaction() as tx:  # the outer one ended cleanly; the database is usable
        tx.run("INSERT INTO meta(key, value) VALUES ('k', 'v')")
    assert db.one("SELECT value FROM meta WHERE key = 'k'") == {"value": "v"}


def test_rows_are_named_mappings_and_blobs_are_bytes(db) -> None:  # type: ignore[no-untyped-def]
    with db.transaction() as tx:
        tx.run("INSERT INTO logs(digest, data) VALUES (?, ?)", ("d", b"\x00\x01"))
    row = db.one("SELECT digest, data FROM logs")
    assert row == {"digest": "d", "data": b"\x00\x01"} and isinstance(row["data"], bytes)
    assert db.scalar("SELECT data FROM logs WHERE digest = ?", ("missing",), default="none") == "none"


def test_a_read_snapshot_does_not_see_a_later_commit(tmp_path: Path) -> None:
    reader = open_state(tmp_path, create=True)
    done = threading.Event()

    def write() -> None:
        writer = open_state(tmp_path)
        try:
            with writer.transaction() as tx:
                tx.run("INSERT INTO meta(key, value) VALUES ('k', 'v')")
        finally:
            writer.close()
        done.set()

    try:
        with reader.read() as snap:
            assert snap.scalar("SELECT COUNT(*) AS n FROM meta") == 0
            t = threading.Thread(target=write)
            t.start()
            t.join(0.3)  # rollback-journal mode: the commit waits for the snapshot to end
            assert snap.scalar("SELECT COUNT(*) AS n FROM meta") == 0
        t.join(30)
        assert done.is_set() and reader.scalar("SELECT COUNT(*) AS n FROM meta") == 1
    finally:
        reader.close()


def test_a_second_writer_waits_for_the_first_and_gets_the_next_number(tmp_path: Path) -> None:
    first = open_state(tmp_path, create=True)
    got: list[int] = []

    def second() -> None:
        other = open_state(tmp_path)
        try:
            with other.transaction() as tx:
                got.append(sequences.next_outgoing(tx, "z"))
        finally:
            other.close()

    try:
        with first.transaction() as tx:
            got.append(sequences.next_outgoing(tx, "z"))
            t = threading.Thread(target=second)
            t.start()
            t.join(0.3)
            assert t.is_alive() and got == [1]  # blocked at BEGIN IMMEDIATE, not reading a stale number
        t.join(30)
        assert got == [1, 2]
    finally:
        first.close()


def test_a_pinned_sequence_never_lowers_the_high_water_mark(db) -> None:  # type: ignore[no-untyped-def]
    with db.transaction() as tx:
        assert sequences.next_outgoing(tx, "z", pinned=5) == 5
        assert sequences.next_outgoing(tx, "z", pinned=2) == 2
        assert sequences.next_outgoing(tx, "z") == 6


def test_a_state_written_by_a_newer_bundlekit_is_refused(tmp_path: Path) -> None:
    open_state(tmp_path, create=True).close()
    conn = sqlite3.connect(str(tmp_path / "state.db"))
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with raises_code("state_too_new") as info:
        open_state(tmp_path)
    assert info.value.code == "state_too_new" and "upgrade bundlekit" in info.value.message


def test_a_missing_state_is_not_a_zone(tmp_path: Path) -> None:
    with raises_code("not_a_zone") as info:
        open_state(tmp_path)
    assert info.value.code == "not_a_zone"
    assert not (tmp_path / "state.db").exists()


def test_migrating_an_older_state_continues_its_deployment_ids(tmp_path: Path) -> None:
    old = SQLiteDatabase(tmp_path / "state.db")
    with old.transaction() as tx:  # a home written before deployment ids were allocated (schema 4)
        for script in MIGRATIONS[:4]:
            for statement in old.ddl(script):
                tx.run(statement)
        old.set_schema_version(tx, 4)
        for n in (1, 2, 7):  # the columns of schema 4
            tx.run("INSERT INTO deployments(id, project_slug, release, environment, source_zone_id, bundle_digest, "
                   "state, started, ended, record, outputs) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                   (f"Deployments-{n}", "p", "1", "E", "z", "d", "Executing", float(n), None, "{}", "[]"))
    old.close()
    db = open_state(tmp_path)
    try:
        assert db.schema_version(db) == SCHEMA_VERSION
        assert deployments.peek_next_id(db) == "Deployments-8"
        with db.transaction() as tx:
            assert deployments.allocate_id(tx) == "Deployments-8"
        assert deployments.peek_next_id(db) == "Deployments-9"
    finally:
        db.close()


def test_deployment_ids_are_not_reused_after_a_rolled_back_recording(db) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RuntimeError, match="recording failed"):
        with db.transaction() as tx:
            assert deployments.allocate_id(tx) == "Deployments-1"
            raise RuntimeError("recording failed")
    with db.transaction() as tx:
        assert deployments.allocate_id(tx) == "Deployments-1"  # nothing was recorded, nothing was taken
        assert deployments.allocate_id(tx) == "Deployments-2"


def test_migrating_to_per_project_sequences_keeps_each_projects_high_water_mark(tmp_path: Path) -> None:
    """A zone that imported bundles numbered per zone pair goes on refusing each project's older ones."""
    old = SQLiteDatabase(tmp_path / "state.db")
    before = next(i for i, script in enumerate(MIGRATIONS) if "CREATE TABLE evidence" in script)
    with old.transaction() as tx:  # a home written before format 1.1
        for script in MIGRATIONS[:before]:
            for statement in old.ddl(script):
                tx.run(statement)
        old.set_schema_version(tx, before)
        for slug, seq in (("web", 3), ("web", 7), ("billing", 5)):
            tx.run("INSERT INTO imports(digest, bundle_id, source_zone_id, sequence, project_slug, release, "
                   "imported_at, plan) VALUES (?,?,?,?,?,?,?,?)", (f"d{seq}", f"b{seq}", "dev", seq, slug, "1", 0, "{}"))
        for slug in ("web", "billing"):
            tx.run("INSERT INTO projects(slug, name, space, source_zone_id, local, base, updated) VALUES "
                   "(?,?,?,?,?,?,?)", (slug, slug, "Default", "dev", "{}", "{}", 0))
    old.close()
    db = open_state(tmp_path)
    try:
        web = sequences.release_key("dev", "Default", "web")
        billing = sequences.release_key("dev", "default", "BILLING")  # keys fold case
        for key, older, last in ((web, 6, 7), (billing, 4, 5)):
            with raises_code("rollback") as info:
                sequences.check_incoming(db, key, older, older_code="rollback", older="old {last}", reused="same")
            assert info.value.message == f"old {last}"
            sequences.check_incoming(db, key, last + 1, older_code="rollback", older="", reused="")
        # a project never imported is not held back by the others' numbers
        sequences.check_incoming(db, sequences.release_key("dev", "Default", "shop"), 1, older_code="rollback",
                                 older="", reused="")
    finally:
        db.close()
