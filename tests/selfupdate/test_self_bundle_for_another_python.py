"""A bundlekit release exported for another Python or platform than the interpreter self-update
installs with is refused up front, dry run or not (newuser35 finding 11): it passed `--dry-run`
("would install") and the real run failed inside pip with "No matching distribution found for
cffi==2.1.1" and no hint. The refusal names the bundle's target, this interpreter's and the
export-self that fits; nothing changes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from packaging.tags import sys_tags

from bundlekit.selfupdate.platform_check import here_platform
from tests.conftest import run_cli, snapshot
from tests.selfupdate.conftest import NEWER, two_zones
from tests.selfupdate.test_wheels import wheel

HERE = "%d.%d" % sys.version_info[:2]
OTHER = "3.12" if HERE != "3.12" else "3.11"
CP_OTHER = "cp" + OTHER.replace(".", "")
CP_HERE = "cp" + HERE.replace(".", "")
PLATFORM = here_platform(list(sys_tags()))


@pytest.mark.parametrize(("python", "platform", "tag"), [
    (OTHER, "manylinux_2_17_x86_64", f"{CP_OTHER}-{CP_OTHER}-manylinux_2_17_x86_64"),  # another Python
    (HERE, "win_amd64", f"{CP_HERE}-{CP_HERE}-win_amd64"),  # another platform
])
def test_a_bundle_for_another_python_or_platform_is_refused_before_installing_naming_both_and_the_fix(
        tmp_path: Path, python: str, platform: str, tag: str) -> None:
    dev, prod = two_zones(tmp_path)
    house = tmp_path / "wheels"
    house.mkdir()
    wheel(house, "bundlekit", NEWER, requires=("cffi",))
    wheel(house, "cffi", "2.1.1", tag)
    bundle = tmp_path / "other.bundle"
    done = run_cli("export-self", "--to", "prod", "-o", bundle, "--wheelhouse", house, "--python-version", python,
                   "--platform", platform, home=dev)
    assert done.returncode == 0, done.stderr
    before = snapshot(prod)
    for args in (("--dry-run",), ()):
        done = run_cli("self-update", bundle, *args, "--json", home=prod)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        err = json.loads(done.stdout)["error"]
        assert err["code"] == "self_platform_mismatch"
        message = str(err["message"])
        assert f"was exported for Python {python} on {platform}" in message
        assert f"installs with Python {HERE} on {PLATFORM}" in message
        assert f"cffi-2.1.1-{tag}.whl" in message and "1 of its 2 wheels" in message
        assert (f"In zone dev, export it for this zone with `bundlekit export-self --to prod -o OUT --wheelhouse DIR "
                f"--python-version {HERE} --platform {PLATFORM}`") in message
        assert snapshot(prod) == before  # nothing imported, no environment begun


def test_a_bundle_for_this_interpreter_passes_the_check(tmp_path: Path) -> None:
    dev, prod = two_zones(tmp_path)
    house = tmp_path / "wheels"
    house.mkdir()
    wheel(house, "bundlekit", NEWER, requires=("cffi",))
    wheel(house, "cffi", "2.1.1", f"{CP_HERE}-{CP_HERE}-{PLATFORM}")
    bundle = tmp_path / "here.bundle"
    assert run_cli("export-self", "--to", "prod", "-o", bundle, "--wheelhouse", house, home=dev).returncode == 0
    done = run_cli("self-update", bundle, "--dry-run", home=prod)
    assert done.returncode == 0, done.stderr
    assert f"would install bundlekit {NEWER}" in done.stdout
