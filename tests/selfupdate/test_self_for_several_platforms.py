"""One bundlekit version for destinations of several platforms (newuser finding 8, decision 948):
the second platform's export was refused `release_exists` ("pass --replace"), an option
export-self does not have. The same version now goes with another set of dependency wheels to
each platform; another build of bundlekit's own wheel under that version is still refused."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from packaging.tags import sys_tags

from bundlekit.selfupdate.platform_check import here_platform
from tests.conftest import run_cli, snapshot
from tests.selfupdate.conftest import finished_stand_in, two_zones
from tests.selfupdate.test_wheels import wheel

X86 = ("--python-version", "3.11", "--platform", "manylinux_2_17_x86_64")
ARM = ("--python-version", "3.11", "--platform", "manylinux_2_34_aarch64")


def _house(folder: Path, *requires: str) -> Path:
    """bundlekit 0.2.0 needing zstandard, whose wheels are there for two platforms."""
    folder.mkdir()
    wheel(folder, "bundlekit", "0.2.0", requires=("zstandard>=0.22", *requires))
    wheel(folder, "zstandard", "0.25.0", "cp311-cp311-manylinux_2_17_x86_64")
    wheel(folder, "zstandard", "0.25.0", "cp311-cp311-manylinux_2_34_aarch64")
    return folder


def _wheels(bundle: Path) -> list[str]:
    return [p["file"] for p in json.loads(run_cli("inspect", bundle, "--json").stdout)["packages"]]


def _edge(tmp_path: Path, dev: Path) -> None:
    edge = tmp_path / "edge"
    assert run_cli("init", "--zone", "edge", home=edge).returncode == 0
    assert run_cli("identity", "-o", tmp_path / "edge.card", home=edge).returncode == 0
    assert run_cli("trust", "add", tmp_path / "edge.card", home=dev).returncode == 0


def test_one_bundlekit_version_is_exported_for_each_destination_s_platform(tmp_path: Path) -> None:
    dev, _ = two_zones(tmp_path)
    _edge(tmp_path, dev)
    house = _house(tmp_path / "wheels")
    for zone, target, out in (("prod", X86, "x86.bundle"), ("edge", ARM, "arm.bundle"),
                              ("prod", X86, "x86-again.bundle")):
        done = run_cli("export-self", "--to", zone, "-o", tmp_path / out, "--wheelhouse", house, *target, home=dev)
        assert done.returncode == 0, done.stderr
        assert f"exported bundlekit 0.2.0 and 1 dependencies for zone {zone}" in done.stdout
    assert _wheels(tmp_path / "x86.bundle")[1] == "zstandard-0.25.0-cp311-cp311-manylinux_2_17_x86_64.whl"
    assert _wheels(tmp_path / "arm.bundle")[1] == "zstandard-0.25.0-cp311-cp311-manylinux_2_34_aarch64.whl"
    sequences = [json.loads(run_cli("inspect", tmp_path / b, "--json").stdout)["sequence"]
                 for b in ("x86.bundle", "arm.bundle", "x86-again.bundle")]
    assert sequences == [1, 2, 3]  # one project's numbers: every destination's anti-rollback holds


def test_another_build_of_bundlekit_under_the_same_version_is_refused(tmp_path: Path) -> None:
    dev, _ = two_zones(tmp_path)
    assert run_cli("export-self", "--to", "prod", "-o", tmp_path / "a.bundle", "--wheelhouse",
                   _house(tmp_path / "a"), *X86, home=dev).returncode == 0
    other = _house(tmp_path / "b", "click")  # bundlekit 0.2.0 again, built from other source
    wheel(other, "click", "8.1.0")
    out = tmp_path / "b.bundle"
    before = snapshot(dev, out)
    done = run_cli("export-self", "--to", "prod", "-o", out, "--wheelhouse", other, *X86, "--json", home=dev)
    assert done.returncode == 4, done.stdout
    err = json.loads(done.stdout)["error"]
    assert err["code"] == "release_exists"
    assert "another build of bundlekit 0.2.0 than the one zone dev exported as bundlekit 0.2.0 before" in err["message"]
    assert "--replace" not in err["message"]  # export-self has no such option
    assert snapshot(dev, out) == before


def test_a_zone_installs_the_same_version_built_for_another_platform(tmp_path: Path) -> None:
    """A node of the zone on another platform (or the zone's machine replaced): the second wheel set
    of a version the zone holds is installed, not refused as a conflicting release."""
    # Both sets must install on the interpreter running here, which self-update checks first (newuser35
    # finding 11): the older glibc baseline, and this machine's newest platform with a wheel of its own.
    python, cp = "%d.%d" % sys.version_info[:2], "cp%d%d" % sys.version_info[:2]
    platform = here_platform(list(sys_tags()))
    dev, prod = two_zones(tmp_path)
    house = tmp_path / "wheels"
    house.mkdir()
    wheel(house, "bundlekit", "0.2.0", requires=("zstandard>=0.22",))
    wheel(house, "zstandard", "0.25.0", f"{cp}-{cp}-manylinux_2_17_x86_64")
    wheel(house, "zstandard", "0.25.0", f"{cp}-{cp}-{platform}")
    for name, target in (("old.bundle", ("--platform", "manylinux_2_17_x86_64")), ("new.bundle", ("--platform", platform))):
        done = run_cli("export-self", "--to", "prod", "-o", tmp_path / name, "--wheelhouse", house,
                       "--python-version", python, *target, home=dev)
        assert done.returncode == 0, done.stderr
    assert _wheels(tmp_path / "old.bundle") != _wheels(tmp_path / "new.bundle")
    first = finished_stand_in(prod, tmp_path / "old.bundle", "0.2.0")
    second = finished_stand_in(prod, tmp_path / "new.bundle", "0.2.0")
    assert run_cli("self-update", tmp_path / "old.bundle", home=prod).returncode == 0
    done = run_cli("self-update", tmp_path / "new.bundle", home=prod)
    assert done.returncode == 0, done.stderr
    assert os.readlink(prod / "self" / "current") == f"venvs/{second.name}"
    assert os.readlink(prod / "self" / "previous") == f"venvs/{first.name}"
