"""`spaces list --json` gives Default's added time as the zone's creation time, never 0 (1970-01-01)
(review newuser35 finding 15, decision 965)."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

from tests.conftest import cli_in_process


def _spaces(home: Path) -> dict[str, object]:
    done = cli_in_process("spaces", "list", "--json", home=home)
    assert done.returncode == 0, done.stderr
    return {s["name"]: s["added"] for s in json.loads(done.stdout)["spaces"]}


def test_default_was_added_when_the_zone_was_created(tmp_path: Path) -> None:
    home = tmp_path / "prod"
    assert cli_in_process("init", "--zone", "prod", home=home).returncode == 0
    assert cli_in_process("spaces", "add", "Payments", home=home).returncode == 0
    created = json.loads((home / "zone.json").read_text())["created"]
    added = _spaces(home)
    assert added["Default"] == created and created > 0
    assert isinstance(added["Payments"], int) and added["Payments"] >= created


def test_a_state_without_the_creation_time_gives_null_not_zero(tmp_path: Path) -> None:
    home = tmp_path / "prod"
    assert cli_in_process("init", "--zone", "prod", home=home).returncode == 0
    with closing(sqlite3.connect(home / "state.db")) as db, db:
        db.execute("DELETE FROM meta WHERE key = 'created'")
    assert _spaces(home)["Default"] is None
