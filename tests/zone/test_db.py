"""The zone's data layer: transactions, snapshots, migrations, allocation and claims, on both engines.

Every test here runs on a real SQLite file and on a real PostgreSQL database (``engine``):
these are the rules ``zone/db.py`` promises whatever the backend.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from bundlekit.zone import deployments, packages, sequences
from bundlekit.zone.db import Database
from bundlekit.zone.schema import MIGRATIONS, SCHEMA_VERSION, migrate
from bundlekit.zone.sqlite import SQLiteDatabase
from bundlekit.zone.state import open_state, open_url
from tests.conftest import pg_url, raises_code
from tests.pgserver import PostgresServer
from tests.zone.old_schema import before_migration, lay_schema


@dataclass
class State:
    """Where one test's state lives; :meth:`open` gives another connection to it (another "process")."""

    home: Path
    pg: PostgresServer | None

    def __post_init__(self) -> None:
        self.url = pg_url(self.pg) if self.pg is not None else None

    def open(self, *, create: bool = False) -> Database:
        if self.url is not None:
            assert self.pg is not None
            return open_url(self.url, self.pg.password, create=create)
        return open_state(self.home, create=create)

    def raw(self) -> Database:
        """A connection with no migration applied (to build an old schema by hand)."""
        if self.url is not None:
            from bundlekit.zone.postgres import PostgresDatabase

            assert self.pg is not None
            return PostgresDatabase(self.url, self.pg.password)
        return SQLiteDatabase(self.home / "state.db")


@pytest.fixture
def state(tmp_path: Path, pg: PostgresServer | None) -> State:
    return State(tmp_path, pg)


@pytest.fixture
def db(state: State) -> Iterator[Database]:
    d = state.open(create=True)
    yield d
    d.close()


def test_a_transaction_that_raises_leaves_nothing_behind(db: Database) -> None:
    with pytest.raises(ZeroDivisionError, match="division by zero"):
        with db.transaction() as tx:
            sequences.next_outgoing(tx, "zone-a")
            1 / 0
    assert db.scalar("SELECT COUNT(*) AS n FROM outgoing") == 0
    with db.transaction() as tx:
        assert sequences.next_outgoing(tx, "zone-a") == 1


def test_transactions_do_not_nest(db: Database) -> None:
    with db.transaction():
        with pytest.raises(RuntimeError, match="do not nest"):
            with db.transaction():
                pass
    with db.transaction() as tx:  # the outer one ended cleanly; the database is usable
        tx.run("INSERT INTO meta(key, value) VALUES ('k', 'v')")
    assert db.one("SELECT value FROM meta WHERE key = 'k'") == {"value": "v"}


def test_rows_are_named_mappings_and_blobs_are_bytes(db: Database) -> None:
    with db.transaction() as tx:
        tx.run("INSERT INTO logs(digest, data) VALUES (?, ?)", ("d", b"\x00\x01"))
    row = db.one("SELECT digest, data FROM logs")
    assert row == {"digest": "d", "data": b"\x00\x01"} and isinstance(row["data"], bytes)
    assert db.scalar("SELECT data FROM logs WHERE digest = ?", ("missing",), default="none") == "none"


def test_nocase_columns_compare_and_conflict_without_case(db: Database) -> None:
    with db.transaction() as tx:
        tx.run("INSERT INTO targets(name, environment, roles, kind, root, added) VALUES (?,?,?,?,?,?)",
               ("Web-01", "Production", "[]", "local", "/t", 1))
    assert db.scalar("SELECT name FROM targets WHERE name = ? AND environment = ?", ("WEB-01", "production")) == "Web-01"
    with pytest.raises(Exception, match="(?i)unique|duplicate"):
        with db.transaction() as tx:
            tx.run("INSERT INTO targets(name, environment, roles, kind, root, added) VALUES (?,?,?,?,?,?)",
                   ("web-01", "Test", "[]", "local", "/t2", 2))
    assert db.scalar("SELECT COUNT(*) AS n FROM targets") == 1


def test_rows_streams_every_row_in_batches(db: Database) -> None:
    with db.transaction() as tx:
        tx.run_many("INSERT INTO meta(key, value) VALUES (?, ?)", [(f"k{i:04}", str(i)) for i in range(1234)])
    with db.read() as snap:
        keys = [r["key"] for r in snap.rows("SELECT key FROM meta ORDER BY key", batch=100)]
    assert keys == [f"k{i:04}" for i in range(1234)]


def test_a_read_snapshot_does_not_see_a_later_commit(state: State, db: Database) -> None:
    done = threading.Event()

    def write() -> None:
        writer = state.open()
        try:
            with writer.transaction() as tx:
                tx.run("INSERT INTO meta(key, value) VALUES ('k', 'v')")
        finally:
            writer.close()
        done.set()

    with db.read() as snap:
        assert snap.scalar("SELECT COUNT(*) AS n FROM meta") == 0
        t = threading.Thread(target=write)
        t.start()
        t.join(0.3)  # SQLite: the commit waits for the snapshot; PostgreSQL: it commits beside it
        assert snap.scalar("SELECT COUNT(*) AS n FROM meta") == 0
    t.join(30)
    assert done.is_set() and db.scalar("SELECT COUNT(*) AS n FROM meta") == 1


def test_a_second_writer_waits_for_the_first_and_gets_the_next_number(state: State, db: Database) -> None:
    got: list[int] = []

    def second() -> None:
        other = state.open()
        try:
            with other.transaction() as tx:
                got.append(sequences.next_outgoing(tx, "z"))
        finally:
            other.close()

    with db.transaction() as tx:
        got.append(sequences.next_outgoing(tx, "z"))
        t = threading.Thread(target=second)
        t.start()
        t.join(0.5)
        assert t.is_alive() and got == [1]  # blocked at the write lock, not reading a stale number
    t.join(30)
    assert got == [1, 2]


def test_many_writers_at_once_never_get_the_same_deployment_id(state: State, db: Database) -> None:
    ids: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        conn = state.open()
        try:
            for _ in range(10):
                with conn.transaction() as tx:
                    got = deployments.allocate_id(tx)
                with lock:
                    ids.append(got)
        finally:
            conn.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(ids, key=lambda i: int(i.split("-")[1])) == [f"Deployments-{n}" for n in range(1, 41)]


def test_a_pinned_sequence_never_lowers_the_high_water_mark(db: Database) -> None:
    with db.transaction() as tx:
        assert sequences.next_outgoing(tx, "z", pinned=5) == 5
        assert sequences.next_outgoing(tx, "z", pinned=2) == 2
        assert sequences.next_outgoing(tx, "z") == 6


def test_a_state_written_by_a_newer_bundlekit_is_refused(state: State, db: Database) -> None:
    with db.transaction() as tx:
        db.set_schema_version(tx, SCHEMA_VERSION + 1)
    with raises_code("state_too_new") as info:
        state.open()
    assert "upgrade bundlekit" in info.value.message


def test_a_missing_state_is_not_a_zone(state: State) -> None:
    with raises_code("not_a_zone") as info:
        state.open()
    assert "bundlekit init" in info.value.message
    assert not (state.home / "state.db").exists()


def test_migrating_an_older_state_continues_its_deployment_ids(state: State) -> None:
    old = state.raw()
    with old.transaction() as tx:  # a state written before deployment ids were allocated (schema 4)
        lay_schema(old, tx, 4)
        for n in (1, 2, 7):  # the columns of schema 4
            tx.run("INSERT INTO deployments(id, project_slug, release, environment, source_zone_id, bundle_digest, "
                   "state, started, ended, record, outputs) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                   (f"Deployments-{n}", "p", "1", "E", "z", "d", "Executing", float(n), None, "{}", "[]"))
    old.close()
    db = state.open()
    try:
        assert db.schema_version(db) == SCHEMA_VERSION
        assert deployments.peek_next_id(db) == "Deployments-8"
        with db.transaction() as tx:
            assert deployments.allocate_id(tx) == "Deployments-8"
        assert deployments.peek_next_id(db) == "Deployments-9"
    finally:
        db.close()


def test_a_failed_migration_leaves_the_old_schema_whole(state: State, monkeypatch: pytest.MonkeyPatch) -> None:
    old = state.raw()
    with old.transaction() as tx:
        lay_schema(old, tx, 4)
    monkeypatch.setattr("bundlekit.zone.schema.MIGRATIONS", [*MIGRATIONS, "CREATE TABLE broken (x {int}); "
                                                             "INSERT INTO no_such_table VALUES (1)"])
    monkeypatch.setattr("bundlekit.zone.schema.SCHEMA_VERSION", SCHEMA_VERSION + 1)
    with pytest.raises(Exception, match="no_such_table"):
        migrate(old)
    assert old.schema_version(old) == 4
    assert "counters" not in old.table_names(old) and "broken" not in old.table_names(old)
    monkeypatch.undo()
    old.close()
    db = state.open()  # a retry with the real migrations succeeds
    try:
        assert db.schema_version(db) == SCHEMA_VERSION and "counters" in db.table_names(db)
    finally:
        db.close()


def test_two_processes_opening_an_old_state_at_once_migrate_it_once(state: State) -> None:
    state.open(create=True).close()
    errors: list[BaseException] = []

    def opener() -> None:
        try:
            state.open().close()
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=opener) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []


def test_deployment_ids_are_not_reused_after_a_rolled_back_recording(db: Database) -> None:
    with pytest.raises(RuntimeError, match="recording failed"):
        with db.transaction() as tx:
            assert deployments.allocate_id(tx) == "Deployments-1"
            raise RuntimeError("recording failed")
    with db.transaction() as tx:
        assert deployments.allocate_id(tx) == "Deployments-1"  # nothing was recorded, nothing was taken
        assert deployments.allocate_id(tx) == "Deployments-2"


def test_migrating_to_per_project_sequences_keeps_each_projects_high_water_mark(state: State) -> None:
    """A zone that imported bundles numbered per zone pair goes on refusing each project's older ones."""
    old = state.raw()
    before = before_migration("CREATE TABLE evidence")
    with old.transaction() as tx:  # a home written before format 1.1
        lay_schema(old, tx, before)
        for slug, seq in (("web", 3), ("web", 7), ("billing", 5)):
            tx.run("INSERT INTO imports(digest, bundle_id, source_zone_id, sequence, project_slug, release, "
                   "imported_at, plan) VALUES (?,?,?,?,?,?,?,?)", (f"d{seq}", f"b{seq}", "dev", seq, slug, "1", 0, "{}"))
        for slug in ("web", "billing"):
            tx.run("INSERT INTO projects(slug, name, space, source_zone_id, local, base, updated) VALUES "
                   "(?,?,?,?,?,?,?)", (slug, slug, "Default", "dev", "{}", "{}", 0))
    old.close()
    db = state.open()
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


def test_a_claim_is_held_until_released_or_its_holder_closes(state: State, db: Database) -> None:
    other = state.open()
    try:
        with db.transaction() as tx:
            assert db.claim(tx, "deploy/acme/production")
        with other.transaction() as tx:
            assert not other.claim(tx, "deploy/acme/production")
            assert other.claim(tx, "deploy/acme/test")  # another name is free
        db.release("deploy/acme/production")
        with other.transaction() as tx:
            assert other.claim(tx, "deploy/acme/production")
        other.close()  # the holder goes away without releasing (a node that died)
        deadline = time.monotonic() + 30  # PostgreSQL frees it once the server has seen the connection end
        while True:
            with db.transaction() as tx:
                if db.claim(tx, "deploy/acme/production"):
                    break
            assert time.monotonic() < deadline, "the claim of a closed connection was never freed"
            time.sleep(0.05)
    finally:
        other.close()


def test_another_connections_claim_is_seen_as_held_without_taking_it(state: State, db: Database) -> None:
    """What a deployment asks before it starts: does a prune hold the zone's prune claim?"""
    other = state.open()
    try:
        with db.read() as r:
            assert not db.held(r, "prune")  # never taken (SQLite: no claims table yet)
        with other.transaction() as tx:
            assert other.claim(tx, "prune")
        with db.read() as r:
            assert db.held(r, "prune") and not db.held(r, "deploy/acme/production")
        with other.read() as r:
            assert not other.held(r, "prune")  # its own claim is not "another's"
        with db.transaction() as tx:
            assert db.held(tx, "prune")
            assert not db.claim(tx, "prune")  # and asking took nothing
        other.release("prune")
        with db.read() as r:
            assert not db.held(r, "prune")
    finally:
        other.close()


def test_claims_of_unrelated_deployment_slots_never_share_a_lock(state: State, db: Database) -> None:
    """Decision 770: these two slots had one 32-bit key (found by a birthday search); each is its
    own claim now, and a claim is neither the write lock nor held up by it."""
    a, b = deployments.slot("app-12396", "production"), deployments.slot("app-121093", "production")
    other = state.open()
    try:
        with db.transaction() as tx:
            assert db.claim(tx, a)
        with other.transaction() as tx:
            assert not other.held(tx, b)
            assert other.claim(tx, b)  # another project's slot is free while app-12396 deploys
            assert other.held(tx, a) and not other.held(tx, "prune")
        with db.read() as r:
            assert db.held(r, b)
    finally:
        other.close()


def test_a_claim_key_is_64_bits_and_never_the_write_locks() -> None:
    from bundlekit.zone.postgres import _WRITE_LOCK, _claim_key, claim_lock
    a, b = deployments.slot("app-12396", "production"), deployments.slot("app-121093", "production")
    assert _claim_key(a) != _claim_key(b)
    keys = {_claim_key(deployments.slot(f"app-{n}", "production")) for n in range(20_000)}
    assert len(keys) == 20_000 and _WRITE_LOCK not in keys
    assert max(abs(k) for k in keys) >= 2 ** 40  # the high half is used, not four bytes
    high, low = claim_lock(a)
    assert (high << 32 | low) == _claim_key(a) & 0xFFFFFFFFFFFFFFFF


def test_a_claim_taken_in_a_rolled_back_transaction_is_given_back(state: State, db: Database) -> None:
    with pytest.raises(RuntimeError, match="recording failed"):
        with db.transaction() as tx:
            assert db.claim(tx, "deploy/acme/production")
            raise RuntimeError("recording failed")
    other = state.open()
    try:
        with other.transaction() as tx:
            assert other.claim(tx, "deploy/acme/production")
    finally:
        other.close()


def test_migrating_gives_each_package_to_the_sources_of_the_releases_that_name_it(state: State) -> None:
    """Decision 290: packages imported before sources owned packages belong to the source zones of
    the releases whose snapshot lists their SHA-256; one no release names belongs to nobody."""
    old = state.raw()
    before = before_migration("CREATE TABLE package_sources")
    used, shared, orphan = "a" * 64, "b" * 64, "c" * 64
    with old.transaction() as tx:
        lay_schema(old, tx, before)
        for pid, sha in (("Web", used), ("Lib", shared), ("Old", orphan)):
            tx.run("INSERT INTO packages(id, version, sha256, size, file, added) VALUES (?,?,?,?,?,?)",
                   (pid, "1.0", sha, 1, f"{pid}.zip", 5))
        for slug, source, shas in (("web", "zone-a", [used, shared]), ("billing", "zone-b", [shared])):
            snapshot = json.dumps({"variables": {"Note": {"value": orphan}},  # a value is no package entry
                                   "packages": {f"p{i}": {"id": "x", "sha256": s} for i, s in enumerate(shas)}})
            tx.run("INSERT INTO releases(project_slug, version, channel, notes, source_zone_id, bundle_id, "
                   "bundle_digest, sequence, content_digest, snapshot, output_refs, imported_at) "
                   "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", (slug, "1", "Default", "", source, "b", "d", 1, "c", snapshot,
                                                        "[]", 0))
    old.close()
    db = state.open()
    try:
        rows = db.all("SELECT id, version, sha256, source_zone_id, added FROM package_sources "
                      "ORDER BY id, source_zone_id")
        assert [tuple(r.values()) for r in rows] == [("Lib", "1.0", shared, "zone-a", 5),
                                                     ("Lib", "1.0", shared, "zone-b", 5),
                                                     ("Web", "1.0", used, "zone-a", 5)]
        assert packages.delivered_by(db, ["zone-b"]) == {shared}
        assert [p["id"] for p in packages.inventory(db, ["zone-a"])] == ["Lib", "Web"]
    finally:
        db.close()
