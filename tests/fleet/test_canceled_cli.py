"""Ctrl-C or SIGTERM during `bundlekit deploy`, through the real CLI and real sshd targets: the
running scripts stop, the deployment is recorded Canceled with every run's state, its receipt
is queued, and the command exits with a stable code (never click's "Aborted!")."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.world import World, json_of, make_world
from tests.fleet.sshd import SshServer, require_sshd, start_servers
from tests.fleet.test_killed_target_cli import _gone, _working_in
from tests.fleet.test_ssh_deploy import runner_processes

RELEASE = '''
[project]
name = "Fleet Stop"
space = "Default"

[release]
version = "1.0.0"
channel = "Default"

[[steps]]
name = "Prepare"
type = "script"
syntax = "bash"
roles = ["stop"]
script = 'echo "prepared on #{{Octopus.Machine.Name}}"'

[[steps]]
name = "Long"
type = "script"
syntax = "bash"
roles = ["stop"]
timeout = 900
script = """
touch "{markers}/#{{Octopus.Machine.Name}}-#{{Octopus.Deployment.Id}}"
sleep 600
echo "long done on #{{Octopus.Machine.Name}}"
"""

[[steps]]
name = "After"
type = "script"
syntax = "bash"
roles = ["stop"]
window_size = 1
script = 'echo "after on #{{Octopus.Machine.Name}}"'
'''


@pytest.fixture(scope="module")
def stop_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, list[SshServer], Path]]:
    require_sshd()
    root = tmp_path_factory.mktemp("stop")
    world = make_world(root)
    zone_key = world.cli("targets", "ssh-key", home=world.prod).strip()
    servers = start_servers(root / "machines", 2, zone_key, prefix="stop")
    markers = root / "markers"
    markers.mkdir()
    try:
        for server in servers:
            world.cli("targets", "add", server.name, "--environment", "Production", "--role", "stop", "--ssh",
                      f"{server.user}@127.0.0.1:{server.port}", "--host-key", server.host_key, "--work-dir",
                      server.work_dir, home=world.prod)
        release = world.release_dir / "stop.toml"
        release.write_text(RELEASE.format(markers=markers))
        bundle = world.root / "media" / "stop.bundle"
        world.cli("export", release, "--to", "prod", "-o", bundle, home=world.dev)
        world.cli("import", bundle, home=world.prod)
        yield world, servers, markers
    finally:
        for server in servers:
            server.stop()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_during_a_deployment_stops_its_scripts_and_records_it_canceled_for_the_receipt(
        stop_world: tuple[World, list[SshServer], Path], signum: signal.Signals) -> None:
    world, servers, markers = stop_world
    before = set(markers.iterdir())
    receipt = world.root / "media" / f"stop-{signum.name}.bundle"
    process = subprocess.Popen([sys.executable, "-m", "bundlekit", "deploy", "fleet-stop", "1.0.0", "--environment",
                                "Production", "--receipt-out", str(receipt), "--json", "--home", str(world.prod)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        while len(set(markers.iterdir()) - before) < 2 and process.poll() is None:
            time.sleep(0.05)  # both targets are in the Long step's script
        process.send_signal(signum)
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert "Aborted!" not in err and "Traceback" not in err, err
    answer = json_of(out)
    assert process.returncode == 5 and answer["error"]["code"] == "deployment_canceled", out + err
    assert f"was canceled ({signum.name})" in answer["error"]["message"]
    assert answer["state"] == "Canceled"
    states = {(r["step"], r["target"]): r["state"] for r in answer["runs"]}
    assert states == {**{("Prepare", s.name): "Success" for s in servers},
                      **{("Long", s.name): "Canceled" for s in servers},
                      **{("After", s.name): "Canceled" for s in servers}}

    shown = json_of(world.cli("deployments", "show", answer["deployment_id"], "--json", home=world.prod))
    assert shown["state"] == shown["record"]["state"] == "Canceled"
    assert {(r["step"], r["target"]): r["state"] for r in shown["record"]["runs"]} == states
    listed = json_of(world.cli("deployments", "list", "--json", home=world.prod))["deployments"]
    assert not [d for d in listed if d["state"] == "Executing"]
    for server in servers:  # nothing of the deployment is left running on the targets
        assert _gone(lambda: runner_processes(server.work_dir) + _working_in(server.work_dir), 20), server.name

    # The receipt carries it back: the source's dashboard shows the canceled runs.
    world.cli("import", receipt, home=world.dev)
    view = json_of(world.cli("dashboard", "--json", home=world.dev))
    row = next(p for p in view["projects"] if p["slug"] == "fleet-stop")
    latest = row["cells"][view["columns"].index(["prod", "Production"])]["latest"]
    assert latest["state"] == "failed"
    assert {(s["step"], s["target"]): s["state"] for s in latest["steps"]} == states


def test_a_dry_run_shows_how_many_targets_each_step_runs_on_at_once(
        stop_world: tuple[World, list[SshServer], Path]) -> None:
    world, servers, _ = stop_world
    plan = json_of(world.cli("deploy", "fleet-stop", "1.0.0", "--environment", "Production", "--dry-run",
                             "--max-parallel", "5", "--json", home=world.prod))
    steps = {s["step"]: (s["targets"], s["at_once"], s["limited_by"]) for s in plan["steps"]}
    assert plan["max_parallel"] == 5
    assert steps == {"Prepare": (2, 2, "--max-parallel 5"), "Long": (2, 2, "--max-parallel 5"),
                     "After": (2, 1, "window_size 1")}  # a rolling step: one target at a time
    text = world.cli("deploy", "fleet-stop", "1.0.0", "--environment", "Production", "--dry-run",
                     "--max-parallel", "1", home=world.prod)
    assert "  Prepare: 2 target(s), at most 1 at once (--max-parallel 1)" in text.splitlines(), text
    assert "  After: 2 target(s), at most 1 at once (window_size 1)" in text.splitlines(), text
