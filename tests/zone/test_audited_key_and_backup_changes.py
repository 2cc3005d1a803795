"""A backup's passphrase never comes from the keys' BUNDLEKIT_PASSPHRASE_FILE, and a new
passphrase has at least 8 characters (decision 677).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

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
