"""A secret gets into a zone without ever being on a command line (issue 12, "Secrets in").

Through the real CLI in subprocesses: `variables set PROJECT NAME --sensitive` with VALUE
omitted or ``-`` reads standard input (one final line break dropped), ``--from-file`` reads a
file, and on a terminal (a real pseudo-terminal) the value is asked for without echo. What was
stored is checked exactly, by the zone's own fingerprint of the value; the canary never appears
in clear in any file of the home, in any output, or in the arguments of any command run. An
empty value from stdin, a file or the prompt is refused (``value_missing``) and changes nothing
(decision 540).
"""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bundlekit.zone import secrets
from bundlekit.zone.home import open_zone
from tests.cli.operator_world import World, ok, world
from tests.conftest import run_cli, snapshot

CANARY = "canary-7c1d-sealed-in-prod"


@pytest.fixture(scope="module")
def w(tmp_path_factory: pytest.TempPathFactory) -> World:
    made = world(tmp_path_factory.mktemp("secret-entry"))
    ok("import", made.bundle, home=made.prod)
    return made


def _stored(home: Path, value: str) -> bool:
    """Whether the zone holds ``value`` sealed (by its fingerprint: exact, without revealing it)."""
    zone = open_zone(home)
    try:
        ref = secrets.fingerprint(zone, value)
        return zone.db.scalar("SELECT 1 FROM secrets WHERE fingerprint = ?", (ref,)) is not None
    finally:
        zone.close()


def _nowhere_in_clear(home: Path, *outputs: str) -> None:
    for path in home.rglob("*"):
        if path.is_file():
            assert CANARY.encode() not in path.read_bytes(), f"the canary is in clear in {path}"
    for text in outputs:
        assert CANARY not in text


def _set(home: Path, *args: str, stdin: str | None = None) -> object:
    argv = ["variables", "set", "acme-web", "Acme.ApiKey", *args, "--sensitive", "--json"]
    assert not any(CANARY in a for a in argv)  # the point: never on the command line
    return run_cli(*argv, home=home, input=None if stdin is None else stdin.encode())


@pytest.mark.parametrize("value_arg", [[], ["-"]], ids=["value-omitted", "dash"])
def test_a_sensitive_value_comes_from_stdin_with_one_line_break_dropped(w: World, value_arg: list[str]) -> None:
    secret = f"{CANARY}-{len(value_arg)}"
    r = _set(w.prod, *value_arg, stdin=secret + "\n")
    assert r.returncode == 0, r.stderr  # type: ignore[attr-defined]
    assert json.loads(r.stdout)["value"] == "********"  # type: ignore[attr-defined]
    assert _stored(w.prod, secret)
    assert not _stored(w.prod, secret + "\n") and not _stored(w.prod, "-")
    _nowhere_in_clear(w.prod, r.stdout, r.stderr)  # type: ignore[attr-defined]


def test_from_file_reads_the_value_and_drops_one_crlf_line_break(w: World, tmp_path: Path) -> None:
    key = tmp_path / "key.txt"
    key.write_bytes(f"{CANARY}-file\r\n".encode())
    r = _set(w.prod, "--from-file", str(key))
    assert r.returncode == 0, r.stderr  # type: ignore[attr-defined]
    assert _stored(w.prod, f"{CANARY}-file") and not _stored(w.prod, f"{CANARY}-file\r\n")
    _nowhere_in_clear(w.prod, r.stdout, r.stderr)  # type: ignore[attr-defined]


def test_only_one_line_break_is_dropped_so_a_value_may_end_in_blank_lines(w: World) -> None:
    r = _set(w.prod, stdin="cert\n\n")
    assert r.returncode == 0 and _stored(w.prod, "cert\n")  # type: ignore[attr-defined]


@pytest.mark.parametrize("how", ["stdin-empty", "stdin-only-a-line-break", "empty-file"])
def test_an_empty_value_is_refused_and_changes_nothing(w: World, tmp_path: Path, how: str) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"\n" if how == "empty-file" else b"")
    before = snapshot(w.prod)
    if how == "empty-file":
        r = _set(w.prod, "--from-file", str(empty))
    else:
        r = _set(w.prod, stdin="" if how == "stdin-empty" else "\n")
    err = json.loads(r.stdout)["error"]  # type: ignore[attr-defined]
    assert (r.returncode, err["code"]) == (1, "value_missing"), err  # type: ignore[attr-defined]
    assert "Acme.ApiKey" in err["message"] and "nothing was changed" in err["message"]
    assert ("--from-file" if how == "empty-file" else "standard input") in err["message"]
    assert snapshot(w.prod) == before


def test_a_closed_standard_input_is_refused_not_a_traceback(w: World) -> None:
    before = snapshot(w.prod)
    done = subprocess.run(["bash", "-c", 'exec "$@" <&-', "bash", sys.executable, "-m", "bundlekit", "variables", "set",
                           "acme-web", "Acme.ApiKey", "--sensitive", "--json", "--home", str(w.prod)],
                          capture_output=True, text=True, timeout=120,
                          env={k: v for k, v in os.environ.items() if k != "BUNDLEKIT_HOME"})
    assert "Traceback" not in done.stderr, done.stderr
    err = json.loads(done.stdout)["error"]
    assert (done.returncode, err["code"]) == (1, "value_missing") and "standard input (closed)" in err["message"]
    assert snapshot(w.prod) == before


@pytest.mark.parametrize("stdin", ["", "k-never-needed\n"], ids=["stdin-empty", "stdin-value"])
def test_an_unknown_variable_is_refused_before_its_value_is_read(w: World, tmp_path: Path, stdin: str) -> None:
    """Review v30-12 N2: the variable is checked first, so a user never feeds a secret only to learn
    that the name needs --new (or was mistyped), and an empty stdin is not the error shown."""
    before = snapshot(w.prod)
    argv = ["variables", "set", "acme-web", "Acme.ApiKye", "-", "--sensitive", "--json"]
    r = run_cli(*argv, home=w.prod, input=stdin.encode())
    err = json.loads(r.stdout)["error"]
    assert (r.returncode, err["code"]) == (1, "unknown_variable"), err
    assert "Acme.ApiKey" in err["details"]["suggestions"] and "--new" in err["message"]
    missing = tmp_path / "nothing-here.txt"  # a --from-file is not opened either
    r = run_cli(*argv[:4], "--from-file", missing, "--sensitive", "--json", home=w.prod)
    assert json.loads(r.stdout)["error"]["code"] == "unknown_variable"
    assert snapshot(w.prod) == before


def test_value_and_from_file_together_are_a_usage_error(w: World, tmp_path: Path) -> None:
    key = tmp_path / "key.txt"
    key.write_text("x")
    before = snapshot(w.prod)
    r = _set(w.prod, "plain", "--from-file", str(key))
    err = json.loads(r.stdout)["error"]  # type: ignore[attr-defined]
    assert (r.returncode, err["code"]) == (2, "usage") and "--from-file" in err["message"]  # type: ignore[attr-defined]
    assert snapshot(w.prod) == before


def test_a_missing_from_file_names_the_file(w: World, tmp_path: Path) -> None:
    r = _set(w.prod, "--from-file", str(tmp_path / "nope.txt"))
    err = json.loads(r.stdout)["error"]  # type: ignore[attr-defined]
    assert err["code"] == "file_not_found" and "nope.txt" in err["message"]


def _on_a_terminal(home: Path, typed: bytes) -> tuple[int, bytes]:
    """Run `variables set ... --sensitive` with a pseudo-terminal as its controlling terminal and
    standard input; type ``typed`` once the prompt shows. Returns (exit status, all it showed)."""
    argv = [sys.executable, "-m", "bundlekit", "variables", "set", "acme-web", "Acme.ApiKey", "--sensitive",
            "--home", str(home)]
    pid, fd = pty.fork()
    if pid == 0:  # the child: its session's terminal is the pty
        try:
            os.execve(sys.executable, argv, {k: v for k, v in os.environ.items() if k != "BUNDLEKIT_HOME"})
        finally:
            os._exit(127)  # never go on running the test suite in the child
    shown = b""
    deadline = time.monotonic() + 120  # a hang fails the test rather than the run; not a timing check
    sent = False
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1.0)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        shown += chunk
        if not sent and b"not shown" in shown:
            os.write(fd, typed)
            sent = True
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), shown


def test_on_a_terminal_the_value_is_asked_for_without_echo(w: World) -> None:
    code, shown = _on_a_terminal(w.prod, f"{CANARY}-typed\n".encode())
    assert code == 0, shown
    assert b"Value of Acme.ApiKey (not shown as you type)" in shown
    assert CANARY.encode() not in shown  # not echoed
    assert _stored(w.prod, f"{CANARY}-typed")
    _nowhere_in_clear(w.prod)


def test_on_a_terminal_an_empty_answer_is_refused(w: World) -> None:
    before = snapshot(w.prod)
    code, shown = _on_a_terminal(w.prod, b"\n")
    assert code == 1 and b"value_missing" in shown and b"the prompt" in shown, shown
    assert snapshot(w.prod) == before


def test_a_sensitive_value_given_on_the_command_line_is_set_with_a_warning_naming_the_safe_ways(w: World) -> None:
    """Review r12u R12U-5: `variables set ... 'OnCmdline-123' --sensitive` was taken silently. It is
    still taken (the CLI contract keeps VALUE), with a warning on stderr (decision 673)."""
    done = run_cli("variables", "set", "acme-web", "Acme.ApiKey", "OnCmdline-123", "--sensitive", "--json", home=w.prod)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["value"] == "********" and _stored(w.prod, "OnCmdline-123")
    assert "warning: the value of sensitive variable Acme.ApiKey was given on the command line" in done.stderr
    assert "`-` (standard input), --from-file PATH or the prompt" in done.stderr
    assert "OnCmdline-123" not in done.stderr + done.stdout
    # a placeholder that is sensitive by its release is warned about without --sensitive too
    bound = run_cli("variables", "set", "acme-web", "Acme.ApiKey", "OnCmdline-456", home=w.prod)
    assert bound.returncode == 0 and "given on the command line" in bound.stderr, bound.stderr
    # no warning for a safe way or for a plain value
    for args, stdin in ((["-", "--sensitive"], b"from-stdin-789\n"), (["dark", "--new"], None)):
        name = "Acme.ApiKey" if "--sensitive" in args else "Acme.Theme2"
        quiet = run_cli("variables", "set", "acme-web", name, *args, home=w.prod, input=stdin)
        assert quiet.returncode == 0 and "warning" not in quiet.stderr, quiet.stderr
