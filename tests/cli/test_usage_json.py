"""Usage errors click finds while parsing print the documented error object under ``--json``.

A script that asked for ``--json`` reads stdout; before, a missing argument or an unknown option
printed click's text on stderr and nothing on stdout. Now every command, through the CLI's one
entry point, prints ``{"error": {"code": "usage", ...}}`` on stdout and exits 2; without
``--json`` the usage text on stderr is unchanged.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import cli_in_process, run_cli


def _error(stdout: str) -> dict[str, object]:
    obj = json.loads(stdout)
    assert set(obj) == {"error"}
    return obj["error"]  # type: ignore[no-any-return]


def test_missing_argument_with_json_prints_the_error_object_through_the_installed_entry_point(tmp_path: Path) -> None:
    done = run_cli("verify", "--json", home=tmp_path / "prod")  # a real process: `python -m bundlekit`
    assert done.returncode == 2
    err = _error(done.stdout)
    assert err["code"] == "usage"
    assert "Missing argument 'BUNDLE'" in str(err["message"]) and "bundlekit verify --help" in str(err["message"])
    assert err["details"] == {"command": "bundlekit verify", "parameter": "bundle",
                              "usage": "Usage: bundlekit verify [OPTIONS] BUNDLE"}
    assert done.stderr == ""


@pytest.mark.parametrize("args, needle", [
    (["verify", "acme.bundle", "--bogus", "--json"], "No such option '--bogus'"),
    (["import", "a.bundle", "--on-conflict", "bogus", "--json"], "'bogus' is not one of"),
    (["--json", "no-such-command"], "No such option '--json'"),
    (["no-such-command", "--json"], "No such command 'no-such-command'"),
    (["trust", "add", "--json"], "Missing argument 'CARD'"),
    (["targets", "add", "web-02", "--json"], "Missing option '--environment'"),
    (["media", "split", "x.bundle", "--parity", "many", "--json"], "'many' is not a valid integer"),
])
def test_every_kind_of_parse_error_with_json_prints_the_usage_error_object(args: list[str], needle: str) -> None:
    done = cli_in_process(*args)
    assert done.returncode == 2, done.stderr
    err = _error(done.stdout)
    assert err["code"] == "usage" and needle in str(err["message"]), err
    assert done.stderr == ""


def test_json_after_a_double_dash_is_an_argument_not_a_request_for_json() -> None:
    done = cli_in_process("verify", "--bogus", "--", "--json")
    assert done.returncode == 2 and done.stdout == ""
    assert "No such option '--bogus'" in done.stderr


def test_without_json_the_usage_text_goes_to_stderr_as_before() -> None:
    done = cli_in_process("verify")
    assert done.returncode == 2 and done.stdout == ""
    assert "Usage: bundlekit verify [OPTIONS] BUNDLE" in done.stderr and "Missing argument 'BUNDLE'" in done.stderr


def test_help_and_version_are_not_errors() -> None:
    assert cli_in_process("verify", "--help", "--json").returncode == 0
    done = cli_in_process("--version")
    assert done.returncode == 0 and "bundlekit" in done.stdout
