"""A node pointed at a database that is not its zone's changes nothing in it before refusing.

The other zone's database is on an older schema (as a zone whose nodes run an older bundlekit
is), so opening it the usual way would run migrations in it: every command here must identify
the database first and refuse with nothing changed, proved by ``pg_dump`` of that database
before and after. A database of another program (tables bundlekit never made) is refused the
same way by every command that would otherwise create or migrate a zone in it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bundlekit.zone.location import parse_state_url
from bundlekit.zone.postgres import PostgresDatabase
from tests.conftest import run_cli, snapshot
from tests.pgserver import PostgresServer
from tests.zone.old_schema import lay_schema

#: The other zone's schema: a few migrations behind this bundlekit's.
OLD_VERSION = 5


def _older_zone(pg: PostgresServer) -> str:
    """A database holding zone ``other`` at schema :data:`OLD_VERSION`; returns its URL."""
    url = pg.new_database("other")
    db = PostgresDatabase(parse_state_url(url, where="test", allow_password=False), pg.password)
    try:
        with db.transaction() as tx:
            lay_schema(db, tx, OLD_VERSION)
            for k, v in (("name", "other"), ("zone_id", "f" * 32), ("created", "1")):
                tx.run("INSERT INTO meta(key, value) VALUES (?, ?)", (k, v))
    finally:
        db.close()
    return url


def _foreign(pg: PostgresServer) -> str:
    """A database of another program: one table of its own, with a row."""
    url = pg.new_database("shop")
    pg.sql(url.rsplit("/", 1)[1], "CREATE TABLE customers (id INT PRIMARY KEY, name TEXT)")
    pg.sql(url.rsplit("/", 1)[1], "INSERT INTO customers VALUES (1, 'Ada')")
    return url


def _refused(pg: PostgresServer, url: str, args: list[object], code: str, *, home: Path,
             watch: tuple[Path, ...] = ()) -> str:
    """Run the command; it must refuse with ``code``, leaving the database and ``watch`` as they were."""
    name = url.rsplit("/", 1)[1]
    before, files = pg.dump(name), snapshot(home, *watch)
    r = run_cli(*map(str, args), "--json", home=home)
    assert r.returncode != 0, r.stdout + r.stderr
    err = json.loads(r.stdout)["error"]
    assert err["code"] == code, err
    assert "Traceback" not in r.stderr
    assert pg.dump(name) == before, "the other database was changed"
    assert snapshot(home, *watch) == files
    return str(err["message"])


def _pg_node(pg: PostgresServer, tmp: Path) -> Path:
    home = tmp / "prod"
    r = run_cli("init", "--zone", "prod", "--state", pg.new_database(), "--state-password-file", pg.password_file,
                home=home)
    assert r.returncode == 0, r.stderr
    return home


def test_a_node_whose_settings_point_at_another_zones_older_database_migrates_nothing_in_it(
        pg_server: PostgresServer, tmp_path: Path) -> None:
    other = _older_zone(pg_server)
    home = _pg_node(pg_server, tmp_path)
    (home / "bundlekit.conf").write_text(f"BUNDLEKIT_STATE={other}\n")
    message = _refused(pg_server, other, ["trust", "list"], "zone_mismatch", home=home)
    assert "'other'" in message and "bundlekit.conf" in message
    name = other.rsplit("/", 1)[1]
    assert pg_server.sql(name, "SELECT MAX(version) FROM bundlekit_schema") == [(OLD_VERSION,)]


def test_join_to_another_zones_older_database_migrates_nothing_in_it(pg_server: PostgresServer,
                                                                     tmp_path: Path) -> None:
    other = _older_zone(pg_server)
    source = _pg_node(pg_server, tmp_path)
    message = _refused(pg_server, other, ["join", "--state", other, "--package-store", tmp_path / "store", "--from",
                                          source, "--state-password-file", pg_server.password_file],
                       "zone_mismatch", home=tmp_path / "node-b", watch=(source, tmp_path / "store"))
    assert "'other'" in message and "'prod'" in message


def test_init_into_another_zones_older_database_migrates_nothing_in_it(pg_server: PostgresServer,
                                                                       tmp_path: Path) -> None:
    other = _older_zone(pg_server)
    message = _refused(pg_server, other, ["init", "--zone", "prod", "--state", other, "--state-password-file",
                                          pg_server.password_file], "state_not_empty", home=tmp_path / "prod")
    assert "'other'" in message and "join" in message


@pytest.mark.parametrize("dry_run", [False, True], ids=["run", "dry-run"])
def test_migrate_state_into_another_zones_older_database_migrates_nothing_in_it(
        pg_server: PostgresServer, tmp_path: Path, dry_run: bool) -> None:
    other = _older_zone(pg_server)
    home = tmp_path / "prod"
    assert run_cli("init", "--zone", "prod", home=home).returncode == 0
    message = _refused(pg_server, other, ["zone", "migrate-state", "--to", other, "--state-password-file",
                                          pg_server.password_file, *(["--dry-run"] if dry_run else [])],
                       "state_not_empty", home=home)
    assert "'other'" in message


def test_init_into_another_programs_database_is_refused_and_creates_nothing_there(pg_server: PostgresServer,
                                                                                  tmp_path: Path) -> None:
    shop = _foreign(pg_server)
    message = _refused(pg_server, shop, ["init", "--zone", "prod", "--state", shop, "--state-password-file",
                                         pg_server.password_file], "state_not_empty", home=tmp_path / "prod")
    assert "customers" in message and "--state" in message
    assert not (tmp_path / "prod").exists()


def test_migrate_state_and_join_refuse_another_programs_database(pg_server: PostgresServer, tmp_path: Path) -> None:
    shop = _foreign(pg_server)
    home = tmp_path / "prod"
    assert run_cli("init", "--zone", "prod", home=home).returncode == 0
    assert "customers" in _refused(pg_server, shop, ["zone", "migrate-state", "--to", shop, "--state-password-file",
                                                     pg_server.password_file], "state_not_empty", home=home)
    source = _pg_node(pg_server, tmp_path / "pg")
    assert "customers" in _refused(pg_server, shop, ["join", "--state", shop, "--package-store", tmp_path / "s",
                                                     "--from", source], "not_a_zone", home=tmp_path / "node-b",
                                   watch=(source,))


def test_join_never_sends_the_from_homes_password_to_another_server(pg_server: PostgresServer,
                                                                    tmp_path: Path) -> None:
    """The --from home's password is reused only for its own host, port and user: given another
    server's URL (a typing error, or a URL someone planted), join refuses before connecting."""
    source = _pg_node(pg_server, tmp_path)
    before = snapshot(source)
    for other in ("postgresql://bundlekit@127.0.0.1:1/prod", f"postgresql://intruder@127.0.0.1:{pg_server.port}/x"):
        r = run_cli("join", "--state", other, "--package-store", tmp_path / "store", "--from", source, "--json",
                    home=tmp_path / "node-b")
        err = json.loads(r.stdout)["error"]
        assert (r.returncode, err["code"]) == (2, "usage"), r.stdout
        assert str(source / "keys" / "state.password") in err["message"] and "--state-password-file" in err["message"]
        assert pg_server.password not in r.stdout + r.stderr
        assert not (tmp_path / "node-b").exists() and snapshot(source) == before


def test_init_killed_before_it_recorded_its_zone_is_finished_by_running_it_again(pg_server: PostgresServer,
                                                                                 tmp_path: Path) -> None:
    """`init --state` killed while it records its zone (here: the state's write lock is held by
    another node, so it waits there) leaves a home the same command finishes; the state never
    names a zone whose home is not whole."""
    import psycopg

    from bundlekit.zone.postgres import _WRITE_LOCK
    from bundlekit.zone.schema import migrate

    url = pg_server.new_database()
    db = PostgresDatabase(parse_state_url(url, where="test", allow_password=False), pg_server.password)
    migrate(db)  # the schema is there (what a first init does before it waits for the lock)
    db.close()
    home, store = tmp_path / "prod", tmp_path / "store"
    args = ["init", "--zone", "prod", "--state", url, "--package-store", store, "--state-password-file",
            pg_server.password_file, "--json"]
    env = dict(os.environ)
    env.pop("BUNDLEKIT_HOME", None)
    with psycopg.connect(url, password=pg_server.password) as other:  # another node, mid-transaction
        other.execute("SELECT pg_advisory_xact_lock(%s)", (_WRITE_LOCK,))
        proc = subprocess.Popen([sys.executable, "-m", "bundlekit", *map(str, args), "--home", str(home)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                start_new_session=True)
        try:
            deadline = time.monotonic() + 120  # a limit for a hang, not a measured time
            while not (home / "zone.json").exists():
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "init never got as far as its home"
                time.sleep(0.05)
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
        other.rollback()
    name = url.rsplit("/", 1)[1]
    assert pg_server.sql(name, "SELECT COUNT(*) FROM meta WHERE key = 'zone_id'") == [(0,)]
    r = run_cli("trust", "list", "--json", home=home)  # the half-made node says what to do
    err = json.loads(r.stdout)["error"]
    assert err["code"] == "not_a_zone" and "init" in err["message"], err
    r = run_cli(*args[:-1], "--json", home=home)
    assert r.returncode == 0, r.stdout + r.stderr
    made = json.loads(r.stdout)
    assert json.loads((home / "zone.json").read_text())["zone_id"] == made["zone_id"]
    assert pg_server.sql(name, "SELECT value FROM meta WHERE key = 'zone_id'") == [(made["zone_id"],)]
    assert run_cli("trust", "list", home=home).returncode == 0
    assert not (home / "init.pending").exists()
