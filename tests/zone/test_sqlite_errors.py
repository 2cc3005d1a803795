"""The embedded SQLite state fails like the PostgreSQL one: a clear code and nothing changed, never a traceback.

Before, a damaged ``state.db``, a read-only one, or one locked past the busy timeout ended in
an ``sqlite3`` traceback, where the same situations on PostgreSQL were ``state_damaged``-like
refusals with a code (``state_read_only``, ``state_busy``).
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from bundlekit.zone import sqlite as sqlite_backend
from bundlekit.zone.home import init_zone
from bundlekit.zone.sqlite import SQLiteDatabase
from tests.conftest import raises_code, run_cli, snapshot


def _home(tmp_path: Path) -> Path:
    init_zone(tmp_path / "prod", "prod", int(time.time())).close()
    return tmp_path / "prod"


def test_a_damaged_state_database_is_refused_with_a_code_and_left_as_it_was(tmp_path: Path) -> None:
    home = _home(tmp_path)
    (home / "state.db").write_bytes(b"not a database: " * 512)
    before = snapshot(home)
    r = run_cli("trust", "list", "--json", home=home)
    error = json.loads(r.stdout)["error"]
    assert (r.returncode, error["code"]) == (1, "state_damaged") and "Traceback" not in r.stderr
    assert str(home / "state.db") in error["message"] and "backup" in error["message"]
    assert snapshot(home) == before


def test_a_read_only_state_database_refuses_a_change_cleanly_and_a_retry_succeeds(tmp_path: Path) -> None:
    home = _home(tmp_path)
    state = home / "state.db"
    add = ("targets", "add", "web-01", "--environment", "Production", "--role", "web", "--root", tmp_path / "web")
    subprocess.run(["chattr", "+i", str(state)], check=True)  # read-only even for root
    try:
        before = snapshot(home)
        r = run_cli(*add, "--json", home=home)
        error = json.loads(r.stdout)["error"]
        assert (r.returncode, error["code"]) == (1, "state_read_only") and "Traceback" not in r.stderr
        assert "nothing was changed" in error["message"] and snapshot(home) == before
    finally:
        subprocess.run(["chattr", "-i", str(state)], check=True)
    assert run_cli(*add, home=home).returncode == 0


def test_a_state_locked_past_the_busy_timeout_is_state_busy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = _home(tmp_path)
    monkeypatch.setattr(sqlite_backend, "BUSY_TIMEOUT", 0.2)  # the real wait is 30 s
    db = SQLiteDatabase(home / "state.db")
    other = sqlite3.connect(home / "state.db", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # another process in the middle of a commit
    try:
        with raises_code("state_busy", match="Run the command again"):
            with db.transaction() as tx:
                tx.run("INSERT INTO meta(key, value) VALUES ('x', 'y')")
        with raises_code("state_busy"):
            db.all("SELECT key FROM meta")
        with raises_code("state_busy"):
            SQLiteDatabase(home / "state.db")  # opening reads the schema: it waits, then says so too
    finally:
        other.execute("ROLLBACK")
        other.close()
    try:
        assert db.all("SELECT key FROM meta WHERE key = 'x'") == []  # the refused write left nothing
        with db.transaction() as tx:  # and the connection is usable again
            tx.run("INSERT INTO meta(key, value) VALUES ('x', 'y')")
    finally:
        db.close()
