"""The `bundlekit diode` CLI contract: refusals, exit codes, --json shapes, examples in --help."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bundlekit.cli import cli
from tests.transport.helpers import write_payload


def _run(*args: str | Path) -> tuple[int, str, str]:
    r = CliRunner().invoke(cli, [str(a) for a in args])
    return r.exit_code, r.stdout, r.stderr


@pytest.mark.parametrize("cmd", [["diode"], ["diode", "send"], ["diode", "receive"]])
def test_every_diode_command_help_has_an_example(cmd: list[str]) -> None:
    code, out, _ = _run(*cmd, "--help")
    assert code == 0 and "Example:" in out and "bundlekit diode" in out


@pytest.mark.parametrize("args,code_name", [
    (["--to", "127.0.0.1:9", "--spool", "S"], "usage"),
    ([], "usage"),
    (["--to", "no-port"], "invalid_address"),
    (["--to", "127.0.0.1:99999"], "invalid_address"),
    (["--to", "127.0.0.1:9", "--redundancy", "-0.1"], "invalid_redundancy"),
    (["--to", "127.0.0.1:9", "--repeat", "-1"], "invalid_repeat"),
    (["--to", "127.0.0.1:9", "--rate", "fast"], "invalid_size"),
])
def test_send_usage_errors_exit_2_with_a_code(tmp_path: Path, args: list[str], code_name: str) -> None:
    write_payload(tmp_path / "a.bundle", 10)
    code, out, _ = _run("diode", "send", tmp_path / "a.bundle", *args, "--json")
    assert code == 2
    assert json.loads(out)["error"]["code"] == code_name


def test_send_of_a_missing_file_exits_1_file_not_found(tmp_path: Path) -> None:
    code, out, _ = _run("diode", "send", tmp_path / "nope.bundle", "--to", "127.0.0.1:9", "--json")
    assert code == 1 and json.loads(out)["error"]["code"] == "file_not_found"


def test_two_files_with_the_same_name_are_refused(tmp_path: Path) -> None:
    for d in ("x", "y"):
        (tmp_path / d).mkdir()
        write_payload(tmp_path / d / "a.bundle", 10)
    code, out, _ = _run("diode", "send", tmp_path / "x" / "a.bundle", tmp_path / "y" / "a.bundle",
                        "--to", "127.0.0.1:9", "--json")
    assert code == 2 and json.loads(out)["error"]["code"] == "duplicate_name"


def test_send_json_reports_session_files_and_overhead(tmp_path: Path) -> None:
    write_payload(tmp_path / "a.bundle", 200_000, 1)
    code, out, err = _run("diode", "send", tmp_path / "a.bundle", "--spool", tmp_path / "s", "--rate", "0",
                          "--redundancy", "0.1", "--repeat", "1", "--json")
    assert code == 0, err
    rep = json.loads(out)
    assert len(rep["session"]) == 16 and rep["repeat"] == 1 and rep["redundancy"] == 0.1
    assert rep["files"][0]["name"] == "a.bundle" and len(rep["files"][0]["sha256"]) == 64
    assert 0.10 < rep["overhead"] < 0.25


def test_receive_needs_exactly_one_source(tmp_path: Path) -> None:
    code, out, _ = _run("diode", "receive", "--out", tmp_path / "in", "--json")
    assert code == 2 and json.loads(out)["error"]["code"] == "usage"
    code, out, _ = _run("diode", "receive", "--out", tmp_path / "in", "--idle-timeout", "-1",
                        "--listen", "127.0.0.1:0", "--json")
    assert code == 2
