"""A zone whose audit trail predates signed heads (decision 675): `audit --verify` says the head
is not signed yet and how to sign it, never that the trail was "changed outside bundlekit";
`doctor` names it; `audit --sign-head` checks the trail (against a head noted earlier, when given)
and signs it with an entry of its own, and refuses, changing nothing, a trail that fails.

Through the real CLI in subprocesses. An older bundlekit's zone is made by deleting the head's
signature row, which is what such a zone lacks (its head and entries are the same).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from bundlekit.format.audit import entry_hash
from tests.conftest import run_cli, snapshot


def _ok(*args: str | Path, home: Path) -> str:
    r = run_cli(*args, home=home)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def _sql(home: Path, *statements: tuple[str, tuple[object, ...]]) -> None:
    with sqlite3.connect(home / "state.db") as db:  # behind bundlekit's back, as an older bundlekit left it
        for sql, params in statements:
            db.execute(sql, params)


def _old_zone(tmp_path: Path) -> Path:
    home = tmp_path / "prod"
    _ok("init", "--zone", "prod", home=home)
    for name in ("web-01", "web-02", "web-03"):
        _ok("targets", "add", name, "--environment", "Production", "--role", "web", "--root", str(tmp_path / name),
            home=home)
    _sql(home, ("DELETE FROM meta WHERE key = 'audit_head_sig'", ()))
    return home


def _head(home: Path) -> str:
    head = json.loads(_ok("audit", "--json", home=home))["head"]
    return f"{head['seq']}:{head['hash']}"


def test_an_unsigned_head_is_named_as_not_signed_yet_with_how_to_sign_it_and_doctor_warns(tmp_path: Path) -> None:
    home = _old_zone(tmp_path)
    r = run_cli("audit", "--verify", "--json", home=home)
    err = json.loads(r.stdout)["error"]
    assert (r.returncode, err["code"]) == (3, "invalid_audit_chain")
    assert err["details"] == {"seq": 4, "reason": "head_unsigned"}
    assert "is not signed yet" in err["message"] and "bundlekit audit --sign-head" in err["message"]
    assert "changed outside bundlekit" not in err["message"], err["message"]
    doctor = run_cli("doctor", "--json", home=home)
    found = {f["code"]: f for f in json.loads(doctor.stdout)["findings"]}
    assert doctor.returncode == 0 and found["audit_head_unsigned"]["level"] == "warning"
    warned = found["audit_head_unsigned"]["message"]
    assert "entry 4" in warned and "--sign-head" in warned


def test_sign_head_checks_the_trail_then_signs_it_with_an_entry_naming_the_command(tmp_path: Path) -> None:
    home = _old_zone(tmp_path)
    noted = _head(home)
    assert _ok("audit", "--sign-head", "--head", noted, home=home).startswith("audit trail checked and its head signed")
    _ok("audit", "--verify", home=home)
    [last] = json.loads(_ok("audit", "--json", "--since", "0", home=home))["entries"][-1:]
    assert (last["seq"], last["command"], last["changes"], last["result"]) == (5, "audit --sign-head", {"meta": 1},
                                                                               "ok")
    assert "audit_head_unsigned" not in [f["code"] for f in json.loads(_ok("doctor", "--json", home=home))["findings"]]
    before = snapshot(home)
    again = json.loads(_ok("audit", "--sign-head", "--json", home=home))
    assert again["signed"] is False and again["head"]["seq"] == 5 and snapshot(home) == before


def test_sign_head_refuses_a_cut_tail_against_a_head_noted_earlier_and_changes_nothing(tmp_path: Path) -> None:
    home = _old_zone(tmp_path)
    noted = _head(home)
    with sqlite3.connect(home / "state.db") as db:
        body3 = bytes(db.execute("SELECT body FROM audit_entries WHERE seq = 3").fetchone()[0])
    # The tail cut and the head rewritten to match, which an unsigned head cannot show by itself.
    _sql(home, ("DELETE FROM audit_entries WHERE seq = 4", ()),
         ("UPDATE meta SET value = ? WHERE key = 'audit_head'", (f"3:{entry_hash(body3)}",)))
    before = snapshot(home)
    r = run_cli("audit", "--sign-head", "--head", noted, "--json", home=home)
    err = json.loads(r.stdout)["error"]
    assert (r.returncode, err["code"], err["details"]) == (3, "invalid_audit_chain",
                                                               {"seq": 4, "reason": "witness", "last": 3})
    assert snapshot(home) == before


def test_verify_with_a_witnessed_head_says_it_checked_that_head(tmp_path: Path) -> None:
    home = tmp_path / "prod"
    _ok("init", "--zone", "prod", home=home)
    _ok("targets", "add", "web-01", "--environment", "Production", "--role", "web", "--root", str(tmp_path / "w"),
        home=home)
    noted = _head(home)
    seq, digest = noted.split(":")
    text = _ok("audit", "--verify", "--head", noted, home=home)
    assert f"it holds the head noted earlier, entry {seq} ({digest[:12]}...)" in text, text
    shown = json.loads(_ok("audit", "--verify", "--head", noted, "--json", home=home))
    assert shown["witness"] == {"seq": int(seq), "hash": digest}
    assert "noted earlier" not in _ok("audit", "--verify", home=home)
