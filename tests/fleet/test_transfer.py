"""Large packages sent from the zone's transfer processes (decision 340), to real sshd targets."""

from __future__ import annotations

import hashlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from bundlekit.core.text import size_text
from bundlekit.deploy import engine
from bundlekit.deploy.engine import execute
from bundlekit.deploy.fleet import Fleet
from bundlekit.deploy.model import DeploymentRecord, DeployRequest
from bundlekit.deploy.plan import build_plan
from bundlekit.deploy.session import Session
from bundlekit.deploy.transfer import default_pool_size
from bundlekit.format.manifest import Step
from tests.deploy.test_plan import package_zip, request_for, var
from tests.fleet.sshd import SshServer, free_port, require_sshd, start_servers
from tests.fleet.test_ssh_deploy import runner_processes, ssh_target


@pytest.fixture(scope="module")
def trio(tmp_path_factory: pytest.TempPathFactory, client_key: asyncssh.SSHKey) -> Iterator[list[SshServer]]:
    require_sshd()
    running = start_servers(tmp_path_factory.mktemp("transfer"), 3, client_key.export_public_key("openssh")
                            .decode().strip(), prefix="big")
    yield running
    for server in running:
        server.stop()


def deploy(request: DeployRequest, client_key: asyncssh.SSHKey, events: list[dict[str, Any]] | None = None,
           **fleet_options: Any) -> DeploymentRecord:
    with Fleet(lambda: client_key, **fleet_options) as fleet:
        fleet.preflight(list(request.targets))
        return execute(build_plan(request), request, fleet=fleet,
                       on_event=None if events is None else events.append)


def helper_processes() -> list[int]:
    """This process's package transfer helpers still alive."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes()
            parent = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]
        except OSError:
            continue
        if b"bundlekit.deploy.transfer" in argv and int(parent) == os.getpid():
            found.append(int(pid))
    return found


def install(package: Any) -> Step:
    return Step(name="Install", type="package", roles=("web",), package=package.id, substitute=("index.html",))


def test_a_large_package_goes_from_transfer_processes_is_hashed_on_arrival_and_is_not_sent_again(
        trio: list[SshServer], client_key: asyncssh.SSHKey, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = package_zip(tmp_path / "Acme.Web.2.0.0.zip", {"index.html": "<h1>#{Title}</h1>",
                                                          "blob.bin": os.urandom(3 << 20)}, version="2.0.0")
    size = package.path.stat().st_size
    request = request_for([install(package)], [var("Title", "Big")], targets=tuple(ssh_target(s) for s in trio),
                          packages=(package,), deployment_id="deployments-40")

    def not_here(*args: object, **kwargs: object) -> None:
        raise AssertionError("the zone's own process sent a package meant for a transfer process")

    with monkeypatch.context() as patched:
        patched.setattr(Session, "ensure_package", not_here)
        events: list[dict[str, Any]] = []
        first = deploy(request, client_key, events, transfer_processes=2, transfer_min_bytes=1 << 20)
    assert first.state == "Success", first.runs
    assert helper_processes() == []  # the fleet ended its transfer processes when it closed
    for run, server in zip(first.runs, trio):
        assert f"sent package Acme.Web 2.0.0 ({size_text(size)})" in run.log
        kept = server.work_dir / ".bundlekit" / "packages" / package.sha256 / package.path.name
        assert hashlib.sha256(kept.read_bytes()).hexdigest() == package.sha256
        assert (server.work_dir / "Acme.Web" / "2.0.0" / "index.html").read_text() == "<h1>Big</h1>"
        sent = [e["bytes"] for e in events if e["event"] == "package_progress" and e["phase"] == "transfer"
                and e["target"] == server.name]
        started = [e for e in events if e["event"] == "package_started" and e["phase"] == "transfer"
                   and e["target"] == server.name]
        assert sum(sent) == size and [e["total"] for e in started] == [size]  # progress as from the zone itself
    again = deploy(request, client_key, transfer_processes=2, transfer_min_bytes=1 << 20)
    assert again.state == "Success"
    assert all("already on the target; not sent" in run.log for run in again.runs)


def test_a_target_killed_during_a_transfer_fails_alone_and_keeps_no_partial_archive(
        trio: list[SshServer], spare: list[SshServer], client_key: asyncssh.SSHKey, tmp_path: Path) -> None:
    doomed = SshServer("doomed-big", tmp_path / "doomed", free_port())
    spare.append(doomed.start(client_key.export_public_key("openssh").decode().strip()))
    package = package_zip(tmp_path / "Acme.Web.3.0.0.zip", {"index.html": "<h1>#{Title}</h1>",
                                                          "blob.bin": os.urandom(24 << 20)}, version="3.0.0")
    request = request_for([install(package), Step(name="After", type="script", roles=("web",), syntax="bash",
                                                  script="echo after on #{Octopus.Machine.Name}")],
                          [var("Title", "Big")], targets=(ssh_target(trio[0]), ssh_target(doomed)),
                          packages=(package,), deployment_id="deployments-41")
    incoming = doomed.work_dir / ".bundlekit" / "packages"
    stopped: list[int] = []

    def cut_off() -> None:
        # The machine dies while the package is arriving: its runners are frozen first, so the
        # transfer cannot finish before the kill lands, then the machine's sshd and sessions die.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(p.name.startswith(".incoming-") for p in _entries(incoming)):
            time.sleep(0.005)
        stopped.extend(runner_processes(doomed.work_dir))
        for pid in stopped:
            os.kill(pid, signal.SIGSTOP)
        doomed.kill()

    watcher = threading.Thread(target=cut_off)
    watcher.start()
    try:
        record = deploy(request, client_key, transfer_processes=2, transfer_min_bytes=1 << 20)
    finally:
        watcher.join()
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
    alive, dead = record.runs[0], record.runs[1]
    assert stopped, "the transfer to the doomed target was never seen arriving"
    assert dead.target == "doomed-big" and dead.state == "Failed", dead
    assert "[target_connection_lost]" in (dead.reason or "") and "Traceback" not in dead.log
    assert alive.state == "Success" and "sent package Acme.Web 3.0.0" in alive.log  # the other target is kept
    assert [(r.target, r.state) for r in record.runs[2:]] == [(trio[0].name, "Skipped"), ("doomed-big", "Skipped")]
    assert record.state == "Failed" and helper_processes() == []
    # Woken, the frozen runners find their connection gone, discard the partial archive and end.
    assert wait_for_nothing(lambda: runner_processes(doomed.work_dir), 20)
    assert [p.name for p in _entries(incoming) if p.name.startswith(".incoming-")] == []
    assert not (incoming / package.sha256).exists()


def _entries(folder: Path) -> list[Path]:
    try:
        return list(folder.iterdir())
    except OSError:
        return []


def wait_for_nothing(probe: Any, seconds: float) -> bool:
    """Whether ``probe()`` finds nothing within ``seconds``."""
    deadline = time.monotonic() + seconds
    while probe() and time.monotonic() < deadline:
        time.sleep(0.1)
    return not probe()



@pytest.mark.parametrize("helpers", [0, 2], ids=["from-the-zone-process", "from-a-transfer-process"])
def test_a_target_that_freezes_while_a_package_arrives_is_given_up_never_a_hang(
        spare: list[SshServer], client_key: asyncssh.SSHKey, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        helpers: int) -> None:
    monkeypatch.setattr(engine, "TRANSFER_STALL", 1.5)
    frozen = SshServer("frozen-big", tmp_path / "frozen", free_port())
    spare.append(frozen.start(client_key.export_public_key("openssh").decode().strip()))
    package = package_zip(tmp_path / "Acme.Web.4.0.0.zip", {"index.html": "<h1>#{Title}</h1>",
                                                          "blob.bin": os.urandom(24 << 20)}, version="4.0.0")
    request = request_for([install(package)], [var("Title", "Big")], targets=(ssh_target(frozen),),
                          packages=(package,), deployment_id="deployments-42")
    incoming = frozen.work_dir / ".bundlekit" / "packages"
    stopped: list[int] = []

    def freeze() -> None:  # the machine hangs while the package arrives: the connection stays up
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(p.name.startswith(".incoming-") for p in _entries(incoming)):
            time.sleep(0.005)
        stopped.extend(runner_processes(frozen.work_dir))
        for pid in stopped:
            os.kill(pid, signal.SIGSTOP)

    watcher = threading.Thread(target=freeze)
    watcher.start()
    try:
        record = deploy(request, client_key, transfer_processes=helpers, transfer_min_bytes=1 << 20)
    finally:
        watcher.join()
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
    [run] = record.runs
    assert stopped, f"the transfer was never seen arriving: {run}"
    assert run.state == "TimedOut" and "[target_timed_out]" in (run.reason or ""), run
    assert "made no progress for 1.5 s" in (run.reason or "") and record.state == "Failed"
    assert helper_processes() == []
    assert wait_for_nothing(lambda: runner_processes(frozen.work_dir), 20)  # woken, they find the zone gone
    assert [p.name for p in _entries(incoming) if p.name.startswith(".incoming-")] == []


def test_a_zone_of_fewer_than_four_cores_sends_from_its_own_process_and_a_larger_one_from_helpers() -> None:
    assert [default_pool_size(cores) for cores in (1, 2, 3, 4, 6, 16, 64)] == [0, 0, 0, 2, 3, 8, 8]
    with Fleet() as fleet:
        assert fleet.transfer_processes == default_pool_size()
