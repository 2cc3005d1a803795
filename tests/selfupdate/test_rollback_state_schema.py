"""--rollback and the zone's state schema (finding selfatk 2, decision 951): going back to an installation
that cannot read the state is refused naming both schemas, a rollback works when the running bundlekit
is the one that cannot read it, and ``state_too_new`` names the installation in HOME/self that can.

The installations are stand-ins: their ``bin/python`` answers the question bundlekit asks an
installation (its version and the schema it reads) as a real one would, so no environment is built.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from bundlekit.zone.schema import SCHEMA_VERSION
from tests.conftest import run_cli, snapshot
from tests.selfupdate.conftest import runnable_stand_in


def _installation(path: Path, version: str, schema: int) -> str:
    runnable_stand_in(path, version, schema=schema)  # runs from its own folder, as a switch needs (953)
    return f"venvs/{path.name}"


def _zone_with(tmp_path: Path, current: tuple[str, int], previous: tuple[str, int]) -> Path:
    prod = tmp_path / "prod"
    assert run_cli("init", "--zone", "prod", home=prod).returncode == 0
    for link, (version, schema) in (("current", current), ("previous", previous)):
        name = _installation(prod / "self" / "venvs" / f"{version}-0123456789ab", version, schema)
        os.symlink(name, prod / "self" / link)
    return prod


def test_rollback_to_an_installation_that_cannot_read_the_migrated_state_is_refused(tmp_path: Path) -> None:
    prod = _zone_with(tmp_path, current=("0.3.0", SCHEMA_VERSION), previous=("0.1.0", SCHEMA_VERSION - 1))
    before = snapshot(prod)
    done = run_cli("self-update", "--rollback", "--json", home=prod)
    assert done.returncode == 1, done.stderr
    err = json.loads(done.stdout)["error"]
    assert err["code"] == "rollback_state_too_new"
    assert f"reads state schema {SCHEMA_VERSION - 1} at most" in err["message"]
    assert f"the zone's state is at schema {SCHEMA_VERSION}" in err["message"]
    assert "Nothing was changed" in err["message"] and "zone restore" in err["message"]
    assert snapshot(prod) == before
    assert os.readlink(prod / "self" / "current") == "venvs/0.3.0-0123456789ab"


def test_a_state_newer_than_the_running_bundlekit_names_the_installation_that_reads_it_and_records_the_rollback(
        tmp_path: Path) -> None:
    newer = SCHEMA_VERSION + 1
    # what a rollback an earlier bundlekit allowed left: current 0.1.0 (reads SCHEMA_VERSION, like the
    # checkout running here), previous 0.3.0 that migrated the state to one schema more
    prod = _zone_with(tmp_path, current=("0.1.0", SCHEMA_VERSION), previous=("0.3.0", newer))
    with sqlite3.connect(prod / "state.db") as db:
        db.execute(f"PRAGMA user_version = {newer}")
    listed = run_cli("releases", "list", home=prod)
    assert listed.returncode == 1
    assert "error [state_too_new]" in listed.stderr
    assert f"state schema {newer} is newer than this bundlekit understands ({SCHEMA_VERSION})" in listed.stderr
    assert f"{prod / 'self' / 'previous'} is bundlekit 0.3.0, which reads schema {newer}" in listed.stderr
    assert f"`{prod / 'self' / 'previous' / 'bin' / 'bundlekit'} self-update --rollback --home {prod}`" in listed.stderr
    # the running bundlekit cannot read the state, so it cannot record the switch in the audit trail:
    # the rollback is refused, naming the installation that reads the state and records it (its own
    # --rollback), and the links stay as they were
    back = run_cli("self-update", "--rollback", home=prod)
    assert back.returncode == 1 and "error [state_too_new]" in back.stderr, back.stderr
    assert f"`{prod / 'self' / 'previous' / 'bin' / 'bundlekit'} self-update --rollback --home {prod}`" in back.stderr
    assert os.readlink(prod / "self" / "current") == "venvs/0.1.0-0123456789ab"
    assert os.readlink(prod / "self" / "previous") == "venvs/0.3.0-0123456789ab"


def test_an_installation_under_a_relative_home_is_asked_from_its_own_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bundlekit.zone.installations import probe

    _installation(tmp_path / "home" / "self" / "venvs" / "0.3.0-0123456789ab", "0.3.0", SCHEMA_VERSION + 1)
    monkeypatch.chdir(tmp_path)  # as `--home ./home` gives it
    answer = probe(Path("home/self/venvs/0.3.0-0123456789ab"))
    assert (answer.version, answer.schema, answer.problem) == ("0.3.0", SCHEMA_VERSION + 1, "")
