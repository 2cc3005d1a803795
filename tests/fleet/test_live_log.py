"""A remote step's log streams back to the zone live, line by line, masked in the zone, over real
sshd targets on 127.0.0.1 (issue 9: "Logs stream back live and are masked in the zone before they
are printed or stored").

"Live" is proved without a clock: the step prints, then waits for a marker file that only the test
creates, and only once it has seen the step's line in the engine's ``run_log`` events. A step whose
lines came back only when it ended would wait for the marker until its hang guard (120 s) and
fail, so the deployment's success is the proof that the lines came while the step ran.
"""

from __future__ import annotations

import base64
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from tests.conftest import run_cli
from tests.deploy.test_plan import request_for, script, var
from tests.e2e.world import json_of, make_world
from tests.fleet.sshd import SshServer, require_sshd, start_servers
from tests.fleet.test_ssh_deploy import run, ssh_target

SECRET = "live-canary-Q7x9-2718"
#: The forms of SECRET a leak would take (as written, base64, hex).
FORMS = (SECRET, base64.b64encode(SECRET.encode()).decode(), SECRET.encode().hex())


def wait_for_marker(marker: Path) -> str:
    """Bash: wait until ``marker`` exists (a hang guard ends the wait after 120 s), then fail the
    step with exit 9 if it still does not exist."""
    return (f'for i in $(seq 2400); do [ -e "{marker}" ] && break; sleep 0.05; done\n'
            f'[ -e "{marker}" ] || {{ echo "no marker after 120 s" >&2; exit 9; }}')


@pytest.fixture(scope="module")
def machines(tmp_path_factory: pytest.TempPathFactory, client_key: asyncssh.SSHKey) -> Iterator[list[SshServer]]:
    """Three simulated targets, each its own sshd (live-01 .. live-03)."""
    require_sshd()
    public = client_key.export_public_key("openssh").decode().strip()
    running = start_servers(tmp_path_factory.mktemp("live"), 3, public, prefix="live")
    yield running
    for server in running:
        server.stop()


def leaks(*texts: str) -> list[str]:
    return [form for form in FORMS for text in texts if form in text]


def test_a_remote_steps_lines_reach_the_zone_masked_while_it_runs_stdout_stderr_and_a_last_line_without_newline(
        machines: list[SshServer], client_key: asyncssh.SSHKey, tmp_path: Path) -> None:
    server = machines[0]
    seen = tmp_path / "zone-saw-both-lines"
    request = request_for([script("Stream", "\n".join([
        'echo "pw=#{Db.Password} on stdout, then waiting"',
        'echo "pw=#{Db.Password} on stderr" >&2',
        wait_for_marker(seen),
        'echo "the zone had both lines while this step ran"',
        "printf 'last words #{Db.Password} (no newline)'",
    ]))], [var("Db.Password", SECRET, True)], targets=(ssh_target(server),), deployment_id="deployments-31")
    events: list[dict[str, Any]] = []
    wanted = {"pw=******** on stdout, then waiting", "pw=******** on stderr"}

    def on_event(event: dict[str, Any]) -> None:
        events.append(event)
        lines = {e["line"] for e in events if e["event"] == "run_log" and e["target"] == server.name}
        if wanted <= lines:  # both lines came masked: only now may the step go on
            seen.touch()

    record = run(request, client_key, on_event=on_event)
    [stream] = record.runs
    assert record.state == "Success" and stream.state == "Success", stream
    kinds = [e["event"] for e in events]
    logged = [e["line"] for e in events if e["event"] == "run_log"]
    # Every line came as its own event between the run's start and its end, masked, in order; the
    # last one without a line break came whole when the step ended (never split, never lost).
    assert kinds.index("run_started") < kinds.index("run_log") and kinds[-2:] == ["run_finished",
                                                                                   "deployment_finished"]
    assert logged[-4:] == ["pw=******** on stdout, then waiting", "pw=******** on stderr",
                           "the zone had both lines while this step ran", "last words ******** (no newline)"]
    assert stream.log.splitlines()[-4:] == logged[-4:]  # the record keeps what was streamed
    assert leaks(repr(events), repr(record.to_dict())) == []


def test_parallel_targets_stream_at_once_each_line_under_its_own_target(
        machines: list[SshServer], client_key: asyncssh.SSHKey, tmp_path: Path) -> None:
    go = tmp_path / "go"
    request = request_for([script("Many", "\n".join([
        'for i in $(seq 40); do echo "line $i from #{Octopus.Machine.Name} with #{Db.Password} inside"; done',
        'echo "waiting on #{Octopus.Machine.Name}" >&2',
        wait_for_marker(go),
        'echo "bye from #{Octopus.Machine.Name}"',
    ]))], [var("Db.Password", SECRET, True)], targets=tuple(ssh_target(s) for s in machines),
        deployment_id="deployments-32")
    names = {s.name for s in machines}
    events: list[dict[str, Any]] = []

    def on_event(event: dict[str, Any]) -> None:
        events.append(event)
        waiting = {e["target"] for e in events if e["event"] == "run_log" and e["line"] == f"waiting on {e['target']}"}
        if waiting == names:  # every target is in its step at once, and each one's lines came under its name
            go.touch()

    record = run(request, client_key, max_parallel=3, on_event=on_event)
    assert record.state == "Success", record.runs
    logged = [(e["target"], e["line"]) for e in events if e["event"] == "run_log"]
    for server in machines:
        mine = [line for target, line in logged if target == server.name]
        assert mine[-42:] == [f"line {i} from {server.name} with ******** inside" for i in range(1, 41)] + [
            f"waiting on {server.name}", f"bye from {server.name}"]
    # No line of one target was shown under another one's name.
    for target, line in logged:
        assert not any(name in line for name in names - {target}), (target, line)
    assert leaks(repr(events), repr(record.to_dict())) == []


RELEASE = '''
[project]
name = "Live Log"
space = "Default"

[release]
version = "1.0.0"
channel = "Default"

[[steps]]
name = "Stream"
type = "script"
syntax = "bash"
roles = ["live"]
script = """
echo "pw=#{{Live.Password}} from #{{Octopus.Machine.Name}}"
echo "stderr of #{{Octopus.Machine.Name}}: #{{Live.Password}}" >&2
{wait}
echo "bye from #{{Octopus.Machine.Name}}"
printf 'no newline on #{{Octopus.Machine.Name}} #{{Live.Password}}'
"""

[[variables]]
name = "Live.Password"
sensitive = true
placeholder = true
'''


def test_the_deploy_command_prints_each_targets_lines_masked_and_under_its_name_while_the_step_runs(
        machines: list[SshServer], tmp_path: Path) -> None:
    world = make_world(tmp_path)  # its local targets have other roles: the release never uses them
    zone_key = world.cli("targets", "ssh-key", home=world.prod).strip()
    for server in machines:
        server.authorize(zone_key)
        world.cli("targets", "add", server.name, "--environment", "Production", "--role", "live", "--ssh",
                  f"{server.user}@127.0.0.1:{server.port}", "--host-key", server.host_key, "--work-dir",
                  server.work_dir, home=world.prod)
    go = tmp_path / "go"
    release = world.release_dir / "live.toml"
    release.write_text(RELEASE.format(wait=wait_for_marker(go)))
    bundle = world.root / "media" / "live.bundle"
    world.cli("export", release, "--to", "prod", "-o", bundle, home=world.dev)
    world.cli("import", bundle, home=world.prod)
    entered = run_cli("variables", "set", "live-log", "Live.Password", "--sensitive", home=world.prod,
                      input=SECRET.encode() + b"\n")  # from standard input: never on a command line
    assert entered.returncode == 0, entered.stderr

    names = [s.name for s in machines]
    wanted = {f"    {n} | {line}" for n in names for line in (f"pw=******** from {n}", f"stderr of {n}: ********")}
    receipt = world.root / "media" / "live-receipt.bundle"
    process = subprocess.Popen([sys.executable, "-m", "bundlekit", "deploy", "live-log", "1.0.0", "--environment",
                                "Production", "--max-parallel", "3", "--receipt-out", str(receipt), "--home",
                                str(world.prod)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    printed: list[str] = []
    try:
        assert process.stderr is not None
        for line in process.stderr:  # as the command prints it, while it runs
            printed.append(line.rstrip("\n"))
            if wanted <= set(printed) and not go.exists():
                go.touch()  # every target's two lines were printed while all three waited for this
        out = process.communicate(timeout=120)[0]
    finally:
        if process.poll() is None:
            process.kill()
    err = "\n".join(printed)
    assert process.returncode == 0, out + err
    assert go.exists()
    for n in names:
        mine = [line.split(" | ", 1)[1] for line in printed if line.startswith(f"    {n} | ")]
        assert mine == [f"pw=******** from {n}", f"stderr of {n}: ********", f"bye from {n}",
                        f"no newline on {n} ********"], err
    for line in printed:  # a line is shown under its own target's name, never another's
        if " | " in line:
            shown, text = line.strip().split(" | ", 1)
            assert not any(n in text for n in names if n != shown), line

    listed = json_of(world.cli("deployments", "list", "--json", home=world.prod))["deployments"]
    [deployment] = [d for d in listed if d["project_slug"] == "live-log"]
    shown = world.cli("deployments", "show", deployment["id"], "--json", home=world.prod)
    runs = json_of(shown)["record"]["runs"]
    assert {r["target"]: r["log"].splitlines()[-4:] for r in runs} == {
        n: [f"pw=******** from {n}", f"stderr of {n}: ********", f"bye from {n}", f"no newline on {n} ********"]
        for n in names}
    carried = world.cli("inspect", receipt, "--contents", "--json")
    assert leaks(out, err, shown, carried, receipt.read_bytes().decode("latin-1")) == []
