"""A target that dies mid-deployment, through the real CLI: its run ends Failed, the others are kept,
the record and the receipt say so, and a retry picks up cleanly (real sshd processes on 127.0.0.1)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from tests.conftest import run_cli
from tests.e2e.world import json_of, make_world
from tests.fleet.sshd import require_sshd, start_servers
from tests.fleet.test_ssh_deploy import runner_processes, wait_for

RELEASE = '''
[project]
name = "Fleet Kill"
space = "Default"

[release]
version = "1.0.0"
channel = "Default"

[[steps]]
name = "Prepare"
type = "script"
syntax = "bash"
roles = ["fleet"]
script = 'echo "prepared on #{{Octopus.Machine.Name}}"'

[[steps]]
name = "Long"
type = "script"
syntax = "bash"
roles = ["fleet"]
timeout = 900
script = """
if [ "#{{Octopus.Machine.Name}}" = "node-03" ] && [ ! -e "{marker}" ]; then touch "{marker}"; sleep 600; fi
echo "long done on #{{Octopus.Machine.Name}}"
"""

[[steps]]
name = "After"
type = "script"
syntax = "bash"
roles = ["fleet"]
script = 'echo "after on #{{Octopus.Machine.Name}}"'
'''


def test_a_target_killed_mid_deployment_ends_failed_others_are_kept_and_the_receipt_says_so(
        tmp_path: Path) -> None:
    require_sshd()
    world = make_world(tmp_path)  # its local targets have other roles: the release never uses them
    zone_key = world.cli("targets", "ssh-key", home=world.prod).strip()
    servers = start_servers(tmp_path / "machines", 3, zone_key, prefix="node")
    doomed = servers[2]
    try:
        for server in servers:
            world.cli("targets", "add", server.name, "--environment", "Production", "--role", "fleet", "--ssh",
                      f"{server.user}@127.0.0.1:{server.port}", "--host-key", server.host_key, "--work-dir",
                      server.work_dir, home=world.prod)
        marker = doomed.folder / "long-started"
        release = world.release_dir / "kill.toml"
        release.write_text(RELEASE.format(marker=marker))
        bundle = world.root / "media" / "kill.bundle"
        world.cli("export", release, "--to", "prod", "-o", bundle, home=world.dev)
        world.cli("import", bundle, home=world.prod)
        receipt = world.root / "media" / "kill-receipt.bundle"

        killer = threading.Thread(target=lambda: wait_for(marker, 120) and doomed.kill())
        killer.start()
        started = time.monotonic()
        r = run_cli("deploy", "fleet-kill", "1.0.0", "--environment", "Production", "--receipt-out", receipt,
                    "--json", home=world.prod, timeout=300)
        killer.join()
        # Noticed when the connection dropped, not at the step's 900 s timeout; never a traceback.
        assert time.monotonic() - started < 120 and marker.exists()
        assert "Traceback" not in r.stdout + r.stderr
        answer = json_of(r.stdout)  # one document: the record, and why the command failed
        assert r.returncode == 5 and answer["error"]["code"] == "deploy_failed", r.stdout + r.stderr
        assert "on node-03" in answer["error"]["message"] and answer["state"] == "Failed"
        assert [(x["step"], x["state"]) for x in answer["runs"] if x["target"] == "node-03"] == [
            ("Prepare", "Success"), ("Long", "Failed"), ("After", "Skipped")]
        shown = json_of(world.cli("deployments", "show", answer["deployment_id"], "--json", home=world.prod))
        runs = {(x["step"], x["target"]): x for x in shown["record"]["runs"]}
        assert shown["state"] == shown["record"]["state"] == "Failed"
        assert shown["outcome"] == "partial"  # the word both zones' dashboards show for it (below)
        assert [runs[("Prepare", s.name)]["state"] for s in servers] == ["Success"] * 3
        assert [runs[("Long", s.name)]["state"] for s in servers] == ["Success", "Success", "Failed"]
        dead = runs[("Long", "node-03")]
        assert "[target_connection_lost]" in dead["reason"] and "node-03" in dead["reason"]
        for server in servers[:2]:  # the targets that stayed up keep their results
            assert f"long done on {server.name}" in runs[("Long", server.name)]["log"]
        assert [runs[("After", s.name)]["state"] for s in servers] == ["Skipped"] * 3
        # Nothing of the deployment is left running on the dead machine (its runner and script ended).
        assert _gone(lambda: runner_processes(doomed.work_dir) + _working_in(doomed.work_dir), 20)

        # The receipt carries the failure back: the source zone's dashboard shows which target failed and why.
        world.cli("import", receipt, home=world.dev)
        view = json_of(world.cli("dashboard", "--json", home=world.dev))
        row = next(p for p in view["projects"] if p["slug"] == "fleet-kill")
        latest = row["cells"][view["columns"].index(["prod", "Production"])]["latest"]
        steps = {(s["step"], s["target"]): s for s in latest["steps"]}
        assert latest["state"] == "partial"  # Long succeeded on two targets and failed on one
        assert steps[("Long", "node-03")]["state"] == "Failed"
        assert "target_connection_lost" in steps[("Long", "node-03")]["reason"]
        assert steps[("Long", "node-01")]["state"] == "Success" and steps[("After", "node-02")]["state"] == "Skipped"

        # The machine comes back (same host key, same work folder): a retried deployment succeeds everywhere.
        doomed.start(zone_key)
        again = run_cli("deploy", "fleet-kill", "1.0.0", "--environment", "Production", home=world.prod, timeout=300)
        assert again.returncode == 0, again.stdout + again.stderr
        assert "Success   Long on node-03" in again.stdout
    finally:
        for server in servers:
            server.stop()


def _working_in(folder: Path) -> list[int]:
    """Processes whose current folder is under ``folder`` (a step's script and what it started)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if Path(os.readlink(f"/proc/{pid}/cwd")).is_relative_to(folder):
                found.append(int(pid))
        except OSError:
            pass
    return found


def _gone(probe: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while probe() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.1)
    return not probe()  # type: ignore[operator]

