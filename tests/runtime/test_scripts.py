"""Script runner and service messages: real bash and Python subprocesses, real files."""

from __future__ import annotations

import base64
import os
import re
import select
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bundlekit.core.text import MASK
from bundlekit.runtime.masking import Masker
from bundlekit.runtime.scripts import ScriptResult, run_script
from bundlekit.runtime.service_messages import (
    OutputVariable,
    format_set_variable,
    parse_line,
    scan_line,
)
from tests.conftest import raises_code


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def run(tmp_path: Path, syntax: str, script: str, variables: dict[str, str] | None = None,
        masker: Masker | None = None, **kwargs: object) -> ScriptResult:
    return run_script(syntax, script, workdir=tmp_path / "work", variables=variables or {},
                      masker=masker or Masker(), **kwargs)  # type: ignore[arg-type]


def tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def process_gone(pid: int, wait: float = 5.0) -> bool:
    """True when ``pid`` ends within ``wait`` seconds (a zombie waiting for its reaper counts).

    Waits on a pidfd, which the kernel makes readable at the moment the process exits: an
    event, not a polling loop.
    """
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([fd], [], [], wait)[0])
    finally:
        os.close(fd)


# --------------------------------------------------------------------- service messages


def test_set_variable_message_is_parsed() -> None:
    line = f"##octopus[setVariable name='{b64('Port')}' value='{b64('8080')}']"
    assert parse_line(line) == OutputVariable("Port", "8080", False)


def test_sensitive_flag_in_base64_or_plain_marks_the_variable_sensitive() -> None:
    coded = f"##octopus[setVariable name='{b64('K')}' value='{b64('v')}' sensitive='{b64('True')}']"
    plain = f"##octopus[setVariable name='{b64('K')}' value='{b64('v')}' sensitive='True']"
    off = f"##octopus[setVariable name='{b64('K')}' value='{b64('v')}' sensitive='{b64('False')}']"
    assert parse_line(coded) == OutputVariable("K", "v", True)
    assert parse_line(plain) == OutputVariable("K", "v", True)
    assert parse_line(off) == OutputVariable("K", "v", False)


def test_attributes_may_come_in_any_order() -> None:
    line = f"##octopus[setVariable sensitive='{b64('True')}' value='{b64('x y')}' name='{b64('N')}']"
    assert parse_line(line) == OutputVariable("N", "x y", True)


def test_missing_and_excess_base64_padding_are_tolerated() -> None:
    name = b64("ab").rstrip("=")  # "YWI" without its "="
    value = b64("abcd") + "=="  # "YWJjZA====" over-padded
    assert parse_line(f"##octopus[setVariable name='{name}' value='{value}']") == OutputVariable("ab", "abcd", False)


def test_unicode_names_and_values_round_trip() -> None:
    line = format_set_variable("Café.Ünï", "wört 😀", sensitive=True)
    assert parse_line(line) == OutputVariable("Café.Ünï", "wört 😀", True)


@pytest.mark.parametrize(
    "line, reason",
    [
        (f"##octopus[setVariable name='{b64('A')}' value='%%%']", "not valid base64"),
        (f"##octopus[setVariable value='{b64('v')}']", "'name' is missing"),
        (f"##octopus[setVariable name='{b64('A')}']", "'value' is missing"),
        (f"##octopus[setVariable name='{b64('A')}' value='{b64('v')}'", "closing ']'"),
        (f"##octopus[setVariable name='{b64('A')}' name='{b64('B')}' value='']", "appears twice"),
        (f"##octopus[setVariable name='{b64('A')}' value='' sensitive='{b64('maybe')}']", "True or False"),
        (f"##octopus[setVariable name='{b64(' ')}' value='']", "'name' is empty"),
        ("##octopus[setVariable name='/w==' value='']", "UTF-8"),
        ("##octopus[setVariable name=A value=B]", "key='base64'"),
    ],
)
def test_malformed_messages_are_ignored_with_a_warning_and_never_echoed(line: str, reason: str) -> None:
    scanned = scan_line("before " + line)
    assert scanned.variables == ()
    assert len(scanned.warnings) == 1 and reason in scanned.warnings[0]
    assert "##octopus" not in scanned.text
    assert scanned.text.startswith("before [WARNING: ignored a malformed setVariable")
    assert parse_line(line) is None


def test_the_log_note_names_the_variable_but_never_shows_its_value() -> None:
    scanned = scan_line("x " + format_set_variable("Token", "s3cr3t-value", sensitive=True) + " y")
    assert scanned.text == "x [sensitive output variable 'Token' set] y"
    plain = scan_line(format_set_variable("Port", "8080"))
    assert plain.text == "[output variable 'Port' set]" and "8080" not in plain.text


def test_ordinary_lines_and_other_service_messages_are_left_alone() -> None:
    assert scan_line("hello").text == "hello" and not scan_line("hello").had_message
    other = "##octopus[stdout-verbose]"
    assert scan_line(other).text == other and parse_line(other) is None


def test_a_sensitive_output_variable_repr_hides_its_value() -> None:
    assert "topsecret" not in repr(OutputVariable("A", "topsecret", True))


@given(st.text(min_size=1).filter(str.strip), st.text(), st.booleans())
def test_format_then_parse_round_trips(name: str, value: str, sensitive: bool) -> None:
    assert parse_line(format_set_variable(name, value, sensitive)) == OutputVariable(name, value, sensitive)


# --------------------------------------------------------------------- runner: helpers


def test_bash_sets_normal_and_sensitive_output_variables(tmp_path: Path) -> None:
    result = run(tmp_path, "bash", 'set_octopusvariable "Port" "8080"\n'
                                   'set_octopusvariable "Api Key" "key-0123456789" -sensitive\n'
                                   'echo "done key-0123456789"\n')
    assert result.state == "Success" and result.exit_code == 0
    assert result.outputs == (OutputVariable("Port", "8080", False),
                              OutputVariable("Api Key", "key-0123456789", True))
    assert "key-0123456789" not in result.log
    assert f"done {MASK}" in result.log
    assert "[sensitive output variable 'Api Key' set]" in result.log


def test_python_sets_normal_and_sensitive_output_variables(tmp_path: Path) -> None:
    script = ("from __future__ import annotations\n"
              "set_octopusvariable('Port', 8080)\n"
              "set_octopusvariable('Token', 'tok-0123456789', True)\n"
              "print('token is tok-0123456789')\n")
    result = run(tmp_path, "python", script)
    assert result.state == "Success"
    assert result.outputs == (OutputVariable("Port", "8080", False),
                              OutputVariable("Token", "tok-0123456789", True))
    assert "tok-0123456789" not in result.log and f"token is {MASK}" in result.log


def test_get_octopusvariable_is_case_insensitive_and_handles_spaces_dots_and_unicode(tmp_path: Path) -> None:
    variables = {"Db Server.Name": "db-01", "App.Greeting": "héllo wörld", "Empty": "",
                 "Multi": "line1\nline2"}
    bash = run(tmp_path, "bash", 'echo "[$(get_octopusvariable "db server.NAME")]"\n'
                                 'echo "[$(get_octopusvariable APP.GREETING)]"\n'
                                 'echo "[$(get_octopusvariable Empty)]"\n'
                                 'echo "[$(get_octopusvariable Missing)]"\n'
                                 'echo "[$(get_octopusvariable multi)]"\n', variables)
    assert bash.log.splitlines() == ["[db-01]", "[héllo wörld]", "[]", "[]", "[line1", "line2]"]
    python = run(tmp_path, "python", "from octopus_helpers import get_octopusvariable as g\n"
                                     "print([g('DB SERVER.name'), get_octopusvariable('app.greeting'),"
                                     " g('missing'), g('MULTI')])\n", variables)
    assert python.log == "['db-01', 'héllo wörld', '', 'line1\\nline2']"


def test_any_program_printing_the_raw_service_message_sets_an_output(tmp_path: Path) -> None:
    script = f"printf \"##octopus[setVariable name='%s' value='%s']\\n\" {b64('Raw.Name')} {b64('raw value')}\n"
    script += f"python3 -c \"print(\\\"##octopus[setVariable value='{b64('v2')}' name='{b64('Second')}']\\\")\"\n"
    result = run(tmp_path, "bash", script)
    assert result.outputs == (OutputVariable("Raw.Name", "raw value", False),
                              OutputVariable("Second", "v2", False))


def test_malformed_message_from_a_script_is_a_warning_not_a_crash(tmp_path: Path) -> None:
    result = run(tmp_path, "bash", "echo \"##octopus[setVariable name='!!' value='x']\"\necho after\n")
    assert result.state == "Success" and result.outputs == ()
    assert "WARNING: ignored a malformed setVariable service message" in result.log
    assert result.log.endswith("after")


def test_last_value_of_the_same_name_comes_last_in_outputs(tmp_path: Path) -> None:
    result = run(tmp_path, "bash", "set_octopusvariable A 1\nset_octopusvariable A 2\n")
    assert [o.value for o in result.outputs] == ["1", "2"]


# --------------------------------------------------------------------- runner: secrets


CANARY = "canary-7f3a9c1e5b"
CANARY_OUT = "canary-out-42d8e6"


def test_sensitive_canary_is_never_in_log_env_argv_or_left_in_workdir(tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / "app.txt").write_text("existing file")
    before = tree(workdir)
    masker = Masker([CANARY])
    script = (
        'secret="$(get_octopusvariable Db.Password)"\n'
        'echo "password is $secret"\n'
        'echo "stderr $secret" >&2\n'
        'if tr "\\0" "\\n" < /proc/$$/environ | grep -qF "$secret"; then echo ENV-LEAK; fi\n'
        'if tr "\\0" "\\n" < /proc/$$/cmdline | grep -qF "$secret"; then echo ARGV-LEAK; fi\n'
        f'echo "early {CANARY_OUT}"\n'
        f'set_octopusvariable Token "{CANARY_OUT}" -sensitive\n'
        f'echo "late {CANARY_OUT}"\n'
    )
    result = run_script("bash", script, workdir=workdir, variables={"Db.Password": CANARY},
                        masker=masker)
    assert result.state == "Success", result.log
    assert "LEAK" not in result.log
    for secret in (CANARY, CANARY_OUT):
        for form in (secret, b64(secret), secret.encode().hex()):
            assert form not in result.log
    assert result.log.count(MASK) == 4  # password, stderr, early (re-masked at the end), late
    assert tree(workdir) == before
    for path in workdir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert CANARY.encode() not in data and b64(CANARY).encode() not in data


def test_python_helpers_keep_values_out_of_environment_and_command_line(tmp_path: Path) -> None:
    script = (
        "import os\n"
        "secret = get_octopusvariable('db.password')\n"
        "assert secret\n"
        "env = '\\n'.join(os.environ.values())\n"
        "argv = open('/proc/self/cmdline', 'rb').read().decode()\n"
        "print('ENV-LEAK' if secret in env else 'env clean')\n"
        "print('ARGV-LEAK' if secret in argv else 'argv clean')\n"
    )
    result = run(tmp_path, "python", script, {"Db.Password": CANARY}, Masker([CANARY]))
    assert result.log == "env clean\nargv clean"
    assert tree(tmp_path / "work") == []


def test_script_environment_is_clean_apart_from_path_home_lang_and_env(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNNER_ONLY_VARIABLE", "should-not-leak")
    result = run(tmp_path, "bash", 'echo "home=$HOME lang=$LANG extra=$EXTRA pwd=$(pwd)"\n'
                                   'echo "runner=${RUNNER_ONLY_VARIABLE-unset}"\n',
                 env={"EXTRA": "yes"})
    work = tmp_path / "work"
    assert result.log.splitlines() == [f"home={work} lang=C.UTF-8 extra=yes pwd={work}", "runner=unset"]


def test_invalid_environment_names_are_refused(tmp_path: Path) -> None:
    with raises_code("invalid_environment"):
        run(tmp_path, "bash", "true", env={"A=B": "x"})
    assert tree(tmp_path / "work") == []


# --------------------------------------------------------------------- runner: outcomes


def test_non_zero_exit_is_failed_with_the_exit_code(tmp_path: Path) -> None:
    assert (r := run(tmp_path, "bash", "echo out; exit 7")).state == "Failed" and r.exit_code == 7
    python = run(tmp_path, "python", "raise RuntimeError('boom')")
    assert python.state == "Failed" and python.exit_code == 1 and "RuntimeError: boom" in python.log
    assert run(tmp_path, "python", "import sys; sys.exit(4)").exit_code == 4


def test_stdout_and_stderr_are_combined_in_order(tmp_path: Path) -> None:
    result = run(tmp_path, "bash", "echo one; echo two >&2; echo three; echo four >&2")
    assert result.log == "one\ntwo\nthree\nfour"
    python = run(tmp_path, "python", "import sys\nprint('a')\nprint('b', file=sys.stderr)\nprint('c')")
    assert python.log == "a\nb\nc"


def test_stdin_is_closed_so_a_prompt_does_not_hang(tmp_path: Path) -> None:
    result = run(tmp_path, "bash", 'if read -r answer; then echo "got $answer"; else echo eof; fi', timeout=20)
    assert result.state == "Success" and result.log == "eof"


def test_unsupported_syntax_is_refused(tmp_path: Path) -> None:
    with raises_code("unsupported_syntax"):
        run(tmp_path, "powershell", "Write-Host hi")


def test_timeout_kills_the_whole_process_tree_even_children_ignoring_sigterm(tmp_path: Path) -> None:
    script = ("sleep 100 &\necho \"child=$!\"\n"
              "( trap '' TERM; exec sleep 100 ) &\necho \"stubborn=$!\"\n"
              "wait\n")
    started = time.monotonic()
    result = run(tmp_path, "bash", script, timeout=1.0, kill_grace=0.5)
    assert result.state == "TimedOut" and result.exit_code is None
    pids = {key: int(value) for key, value in re.findall(r"(child|stubborn)=(\d+)", result.log)}
    assert set(pids) == {"child", "stubborn"}
    for pid in pids.values():
        assert process_gone(pid), f"process {pid} survived the timeout"
    assert "timed out" in result.log
    assert time.monotonic() - started < 60  # sanity: the run did end, not a timing claim
    assert tree(tmp_path / "work") == []


def test_background_child_holding_the_output_is_stopped_after_the_script_exits(tmp_path: Path) -> None:
    result = run(tmp_path, "bash", 'sleep 100 &\necho "child=$!"\nexit 0\n', kill_grace=0.5)
    assert result.state == "Success" and result.exit_code == 0
    pid = int(re.search(r"child=(\d+)", result.log).group(1))  # type: ignore[union-attr]
    assert process_gone(pid)
    assert "background processes kept its output open" in result.log


def test_cancel_event_stops_the_script_as_canceled(tmp_path: Path) -> None:
    # The script says when it has started through a FIFO; cancelling on that event, not after
    # a guessed delay, means a slow machine cannot cancel it before it started.
    ready = tmp_path / "ready"
    os.mkfifo(ready)
    cancel = threading.Event()

    def cancel_once_started() -> None:
        with open(ready) as fifo:
            fifo.readline()
        cancel.set()

    watcher = threading.Thread(target=cancel_once_started, daemon=True)
    watcher.start()
    result = run(tmp_path, "bash", 'echo started\necho up > "$READY"\nsleep 100\n', cancel=cancel,
                 kill_grace=0.5, timeout=60, env={"READY": str(ready)})
    assert cancel.is_set() and result.state == "Canceled" and result.exit_code is None
    # What the script wrote before it was cancelled is kept, next to the reason it stopped.
    assert "started" in result.log.splitlines() and "deployment canceled" in result.log


def test_big_output_is_bounded_keeps_head_and_tail_and_still_honours_outputs(tmp_path: Path) -> None:
    script = ("import sys\n"
              "print('FIRST LINE')\n"
              "for i in range(60000): print('filler line number', i, 'x' * 60)\n"
              "set_octopusvariable('Hidden', 'h-0123456789', True)\n"
              "for i in range(1000): print('more filler', i)\n"
              "print('h-0123456789 LAST LINE')\n")
    limit = 64 * 1024
    result = run(tmp_path, "python", script, log_limit=limit)
    assert result.state == "Success"
    assert len(result.log.encode()) < limit + 200
    assert result.log.startswith("FIRST LINE")
    assert result.log.endswith(f"{MASK} LAST LINE")
    assert "log truncated" in result.log
    assert result.outputs == (OutputVariable("Hidden", "h-0123456789", True),)


def test_output_without_newlines_is_bounded(tmp_path: Path) -> None:
    result = run(tmp_path, "python", "import sys\nsys.stdout.write('y' * 5_000_000)\n", log_limit=100_000)
    assert result.state == "Success"
    assert len(result.log.encode()) < 100_000 + 200


def test_workdir_is_created_when_missing(tmp_path: Path) -> None:
    workdir = tmp_path / "a" / "b"
    result = run_script("bash", "pwd", workdir=workdir, variables={}, masker=Masker())
    assert result.log == str(workdir) and workdir.is_dir()
    assert result.started <= result.ended


def test_helpers_work_under_strict_bash_and_error_line_numbers_are_the_scripts_own(tmp_path: Path) -> None:
    script = ("#!/bin/bash\nset -euo pipefail\n"
              'echo "[$(get_octopusvariable Missing)][$(get_octopusvariable A)]"\n'
              "set_octopusvariable X y\n"
              "no_such_command_xyz\n"
              "echo never\n")
    result = run(tmp_path, "bash", script, {"A": "1"})
    assert result.state == "Failed" and result.exit_code == 127
    assert result.log.splitlines()[0] == "[][1]"
    assert "line 5: no_such_command_xyz" in result.log and "never" not in result.log
    assert result.outputs == (OutputVariable("X", "y", False),)
