"""`doctor`'s exit status follows what it found: 1 when it reports an error (a key file that is not
the zone's own), 0 with warnings only; and a folder a stopped restore left is named once, not by
both the findings and the warning every other command prints. Through the real CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.conftest import run_cli, snapshot


def _init(home: Path, name: str) -> Path:
    assert run_cli("init", "--zone", name, home=home).returncode == 0
    return home


def test_doctor_exits_1_when_it_reports_an_error_and_0_with_warnings_only(tmp_path: Path) -> None:
    home = _init(tmp_path / "kz", "kz")
    other = _init(tmp_path / "kz2", "kz2")
    plain = run_cli("doctor", home=home)
    assert plain.returncode == 0 and plain.stdout.startswith("warning: ")  # unprotected keys: a warning
    shutil.copy2(other / "keys" / "signing.key", home / "keys" / "signing.key")
    before = snapshot(home)
    text = run_cli("doctor", home=home)
    assert text.returncode == 1 and "error: " in text.stdout and "signing.key" in text.stdout, text.stdout
    shown = run_cli("doctor", "--json", home=home)
    found = json.loads(shown.stdout)["findings"]
    assert shown.returncode == 1 and "invalid_zone_key" in [f["code"] for f in found if f["level"] == "error"]
    assert snapshot(home) == before  # doctor changes nothing


def test_doctor_names_a_folder_a_stopped_restore_left_once(tmp_path: Path) -> None:
    home = _init(tmp_path / "z" / "prod", "prod")
    left = home.parent / ".prod.restore-0000beef"
    left.mkdir(mode=0o700)
    r = run_cli("doctor", home=home)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (r.stdout + r.stderr).count(str(left)) == 1, r.stdout + r.stderr
    listed = run_cli("trust", "list", home=home)  # every other command still names it
    assert listed.returncode == 0 and listed.stderr.count(str(left)) == 1
