"""What a command's audit entries name as its object (cli/common.py ``audited_object``): its
arguments and the options that name an object, never a value, so a secret given the old way (on
the command line) still never reaches the audit trail."""

from __future__ import annotations

from collections.abc import Iterator

import click

from bundlekit.cli import cli
from bundlekit.cli.common import OBJECT_OPTIONS, VALUE_ARGUMENTS, audited_object

#: Every argument name a command has today, each reviewed as naming an object (a project, a file,
#: a target...) and never a value. A new argument must be added here or to VALUE_ARGUMENTS.
OBJECT_ARGUMENTS = frozenset({"address", "backup", "bundle", "card", "deployment_id", "dirs", "file", "files", "key_id", "keys",
                              "name", "names", "paths", "policy_file", "project", "public_key", "release_file",
                              "source", "step", "version"})


def _commands(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))
        else:
            yield (*path, name), command


def test_every_argument_is_reviewed_as_an_object_or_a_value() -> None:
    found = {p.name for _, c in _commands(cli) for p in c.params if isinstance(p, click.Argument)}
    assert sorted(found - OBJECT_ARGUMENTS - VALUE_ARGUMENTS) == []


def test_a_sensitive_value_given_on_the_command_line_is_not_in_the_object() -> None:
    command = cli.commands["variables"].commands["set"]  # type: ignore[attr-defined]
    ctx = command.make_context("set", ["acme-web", "Acme.ApiKey", "s3cret-canary", "--sensitive",
                                       "--environment", "Production"])
    assert audited_object(ctx) == {"project": "acme-web", "name": "Acme.ApiKey", "sensitive": True,
                                   "environment": ["Production"], "space": "Default"}
    assert "s3cret-canary" not in repr(audited_object(ctx))


def test_options_that_carry_values_or_files_are_not_objects() -> None:
    assert not OBJECT_OPTIONS & {"from_file", "password_file", "identity_file", "var_pairs", "variables_file",
                                 "key_file", "reason", "value"}
