"""Every switch of the zone's bundlekit goes only to an installation that runs from its own folder
(finding atk35 4, decision 953): in a moved or copied home, ``--rollback`` is refused naming the
installation and what to do, with the links and the home unchanged; ``doctor`` names a ``current``
(an error) or ``previous`` (a warning) that does not run from its folder; and ``state_too_new``
never points at such an installation. The installations are finished stand-ins (no pip runs):
their ``bin/bundlekit`` runs their own ``bin/python`` by its absolute path, as pip writes it, so a
moved copy names the old folder, as a real environment does.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

from bundlekit.zone.schema import SCHEMA_VERSION
from tests.conftest import run_cli, snapshot
from tests.selfupdate.conftest import NEWER, finished_stand_in, runnable_stand_in, small_self_bundle, two_zones


def _switched_then_rolled_back(tmp_path: Path) -> tuple[Path, str]:
    """prod after a self-update to NEWER (a finished stand-in) and a rollback: current names the
    running bundlekit, previous NEWER's environment (its link, relative)."""
    dev, prod = two_zones(tmp_path)
    bundle = small_self_bundle(tmp_path, dev)
    finished_stand_in(prod, bundle, NEWER)
    assert run_cli("self-update", bundle, home=prod).returncode == 0
    back = run_cli("self-update", "--rollback", home=prod)
    assert back.returncode == 0, back.stderr
    assert os.readlink(prod / "self" / "current") == sys.prefix
    return prod, os.readlink(prod / "self" / "previous")


def test_rollback_in_a_moved_home_to_an_installation_that_cannot_start_is_refused_and_changes_nothing(
        tmp_path: Path) -> None:
    prod, venv = _switched_then_rolled_back(tmp_path)
    moved = tmp_path / "moved"
    shutil.move(prod, moved)  # the operator moves (or restores) the home: the old folder is gone
    before = snapshot(moved)
    done = run_cli("self-update", "--rollback", "--json", home=moved)
    assert done.returncode == 1, done.stdout + done.stderr
    err = json.loads(done.stdout)["error"]
    assert err["code"] == "rollback_missing"
    message = err["message"]
    assert f"{moved / 'self' / 'previous'}: names {venv}, which was moved or copied from another folder" in message
    assert f"its bin/bundlekit runs {prod / 'self' / venv / 'bin' / 'python'}" in message and "does not start" in message
    assert "Nothing was changed" in message
    assert f"`bundlekit self-update BUNDLE --home {moved}`" in message
    assert err["details"]["runs"] == str(prod / "self" / venv / "bin" / "python")
    assert snapshot(moved) == before  # links unchanged, nothing recorded
    assert os.readlink(moved / "self" / "current") == sys.prefix


def test_rollback_in_a_copied_home_never_switches_to_the_other_homes_installation(tmp_path: Path) -> None:
    prod, venv = _switched_then_rolled_back(tmp_path)
    copy = tmp_path / "copy"
    shutil.copytree(prod, copy, symlinks=True)  # the original is still there: its interpreter would run
    before = snapshot(copy)
    done = run_cli("self-update", "--rollback", home=copy)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "error [rollback_missing]" in done.stderr
    assert "so the installation in that other folder would run instead" in done.stderr
    assert snapshot(copy) == before
    # the original home, where the installation does run from its folder, rolls back as before
    assert run_cli("self-update", "--rollback", home=prod).returncode == 0
    assert os.readlink(prod / "self" / "current") == venv


def test_doctor_reports_a_current_installation_that_does_not_run_from_its_folder(tmp_path: Path) -> None:
    dev, prod = two_zones(tmp_path)
    bundle = small_self_bundle(tmp_path, dev)
    venv = finished_stand_in(prod, bundle, NEWER)
    assert run_cli("self-update", bundle, home=prod).returncode == 0
    fine = run_cli("doctor", "--json", home=prod)
    codes = [f["code"] for f in json.loads(fine.stdout)["findings"] if "self" in f["code"]]
    assert fine.returncode == 0 and codes == ["self_not_running"], fine.stdout  # the checkout runs, not current
    moved = tmp_path / "moved"
    shutil.move(prod, moved)
    started = subprocess.run([str(moved / "self" / "current" / "bin" / "bundlekit"), "--version"],
                             capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert started.returncode != 0  # what doctor must say: the zone's bundlekit there does not start
    before = snapshot(moved)
    done = run_cli("doctor", "--json", home=moved)
    assert done.returncode == 1, done.stdout + done.stderr
    (found,) = [f for f in json.loads(done.stdout)["findings"] if f["code"] == "self_current_not_here"]
    assert found["level"] == "error"
    assert f"{moved / 'self' / 'current'} names venvs/{venv.name}, which was moved or copied" in found["message"]
    assert f"`bundlekit self-update BUNDLE --home {moved}`" in found["message"]
    assert snapshot(moved) == before  # doctor changes nothing


def test_doctor_warns_when_previous_does_not_run_from_its_folder(tmp_path: Path) -> None:
    prod, venv = _switched_then_rolled_back(tmp_path)
    moved = tmp_path / "moved"
    shutil.move(prod, moved)
    done = run_cli("doctor", home=moved)
    assert done.returncode == 0, done.stdout + done.stderr  # current (the running bundlekit) runs: a warning only
    assert (f"warning: {moved / 'self' / 'previous'} names {venv}, which was moved or copied from another folder"
            in done.stdout)
    assert "bundlekit self-update --rollback is refused" in done.stdout


def test_state_too_new_never_names_an_installation_that_does_not_run_from_its_folder(tmp_path: Path) -> None:
    prod = tmp_path / "prod"
    assert run_cli("init", "--zone", "prod", home=prod).returncode == 0
    venv = tmp_path / "elsewhere" / "self" / "venvs" / "0.3.0-0123456789ab"
    runnable_stand_in(venv, "0.3.0", schema=SCHEMA_VERSION + 1)  # reads the newer state, made in another home
    shutil.copytree(venv.parent.parent, prod / "self", symlinks=True, dirs_exist_ok=True)
    os.symlink(f"venvs/{venv.name}", prod / "self" / "previous")
    with sqlite3.connect(prod / "state.db") as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    listed = run_cli("releases", "list", home=prod)
    assert listed.returncode == 1 and "error [state_too_new]" in listed.stderr
    assert "self-update --rollback" not in listed.stderr  # its bin/bundlekit runs the other home's
    assert f"installs itself with `bundlekit self-update BUNDLE --home {prod}`" in listed.stderr
