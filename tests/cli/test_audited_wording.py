"""Wording of review r12u R12U-12, through the real CLI: `retention set` is audited with what it
set (not `environment=` and nothing else), and `zone restore` says when the backup was made as a
UTC time with its age, never raw Unix seconds."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

from tests.conftest import LOW_COST_CLI, run_cli


def _objects(home: Path) -> list[tuple[str, dict[str, object]]]:
    entries = json.loads(run_cli("audit", "--json", home=home).stdout)["entries"]
    return [(e["command"], e["object"]) for e in entries]


def test_retention_set_is_audited_with_the_policy_it_set(tmp_path: Path) -> None:
    home = tmp_path / "prod"
    assert run_cli("init", "--zone", "prod", home=home).returncode == 0
    for args in (["--keep", "3"], ["--no-auto-prune"], ["--keep-days", "30", "--environment", "Staging", "--new"]):
        r = run_cli("retention", "set", *args, home=home)
        assert r.returncode == 0, r.stderr
    assert _objects(home)[-3:] == [("retention set", {"keep_releases": 3, "space": "Default"}),
                                   ("retention set", {"auto_prune": False, "space": "Default"}),
                                   ("retention set", {"environment": "Staging", "keep_days": 30, "space": "Default"})]
    listed = run_cli("audit", home=home).stdout
    assert "retention set  keep_releases=3 space=Default  (retention_rules 1)" in listed and "environment=  " not in listed


def test_zone_restore_says_when_the_backup_was_made_as_a_utc_time(tmp_path: Path) -> None:
    home = tmp_path / "prod"
    assert run_cli("init", "--zone", "prod", home=home).returncode == 0
    passfile = tmp_path / "b.pass"
    passfile.write_text("backup passphrase 1\n")
    os.chmod(passfile, 0o600)
    env = {k: v for k, v in os.environ.items() if k != "BUNDLEKIT_HOME"}

    def cli(*args: str | Path) -> str:
        r = subprocess.run([*LOW_COST_CLI, *map(str, args)], capture_output=True, text=True, env=env,
                           stdin=subprocess.DEVNULL, timeout=120)
        assert r.returncode == 0, r.stderr
        return r.stdout

    cli("zone", "backup", "-o", tmp_path / "p.zbak", "--passphrase-file", passfile, "--home", home)
    said = cli("zone", "restore", tmp_path / "p.zbak", "--passphrase-file", passfile, "--home", tmp_path / "again")
    assert re.search(r"backed up at \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ \((just now|\d+[smhd] ago)\): ", said), said
