"""What a switch of the zone's bundlekit leaves behind: an audit entry for every switch, either
way, naming the installations (finding 19), and hints that name the home the command was given
(finding 18). The environment switched to is a finished stand-in, so no pip runs here."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tests.conftest import run_cli
from tests.selfupdate.conftest import finished_stand_in, small_self_bundle, two_zones


def test_self_update_hints_name_the_home_it_was_given(tmp_path: Path) -> None:
    dev, prod = two_zones(tmp_path)
    bundle = small_self_bundle(tmp_path, dev)
    finished_stand_in(prod, bundle, "0.1.1")
    done = run_cli("self-update", bundle, home=prod)
    assert done.returncode == 0, done.stderr
    assert f"bundlekit self-update --rollback --home {prod}" in done.stdout
    assert "DIR" not in done.stdout
    back = run_cli("self-update", "--rollback", home=prod)
    assert back.returncode == 0, back.stderr
    assert f"`bundlekit self-update --rollback --home {prod}` switches back" in back.stdout
    assert os.readlink(prod / "self" / "current") == sys.prefix
