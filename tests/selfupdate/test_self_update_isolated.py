"""self-update installs exactly the bundle's wheels whatever the caller's environment says, and reuses an
environment only when it runs from its own folder (findings selfatk 12 and 5, decisions 561, 952).
"""

from __future__ import annotations

import os
import shutil
import sysconfig
from pathlib import Path

from tests.selfupdate.conftest import NEWER, OFFLINE, cli, export_self, version_of


def test_a_pythonpath_holding_the_dependencies_does_not_leave_them_out_and_a_moved_home_is_rebuilt(
        installed_zones: tuple[Path, Path, Path], wheelhouse: Path, tmp_path: Path) -> None:
    dev, prod, old = installed_zones
    bundle = tmp_path / "self.bundle"
    assert export_self(dev, wheelhouse, bundle).returncode == 0
    # the caller's PYTHONPATH names a folder holding cryptography, msgpack, zstandard...: pip must not
    # take them as installed, and the check must not pass because of them
    caller = {**OFFLINE, "PYTHONPATH": sysconfig.get_paths()["purelib"], "PYTHONUSERBASE": str(tmp_path / "ub"),
              "PIP_TARGET": str(tmp_path / "target"), "PIP_USER": "1"}
    done = cli(old, "self-update", bundle, "--home", prod, env=caller)
    assert done.returncode == 0, done.stderr
    current = prod / "self" / "current"
    site = Path(sysconfig.get_path("purelib", vars={"base": str(current), "platbase": str(current)}))
    for dist in ("cryptography", "msgpack", "zstandard"):
        assert (site / dist).is_dir(), f"{dist} was not installed into the new environment"
    assert not (tmp_path / "target").exists()
    listed = cli(current / "bin" / "bundlekit", "releases", "list", "--home", prod, env={"NO_COLOR": "1"})
    assert listed.returncode == 0 and "Traceback" not in listed.stderr, listed.stderr
    previous = os.readlink(prod / "self" / "previous")

    # moved: the environment's scripts still name the old folder's interpreter; it is not "already current"
    moved = tmp_path / "moved"
    shutil.move(str(prod), moved)
    again = cli(old, "self-update", bundle, "--home", moved, env=OFFLINE)
    assert again.returncode == 0, again.stderr
    assert "already current" not in again.stdout and f"installed bundlekit {NEWER}" in again.stdout
    new = moved / "self" / "current" / "bin" / "bundlekit"
    assert str(moved) in new.read_text("utf-8").split("\n", 2)[0] + new.read_text("utf-8").split("\n", 2)[1]
    assert version_of(new) == NEWER
    assert os.readlink(moved / "self" / "previous") == previous  # made again in place: previous stays
    same = cli(old, "self-update", bundle, "--home", moved, env=OFFLINE)
    assert same.returncode == 0 and "already current" in same.stdout
