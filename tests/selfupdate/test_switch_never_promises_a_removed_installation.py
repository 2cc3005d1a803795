"""A switch never promises to keep, or offers ``--rollback`` back to, an installation that was
removed (atk36 finding 4): the success line of ``--rollback`` and of ``self-update`` says it is gone
and names the ``self-update BUNDLE --home H`` that makes it again, and the ``rollback_missing``
refusal for it says the same. The installations are finished stand-ins (no pip runs).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from tests.conftest import run_cli, snapshot
from tests.selfupdate.conftest import LATER, NEWER, finished_stand_in, small_self_bundle, two_zones
from tests.selfupdate.test_wheels import wheel


def test_rollback_away_from_a_removed_installation_does_not_say_it_is_kept(tmp_path: Path) -> None:
    dev, prod = two_zones(tmp_path)
    bundle = small_self_bundle(tmp_path, dev)
    venv = finished_stand_in(prod, bundle, NEWER)
    assert run_cli("self-update", bundle, home=prod).returncode == 0
    shutil.rmtree(venv)  # an operator cleans up disk
    back = run_cli("self-update", "--rollback", home=prod)
    assert back.returncode == 0, back.stderr
    assert os.readlink(prod / "self" / "current") == sys.prefix
    assert "is kept" not in back.stdout and "switches back to it" not in back.stdout
    assert f"venvs/{venv.name}, which holds no bin/bundlekit, cannot be switched back to" in back.stdout
    assert f"`bundlekit self-update BUNDLE --home {prod}`" in back.stdout
    as_json = json.loads(run_cli("self-update", "--rollback", "--json", home=prod).stdout)
    assert as_json["error"]["code"] == "rollback_missing"  # nothing to go back to; say what to do instead


def test_rollback_to_a_removed_installation_says_how_to_make_it_again(tmp_path: Path) -> None:
    dev, prod = two_zones(tmp_path)
    bundle = small_self_bundle(tmp_path, dev)
    venv = finished_stand_in(prod, bundle, NEWER)
    assert run_cli("self-update", bundle, home=prod).returncode == 0
    assert run_cli("self-update", "--rollback", home=prod).returncode == 0  # previous: NEWER's environment
    shutil.rmtree(venv)
    before = snapshot(prod)
    done = run_cli("self-update", "--rollback", "--json", home=prod)
    assert done.returncode == 1, done.stdout + done.stderr
    err = json.loads(done.stdout)["error"]
    assert err["code"] == "rollback_missing"
    assert f"names venvs/{venv.name}, which holds no bin/bundlekit any more" in err["message"]
    assert "nothing was changed" in err["message"]
    assert f"`bundlekit self-update BUNDLE --home {prod}`" in err["message"]
    assert snapshot(prod) == before


def test_self_update_away_from_a_removed_installation_does_not_say_it_is_kept(tmp_path: Path) -> None:
    dev, prod = two_zones(tmp_path)
    newer = small_self_bundle(tmp_path, dev)
    venv = finished_stand_in(prod, newer, NEWER)
    assert run_cli("self-update", newer, home=prod).returncode == 0
    shutil.rmtree(venv)  # current's installation removed by hand
    house = tmp_path / f"small-house-{LATER}"  # the same click wheel, byte for byte (a package is immutable)
    house.mkdir()
    wheel(house, "bundlekit", LATER, requires=("click",))
    shutil.copy(tmp_path / f"small-house-{NEWER}" / "click-8.1.0-py3-none-any.whl", house)
    later = small_self_bundle(tmp_path, dev, version=LATER)
    finished_stand_in(prod, later, LATER)
    done = run_cli("self-update", later, home=prod)
    assert done.returncode == 0, done.stderr
    assert "is kept" not in done.stdout and "--rollback" not in done.stdout
    assert f"venvs/{venv.name}, which holds no bin/bundlekit, cannot be switched back to" in done.stdout
    # the bundle it came from is refused now as a rollback: the source's new export makes it again (decision 978)
    assert "in zone dev, `bundlekit export-self --to prod -o OUT --wheelhouse DIR`" in done.stdout
    assert f"then here `bundlekit self-update OUT --home {prod}`" in done.stdout
    shown = json.loads(run_cli("self-update", "--rollback", "--json", home=prod).stdout)
    assert shown["error"]["code"] == "rollback_missing"
