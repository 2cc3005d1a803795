"""A ``current`` or ``previous`` that bundlekit did not make is refused ``invalid_self_link`` before
anything changes (newuser35 finding 7): a link made by hand to ``/usr`` was swapped into
``previous`` and offered as the way back. bundlekit's links name an environment in
``HOME/self/venvs`` or an installation a self-update of the zone switched from or to (its audit
trail); the environments here are finished stand-ins, so no pip runs."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from tests.conftest import run_cli, snapshot
from tests.selfupdate.conftest import NEWER, finished_stand_in, small_self_bundle, two_zones


def _updated(tmp_path: Path) -> tuple[Path, Path]:
    """prod after one self-update (current: the new environment, previous: the running checkout)."""
    dev, prod = two_zones(tmp_path)
    bundle = small_self_bundle(tmp_path, dev)
    finished_stand_in(prod, bundle, NEWER)
    done = run_cli("self-update", bundle, home=prod)
    assert done.returncode == 0, done.stderr
    assert os.readlink(prod / "self" / "previous") == sys.prefix
    return prod, bundle


@pytest.mark.parametrize("link", ["current", "previous"])
def test_rollback_refuses_a_link_made_by_hand_to_a_folder_outside_and_changes_nothing(
        tmp_path: Path, link: str) -> None:
    prod, _ = _updated(tmp_path)
    os.unlink(prod / "self" / link)
    os.symlink("/usr", prod / "self" / link)  # ln -sfn /usr HOME/self/LINK
    before = snapshot(prod)
    done = run_cli("self-update", "--rollback", "--json", home=prod)
    assert done.returncode == 1, (done.stdout, done.stderr)
    err = json.loads(done.stdout)["error"]
    assert err["code"] == "invalid_self_link"
    assert f"{prod / 'self' / link}: names /usr" in err["message"] and "not a link bundlekit made" in err["message"]
    assert snapshot(prod) == before  # no swap, no audit entry
    assert os.readlink(prod / "self" / link) == "/usr"


def test_a_relative_link_that_leaves_the_venvs_folder_is_refused_too(tmp_path: Path) -> None:
    prod, bundle = _updated(tmp_path)
    os.unlink(prod / "self" / "current")
    os.symlink("venvs/../../..", prod / "self" / "current")
    before = snapshot(prod)
    for args in (("--rollback",), (bundle, "--dry-run"), (bundle,)):
        done = run_cli("self-update", *args, "--json", home=prod)
        assert done.returncode == 1, (args, done.stdout, done.stderr)
        assert json.loads(done.stdout)["error"]["code"] == "invalid_self_link"
        assert snapshot(prod) == before


def test_the_links_bundlekit_made_to_the_installation_it_ran_from_still_roll_back_both_ways(tmp_path: Path) -> None:
    prod, _ = _updated(tmp_path)
    for expected in (sys.prefix, f"venvs/{os.path.basename(os.readlink(prod / 'self' / 'current'))}"):
        done = run_cli("self-update", "--rollback", home=prod)
        assert done.returncode == 0, done.stderr
        assert os.readlink(prod / "self" / "current") == expected
