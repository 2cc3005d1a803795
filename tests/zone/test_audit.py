"""The audit trail (zone/audit.py, format/audit.py, spec/audit.md): every committed change has one
signed, chained entry committed with it, and a trail changed outside bundlekit is caught at the
first bad entry: an altered field or signature, a deleted, reordered or forged entry, a cut tail.

On both state engines: the entries' row images are taken with ``RETURNING`` on each.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bundlekit.format import codec
from bundlekit.format.audit import GENESIS, entry_hash
from bundlekit.format.crypto import sign
from bundlekit.zone import audit, targets
from bundlekit.zone.db import Writer
from bundlekit.zone.home import Zone, init_zone
from tests.conftest import cli_in_process, pg_url, raises_code, snapshot
from tests.pgserver import PostgresServer


def _zone(tmp: Path, pg: PostgresServer | None) -> Zone:
    now = int(time.time())
    if pg is None:
        return init_zone(tmp / "prod", "prod", now)
    return init_zone(tmp / "prod", "prod", now, state=pg_url(pg), password=pg.password)


def _add(zone: Zone, *names: str) -> None:
    for name in names:
        targets.add_target(zone, name, "Production", ("web",), zone.home.parent / name, int(time.time()))


def _rows(zone: Zone) -> list[dict[str, Any]]:
    return zone.db.all("SELECT seq, body, signature FROM audit_entries ORDER BY seq")


def _tamper(zone: Zone, statements: list[tuple[str, tuple[Any, ...]]]) -> None:
    """Change the trail as someone with write access to the state would: plain SQL, no watcher."""
    db = zone.db
    watcher, db.watcher = db.watcher, None
    try:
        with db.transaction() as tx:
            for sql, params in statements:
                tx.run(sql, params)
    finally:
        db.watcher = watcher


@pytest.fixture
def prod(tmp_path: Path, pg: PostgresServer | None) -> Zone:
    zone = _zone(tmp_path, pg)
    _add(zone, "web-01", "web-02", "web-03", "web-04")
    yield zone
    zone.close()


def test_each_committed_change_has_one_entry_chained_and_signed(prod: Zone) -> None:
    entries = audit.verify(prod)
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0].prev == GENESIS and entries[0].changes == {"meta": 3}  # the zone's creation (audit_since, its public keys)
    rows = _rows(prod)
    assert [e.prev for e in entries[1:]] == [entry_hash(bytes(r["body"])) for r in rows[:-1]]
    assert all(e.changes == {"targets": 1} and e.result == "ok" and e.code is None for e in entries[1:])
    assert all(e.before != e.after and e.before and e.after for e in entries)
    assert audit.head(prod.db).seq == 5


def test_a_transaction_that_changes_nothing_writes_no_entry(prod: Zone) -> None:
    with prod.db.transaction() as tx:
        tx.run("UPDATE targets SET name = name WHERE name = ?", ("no-such-target",))
    assert len(audit.verify(prod)) == 5


def test_an_altered_field_is_caught_at_that_entry(prod: Zone) -> None:
    body = bytes(_rows(prod)[1]["body"])
    fields = codec.decode(body)
    fields["user"] = "someone-else"
    _tamper(prod, [("UPDATE audit_entries SET body = ? WHERE seq = ?", (codec.encode(fields), 2))])
    with raises_code("invalid_audit_chain") as info:
        audit.verify(prod)
    assert info.value.details == {"seq": 2, "reason": "signature"}


def test_an_altered_signature_is_caught_at_that_entry(prod: Zone) -> None:
    signature = bytearray(_rows(prod)[2]["signature"])
    signature[0] ^= 1
    _tamper(prod, [("UPDATE audit_entries SET signature = ? WHERE seq = ?", (bytes(signature), 3))])
    with raises_code("invalid_audit_chain") as info:
        audit.verify(prod)
    assert info.value.details == {"seq": 3, "reason": "signature"}


def test_a_deleted_entry_is_caught_at_the_entry_after_it(prod: Zone) -> None:
    _tamper(prod, [("DELETE FROM audit_entries WHERE seq = ?", (2,))])
    with raises_code("invalid_audit_chain") as info:
        audit.verify(prod)
    assert info.value.details == {"seq": 3, "reason": "sequence"}


def test_a_deleted_entry_renumbered_to_close_the_gap_breaks_the_chain(prod: Zone) -> None:
    _tamper(prod, [("DELETE FROM audit_entries WHERE seq = ?", (2,)),
                   ("UPDATE audit_entries SET seq = seq - 1 WHERE seq > ?", (2,))])
    with raises_code("invalid_audit_chain") as info:
        audit.verify(prod)
    assert info.value.details == {"seq": 2, "reason": "sequence"}  # the body still says 3


def test_reordered_entries_are_caught_at_the_first_moved(prod: Zone) -> None:
    rows = _rows(prod)
    two, three = rows[1], rows[2]
    _tamper(prod, [("DELETE FROM audit_entries WHERE seq IN (?, ?)", (2, 3)),
                   ("INSERT INTO audit_entries(seq, body, signature) VALUES (?, ?, ?)",
                    (2, bytes(three["body"]), bytes(three["signature"]))),
                   ("INSERT INTO audit_entries(seq, body, signature) VALUES (?, ?, ?)",
                    (3, bytes(two["body"]), bytes(two["signature"])))])
    with raises_code("invalid_audit_chain") as info:
        audit.verify(prod)
    assert info.value.details == {"seq": 2, "reason": "sequence"}


def test_a_cut_tail_is_caught_against_the_recorded_head(prod: Zone) -> None:
    _tamper(prod, [("DELETE FROM audit_entries WHERE seq >= ?", (3,))])
    with raises_code("invalid_audit_chain") as info:
        audit.verify(prod)
    assert info.value.details == {"seq": 5, "reason": "truncated"}


def test_a_damaged_head_is_named_and_the_zone_still_records_its_changes(prod: Zone) -> None:
    _tamper(prod, [("UPDATE meta SET value = ? WHERE key = 'audit_head'", ("garbage",))])
    with raises_code("invalid_audit_chain") as info:
        audit.verify(prod)
    assert info.value.details == {"seq": 5, "reason": "head"}
    _add(prod, "web-05")  # appended after the last stored entry; the head is whole again
    assert [e.seq for e in audit.verify(prod)] == [1, 2, 3, 4, 5, 6]


def test_a_change_after_a_cut_tail_leaves_the_gap_visible(prod: Zone) -> None:
    _tamper(prod, [("DELETE FROM audit_entries WHERE seq = ?", (5,))])
    _add(prod, "web-05")  # follows the recorded head (entry 5), not the last row left (entry 4)
    with raises_code("invalid_audit_chain") as info:
        audit.verify(prod)
    assert info.value.details == {"seq": 6, "reason": "sequence"}


def test_an_entry_forged_with_another_key_is_caught(prod: Zone) -> None:
    rows = _rows(prod)
    fields = codec.decode(bytes(rows[-1]["body"]))
    forger = Ed25519PrivateKey.generate()
    fields.update(seq=6, prev=entry_hash(bytes(rows[-1]["body"])), command="trust remove")
    body = codec.encode(fields)  # still names the zone's key id
    _tamper(prod, [("INSERT INTO audit_entries(seq, body, signature) VALUES (?, ?, ?)",
                    (6, body, sign(forger, "audit", body))),
                   ("UPDATE meta SET value = ? WHERE key = 'audit_head'", (f"6:{entry_hash(body)}",))])
    with raises_code("invalid_audit_chain") as info:
        audit.verify(prod)
    assert info.value.details == {"seq": 6, "reason": "signature"}


def test_a_failing_entry_rolls_the_change_back(prod: Zone, monkeypatch: pytest.MonkeyPatch) -> None:
    """No change without its entry: the entry fails to be written, and the change goes with it."""
    def fail(self: audit.Auditor, tx: Writer, *args: Any) -> None:
        raise OSError("disk full while writing the entry")

    monkeypatch.setattr(audit.Auditor, "append", fail)
    with pytest.raises(OSError, match="disk full"):
        _add(prod, "web-05")
    monkeypatch.undo()
    assert "web-05" not in {t.name for t in targets.list_targets(prod.db)}
    assert len(audit.verify(prod)) == 5


def test_a_change_that_fails_after_its_statement_leaves_no_entry(prod: Zone) -> None:
    """No entry without its change: the transaction's body raises after changing a row."""
    with pytest.raises(RuntimeError, match="before the commit"):
        with prod.db.transaction() as tx:
            tx.run("DELETE FROM targets WHERE name = ?", ("web-01",))
            raise RuntimeError("stopped before the commit")
    assert "web-01" in {t.name for t in targets.list_targets(prod.db)}
    assert len(audit.verify(prod)) == 5


def test_verify_through_the_cli_names_the_first_bad_entry_exits_3_and_changes_nothing(prod: Zone) -> None:
    good = cli_in_process("audit", "--verify", "--json", home=prod.home)
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout)["verified"] is True and json.loads(good.stdout)["entries"] == 5
    _tamper(prod, [("DELETE FROM audit_entries WHERE seq = ?", (3,))])
    prod.close()
    before = snapshot(prod.home)
    bad = cli_in_process("audit", "--verify", "--json", home=prod.home)
    assert bad.returncode == 3
    error = json.loads(bad.stdout)["error"]
    assert error["code"] == "invalid_audit_chain" and error["details"] == {"seq": 4, "reason": "sequence"}
    assert "audit entry 4" in error["message"]
    text = cli_in_process("audit", "--verify", home=prod.home)
    assert text.returncode == 3 and "error [invalid_audit_chain]: audit entry 4" in text.stderr
    assert snapshot(prod.home) == before


def test_a_rolled_back_state_is_caught_against_a_head_noted_before(prod: Zone, tmp_path: Path) -> None:
    """Trail and head put back together (a copy of the state from before the last change): only
    a head noted outside the zone shows it."""
    noted = audit.head(prod.db)
    noted_sig = prod.db.scalar("SELECT value FROM meta WHERE key = 'audit_head_sig'")
    old = [(int(r["seq"]), bytes(r["body"]), bytes(r["signature"])) for r in _rows(prod)]
    _add(prod, "web-05")
    later = audit.head(prod.db)
    _tamper(prod, [("DELETE FROM audit_entries WHERE seq > ?", (noted.seq,)),
                   ("UPDATE meta SET value = ? WHERE key = 'audit_head'", (f"{noted.seq}:{noted.hash}",)),
                   ("UPDATE meta SET value = ? WHERE key = 'audit_head_sig'", (noted_sig,))])
    assert [(e.seq) for e in audit.verify(prod)] == [s for s, _, _ in old]  # consistent on its own
    assert len(audit.verify(prod, noted)) == len(old)
    with raises_code("invalid_audit_chain") as info:
        audit.verify(prod, later)
    assert info.value.details == {"seq": later.seq, "reason": "witness", "last": noted.seq}
    prod.close()
    shown = cli_in_process("audit", "--verify", "--head", f"{later.seq}:{later.hash}", "--json", home=prod.home)
    assert shown.returncode == 3 and json.loads(shown.stdout)["error"]["details"]["reason"] == "witness"
    wrong = cli_in_process("audit", "--verify", "--head", "5", home=prod.home)
    assert wrong.returncode == 2 and "--head" in wrong.stderr


def test_json_listing_has_the_documented_shape(prod: Zone) -> None:
    prod.close()
    listed = cli_in_process("audit", "--json", home=prod.home)
    assert listed.returncode == 0, listed.stderr
    out = json.loads(listed.stdout)
    assert set(out) == {"entries", "head", "verified"} and out["verified"] is False
    first = out["entries"][0]
    assert set(first) == {"seq", "prev", "hash", "zone_id", "at", "user", "host", "command", "object", "changes",
                          "before", "after", "result", "code", "key"}
    assert first["command"] == "(not a bundlekit command)" and first["object"] == {}
    assert isinstance(first["at"], float) and abs(first["at"] - time.time()) < 3600
    assert out["head"] == {"seq": 5, "hash": out["entries"][-1]["hash"]}
    since = cli_in_process("audit", "--json", "--since", str(int(time.time()) + 3600), home=prod.home)
    assert json.loads(since.stdout)["entries"] == []
    wrong = cli_in_process("audit", "--since", "yesterday", home=prod.home)
    assert wrong.returncode == 2 and "--since" in wrong.stderr and "2h" in wrong.stderr
    # an age, as every output shows times (review v33-15u F7): all five are within the last day
    assert json.loads(cli_in_process("audit", "--json", "--since", "1d", home=prod.home).stdout)["entries"] == \
        out["entries"]


def test_since_takes_an_age_before_now() -> None:
    from bundlekit.cli.audit_cmds import parse_since

    now = 1_800_000_000
    assert [parse_since(t, now) for t in ("90m", "2h", "1d", "2w")] == \
        [int((now - s) * 1000) for s in (5400, 7200, 86400, 1209600)]
    assert parse_since("1800000000", now) == 1_800_000_000_000


def test_sqlite_file_copied_whole_keeps_a_verifiable_trail(tmp_path: Path) -> None:
    """A backup of state.db as a file carries the trail: a copy of the home verifies on its own."""
    zone = _zone(tmp_path, None)
    _add(zone, "web-01")
    zone.close()
    copy = sqlite3.connect(str(tmp_path / "copy.db"))
    with sqlite3.connect(str(zone.home / "state.db")) as src:
        src.backup(copy)
    copy.close()
    (tmp_path / "copy.db").replace(zone.home / "state.db")
    assert len(audit.verify(zone)) == 2


_KILLER = """
import os, signal, sys, time
from pathlib import Path
from bundlekit.zone import audit, audit_capture, targets
from bundlekit.zone.home import open_zone

where = sys.argv[2]
if where == "after-entry":  # the entry and the head are written; the commit has not run
    real = audit.Auditor.append
    def append(self, tx, capture, refusal):
        real(self, tx, capture, refusal)
        os.kill(os.getpid(), signal.SIGKILL)
    audit.Auditor.append = append
else:  # the change is made; its entry is not written yet
    real = audit_capture.Capture.statement
    def statement(self, db, sql, params):
        changed = real(self, db, sql, params)
        os.kill(os.getpid(), signal.SIGKILL)
    audit_capture.Capture.statement = statement
zone = open_zone(Path(sys.argv[1]))
targets.add_target(zone, "web-09", "Production", ("web",), Path(sys.argv[1]).parent / "web-09", int(time.time()))
"""


@pytest.mark.parametrize("where", ["after-change", "after-entry"])
def test_a_process_killed_between_the_change_and_the_commit_leaves_neither(prod: Zone, where: str) -> None:
    """Killed (SIGKILL) after the change's statement, or after its entry was written, but before
    the commit: the next opener finds neither the change nor the entry, and the trail intact."""
    import signal
    import subprocess
    import sys

    head = audit.head(prod.db)
    prod.close()
    done = subprocess.run([sys.executable, "-c", _KILLER, str(prod.home), where], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert "web-09" not in {t.name for t in targets.list_targets(prod.db)}
    assert audit.head(prod.db) == head
    assert len(audit.verify(prod)) == 5
    _add(prod, "web-09")  # and the zone goes on: the next change is entry 6
    assert [e.seq for e in audit.verify(prod)][-1] == 6


def test_a_tail_cut_with_a_recomputed_head_is_caught_by_the_head_signature(prod: Zone) -> None:
    """r12a F4: cut entries 4-5 and write the head anyone can recompute (`3:sha256(body 3)`)."""
    body3 = bytes(_rows(prod)[2]["body"])
    _tamper(prod, [("DELETE FROM audit_entries WHERE seq >= ?", (4,)),
                   ("UPDATE meta SET value = ? WHERE key = 'audit_head'", (f"3:{entry_hash(body3)}",))])
    with raises_code("invalid_audit_chain") as info:
        audit.verify(prod)
    assert info.value.details == {"seq": 3, "reason": "head_signature"}


def test_a_trail_deleted_whole_with_its_head_fails_when_it_began_at_init(prod: Zone) -> None:
    """r12a F4: every entry and the head deleted; `audit_since` says the trail began at init."""
    _tamper(prod, [("DELETE FROM audit_entries", ()),
                   ("DELETE FROM meta WHERE key IN ('audit_head', 'audit_head_sig')", ())])
    with raises_code("invalid_audit_chain") as info:
        audit.verify(prod)
    assert info.value.details == {"seq": 1, "reason": "empty"}
    prod.close()
    shown = cli_in_process("audit", "--verify", home=prod.home)
    assert shown.returncode == 3 and "holds no entry" in shown.stderr


def test_an_unsigned_head_of_an_older_zone_is_reported_until_its_next_change_signs_it(prod: Zone) -> None:
    """A zone last changed before heads were signed: verify says a cut tail cannot be ruled out
    (exit 3, reason head_unsigned); its next change signs the head and it verifies again."""
    _tamper(prod, [("DELETE FROM meta WHERE key = 'audit_head_sig'", ())])
    with raises_code("invalid_audit_chain") as info:
        audit.verify(prod)
    assert info.value.details == {"seq": 5, "reason": "head_unsigned"}
    _add(prod, "web-05")
    assert len(audit.verify(prod)) == 6


def test_a_head_beyond_the_trail_or_with_another_hash_is_named_as_given_with_both_causes(prod: Zone) -> None:
    """Review v30-12 N5, decision 793: a head past the trail's end is mistyped or a rollback (the
    message says both and quotes the head as given, never as an entry that exists); a head
    whose entry exists with another hash is a mismatch naming the hash found."""
    last = audit.head(prod.db)
    entry_2 = audit.entries(prod.db)[1]
    prod.close()
    before = snapshot(prod.home)
    beyond = f"{last.seq + 80}:{'0' * 64}"
    shown = cli_in_process("audit", "--verify", "--head", beyond, "--json", home=prod.home)
    err = json.loads(shown.stdout)["error"]
    assert shown.returncode == 3 and err["details"] == {"seq": last.seq + 80, "reason": "witness", "last": last.seq}
    assert beyond in err["message"] and f"the trail ends at entry {last.seq}" in err["message"]
    assert "mistyped" in err["message"] and "rolled back" in err["message"]
    assert f"audit entry {last.seq + 80}:" not in err["message"]
    wrong = f"2:{'f' * 64}"
    shown = cli_in_process("audit", "--verify", "--head", wrong, home=prod.home)
    assert shown.returncode == 3 and wrong in shown.stderr and "mistyped" in shown.stderr
    assert f"audit entry 2: its hash is {entry_hash(entry_2.body)[:12]}..." in shown.stderr
    assert "rolled back" not in shown.stderr
    assert snapshot(prod.home) == before
