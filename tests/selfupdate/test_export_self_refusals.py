"""What export-self refuses at the source so that nothing fails on the far side, with the real
bundlekit wheel of the shared wheelhouse: a destination Python bundlekit does not support
(newuser finding 9), and every missing dependency at once (finding 10)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from bundlekit.selfupdate.wheels import read_wheelhouse
from tests.conftest import run_cli, snapshot
from tests.selfupdate.conftest import NEWER, two_zones


def _only_bundlekit(wheelhouse: Path, dest: Path) -> Path:
    dest.mkdir()
    os.link(wheelhouse / f"bundlekit-{NEWER}-py3-none-any.whl", dest / f"bundlekit-{NEWER}-py3-none-any.whl")
    return dest


def test_export_self_for_a_python_bundlekit_does_not_support_is_refused_at_the_source(
        tmp_path: Path, wheelhouse: Path) -> None:
    dev, _ = two_zones(tmp_path)
    house = _only_bundlekit(wheelhouse, tmp_path / "wh310")
    out = tmp_path / "bk-310.bundle"
    before = snapshot(dev, out)
    done = run_cli("export-self", "--to", "prod", "-o", out, "--wheelhouse", house, "--python-version", "3.10",
                   "--platform", "manylinux_2_17_x86_64", "--json", home=dev)
    assert done.returncode == 1, done.stdout
    err = json.loads(done.stdout)["error"]
    assert err["code"] == "unsupported_python"
    assert f"bundlekit {NEWER} requires Python >=3.11 (the wheel's Requires-Python)" in err["message"]
    assert "the destination runs Python 3.10" in err["message"]
    assert snapshot(dev, out) == before


def test_export_self_names_every_missing_dependency_and_one_pip_command_for_all(
        tmp_path: Path, wheelhouse: Path) -> None:
    dev, _ = two_zones(tmp_path)
    house = _only_bundlekit(wheelhouse, tmp_path / "wh")
    out = tmp_path / "bk.bundle"
    done = run_cli("export-self", "--to", "prod", "-o", out, "--wheelhouse", house, "--python-version", "3.11",
                   "--platform", "manylinux_2_17_x86_64", "--json", home=dev)
    assert done.returncode == 1, done.stdout
    err = json.loads(done.stdout)["error"]
    assert err["code"] == "wheel_missing"
    wanted = _requires(house / f"bundlekit-{NEWER}-py3-none-any.whl")
    assert len(wanted) == 14
    assert sorted(_name(m["requirement"]) for m in err["details"]["missing"]) == wanted  # all, in one refusal
    assert err["details"]["pip"] == ("pip download --only-binary=:all: --dest " + str(house) + " --python-version "
                                     "3.11 --platform manylinux_2_17_x86_64 "
                                     + " ".join(f"'{m['requirement']}'" for m in err["details"]["missing"]))
    assert f"Fetch them all with `{err['details']['pip']}`" in err["message"]
    assert not out.exists()


def _name(requirement: str) -> str:
    return canonicalize_name(Requirement(requirement).name)


def _requires(path: Path) -> list[str]:
    """The distributions the bundlekit wheel ``path`` requires (its extras' left out), by name."""
    (w,) = read_wheelhouse(path.parent)["bundlekit"]
    return sorted(_name(r) for r in w.requires() if "extra ==" not in r)
