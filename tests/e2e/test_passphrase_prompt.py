"""The passphrase typed at a terminal: asked without echo, asked twice when it is set, and
never shown on the terminal (decision 580). Runs the real CLI on a pseudo-terminal."""

from __future__ import annotations

import json
import os
import pty
import select
import sys
import time
from pathlib import Path

from tests.conftest import run_cli

TYPED = "typed-passphrase-canary-6120"


def on_terminal(args: list[str], answers: list[str]) -> tuple[int, str]:
    """Run bundlekit with a pseudo-terminal as its controlling terminal; answer each prompt that
    ends in ``: `` with the next of ``answers``. Returns the exit status and all it showed."""
    env = {k: v for k, v in os.environ.items() if k not in ("BUNDLEKIT_HOME", "BUNDLEKIT_PASSPHRASE_FILE")}
    pid, fd = pty.fork()
    if pid == 0:  # the child: exec at once, never return into the test runner
        try:
            os.execve(sys.executable, [sys.executable, "-m", "bundlekit", *args], env)
        finally:
            os._exit(127)
    shown = b""
    pending = list(answers)
    deadline = time.monotonic() + 300  # a hung child fails the test instead of hanging the suite
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1.0)
        if not ready:
            continue
        try:
            data = os.read(fd, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        shown += data
        if pending and shown.rstrip().endswith(b":"):
            os.write(fd, pending.pop(0).encode() + b"\n")
            shown += b"<answered>"
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), shown.decode("utf-8", "replace")


def test_keys_protect_asks_twice_without_echo_and_later_commands_ask_once(tmp_path: Path) -> None:
    home = tmp_path / "prod"
    assert run_cli("init", "--zone", "prod", home=home).returncode == 0
    code, shown = on_terminal(["keys", "protect", "--home", str(home)], [TYPED, TYPED])
    assert code == 0, shown
    assert shown.count("<answered>") == 2 and "again" in shown
    assert TYPED not in shown
    code, shown = on_terminal(["identity", "--home", str(home), "-o", str(tmp_path / "p.card"), "--json"], [TYPED])
    assert code == 0, shown
    assert shown.count("<answered>") == 1 and TYPED not in shown
    assert json.loads(shown[shown.index("{"):])["zone"] == "prod"


def test_two_different_passphrases_typed_change_nothing(tmp_path: Path) -> None:
    home = tmp_path / "prod"
    assert run_cli("init", "--zone", "prod", home=home).returncode == 0
    before = {p.name: p.read_bytes() for p in (home / "keys").iterdir()}
    code, shown = on_terminal(["keys", "protect", "--home", str(home)], [TYPED, TYPED + "x"])
    assert code == 1 and "invalid_passphrase" in shown, shown
    assert {p.name: p.read_bytes() for p in (home / "keys").iterdir()} == before
