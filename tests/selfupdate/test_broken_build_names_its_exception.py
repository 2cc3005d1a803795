"""A build whose `bundlekit --version` crashes is refused `self_update_failed` quoting the
exception, the traceback's last line, not its first, "Traceback (most recent call last):", which
says nothing (newuser35 finding 12); the environment is removed, so the message is all the user
gets. The wheel is a minimal one whose command raises; pip installs it offline."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_cli, snapshot
from tests.refusals.world import write_zip
from tests.selfupdate.conftest import LATER, OFFLINE, two_zones


def _crashing_wheel(folder: Path, version: str) -> Path:
    info = f"bundlekit-{version}.dist-info"
    files = {
        "bundlekit_crash.py": b"def main():\n    raise RuntimeError('broken build')\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: bundlekit\nVersion: {version}\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: bundlekit-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{info}/entry_points.txt": b"[console_scripts]\nbundlekit = bundlekit_crash:main\n",
    }
    files[f"{info}/RECORD"] = "".join(f"{name},,\n" for name in [*files, f"{info}/RECORD"]).encode()
    return write_zip(folder / f"bundlekit-{version}-py3-none-any.whl", files)


def test_a_build_whose_version_command_crashes_is_refused_quoting_the_exception(tmp_path: Path) -> None:
    dev, prod = two_zones(tmp_path)
    house = _crashing_wheel(tmp_path / "wheels", LATER).parent
    bundle = tmp_path / "broken.bundle"
    assert run_cli("export-self", "--to", "prod", "-o", bundle, "--wheelhouse", house, home=dev).returncode == 0
    before = snapshot(prod)
    done = run_cli("self-update", bundle, "--json", home=prod, env=OFFLINE)
    assert done.returncode == 5, (done.stdout, done.stderr)
    err = json.loads(done.stdout)["error"]
    assert err["code"] == "self_update_failed"
    assert "`bundlekit --version` did not run (exit 1: ... RuntimeError: broken build)" in err["message"]
    assert "Traceback" not in err["message"]
    assert "it was removed and the current one is kept" in err["message"]
    assert snapshot(prod) == before
