"""Every secret prompt ends in a coded refusal, never a traceback, and its refusals are one line each.

The secrets bundlekit asks for are a variable's value (`variables set ... --sensitive`) and the
state database's password (`--state-password-file -` of `init`, `join` and `zone
migrate-state`). Through the real CLI in subprocesses: started with standard input closed
(``<&-``: Python then has no ``sys.stdin``), answered with Ctrl-D at a real pseudo-terminal's
prompt, and given a name or path with a line feed in it, which a refusal used to print as a
second line of its own (an ``error [...]`` line anyone can forge).
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.operator_world import world
from tests.conftest import run_cli, snapshot
from tests.terminal import read_until

#: A PostgreSQL URL nothing listens on: every command here is refused before it is used.
NOWHERE = "postgresql://bundlekit@127.0.0.1:1/prod"


@pytest.fixture(scope="module")
def zone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A zone holding project acme-web: `variables set` reads a value only for a variable it can set."""
    made = world(tmp_path_factory.mktemp("secret-prompts"), pg=None)
    assert run_cli("import", made.bundle, home=made.prod).returncode == 0
    return made.prod


def _closed_stdin(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``bundlekit ARGS --json`` started with standard input closed."""
    cmd = [sys.executable, "-m", "bundlekit", *map(str, args), "--json"]
    env = {k: v for k, v in os.environ.items() if k != "BUNDLEKIT_HOME"}
    return subprocess.run(["bash", "-c", 'exec "$@" <&-', "bash", *cmd], capture_output=True, text=True,
                          timeout=120, cwd=cwd, env=env)


def _prompts(zone: Path, tmp: Path) -> dict[str, list[str | Path]]:
    """Each command that asks for a secret, with the secret to come from standard input."""
    return {
        "variables set": ["variables", "set", "acme-web", "Acme.ApiKey", "--sensitive", "--home", zone],
        "init --state": ["init", "--zone", "prod2", "--state", NOWHERE, "--state-password-file", "-",
                         "--home", tmp / "new"],
        "join": ["join", "--state", NOWHERE, "--package-store", tmp / "store", "--from", zone,
                 "--state-password-file", "-", "--home", tmp / "node-b"],
        "zone migrate-state": ["zone", "migrate-state", "--to", NOWHERE, "--state-password-file", "-",
                               "--home", zone],
    }


EXPECTED = {"variables set": "value_missing", "init --state": "invalid_input", "join": "invalid_input",
            "zone migrate-state": "invalid_input"}


@pytest.mark.parametrize("command", sorted(EXPECTED))
def test_a_secret_asked_for_with_standard_input_closed_is_refused_with_a_code(zone: Path, tmp_path: Path,
                                                                              command: str) -> None:
    """`join --state-password-file -` with ``<&-`` was an AttributeError traceback."""
    before = snapshot(zone, tmp_path)
    done = _closed_stdin(*_prompts(zone, tmp_path)[command], cwd=tmp_path)
    assert "Traceback" not in done.stderr, done.stderr
    err = json.loads(done.stdout)["error"]
    assert err["code"] == EXPECTED[command] and "closed" in err["message"], err
    assert done.returncode == 1
    assert snapshot(zone, tmp_path) == before


@pytest.mark.parametrize("command,prompt", [("variables set", b"(not shown as you type): "),
                                            ("join", b"password of the state database: ")])
def test_a_secret_prompt_answered_with_ctrl_d_is_refused_with_a_code(zone: Path, tmp_path: Path, command: str,
                                                                     prompt: bytes) -> None:
    """End of input at the no-echo prompt (Ctrl-D) is an empty answer, refused like one."""
    before = snapshot(zone, tmp_path)
    args = [sys.executable, "-m", "bundlekit", *map(str, _prompts(zone, tmp_path)[command])]
    pid, fd = pty.fork()  # the child's controlling terminal is the pty, as a person's would be
    if pid == 0:  # pragma: no cover - the child becomes bundlekit, or ends here
        try:
            os.chdir(tmp_path)
            os.execv(sys.executable, args)
        finally:
            os._exit(127)
    seen = bytearray()
    try:
        read_until(fd, prompt, seen)
        os.write(fd, b"\x04")
        read_until(fd, b"error [", seen)
        read_until(fd, b"\n", seen)
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert b"Traceback" not in seen, bytes(seen)
    assert f"error [{EXPECTED[command]}]".encode() in seen, bytes(seen)
    assert os.waitstatus_to_exitcode(status) == 1
    assert snapshot(zone, tmp_path) == before


FORGED = "\nerror [forged]: this line is not bundlekit's"


@pytest.mark.parametrize("how", ["variable-name", "from-file", "password-file"])
def test_a_name_or_path_with_a_line_feed_stays_on_the_one_line_of_its_refusal(zone: Path, tmp_path: Path,
                                                                             how: str) -> None:
    args: list[str | Path] = {
        "variable-name": ["variables", "set", "acme-web", "Acme" + FORGED, "--sensitive", "--home", zone],
        "from-file": ["variables", "set", "acme-web", "Acme.ApiKey", "--sensitive", "--from-file",
                      tmp_path / ("missing" + FORGED), "--home", zone],
        "password-file": ["join", "--state", NOWHERE, "--package-store", tmp_path / "store", "--from", zone,
                          "--state-password-file", tmp_path / ("missing" + FORGED), "--home", tmp_path / "b"],
    }[how]
    done = run_cli(*args, input=b"")
    lines = done.stderr.splitlines()
    assert [line for line in lines if line.startswith("error [")] == [lines[-1]], done.stderr
    assert "error [forged]" not in "\n".join(lines[:-1]), done.stderr
    # the line feed is shown escaped: \x0a, or \n inside a quoted name (a variable name is refused as a label)
    assert "\\x0aerror [forged]" in lines[-1] or (how == "variable-name" and "\\nerror [forged]" in lines[-1]), \
        done.stderr
    assert done.returncode in (1, 2) and "Traceback" not in done.stderr
