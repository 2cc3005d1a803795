"""A command run without `--space` on a project or target of another space says which space holds it
and the `--space` to add (review newuser finding 3). Project slugs and target names are unique in the
zone (decisions 660 and 750), so the name can only mean that one; the refusal keeps its code, lists
no other space's names as suggestions, and changes nothing. Through the real CLI, with
the finding's own steps: `prod` trusts `dev` in Default and `paydev` in Payments.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import run_cli, snapshot
from tests.e2e.test_spaces import ok, zones
from tests.e2e.test_trust_set_keeps_the_rule import script_release


@pytest.fixture
def prod(tmp_path: Path) -> Path:
    return two_space_prod(tmp_path)


def two_space_prod(tmp_path: Path) -> Path:
    """The finding's prod: Widget API from dev in Default, Pay Web from paydev and target pay-01 in Payments."""
    w = zones(tmp_path, "dev", "paydev", "prod")
    dev, paydev, prod = w["dev"], w["paydev"], w["prod"]
    ok("trust", "add", tmp_path / "prod.card", home=dev)
    ok("trust", "add", tmp_path / "dev.card", home=prod)
    ok("export", script_release(tmp_path, "widget"), "--to", "prod", "-o", tmp_path / "w.bundle", home=dev)
    ok("import", tmp_path / "w.bundle", home=prod)
    ok("spaces", "add", "Payments", home=prod)
    ok("spaces", "add", "Payments", home=paydev)
    ok("trust", "add", tmp_path / "prod.card", home=paydev)
    ok("trust", "add", tmp_path / "paydev.card", "--space", "Payments", home=prod)
    ok("export", script_release(tmp_path, "pay", project="Pay Web", space="Payments"), "--to", "prod", "-o",
       tmp_path / "pay1.bundle", home=paydev)
    ok("import", tmp_path / "pay1.bundle", "--space", "Payments", home=prod)
    ok("targets", "add", "pay-01", "--environment", "Production", "--role", "web", "--root", tmp_path / "t",
       "--space", "Payments", home=prod)
    return prod


def _refusal(done: subprocess.CompletedProcess[str], code: str) -> str:
    assert done.returncode == 1, done.stdout + done.stderr
    found = re.search(r"error \[(\w+)\]: (.*)", done.stderr)
    assert found is not None and found.group(1) == code, done.stderr
    return found.group(2)


@pytest.mark.parametrize("command", [("variables", "list", "pay-web"),
                                     ("deploy", "pay-web", "1.0.0", "--environment", "Production")])
def test_a_project_of_another_space_is_named_with_its_space_and_the_option_to_add(
        prod: Path, command: tuple[str, ...]) -> None:
    before = snapshot(prod)
    message = _refusal(run_cli(*command, home=prod), "unknown_project")
    assert message == ("no project 'pay-web' in space Default of zone prod: project pay-web is in space Payments; "
                       "add `--space Payments` to the command")
    assert snapshot(prod) == before
    assert run_cli(*command, "--space", "Payments", home=prod).returncode == 0


def test_a_project_unknown_in_every_space_still_lists_its_space_s_projects(prod: Path) -> None:
    message = _refusal(run_cli("variables", "list", "nope", home=prod), "unknown_project")
    assert "Known projects: widget-api (Widget API)." in message and "Payments" not in message


@pytest.mark.parametrize("command", [("targets", "remove", "pay-01"), ("targets", "check", "pay-01")])
def test_a_target_of_another_space_is_named_with_its_space_and_the_option_to_add(
        prod: Path, command: tuple[str, ...]) -> None:
    before = snapshot(prod)
    message = _refusal(run_cli(*command, home=prod), "unknown_target")
    assert message == ("no target named 'pay-01' in space Default: target pay-01 is in space Payments; add "
                       "`--space Payments` to the command")
    assert snapshot(prod) == before
