"""What a switch of the zone's bundlekit leaves behind: an audit entry for every switch, either
way, naming the installations (finding 19), and hints that name the home the command was given
(finding 18). The environment switched to is a finished stand-in, so no pip runs here."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from tests.conftest import run_cli
from tests.selfupdate.conftest import NEWER, RUNNING, finished_stand_in, small_self_bundle, two_zones


def _entries(prod: Path) -> list[dict[str, object]]:
    done = run_cli("audit", "--json", home=prod)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["entries"]


def test_every_switch_and_rollback_is_an_audit_entry_naming_both_installations(tmp_path: Path) -> None:
    dev, prod = two_zones(tmp_path)
    bundle = small_self_bundle(tmp_path, dev)
    venv = finished_stand_in(prod, bundle, NEWER)
    new = f"venvs/{venv.name} (bundlekit {NEWER})"
    running = f"{sys.prefix} (bundlekit {RUNNING})"  # the checkout that runs the commands
    assert run_cli("self-update", bundle, home=prod).returncode == 0
    before = len(_entries(prod))
    for _ in range(2):
        back = run_cli("self-update", "--rollback", home=prod)
        assert back.returncode == 0, back.stderr
    entries = _entries(prod)
    switches = [e for e in entries if e["command"] == "self-update" and "to" in e["object"]]
    assert [(e["object"]["from"], e["object"]["to"], e["object"].get("rollback", False)) for e in switches] == [
        (running, new, False), (new, running, True), (running, new, True)]
    assert len(entries) == before + 2  # one entry per rollback, nothing else
    assert all(e["user"] and e["at"] and e["result"] == "ok" for e in switches)
    verified = run_cli("audit", "--verify", home=prod)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_a_switch_back_to_an_environment_already_imported_is_audited_too(tmp_path: Path) -> None:
    # the bundle was imported before: the import changes nothing, the switch is the only change
    dev, prod = two_zones(tmp_path)
    bundle = small_self_bundle(tmp_path, dev)
    finished_stand_in(prod, bundle, NEWER)
    assert run_cli("self-update", bundle, home=prod).returncode == 0
    assert run_cli("self-update", "--rollback", home=prod).returncode == 0
    before = len(_entries(prod))
    again = run_cli("self-update", bundle, home=prod)
    assert again.returncode == 0, again.stderr
    (last,) = _entries(prod)[before:]
    assert last["command"] == "self-update" and "rollback" not in last["object"]
    assert str(last["object"]["to"]).endswith(f"(bundlekit {NEWER})")


def test_self_update_hints_name_the_home_it_was_given(tmp_path: Path) -> None:
    dev, prod = two_zones(tmp_path)
    bundle = small_self_bundle(tmp_path, dev)
    finished_stand_in(prod, bundle, NEWER)
    done = run_cli("self-update", bundle, home=prod)
    assert done.returncode == 0, done.stderr
    assert f"bundlekit self-update --rollback --home {prod}" in done.stdout
    assert "DIR" not in done.stdout
    back = run_cli("self-update", "--rollback", home=prod)
    assert back.returncode == 0, back.stderr
    assert f"`bundlekit self-update --rollback --home {prod}` switches back" in back.stdout
    assert os.readlink(prod / "self" / "current") == sys.prefix
