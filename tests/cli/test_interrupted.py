"""Ctrl-C is one rule for every command (finding selfatk 9): exit 130 and one line saying what was
left and what to do, never click's bare "Aborted!" with the exit status of a state error."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import run_cli, snapshot

#: Runs the checkout's bundlekit with the import a command makes replaced by a real SIGINT to its
#: own process (Ctrl-C, as the terminal sends it), at a point where the command has begun.
INTERRUPT_IN = """
import os, signal, sys, time
import {module} as target
def interrupted(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(60)
target.{name} = interrupted
from bundlekit.__main__ import main
sys.argv[0] = "bundlekit"
main()
"""


def _interrupted(module: str, name: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "BUNDLEKIT_HOME"}
    return subprocess.run([sys.executable, "-c", INTERRUPT_IN.format(module=module, name=name), *map(str, args)],
                          capture_output=True, text=True, timeout=120, env=env, stdin=subprocess.DEVNULL)


def test_ctrl_c_during_self_update_exits_130_saying_the_running_bundlekit_stays(tmp_path: Path) -> None:
    home = tmp_path / "prod"
    assert run_cli("init", "--zone", "prod", home=home).returncode == 0
    bundle = tmp_path / "self.bundle"
    bundle.write_bytes(b"not read: the interrupt comes first")
    before = snapshot(home)
    done = _interrupted("bundlekit.selfupdate.install", "import_bundle", "self-update", bundle, "--home", home)
    assert done.returncode == 130, done.stderr
    assert "Aborted" not in done.stderr
    assert "interrupted: the running bundlekit stays current" in done.stderr
    assert "Run the same command again" in done.stderr
    assert snapshot(home) == before


def test_ctrl_c_during_any_other_command_exits_130_with_the_general_rule(tmp_path: Path) -> None:
    home = tmp_path / "prod"
    assert run_cli("init", "--zone", "prod", home=home).returncode == 0
    done = _interrupted("bundlekit.zone.spaces", "add_space", "spaces", "add", "Payments", "--home", home)
    assert done.returncode == 130, done.stderr
    assert "interrupted: any change under way was made whole or not at all" in done.stderr
    assert "Aborted" not in done.stderr
