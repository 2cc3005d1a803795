"""Package transfer processes against hostile surroundings (attack review 38).

F1: one that sends the zone a line past the line limit is stopped and its jobs fail with
``runner_failed``; the deployment is never left waiting (the zone's reader gave up on the line,
then waited for a process that ends only with its stdin). B1: the folder the operator deploys from
(a medium bundles came on) has no say in what the process, which is handed the zone's SSH key,
imports.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import textwrap
import time
from pathlib import Path

import asyncssh
import pytest

from bundlekit.deploy.targets import SshTarget
from bundlekit.deploy.session import capped, runner_error
from bundlekit.deploy.transfer import TransferPool
from bundlekit.runtime.pack import Runner
from tests.conftest import raises_code

#: Reads the runner line and one job, answers it with an error line of about 24 MiB (what an 8 MiB
#: frame of non-ASCII text from a target becomes once escaped), then waits for its stdin to end.
_HELPER = textwrap.dedent("""
    import json, os, sys
    sys.stdin.buffer.readline()
    job = json.loads(sys.stdin.buffer.readline())["job"]
    with open(sys.argv[1], "w") as out:
        out.write(str(os.getpid()))
    line = json.dumps({"job": job, "error": {"code": "runner_failed", "message": "\\u00e9" * (4 << 20)}})
    sys.stdout.buffer.write(line.encode("ascii") + b"\\n")
    sys.stdout.flush()
    for _ in sys.stdin.buffer:
        pass
""")


def _target(port: int = 22) -> SshTarget:
    pinned = asyncssh.generate_private_key("ssh-ed25519").export_public_key("openssh").decode("ascii").strip()
    return SshTarget(name="web-01", environment="Production", roles=frozenset({"web"}), host="127.0.0.1", port=port,
                     user="deploy", host_keys=(pinned,))


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_line_past_the_limit_stops_the_transfer_process_and_fails_its_job(tmp_path: Path) -> None:
    script, pid_file = tmp_path / "helper.py", tmp_path / "helper.pid"
    script.write_text(_HELPER, "utf-8")
    archive = tmp_path / "a.zip"
    archive.write_bytes(b"PK")
    target = _target()
    key = asyncssh.generate_private_key("ssh-ed25519")

    async def send() -> None:
        pool = TransferPool(Runner(b"runner", "00" * 32), size=1)
        pool.command = (sys.executable, str(script), str(pid_file))
        try:
            # the bound only keeps a regression from hanging the suite; the refusal comes at once
            await asyncio.wait_for(pool.send(target, key, archive, "00" * 32, "a.zip", 2), 120)
        finally:
            await pool.close()

    with raises_code("runner_failed", match="target 'web-01': the package transfer process was stopped: it sent "
                                            "a line longer than 16 MiB"):
        asyncio.run(send())
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)


def test_the_zone_keeps_at_most_64_kib_of_a_targets_error_message() -> None:
    """What a runner answers becomes the zone's error (and the helper's line) cut to 64 KiB."""
    assert capped("short") == "short"
    long = "é" * (1 << 20)
    said = capped(long)
    assert said == long[:64 << 10] + " ... (truncated)" and len(said.encode("utf-8")) < 1 << 20
    error = runner_error("web-01", "package_hash_mismatch", long)
    assert error.code == "package_hash_mismatch" and error.message == f"target 'web-01': {said}"


def test_a_module_in_the_operators_folder_is_not_imported_by_the_transfer_process(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    medium = tmp_path / "medium"
    medium.mkdir()
    marker = tmp_path / "imported"
    for name in ("json", "base64", "asyncssh"):  # what the process imports first
        (medium / f"{name}.py").write_text(f"open({str(marker)!r}, 'a').write({name!r})\n", "utf-8")
    monkeypatch.chdir(medium)
    archive = tmp_path / "a.zip"
    archive.write_bytes(b"PK")
    with socket.socket() as closed:  # a port nothing listens on: the job fails at once, as a job does
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]

    async def send() -> None:
        pool = TransferPool(Runner(b"runner", "00" * 32), size=1)
        try:
            await asyncio.wait_for(pool.send(_target(port), asyncssh.generate_private_key("ssh-ed25519"), archive,
                                             "00" * 32, "a.zip", 2), 120)
        finally:
            await pool.close()

    with raises_code("target_unreachable"):
        asyncio.run(send())
    assert not marker.exists(), marker.read_text()
