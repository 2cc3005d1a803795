"""`targets add` takes only names that are valid everywhere, and no second spelling of one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli, snapshot


@pytest.fixture(scope="module")
def prod(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Shared: every test proves it leaves the home byte-identical.
    tmp_path = tmp_path_factory.mktemp("names")
    home = tmp_path / "prod"
    assert run_cli("init", "--zone", "prod", home=home).returncode == 0
    assert run_cli("targets", "add", "web-01", "--environment", "Production", "--role", "web", "--root",
                   tmp_path / "t" / "web-01", home=home).returncode == 0
    return home


@pytest.mark.parametrize("name", ["web 01", "../web", "web/01", "_web", "nul", "COM1", "web.", "web\x1b[2J",
                                  "w\u202eeb", "x" * 101, ""])
def test_target_name_that_is_not_a_valid_name_refused_and_nothing_written(prod: Path, tmp_path: Path,
                                                                          name: str) -> None:
    before = snapshot(prod)
    root = tmp_path / "t" / "new"
    r = run_cli("targets", "add", name, "--environment", "Production", "--role", "web", "--root", root, "--json",
                home=prod)
    assert r.returncode == 2, r.stderr  # a name typed on the command line that can never be right: usage
    err = json.loads(r.stdout)["error"]
    assert err["code"] == "invalid_target_name" and "target name" in err["message"]
    assert "\x1b" not in r.stdout and "\u202e" not in r.stdout
    assert snapshot(prod) == before and not root.exists()


def test_target_name_differing_only_in_case_is_the_same_target(prod: Path, tmp_path: Path) -> None:
    before = snapshot(prod)
    r = run_cli("targets", "add", "WEB-01", "--environment", "Production", "--role", "web", "--root",
                tmp_path / "t" / "other", "--json", home=prod)
    assert r.returncode == 1
    err = json.loads(r.stdout)["error"]
    assert err["code"] == "target_exists" and "'web-01'" in err["message"]
    assert snapshot(prod) == before
