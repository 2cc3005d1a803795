"""A zone backup leaves bundlekit's own installations out (finding selfatk 5, decision 952): a virtual
environment names its own folder in every script, so a restored copy would run the original home's
interpreter. The backup says so once (no warning per link or interpreter), and the restore of a zone
that installed bundlekit by self-update says to run self-update again."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.selfupdate.conftest import accepted, export_self, stand_in, two_zones

pytestmark = pytest.mark.usefixtures("low_scrypt_cost")


def test_backup_leaves_out_home_self_and_the_restore_says_to_self_update_again(tmp_path: Path,
                                                                                 wheelhouse: Path) -> None:
    dev, prod = two_zones(tmp_path)
    bundle = tmp_path / "self.bundle"
    assert export_self(dev, wheelhouse, bundle).returncode == 0
    accepted(prod, bundle)  # the zone holds bundlekit's release, as self-update leaves it
    venv = prod / "self" / "venvs" / "0.1.1-0123456789ab"
    stand_in(venv, "0.1.1")
    os.symlink("/usr/bin/python3", venv / "bin" / "python")  # what a virtual environment holds
    os.symlink("venvs/0.1.1-0123456789ab", prod / "self" / "current")
    os.symlink(str(tmp_path), prod / "self" / "previous")
    passfile = tmp_path / "pass"
    passfile.write_text("backup-passphrase-1234\n", "utf-8")
    passfile.chmod(0o600)
    out = tmp_path / "prod.zbak"
    done = run_cli("zone", "backup", "-o", out, "--passphrase-file", passfile, home=prod)
    assert done.returncode == 0, done.stderr
    assert "skipped" not in done.stderr  # no warning per link or interpreter
    assert "note: bundlekit's own installations (HOME/self" in done.stderr
    as_json = run_cli("zone", "backup", "-o", tmp_path / "second.zbak", "--passphrase-file", passfile, "--json",
                      home=prod)
    assert json.loads(as_json.stdout)["left_out"] == ["self"]

    restored = tmp_path / "restored"
    back = run_cli("zone", "restore", out, "--passphrase-file", passfile, home=restored)
    assert back.returncode == 0, back.stderr
    assert not os.path.lexists(restored / "self")
    assert "run `bundlekit self-update BUNDLE --home HOME`" in back.stdout
