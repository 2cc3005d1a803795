"""Clock skew as `targets check` and the deploy preflight measure it (decision 406), against a real
sshd whose Python lives an hour in the future, and against a zone whose clock is an hour ahead.

The target's clock is moved for its Python only: its ``python3`` is a virtual environment whose
site-packages holds a ``.pth`` line adding 3600 s to ``time.time`` (site-packages ``.pth`` files
are read even under ``-s -E``, which the runner is started with), so the probe and the runner
both report a time an hour ahead while the machine's real clock stays where it is.
"""

from __future__ import annotations

import json
import subprocess
import time
import venv
from collections.abc import Iterator
from pathlib import Path

import asyncssh
import pytest

from bundlekit.deploy.fleet import Fleet
from tests.conftest import run_cli
from tests.fleet.sshd import SshServer, free_port, require_sshd
from tests.fleet.test_ssh_deploy import ssh_target

HOUR = 3600.0
#: How far a measured skew may sit from the hour it was given: the probe compares with the moment
#: its answer arrives (one-way latency), the runner with the midpoint of one round trip; on a
#: loaded machine either can take a while, but never an hour.
SLACK = 30.0


def python_an_hour_ahead(folder: Path) -> Path:
    """A ``bin`` folder whose ``python3`` reports ``time.time()`` one hour ahead of the real clock."""
    venv.EnvBuilder(with_pip=False, symlinks=True).create(folder)
    [site] = list((folder / "lib").glob("python3*/site-packages"))
    # Idempotent: site reads the folder twice when lib64 links to lib.
    (site / "zz_ahead.pth").write_text(
        'import time; hasattr(time, "real_time") or setattr(time, "real_time", time.time); '
        f"time.time = (lambda t: (lambda: t.real_time() + {HOUR}))(time)\n")
    ahead = subprocess.run([str(folder / "bin" / "python3"), "-s", "-E", "-c", "import time; print(time.time())"],
                           capture_output=True, text=True, check=True)
    assert abs(float(ahead.stdout) - time.time() - HOUR) < SLACK  # works, once, before any test relies on it
    return folder / "bin"


@pytest.fixture
def ahead(tmp_path: Path, client_key: asyncssh.SSHKey) -> Iterator[SshServer]:
    """One sshd whose sessions find the hour-ahead ``python3`` first on their PATH."""
    require_sshd()
    bin_dir = python_an_hour_ahead(tmp_path / "py-ahead")
    server = SshServer("ahead-01", tmp_path / "ahead", free_port(), env={"PATH": f"{bin_dir}:/usr/bin:/bin"})
    server.start(client_key.export_public_key("openssh").decode().strip())
    yield server
    server.stop()


@pytest.fixture
def plain(tmp_path: Path, client_key: asyncssh.SSHKey) -> Iterator[SshServer]:
    require_sshd()
    server = SshServer("plain-01", tmp_path / "plain", free_port())
    server.start(client_key.export_public_key("openssh").decode().strip())
    yield server
    server.stop()


@pytest.mark.parametrize("start", [False, True], ids=["probe", "started-runner"])
def test_a_target_whose_clock_runs_an_hour_ahead_shows_plus_one_hour_of_skew(
        ahead: SshServer, client_key: asyncssh.SSHKey, start: bool) -> None:
    with Fleet(lambda: client_key) as fleet:
        [health] = fleet.check([ssh_target(ahead)], start=start)
    assert health.healthy, health.error
    assert health.clock_skew is not None and abs(health.clock_skew - HOUR) < SLACK, health.clock_skew
    assert health.to_dict()["clock_skew_seconds"] == health.clock_skew


@pytest.mark.parametrize("start", [False, True], ids=["probe", "started-runner"])
def test_a_zone_whose_clock_runs_an_hour_ahead_sees_its_target_an_hour_behind(
        plain: SshServer, client_key: asyncssh.SSHKey, start: bool) -> None:
    # The zone's side of the measure is the clock the fleet is given (decision 122), read around
    # the answer: a zone an hour ahead sees a right target as an hour behind, and the sign says so.
    with Fleet(lambda: client_key, clock=lambda: time.time() + HOUR) as fleet:
        [health] = fleet.check([ssh_target(plain)], start=start)
    assert health.healthy, health.error
    assert health.clock_skew is not None and abs(health.clock_skew + HOUR) < SLACK, health.clock_skew


def test_a_started_runner_s_skew_is_taken_from_the_midpoint_of_one_request(
        plain: SshServer, client_key: asyncssh.SSHKey) -> None:
    # Each read of the zone's clock is an hour later than the one before. The runner answers
    # between the two readings around its request: against their midpoint it is half an hour
    # behind. Against the first reading alone it would show no skew, against the second a whole
    # hour, and a third reading (anything else timed with the zone's clock) would move it again.
    reads: list[float] = []

    def jumping() -> float:
        reads.append(time.time() + HOUR * len(reads))
        return reads[-1]

    with Fleet(lambda: client_key, clock=jumping) as fleet:
        [health] = fleet.check([ssh_target(plain)], start=True)
    assert health.healthy, health.error
    assert len(reads) == 2, reads
    assert health.clock_skew is not None and abs(health.clock_skew + HOUR / 2) < SLACK, health.clock_skew


def test_targets_check_prints_the_skew_in_its_table_and_json(ahead: SshServer, tmp_path: Path) -> None:
    home = tmp_path / "zone"
    assert run_cli("init", "--zone", "prod", home=home).returncode == 0
    zone_key = run_cli("targets", "ssh-key", home=home).stdout.strip()
    ahead.authorize(zone_key)
    added = run_cli("targets", "add", "ahead-01", "--environment", "Production", "--role", "web", "--ssh",
                    f"{ahead.user}@127.0.0.1:{ahead.port}", "--host-key", ahead.host_key, "--work-dir",
                    str(ahead.work_dir), home=home)
    assert added.returncode == 0, added.stdout + added.stderr
    r = run_cli("targets", "check", "--json", home=home)
    [health] = json.loads(r.stdout)["targets"]
    assert r.returncode == 0 and abs(health["clock_skew_seconds"] - HOUR) < SLACK, r.stdout
    table = run_cli("targets", "check", home=home).stdout
    row = next(line for line in table.splitlines() if "ahead-01" in line)
    skew, unit = row.split()[-2:]
    assert skew.startswith("+") and abs(float(skew) - HOUR) < SLACK and unit == "s", table  # ahead: a plus sign
