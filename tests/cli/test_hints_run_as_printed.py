"""A command bundlekit prints in backquotes can be pasted and run as printed (decision 973).

newuser36 findings 1 and 2, atk36 finding 3: hints printed `bundlekit export RELEASE_FILE --to
staging --full` (no ``-o``), `bundlekit worker setup` and `bundlekit trust list` (no ``--home``
the operator gave), `bundlekit trust add --home v/prod` (no CARD) and `bundlekit trust set --home
x/prod` (no NAME): each failed when pasted. Fixing them one by one left the next one, so this test
reads every string in ``bundlekit/`` (``ast``: constants and f-strings, implicit concatenation
being one node) and checks each backquoted `bundlekit ...` command in it with click itself:

- each ``{expression}`` becomes what it prints: :func:`~bundlekit.core.hints.here_flags` /
  :func:`~bundlekit.core.hints.home_flag` / :func:`~bundlekit.core.hints.space_flag` (and a
  name bound to one of them) the options they add, anything else one value (``VALUE``);
- the words are ``shlex``-split, the subcommand found in ``bundlekit.cli``'s click tree, and
  ``make_context`` parses the rest (values are not converted: ``BUNDLE`` or ``OUT`` stands for a
  file that exists when the operator runs it): every required argument and option must be
  there, no option may be unknown and no word left over;
- a command whose leaf takes ``--home`` (it uses a zone) carries it, unless the text says the
  command is for another zone: right before the opening backquote it reads ``in zone NAME, `` /
  ``in NAME, `` / ``in the|that|its ... zone ..., `` / ``there, `` (``:`` instead of ``,`` as well).

Docstrings are not printed and are not read; ``--help`` texts and examples are checked by
tests/cli/test_help_ranges.py and the README checks.
"""

from __future__ import annotations

import ast
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

import click
import pytest

from bundlekit.cli import cli

ROOT = Path(__file__).resolve().parents[2] / "bundlekit"

#: What a flag helper adds to a command when it is printed (decision 973).
FLAG_HELPERS = {"here_flags": " --space SPACE --home HOME", "home_flag": " --home HOME", "space_flag": " --space SPACE"}

#: A backquoted command: one backquote (never RST's double), ``bundlekit``, words, the closing one.
COMMAND = re.compile(r"(?<!`)`(bundlekit(?: [^`]*)?)`(?!`)")

#: The text before a command suggested to another zone ends like this (decision 973).
OTHER_ZONE = re.compile(r"(?:\bin (?:zone )?[^\s,:`()]+|\bin (?:the|that|its) [^,:`()]*zone[^,:`()]*|\bthere)\s*[,:]\s*$")


@dataclass(frozen=True)
class Hint:
    where: str  # path:line
    before: str  # the text before the opening backquote
    command: str  # `bundlekit ...` as printed, placeholders in


def _docstrings(tree: ast.AST) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                out.add(id(body[0].value))
    return out


def _flag_names(tree: ast.AST) -> dict[str, str]:
    """Local names bound to a flag helper's result (``home = home_flag()``) or to ``f"--home
    {...}"``, by name."""
    out: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            f = node.value.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
            if name in FLAG_HELPERS or name == "home_option_of":
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        out[target.id] = FLAG_HELPERS.get(name, " --home HOME")
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.JoinedStr):
            first = node.value.values[0] if node.value.values else None
            if isinstance(first, ast.Constant) and str(first.value).startswith("--home "):  # home = f"--home {...}"
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        out[target.id] = "--home HOME"
    return out


def _printed(value: ast.expr, flags: dict[str, str], before: str) -> str:
    if not before.rstrip().endswith("--home") and "home" in ast.unparse(value).rsplit("(", 1)[0]:
        return " --home HOME"  # home_option_of(root), {home}: a name of the flag, not a value after --home
    if isinstance(value, ast.Call):
        f = value.func
        name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
        if name in FLAG_HELPERS:
            return FLAG_HELPERS[name]
    if isinstance(value, ast.Name) and value.id in flags:
        return flags[value.id]
    return "VALUE"


def _fields(text: str) -> str:
    """A constant later filled in (``.format``, ``.replace``): ``{home}`` is the --home flag, any
    other ``{field}`` a value."""
    return re.sub(r"\{([^{}`]*)\}", lambda m: " --home HOME" if m.group(1) == "home" else "VALUE", text)


def _text(node: ast.expr, flags: dict[str, str]) -> str:
    if isinstance(node, ast.Constant):
        return _fields(node.value)
    parts = []
    for value in node.values:  # type: ignore[attr-defined]
        if isinstance(value, ast.Constant):
            parts.append(_fields(value.value))
        elif isinstance(value, ast.FormattedValue):
            parts.append(_printed(value.value, flags, "".join(parts)))
    return "".join(parts)


def hints() -> Iterator[Hint]:
    for path in sorted(ROOT.rglob("*.py")):
        tree = ast.parse(path.read_text("utf-8"))
        skip, flags = _docstrings(tree), _flag_names(tree)
        inner = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
        for node in ast.walk(tree):
            if id(node) in skip or id(node) in inner:
                continue
            if isinstance(node, ast.Constant) and isinstance(node.value, str) or isinstance(node, ast.JoinedStr):
                text = _text(node, flags)
                for m in COMMAND.finditer(text):
                    yield Hint(f"{path.relative_to(ROOT.parent)}:{node.lineno}", text[: m.start()], m.group(1))


def _resolve(words: list[str]) -> tuple[Optional[click.Command], list[str], str]:
    """The leaf command ``words`` name, the words it parses (group-level options moved after the
    subcommand, as the CLI does with --home), and the command path; None if a word is not a command."""
    command: click.Command = cli
    ctx = click.Context(cli)
    args, moved, path = list(words), [], "bundlekit"
    while isinstance(command, click.Group):
        while args and args[0].startswith("-"):
            takes_value = args[0] == "--home" and len(args) > 1
            moved += args[:2] if takes_value else args[:1]
            args = args[2:] if takes_value else args[1:]
        if not args:
            return command, moved, path
        sub = command.get_command(ctx, args[0])
        if sub is None:
            return None, [], f"{path} {args[0]}"
        path, command, args = f"{path} {args[0]}", sub, args[1:]
        ctx = click.Context(command)
    return command, args + moved, path


def problem(hint: Hint) -> Optional[str]:
    """What keeps ``hint`` from running as printed, or None."""
    try:
        words = shlex.split(hint.command)[1:]
        words = words[: words.index("<")] if "<" in words else words  # `... < FILE`: the shell reads FILE
    except ValueError as exc:
        return f"not shell words ({exc})"
    command, args, path = _resolve(words)
    if command is None:
        return f"`{path}` is no bundlekit command"
    if isinstance(command, click.Group):
        return None if {"--help", "--version"} & set(args) else f"`{path}` names a group, not a command"
    saved = [(p, p.type, p.callback, getattr(p, "prompt", None)) for p in command.params]
    try:
        for p in command.params:
            if not (isinstance(p, click.Option) and p.is_flag):
                p.type = click.STRING
            p.callback = None
            if isinstance(p, click.Option):
                p.prompt = None
        command.make_context(path, list(args))
    except click.exceptions.Exit:
        pass  # --help
    except click.UsageError as exc:
        return exc.format_message()
    finally:
        for p, type_, callback, prompt in saved:
            p.type, p.callback = type_, callback
            if isinstance(p, click.Option):
                p.prompt = prompt
    uses_zone = any(isinstance(p, click.Option) and "--home" in p.opts for p in command.params)
    if uses_zone and not {"--home", "--help"} & set(words) and not OTHER_ZONE.search(hint.before):
        return "acts on this zone but carries no --home (home_flag/here_flags)"
    return None


def test_the_scan_reads_the_hints_it_is_about() -> None:
    found = list(hints())
    assert len(found) > 100
    commands = {h.command for h in found}
    assert any(c.startswith("bundlekit relay ") for c in commands)
    assert any(c.startswith("bundlekit export ") for c in commands)


@pytest.mark.parametrize(
    ("before", "command", "expected"),
    [
        ("", "bundlekit export RELEASE_FILE --to staging --full --home HOME", "Missing option"),
        ("", "bundlekit worker setup", "carries no --home"),
        ("", "bundlekit trust add --home HOME", "Missing argument"),
        ("", "bundlekit trust set --home HOME", "Missing argument"),
        ("in zone dev, ", "bundlekit export RELEASE_FILE --to staging --full -o OUT", None),
        ("then in staging, ", "bundlekit relay BUNDLE --to prod -o OUT", None),
        ("there: ", "bundlekit trust list", None),
        ("", "bundlekit media check VALUE", None),
        ("", "bundlekit export --nope --home HOME", "No such option"),
    ],
)
def test_the_check_refuses_what_would_not_run_as_printed(before: str, command: str, expected: Optional[str]) -> None:
    got = problem(Hint("example", before, command))
    assert (got is None) if expected is None else (got is not None and expected in got), got


def test_every_backquoted_bundlekit_command_runs_as_printed() -> None:
    wrong = [f"{h.where}: `{h.command}`: {p}" for h in hints() if (p := problem(h))]
    assert not wrong, f"{len(wrong)} printed commands would not run as printed:\n" + "\n".join(wrong)


def test_a_relay_for_default_is_said_to_be_trusted_in_default_once() -> None:
    from bundlekit.trust.policy import relay_spaces
    assert relay_spaces("Default") == "Default"
    assert relay_spaces("default") == "Default"
    assert relay_spaces("Payments") == "Payments or in Default"


def test_a_concept_hint_for_an_unknown_option_carries_the_home_typed(tmp_path: Path) -> None:
    from tests.conftest import cli_in_process
    home = tmp_path / "my zone"
    r = cli_in_process("deploy", "acme", "1.0.0", "--channel", "Beta", "--home", str(home))
    assert r.returncode == 2, r.stdout + r.stderr
    assert f"`bundlekit show PROJECT VERSION --home '{home}'`" in r.stderr, r.stderr
