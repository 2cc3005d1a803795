"""A node pointed at a database that is not its zone's changes nothing in it before refusing.

The other zone's database is on an older schema (as a zone whose nodes run an older bundlekit
is), so opening it the usual way would run migrations in it: every command here must identify
the database first and refuse with nothing changed, proved by ``pg_dump`` of that database
before and after. A database of another program (tables bundlekit never made) is refused the
same way by every command that would otherwise create or migrate a zone in it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bundlekit.zone.location import parse_state_url
from bundlekit.zone.postgres import PostgresDatabase
from bundlekit.zone.schema import MIGRATIONS
from tests.conftest import run_cli, snapshot
from tests.pgserver import PostgresServer

#: The other zone's schema: a few migrations behind this bundlekit's.
OLD_VERSION = 5


def _older_zone(pg: PostgresServer) -> str:
    """A database holding zone ``other`` at schema :data:`OLD_VERSION`; returns its URL."""
    url = pg.new_database("other")
    db = PostgresDatabase(parse_state_url(url, where="test", allow_password=False), pg.password)
    try:
        with db.transaction() as tx:
            db.prepare_schema(tx)
            for script in MIGRATIONS[:OLD_VERSION]:
                for statement in db.ddl(script):
                    tx.run(statement)
            db.set_schema_version(tx, OLD_VERSION)
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
