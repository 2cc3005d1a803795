"""Deployments across real SSH targets (one sshd per target on 127.0.0.1): parallel, rolling, faults."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from bundlekit.deploy import engine, ssh
from bundlekit.deploy.engine import execute
from bundlekit.deploy.fleet import Fleet
from bundlekit.deploy.model import DeploymentRecord, DeployRequest, StepRun
from bundlekit.deploy.plan import build_plan
from bundlekit.deploy.targets import Isolation, LocalFolderTarget, SshTarget
from bundlekit.format.manifest import Step
from tests.deploy.test_plan import package_zip, request_for, script, var
from tests.fleet.sshd import SshServer, free_port
from tests.conftest import raises_code

SECRET = "fleet-canary-S3cr3t-5150"


def ssh_target(server: SshServer, roles: tuple[str, ...] = ("web",), **kw: Any) -> SshTarget:
    fields: dict[str, Any] = dict(host="127.0.0.1", user=server.user, host_keys=(server.host_key,),
                                  port=server.port, work_dir=str(server.work_dir))
    fields.update(kw)
    return SshTarget(server.name, "Production", frozenset(roles), **fields)


def run(request: DeployRequest, client_key: asyncssh.SSHKey, max_parallel: int = 10,
        **kw: Any) -> DeploymentRecord:
    with Fleet(lambda: client_key, max_parallel=max_parallel) as fleet:
        plan = build_plan(request)
        fleet.preflight([t for t in request.targets if any(r.target == t.name for r in plan.runs)])
        return execute(plan, request, fleet=fleet, max_parallel=max_parallel, **kw)


def timed(body: str) -> str:
    """A bash step that prints when it starts and ends on its target (the record keeps when the
    zone asked and heard, connection included)."""
    return f'echo "began $(date +%s.%N)"\n{body}\necho "ended $(date +%s.%N)"'


def barrier(folder: Path, count: int) -> str:
    """Bash: this target arrives in ``folder``, then waits until ``count`` targets have arrived, so
    that ``count`` runs are provably running at one moment however slow the machine is (no sleep
    standing in for "long enough"). The wait ends after 60 s all the same (a hang guard): an engine
    that ran fewer at once then shows a smaller overlap, and the test fails."""
    return (f'touch "{folder}/#{{Octopus.Machine.Name}}"\n'
            f'for i in $(seq 1200); do [ "$(ls "{folder}" | wc -l)" -ge {count} ] && break; sleep 0.05; done')


def span(run: StepRun) -> tuple[float, float]:
    """When a :func:`timed` step's script started and ended on its target (all targets share this clock)."""
    began = re.search(r"^began (\d+\.\d+)$", run.log, re.M)
    ended = re.search(r"^ended (\d+\.\d+)$", run.log, re.M)
    assert began and ended, run.log
    return float(began[1]), float(ended[1])


def overlap(runs: list[StepRun]) -> int:
    """The most runs that were running at one moment."""
    spans = [span(r) for r in runs]
    edges = sorted([(b, 1) for b, _ in spans] + [(e, -1) for _, e in spans], key=lambda e: (e[0], e[1]))
    now = most = 0
    for _, delta in edges:
        now += delta
        most = max(most, now)
    return most


def test_a_step_runs_on_twelve_ssh_targets_at_once_bounded_by_max_parallel(servers: list[SshServer],
                                                                            client_key: asyncssh.SSHKey,
                                                                            tmp_path: Path) -> None:
    targets = tuple(ssh_target(s) for s in servers)
    work = barrier(tmp_path, 4) + "\necho done on #{Octopus.Machine.Name} as $(id -un)"
    request = request_for([script("Work", timed(work))],
                          targets=targets, deployment_id="deployments-11")
    record = run(request, client_key, max_parallel=4)
    assert record.state == "Success" and len(record.runs) == 12
    assert overlap(list(record.runs)) == 4  # four at a time: bounded, and really parallel
    for r, server in zip(record.runs, servers):
        assert f"done on {server.name} as {server.user}" in r.log
        assert (server.work_dir / ".bundlekit" / "runner").is_dir()  # the runner lives in the work folder


def test_rolling_window_size_limits_how_many_targets_run_a_step_at_once(servers: list[SshServer],
                                                                        client_key: asyncssh.SSHKey,
                                                                        tmp_path: Path) -> None:
    targets = tuple(ssh_target(s) for s in servers[:6])
    request = request_for([script("Roll", timed(barrier(tmp_path, 2)), window_size=2), script("After", timed("true"))],
                          targets=targets, deployment_id="deployments-12")
    record = run(request, client_key, max_parallel=10)
    roll = [r for r in record.runs if r.step == "Roll"]
    after = [r for r in record.runs if r.step == "After"]
    assert record.state == "Success" and overlap(roll) == 2
    # Step barrier: the next step starts on no target before the rolling step ended on every one.
    assert min(span(r)[0] for r in after) >= max(span(r)[1] for r in roll)


def test_a_failure_on_one_target_lets_the_running_ones_finish_and_starts_no_other(
        servers: list[SshServer], client_key: asyncssh.SSHKey, tmp_path: Path) -> None:
    targets = tuple(ssh_target(s) for s in servers[:5])
    first = servers[0].name
    failed = tmp_path / "first-failed"  # the second target is still running when the first fails
    request = request_for([script("Roll", f"if [ #{{Octopus.Machine.Name}} = {first} ]; then exit 3; fi\n"
                                          f'for i in $(seq 1200); do [ -e "{failed}" ] && break; sleep 0.05; done\n'
                                          "echo rolled on #{Octopus.Machine.Name}", window_size=2),
                           script("After", "echo never")], targets=targets, deployment_id="deployments-20")

    def on_event(event: dict[str, Any]) -> None:
        if event["event"] == "run_finished" and event["target"] == first:
            failed.touch()

    record = run(request, client_key, on_event=on_event)
    roll = [r for r in record.runs if r.step == "Roll"]
    assert [(r.target, r.state) for r in roll] == [(first, "Failed"), (servers[1].name, "Success")] + [
        (s.name, "Skipped") for s in servers[2:5]]
    assert f"rolled on {servers[1].name}" in roll[1].log  # the one already running finished
    for r in roll[2:]:
        assert r.started is None
        assert r.reason == f"never started on {r.target}: step 'Roll' had already failed on {first}"
    after = [r for r in record.runs if r.step == "After"]
    assert record.state == "Failed" and [r.state for r in after] == ["Skipped"] * 5


def test_output_variables_set_on_one_remote_target_are_read_by_a_later_step_on_another(
        servers: list[SshServer], client_key: asyncssh.SSHKey) -> None:
    db, web = ssh_target(servers[0], ("db",)), ssh_target(servers[1], ("web",))
    request = request_for([
        script("Migrate", "set_octopusvariable SchemaVersion 42\nset_octopusvariable Token t-#{Db.Password} "
                          "-sensitive", roles=("db",)),
        script("Smoke", "import sys\nv = get_octopusvariable('Octopus.Action[Migrate].Output.SchemaVersion')\n"
                        "print('schema', v, 'token', '#{Octopus.Action[Migrate].Output.Token}')\n"
                        "sys.exit(0 if v == '42' else 3)", syntax="python")],
        [var("Db.Password", SECRET, True)], targets=(db, web), deployment_id="deployments-13")
    record = run(request, client_key)
    assert record.state == "Success", record.runs
    smoke = record.runs[1]
    assert smoke.target == servers[1].name and "schema 42 token ********" in smoke.log
    assert SECRET not in repr(record.to_dict())


def secret_anywhere(root: Path) -> list[str]:
    found = []
    for path in root.rglob("*"):
        try:
            if path.is_file() and not path.is_symlink() and SECRET.encode() in path.read_bytes():
                found.append(str(path))
        except OSError:
            pass
    return found


def secret_in_processes() -> list[str]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        for part in ("cmdline", "environ"):
            try:
                if SECRET.encode() in Path(f"/proc/{pid}/{part}").read_bytes():
                    found.append(f"{pid}/{part}")
            except OSError:
                pass
    return found


def test_a_sensitive_value_is_masked_and_never_on_disk_argv_or_environ_of_the_target(
        servers: list[SshServer], client_key: asyncssh.SSHKey) -> None:
    server = servers[2]
    target = ssh_target(server)
    marker = server.folder / "step-is-running"
    looked = server.folder / "looked"  # the step runs until the watcher has looked
    request = request_for([script("Use secret", f"echo pw=#{{Db.Password}} $(get_octopusvariable Db.Password)\n"
                                                f"touch {marker}\n"
                                                f"for i in $(seq 2400); do [ -e {looked} ] && break; sleep 0.05; done\n"
                                                f"[ -e {looked} ] && echo watched while running\n")],
                          [var("Db.Password", SECRET, True)], targets=(target,), deployment_id="deployments-14")
    seen: dict[str, list[str]] = {}

    def watch() -> None:
        try:
            wait_for(marker, 120)  # a hang guard: the step waits for this watcher, not for a clock
            seen["files"] = secret_anywhere(server.folder)
            seen["processes"] = secret_in_processes()
            seen["ps"] = [line for line in subprocess.run(["ps", "-eo", "args"], capture_output=True,
                                                          text=True).stdout.splitlines() if SECRET in line]
        finally:
            looked.touch()

    watcher = threading.Thread(target=watch)
    watcher.start()
    record = run(request, client_key)
    watcher.join()
    assert record.state == "Success" and "pw=******** ********" in record.runs[0].log
    assert "watched while running" in record.runs[0].log  # the look below was made during the step
    assert marker.exists() and seen == {"files": [], "processes": [], "ps": []}
    assert secret_anywhere(server.folder) == []  # and after it


def wait_for(path: Path, seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return path.exists()


def test_a_target_killed_mid_step_fails_alone_and_a_retried_deploy_picks_up_cleanly(
        spare: list[SshServer], servers: list[SshServer], client_key: asyncssh.SSHKey, tmp_path: Path) -> None:
    public = client_key.export_public_key("openssh").decode().strip()
    doomed = SshServer("doomed", tmp_path / "doomed", free_port())
    spare.append(doomed.start(public))
    targets = (ssh_target(doomed), ssh_target(servers[3]))
    marker = doomed.folder / "started"
    # The first attempt hangs on the doomed machine (until it dies); a retry finds the marker and ends.
    request = request_for([script("Long", f"if [ #{{Octopus.Machine.Name}} = doomed ] && [ ! -e {marker} ]; then\n"
                                          f"  touch {marker}; sleep 600\nfi\n"
                                          "echo finished on #{Octopus.Machine.Name}", timeout=900)],
                          targets=targets, deployment_id="deployments-15")
    threading.Thread(target=lambda: wait_for(marker) and doomed.kill()).start()
    record = run(request, client_key)
    dead, alive = record.runs
    # Noticed as a lost connection, not given up after the step's 900 s timeout: never a hang.
    assert dead.state == "Failed" and "[target_connection_lost]" in (dead.reason or ""), dead
    assert "Traceback" not in dead.log + (dead.reason or "")
    assert alive.state == "Success" and record.state == "Failed"  # the other target is reported on its own
    doomed.start(public)  # the machine is back (same host key, same work folder)
    retried = run(request, client_key)
    assert retried.state == "Success", retried.runs
    assert "finished on doomed" in retried.runs[0].log


def sshd_processes(server: SshServer) -> list[int]:
    """The sshd processes serving ``server``'s sessions (descendants of its listener), not what they run."""
    parents: dict[int, int] = {}
    names: dict[int, str] = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        names[int(pid)] = stat[stat.index("(") + 1:stat.rindex(")")]
        parents[int(pid)] = int(stat.rsplit(")", 1)[1].split()[1])
    assert server.process is not None
    found = []
    for pid, name in names.items():
        up = parents.get(pid)
        while up and up != server.process.pid:
            up = parents.get(up)
        if up == server.process.pid and name.startswith("sshd"):
            found.append(pid)
    return found


def test_a_target_whose_network_goes_silent_mid_step_is_lost_after_the_keepalives_not_the_timeout(
        spare: list[SshServer], client_key: asyncssh.SSHKey, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ssh, "KEEPALIVE_INTERVAL", 0.5)
    monkeypatch.setattr(ssh, "KEEPALIVE_COUNT", 2)
    silent = SshServer("silent", tmp_path / "silent", free_port())
    spare.append(silent.start(client_key.export_public_key("openssh").decode().strip()))
    marker = silent.folder / "started"
    request = request_for([script("Long", f"touch {marker}; sleep 600", timeout=900)], targets=(ssh_target(silent),),
                          deployment_id="deployments-21")
    frozen: list[int] = []

    def go_silent() -> None:  # no FIN, no RST: the machine's sshd stops answering, as behind a cut cable
        if wait_for(marker):
            frozen.extend(sshd_processes(silent))
            for pid in frozen:
                os.kill(pid, signal.SIGSTOP)

    threading.Thread(target=go_silent).start()
    started = time.monotonic()
    try:
        record = run(request, client_key)
    finally:
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)
    [lost] = record.runs
    assert frozen, "the machine's sshd was never found"
    assert lost.state == "Failed" and "[target_connection_lost]" in (lost.reason or ""), lost
    assert time.monotonic() - started < 120  # found by the keepalives, not after the step's 900 s


def runner_processes(work_dir: Path) -> list[int]:
    """The step runners serving ``work_dir`` on this machine (found through /proc)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        # The runner runs the bytes its bootstrap hashed (`python -s -E /proc/self/fd/N WORK SHA`;
        # decision 451), or, before that, its cached copy under .bundlekit/runner/.
        runner = b"-E" in argv[1:3] or any(b"/.bundlekit/runner/" in a for a in argv)
        if runner and str(work_dir).encode() in argv:
            found.append(int(pid))
    return found


def test_a_target_that_stops_answering_is_given_up_after_the_step_timeout_plus_the_grace(
        spare: list[SshServer], client_key: asyncssh.SSHKey, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "WATCHDOG_GRACE", 1.0)
    frozen = SshServer("frozen", tmp_path / "frozen", free_port())
    spare.append(frozen.start(client_key.export_public_key("openssh").decode().strip()))
    marker = frozen.folder / "started"
    request = request_for([script("Hang", f"touch {marker}; sleep 20", timeout=3)], targets=(ssh_target(frozen),),
                          deployment_id="deployments-19")
    stopped: list[int] = []

    def freeze() -> None:  # the machine hangs: its runner stops answering, the connection stays up
        if wait_for(marker):
            stopped.extend(runner_processes(frozen.work_dir))
            for pid in stopped:
                os.kill(pid, signal.SIGSTOP)

    threading.Thread(target=freeze).start()
    try:
        record = run(request, client_key)
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
    [hung] = record.runs
    assert stopped, "the runner was never found to freeze"
    assert hung.state == "TimedOut" and "[target_timed_out]" in (hung.reason or ""), hung
    assert "3 s" in (hung.reason or "") and record.state == "Failed"


OLD_PYTHON = """#!{python}
# A stand-in for a Python 3.6 interpreter: runs the program it is given reporting version 3.6.9.
import sys
at = sys.argv.index("-c")  # after the interpreter's own flags (-s -E)
program, sys.argv = sys.argv[at + 1], ["-c"] + sys.argv[at + 2:]
sys.version_info = (3, 6, 9, "final", 0)
exec(compile(program, "<string>", "exec"))
"""


def test_a_target_whose_python_is_older_than_3_8_is_named_with_what_to_do(tmp_path: Path) -> None:
    stand_in = tmp_path / "python3.6"
    stand_in.write_text(OLD_PYTHON.format(python=sys.executable))
    stand_in.chmod(0o755)
    target = LocalFolderTarget("old-01", "Production", frozenset({"web"}), tmp_path / "old-01",
                               Isolation("unconfined", python=str(stand_in)))
    with Fleet() as fleet:
        [health] = fleet.check([target])
        with raises_code("target_python_too_old") as caught:
            fleet.preflight([target])
    assert health.error is not None and health.error.code == "target_python_too_old"
    assert "3.6.9" in caught.value.message and "3.8" in caught.value.message and "old-01" in caught.value.message
    assert not (tmp_path / "old-01").exists()  # refused before anything was written


def test_a_package_already_on_a_target_is_not_sent_again(servers: list[SshServer], client_key: asyncssh.SSHKey,
                                                         tmp_path: Path) -> None:
    package = package_zip(tmp_path / "Acme.Web.1.0.0.zip", {"index.html": "<h1>#{Title}</h1>",
                                                          "Deploy.sh": "echo installed in $(pwd)\n"})
    target = ssh_target(servers[4])
    step = Step(name="Install", type="package", roles=("web",), package="Acme.Web", substitute=("index.html",))
    request = request_for([step], [var("Title", "Fleet")], targets=(target,), packages=(package,),
                          deployment_id="deployments-16")
    first = run(request, client_key)
    second = run(request, client_key)
    assert first.state == second.state == "Success"
    assert "sent package Acme.Web 1.0.0" in first.runs[0].log
    assert "already on the target; not sent" in second.runs[0].log
    installed = servers[4].work_dir / "Acme.Web" / "1.0.0"
    assert (installed / "index.html").read_text() == "<h1>Fleet</h1>"
    assert f"installed in {installed}" in second.runs[0].log
    leftovers = [p.name for p in installed.parent.iterdir() if ".extract-" in p.name or ".old-" in p.name]
    assert leftovers == []

    # The copy held on the target is replaced by other bytes (a valid zip, another size), and the
    # installed folder removed: the next deploy finds the copy wrong, removes it and sends the package.
    held = servers[4].work_dir / ".bundlekit" / "packages" / package.sha256 / package.file_name
    package_zip(held, {"index.html": "EVIL", "Deploy.sh": "echo evil\n"})
    shutil.rmtree(installed)
    third = run(request, client_key)
    assert third.state == "Success", third.runs
    assert re.search(r"copy of package Acme\.Web 1\.0\.0 holds \d+ bytes, not the package's \d+; it was removed "
                     r"and the package sent again", third.runs[0].log), third.runs[0].log
    assert "sent package Acme.Web 1.0.0" in third.runs[0].log
    assert (installed / "index.html").read_text() == "<h1>Fleet</h1>"
    assert hashlib.sha256(held.read_bytes()).hexdigest() == package.sha256


def test_local_and_ssh_targets_run_in_one_deployment(servers: list[SshServer], client_key: asyncssh.SSHKey,
                                                     tmp_path: Path) -> None:
    local = LocalFolderTarget("local-01", "Production", frozenset({"web"}), tmp_path / "local-01",
                              Isolation("sandbox", python="/usr/bin/python3"))
    remote = ssh_target(servers[5])
    request = request_for([script("Both", "echo on #{Octopus.Machine.Name}; set_octopusvariable Where $(pwd)"),
                           script("Read", "echo got #{Octopus.Action[Both].Output[local-01].Where}")],
                          targets=(local, remote), deployment_id="deployments-17")
    record = run(request, client_key)
    assert record.state == "Success", record.runs
    assert [(r.step, r.target) for r in record.runs] == [("Both", "local-01"), ("Both", servers[5].name),
                                                         ("Read", "local-01"), ("Read", servers[5].name)]
    assert str(tmp_path / "local-01") in record.runs[2].log


def test_a_host_key_mismatch_is_refused_before_anything_runs_anywhere(servers: list[SshServer],
                                                                      client_key: asyncssh.SSHKey) -> None:
    impostor = ssh_target(servers[7], host_keys=(servers[8].host_key,))  # another machine's key
    honest = ssh_target(servers[6])
    request = request_for([script("Never", "touch ran-here")], targets=(honest, impostor),
                          deployment_id="deployments-18")
    with Fleet(lambda: client_key) as fleet:
        with raises_code("host_key_mismatch") as caught:
            fleet.preflight(list(request.targets))
    error = caught.value
    assert error.exit_code == 3
    offered = asyncssh.import_public_key(servers[7].host_key).get_fingerprint("sha256")
    pinned = asyncssh.import_public_key(servers[8].host_key).get_fingerprint("sha256")
    assert offered in error.message and pinned in error.message and "set-host-key" in error.message
    assert not list(servers[6].folder.rglob("ran-here")) and not list(servers[7].folder.rglob("ran-here"))


def test_an_unreachable_target_is_found_by_the_preflight(servers: list[SshServer], client_key: asyncssh.SSHKey,
                                                         tmp_path: Path) -> None:
    nobody = SshTarget("gone-01", "Production", frozenset({"web"}), "127.0.0.1", "deploy",
                       (servers[0].host_key,), free_port(), work_dir=str(tmp_path / "w"))
    with Fleet(lambda: client_key) as fleet:
        with raises_code("target_unreachable") as caught:
            fleet.preflight([ssh_target(servers[9]), nobody])
    assert "gone-01" in caught.value.message
    # What the zone knows of the target is in the refusal's details, though it could not be asked.
    details = caught.value.details
    assert (details["target"], details["user"], details["work_dir"]) == ("gone-01", "deploy", str(tmp_path / "w"))
    assert details["address"] == nobody.address


def test_a_target_without_python3_is_named_with_what_to_do(spare: list[SshServer], client_key: asyncssh.SSHKey,
                                                           tmp_path: Path) -> None:
    bare = SshServer("bare-01", tmp_path / "bare", free_port(), env={"PATH": "/nonexistent"})
    spare.append(bare.start(client_key.export_public_key("openssh").decode().strip()))
    with Fleet(lambda: client_key) as fleet:
        health = fleet.check([ssh_target(bare)])
    error = health[0].error
    assert error is not None and error.code == "target_python_missing", health
    assert "bare-01" in error.message and "Install" in error.message
    assert re.search(r"3\.8", error.message)
