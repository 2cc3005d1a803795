"""Changes a command makes outside the state have audit entries too (decision 676): `keys
protect` / `keys unprotect` (the key files), `zone backup` (a copy of the home left the zone) and
`zone restore` (the home replaced by a backup). Folders a stopped restore left beside a home are
named by `doctor` and by every command in that home (decision 678). A backup's passphrase never
comes from the keys' BUNDLEKIT_PASSPHRASE_FILE, and a new passphrase has at least 8 characters
(decision 677).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from bundlekit.zone import backup as backup_module
from bundlekit.zone.home import init_zone
from tests.conftest import cli_in_process, snapshot

ENV = "BUNDLEKIT_PASSPHRASE_FILE"


def _passfile(path: Path, text: str) -> Path:
    path.write_text(text + "\n")
    os.chmod(path, 0o600)
    return path


def _commands(home: Path) -> list[str]:
    listed = cli_in_process("audit", "--json", home=home)
    return [e["command"] for e in json.loads(listed.stdout)["entries"]]


def test_keys_protect_change_and_unprotect_each_write_an_audit_entry(tmp_path: Path) -> None:
    """R12U-1 / r12a F7 as reviewed: protect, change the passphrase, unprotect."""
    home = init_zone(tmp_path / "dev2", "dev2", int(time.time())).home
    one, two = _passfile(tmp_path / "dp1.txt", "dev pass one"), _passfile(tmp_path / "dp2.txt", "dev pass two")
    assert cli_in_process("keys", "protect", "--passphrase-file", one, home=home).returncode == 0
    assert cli_in_process("keys", "protect", "--passphrase-file", two, home=home, env={ENV: str(one)}).returncode == 0
    assert cli_in_process("keys", "unprotect", home=home, env={ENV: str(two)}).returncode == 0
    assert _commands(home)[-3:] == ["keys protect", "keys protect", "keys unprotect"]
    listed = json.loads(cli_in_process("audit", "--json", home=home).stdout)["entries"]
    assert all(e["changes"] == {"meta": 1} and e["result"] == "ok" for e in listed[-3:])
    text = json.dumps(listed)
    assert "dev pass" not in text  # no passphrase in the trail
    assert cli_in_process("audit", "--verify", home=home).returncode == 0


def test_backup_and_restore_write_audit_entries_the_restored_trail_ends_with_them(tmp_path: Path) -> None:
    home = init_zone(tmp_path / "prod", "prod", int(time.time())).home
    bp = _passfile(tmp_path / "b.pass", "backup passphrase 1")
    assert cli_in_process("zone", "backup", "-o", tmp_path / "p.zbak", "--passphrase-file", bp,
                          home=home).returncode == 0
    assert _commands(home)[-1] == "zone backup"
    new = tmp_path / "new" / "prod"
    r = cli_in_process("zone", "restore", tmp_path / "p.zbak", "--passphrase-file", bp, home=new)
    assert r.returncode == 0, r.stdout + r.stderr
    assert _commands(new)[-2:] == ["zone backup", "zone restore"]
    assert cli_in_process("audit", "--verify", home=new).returncode == 0
    assert [p.name for p in new.parent.iterdir()] == ["prod"]  # nothing left beside it


def test_the_backup_passphrase_never_comes_from_the_keys_passphrase_file(tmp_path: Path) -> None:
    """R12U-7: only BUNDLEKIT_PASSPHRASE_FILE set: the backup is refused, not sealed under it."""
    home = init_zone(tmp_path / "prod", "prod", int(time.time())).home
    keys = _passfile(tmp_path / "keys.pass", "the zone keys passphrase")
    before = snapshot(home, tmp_path / "p.zbak")
    r = cli_in_process("zone", "backup", "-o", tmp_path / "p.zbak", "--json", home=home, env={ENV: str(keys)})
    error = json.loads(r.stdout)["error"]
    assert error["code"] == "passphrase_missing" and "--passphrase-file" in error["message"]
    assert snapshot(home, tmp_path / "p.zbak") == before


@pytest.mark.parametrize("passphrase", ["x", "seven77"])
def test_a_new_passphrase_under_eight_characters_is_refused(tmp_path: Path, passphrase: str) -> None:
    home = init_zone(tmp_path / "prod", "prod", int(time.time())).home
    short = _passfile(tmp_path / "short.pass", passphrase)
    before = snapshot(home, tmp_path / "p.zbak", tmp_path / "n")
    for args, at in ((("keys", "protect", "--passphrase-file", short), home),
                     (("zone", "backup", "-o", tmp_path / "p.zbak", "--passphrase-file", short), home),
                     (("init", "--zone", "n", "--passphrase-file", short), tmp_path / "n")):
        r = cli_in_process(*args, "--json", home=at)
        error = json.loads(r.stdout)["error"]
        assert error["code"] == "invalid_passphrase" and "at least 8 characters" in error["message"], args
    assert snapshot(home, tmp_path / "p.zbak", tmp_path / "n") == before


def test_a_restore_stopped_after_the_exchange_leaves_a_folder_doctor_and_the_next_command_name(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """r12a F6: the old home (keys and state) left as `.prod.restore-*` is named, not hidden."""
    home = init_zone(tmp_path / "z" / "prod", "prod", int(time.time())).home
    bp = _passfile(tmp_path / "b.pass", "backup passphrase 1")
    assert cli_in_process("zone", "backup", "-o", tmp_path / "p.zbak", "--passphrase-file", bp,
                          home=home).returncode == 0

    def stopped(*args: object) -> Path:
        raise KeyboardInterrupt  # the process stops between the exchange and the rename that keeps the old home

    monkeypatch.setattr(backup_module, "_keep", stopped)
    stop = cli_in_process("zone", "restore", tmp_path / "p.zbak", "--passphrase-file", bp, "--replace", home=home)
    assert stop.returncode != 0
    monkeypatch.undo()
    left = [p for p in home.parent.iterdir() if p.name.startswith(".prod.restore-")]
    assert len(left) == 1 and (left[0] / "keys" / "signing.key").is_file()
    found = json.loads(cli_in_process("doctor", "--json", home=home).stdout)["findings"]
    named = [f for f in found if f["code"] == "restore_left"]
    assert len(named) == 1 and str(left[0]) in named[0]["message"] and "replaced" in named[0]["message"]
    listed = cli_in_process("trust", "list", home=home)
    assert listed.returncode == 0 and str(left[0]) in listed.stderr
    # an unfinished copy (a stop before the exchange) is named as such
    (home.parent / ".prod.restore-0000beef").mkdir(mode=0o700)
    found = json.loads(cli_in_process("doctor", "--json", home=home).stdout)["findings"]
    assert any("decrypted copy of the backup" in f["message"] for f in found if f["code"] == "restore_left")
