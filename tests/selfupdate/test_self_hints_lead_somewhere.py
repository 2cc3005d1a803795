"""Every hint of self-update, ``--rollback`` and ``doctor`` leads somewhere that works (newuser36
finding 5, decision 978): in a copied home, whose installations do not run from their own folder,
no hint offers a ``--rollback`` that is refused, and none sends the user back to "the bundle it came
from" once self-update would refuse that bundle as a rollback: it names the new ``export-self`` the
source zone must make instead. Where ``--rollback`` does work, the hints still offer it. The
installations are finished stand-ins (no pip runs).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bundlekit.selfupdate import install
from tests.conftest import cli_in_process, run_cli, snapshot
from tests.selfupdate.conftest import (NEWER, finished_stand_in, runnable_stand_in, small_self_bundle,
                                       two_zones)

NEW_EXPORT = "in zone dev, `bundlekit export-self --to prod -o OUT --wheelhouse DIR`"


def _two_updates(tmp_path: Path) -> tuple[Path, Path, Path]:
    """prod after self-updates to two bundles of NEWER, sequences 1 and 2 (two installations:
    current the second, previous the first); and the two bundles."""
    dev, prod = two_zones(tmp_path)
    first = small_self_bundle(tmp_path, dev).rename(tmp_path / "first.bundle")
    finished_stand_in(prod, first, NEWER)
    assert run_cli("self-update", first, home=prod).returncode == 0
    second = small_self_bundle(tmp_path, dev)
    finished_stand_in(prod, second, NEWER)
    done = run_cli("self-update", second, home=prod)
    assert done.returncode == 0, done.stderr
    return prod, first, second


def _copied(tmp_path: Path) -> tuple[Path, Path, Path]:
    prod, first, second = _two_updates(tmp_path)
    copy = tmp_path / "prodcopy"
    shutil.copytree(prod, copy, symlinks=True)  # a copied or restored home: its launchers name prod's
    return copy, first, second


def test_doctor_in_a_copied_home_names_a_new_export_for_a_superseded_previous(tmp_path: Path) -> None:
    copy, _, _ = _copied(tmp_path)
    done = run_cli("doctor", "--json", home=copy)
    found = {f["code"]: f["message"] for f in json.loads(done.stdout)["findings"]}
    previous = found["self_previous_not_here"]
    assert "`bundlekit self-update BUNDLE" not in previous  # the bundle it came from is refused as a rollback
    assert NEW_EXPORT in previous and f"then here `bundlekit self-update OUT --home {copy}`" in previous
    assert f"bundlekit {NEWER}'s wheel" in previous
    # current came from the newest bundle, which self-update takes again: that one is named
    current = found["self_current_not_here"]
    assert f"`bundlekit self-update BUNDLE --home {copy}` (BUNDLE: the bundle it came from, bundlekit {NEWER} with " \
           "sequence 2)" in current


def test_refused_rollback_bundle_in_a_copied_home_never_offers_a_rollback_that_is_refused(tmp_path: Path) -> None:
    copy, first, _ = _copied(tmp_path)
    before = snapshot(copy)
    done = run_cli("self-update", first, "--dry-run", "--json", home=copy)
    err = json.loads(done.stdout)["error"]
    assert err["code"] == "rollback"
    assert "--rollback" not in err["message"]  # previous does not run from its folder here
    assert NEW_EXPORT in err["message"]
    rolled = run_cli("self-update", "--rollback", "--json", home=copy)
    refused = json.loads(rolled.stdout)["error"]
    assert refused["code"] == "rollback_missing"
    assert "`bundlekit self-update BUNDLE" not in refused["message"]  # the circle: the bundle it came from is refused
    assert NEW_EXPORT in refused["message"]
    assert snapshot(copy) == before


def test_refused_rollback_bundle_offers_rollback_where_it_works(tmp_path: Path) -> None:
    prod, first, _ = _two_updates(tmp_path)
    done = run_cli("self-update", first, "--json", home=prod)
    message = json.loads(done.stdout)["error"]["message"]
    assert f"run `bundlekit self-update --rollback --home {prod}`" in message
    assert NEW_EXPORT in message
    assert run_cli("self-update", "--rollback", home=prod).returncode == 0


def test_self_update_in_a_copied_home_never_offers_a_rollback_to_an_installation_that_does_not_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy, _, second = _copied(tmp_path)
    # current is made again in place; pip stands in as a runnable stand-in
    monkeypatch.setattr(install, "_install", lambda venv, work, wheels, version, where: runnable_stand_in(venv, version))
    done = cli_in_process("self-update", second, home=copy)
    assert done.returncode == 0, done.stderr
    assert f"installed bundlekit {NEWER}" in done.stdout
    assert "--rollback --home" not in done.stdout
    assert "cannot be switched back to" in done.stdout and NEW_EXPORT in done.stdout
    assert "`bundlekit self-update BUNDLE" not in done.stdout  # the bundle it came from is refused as a rollback


def test_self_update_offers_rollback_when_it_works(tmp_path: Path) -> None:
    dev, prod = two_zones(tmp_path)
    bundle = small_self_bundle(tmp_path, dev)
    finished_stand_in(prod, bundle, NEWER)
    done = run_cli("self-update", bundle, home=prod)
    assert done.returncode == 0, done.stderr
    assert f"is kept: bundlekit self-update --rollback --home {prod}" in done.stdout
