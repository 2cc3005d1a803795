"""An audit entry edited by hand with a database shell, so that its body or signature is stored
as text or a number instead of bytes, is reported as an altered entry at its seq (exit 3,
``invalid_audit_chain``) by `audit --verify`, and `audit` still lists the trail, never a
traceback or a query failure
(review v31-12 P1). SQLite only: the type of a value is SQLite's to change; PostgreSQL's
``bytea`` column holds bytes whatever is written."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest

from bundlekit.zone import targets
from bundlekit.zone.home import init_zone
from tests.conftest import cli_in_process, snapshot

EDITS = {
    "body as text": "UPDATE audit_entries SET body = 'hello' WHERE seq = 3",
    "body retyped, not UTF-8": "UPDATE audit_entries SET body = CAST(X'ff00fe41' AS TEXT) WHERE seq = 3",
    "body as a number": "UPDATE audit_entries SET body = 7 WHERE seq = 3",
    "signature as text": "UPDATE audit_entries SET signature = 'abc' WHERE seq = 3",
}


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_an_entry_retyped_by_hand_is_named_as_altered_with_exit_3(tmp_path: Path, edit: str) -> None:
    zone = init_zone(tmp_path / "prod", "prod", int(time.time()))
    for name in ("web-01", "web-02", "web-03"):
        targets.add_target(zone, name, "Production", ("web",), tmp_path / name, int(time.time()))
    home = zone.home
    zone.close()
    with sqlite3.connect(home / "state.db") as conn:
        conn.execute(EDITS[edit])
    before = snapshot(home)
    r = cli_in_process("audit", "--verify", "--json", home=home)
    assert r.returncode == 3, (r.stdout, r.stderr)
    error = json.loads(r.stdout)["error"]
    assert error["code"] == "invalid_audit_chain" and error["details"]["seq"] == 3, error
    assert "audit entry 3" in error["message"]
    # The listing does not verify: it lists the trail as unverified, or, when the entry cannot
    # even be decoded to be listed, refuses the same way as --verify.
    listed = cli_in_process("audit", "--json", home=home)
    shown = json.loads(listed.stdout)
    if listed.returncode == 0:
        assert shown["verified"] is False
    else:
        assert listed.returncode == 3 and shown["error"]["details"]["seq"] == 3, shown
    assert snapshot(home) == before
