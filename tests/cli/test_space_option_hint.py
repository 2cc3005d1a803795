"""`--space` given to a command that does not take it says why that command has none and which
commands do (review newuser finding 12): not the pre-spaces "in a zone a project is named by its
name or slug alone", which contradicts every command that needs `--space` to reach another space.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import click
import pytest

from bundlekit.cli import cli
from bundlekit.cli.concepts import SPACE_COMMANDS, concept_hint
from tests.conftest import run_cli


def _commands(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[str, bool]]:
    """Every command of the CLI as (path without `bundlekit`, whether it takes --space)."""
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))
        else:
            yield " ".join((*path, name)), any("--space" in p.opts for p in command.params)


def _listed(path: str) -> bool:
    """Whether SPACE_COMMANDS, as a person reads it, says ``path`` takes --space."""
    words = path.split()
    for entry in SPACE_COMMANDS:
        head, _, rest = entry.partition(" ")
        if head != words[0]:
            continue
        if not rest:
            return True
        if rest.startswith("(but "):
            return words[1] not in re.findall(r"[\w-]+", rest[len("(but "):])
        return words[1] in rest.split("/")
    return False


def test_the_list_of_commands_taking_space_is_the_cli_s() -> None:
    wrong = [(path, takes) for path, takes in _commands(cli) if takes != _listed(path)]
    assert not wrong, f"cli/concepts.py SPACE_COMMANDS disagrees with the CLI on: {wrong}"


def test_every_command_without_space_says_why_and_never_the_pre_spaces_sentence() -> None:
    for path, takes in _commands(cli):
        if takes:
            continue
        hint = concept_hint(path, "--space")
        assert hint is not None, path
        assert "named by its name or slug alone" not in hint, path
        assert f"bundlekit {path} takes no --space" in hint or "release file" in hint, (path, hint)


@pytest.mark.parametrize("args, why", [
    (("spaces", "list"), "bundlekit spaces list takes no --space: it shows every space"),
    (("outbox", "list"), "bundlekit outbox list takes no --space: it lists the receipts waiting for every "
                         "trusted zone"),
    (("verify", "w.bundle"), "bundlekit verify takes no --space: it checks a bundle whatever space it will enter"),
])
def test_the_finding_s_commands_say_why_they_take_no_space_and_which_do(tmp_path: Path, args: tuple[str, ...],
                                                                          why: str) -> None:
    done = run_cli(*args, "--space", "Payments", home=tmp_path / "dev")
    assert done.returncode == 2, done.stderr
    assert f"Error: --space: {why}" in done.stderr, done.stderr
    assert "The commands that work in one space take --space NAME (import, deploy, " in done.stderr
    assert "named by its name or slug alone" not in done.stderr
