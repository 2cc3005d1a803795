"""What a user types is used only as typed (decision 413), through the real CLI: a number must be
written with the ASCII digits 0-9 (Python's ``int`` also reads ``٢٢`` as 22, ``２`` as 2, and
``1_0`` as 10, so a target stored port 22 for ``:٢٢``), and a host key given as several lines is
taken line by line, a bad line refused by its number (the SSH library read the first key and
dropped the rest without a word). Each refusal changes nothing in the zone's home."""

from __future__ import annotations

import json
from pathlib import Path

import asyncssh
import pytest

from bundlekit.error_codes import FAMILIES, REGISTRY
from tests.cli.operator_world import ok, ok_json
from tests.conftest import run_cli, snapshot


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("typed") / "prod"
    ok("init", "--zone", "prod", home=home)
    return home


def _key() -> str:
    return " ".join(asyncssh.generate_private_key("ssh-ed25519").export_public_key("openssh").decode().split()[:2])


def _refused(home: Path, args: list[str], code: str) -> str:
    before = snapshot(home)
    r = run_cli(*args, "--json", home=home)
    err = json.loads(r.stdout)["error"]
    assert (err["code"], r.returncode) == (code, FAMILIES[REGISTRY[code].family][0]), r.stdout + r.stderr
    assert snapshot(home) == before
    return str(err["message"])


ADD = ["targets", "add", "web-09", "--environment", "Production", "--role", "web"]


@pytest.mark.parametrize("port", ["٢٢", "２２", "2_2", "+22", " 22"],
                         ids=["arabic-indic", "fullwidth", "underscore", "plus", "space"])
def test_a_port_in_digits_other_than_0_9_is_refused(home: Path, port: str) -> None:
    _refused(home, [*ADD, "--ssh", f"root@127.0.0.1:{port}", "--host-key", _key()], "invalid_target_address")
    assert ok_json("targets", "list", home=home)["targets"] == []


def test_the_ascii_port_is_kept_as_typed(home: Path, tmp_path: Path) -> None:
    copy = tmp_path / "prod"
    import shutil

    shutil.copytree(home, copy)
    ok("targets", "add", "web-10", "--environment", "Production", "--role", "web", "--ssh", "root@127.0.0.1:2222",
       "--host-key", _key(), home=copy)
    (target,) = ok_json("targets", "list", home=copy)["targets"]
    assert target["address"].endswith(":2222"), target


@pytest.mark.parametrize("args", [
    ["retention", "set", "--keep", "٣"],
    ["retention", "set", "--keep-days", "1_0"],
    ["deploy", "acme-web", "1.0.0", "--environment", "Production", "--max-parallel", "２"],
    ["prune", "--max-parallel", "５"],
    ["targets", "check", "--max-parallel", "٣"],
    ["deploy", "acme-web", "1.0.0", "--environment", "Production", "--wait", "١.٥"],
], ids=["keep", "keep-days", "deploy-max-parallel", "prune-max-parallel", "check-max-parallel", "wait"])
def test_number_options_take_ascii_digits_only(home: Path, args: list[str]) -> None:
    message = _refused(home, args, "usage")
    assert "digits 0-9" in message, message


def test_a_host_key_pasted_as_several_lines_is_taken_line_by_line_and_a_bad_line_refused(home: Path,
                                                                                         tmp_path: Path) -> None:
    good, other = _key(), _key()
    message = _refused(home, [*ADD, "--ssh", "root@127.0.0.1", "--host-key", f"{good}\nssh-ed25519 AAAA"],
                       "invalid_host_key")
    assert "--host-key line 2 of 2" in message, message
    import shutil

    copy = tmp_path / "prod"
    shutil.copytree(home, copy)
    ok("targets", "add", "web-11", "--environment", "Production", "--role", "web", "--ssh", "root@127.0.0.1",
       "--host-key", f"{good}\n{other}\n", home=copy)
    (target,) = ok_json("targets", "list", home=copy)["targets"]
    assert target["host_keys"] == [good, other], target
