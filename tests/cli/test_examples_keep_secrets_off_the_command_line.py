"""No example bundlekit shows puts a secret on a command line (a process list and the shell's
history would keep it): every example that sets a sensitive value reads it from standard input
(``- --sensitive < FILE``), in every command's --help, in the hints errors give, and in the README."""

from __future__ import annotations

import re
from collections.abc import Iterator

import click

from bundlekit.cli import cli
from bundlekit.cli.concepts import concept_hint
from tests.conftest import ROOT

# `variables set PROJECT NAME VALUE ... --sensitive` with a VALUE that is not '-'
_SECRET_ON_LINE = re.compile(r"variables set \S+ \S+ (?!- )\S+[^\n`]*--sensitive")


def _commands(group: click.Group, path: str = "bundlekit") -> Iterator[tuple[str, click.Command]]:
    for name, command in group.commands.items():
        yield f"{path} {name}", command
        if isinstance(command, click.Group):
            yield from _commands(command, f"{path} {name}")


def test_the_check_finds_what_it_forbids() -> None:
    assert _SECRET_ON_LINE.search("bundlekit variables set acme-web Acme.ApiKey 'k-123' --sensitive --home ./prod")
    assert not _SECRET_ON_LINE.search("bundlekit variables set acme-web Acme.ApiKey - --sensitive < key.txt")


def test_no_help_text_or_example_puts_a_sensitive_value_on_the_command_line() -> None:
    texts = [(path, f"{c.help or ''}\n{c.epilog or ''}") for path, c in _commands(cli)]
    assert len(texts) > 40
    found = [(path, m.group(0)) for path, text in texts for m in _SECRET_ON_LINE.finditer(text)]
    assert found == []


def test_the_hint_for_a_missing_variables_option_reads_the_secret_from_stdin() -> None:
    hint = concept_hint("deploy", "--variable") or ""
    assert "- --sensitive < FILE" in hint, hint
    assert not _SECRET_ON_LINE.search(hint)


def test_the_readme_sets_sensitive_values_from_stdin_only() -> None:
    text = (ROOT / "README.md").read_text()
    assert "variables set" in text
    assert [m.group(0) for m in _SECRET_ON_LINE.finditer(text)] == []
