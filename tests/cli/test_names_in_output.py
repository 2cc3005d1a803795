"""Names people chose, as the CLI prints them back: tables align by terminal cells (wide characters
take two), and every copy-paste command quotes the name for the shell (findings selfatk 4 and 8)."""

from __future__ import annotations

import shlex
from pathlib import Path

from bundlekit.core.text import cell_width
from tests.conftest import cli_in_process


def test_spaces_list_columns_line_up_for_wide_names(tmp_path: Path) -> None:
    home = tmp_path / "prod"
    assert cli_in_process("init", "--zone", "prod", home=home).returncode == 0
    names = ["Payments", "\U0001F600", "\uff30\uff41\uff59", "caf\u00e9"]
    for name in names:
        assert cli_in_process("spaces", "add", "--home", home, "--", name).returncode == 0
    lines = cli_in_process("spaces", "list", home=home).stdout.splitlines()
    assert len(lines) == 5
    # the column after the name starts at the same terminal cell on every line
    starts = {cell_width(line[:line.index("trusted zones")]) for line in lines}
    assert starts == {25}, lines


def test_spaces_add_hint_pastes_into_a_shell_as_the_name_typed(tmp_path: Path) -> None:
    home = tmp_path / "prod"
    assert cli_in_process("init", "--zone", "prod", home=home).returncode == 0
    for name in ("$(touch pwned)", 'Team "A"', "it's"):
        done = cli_in_process("spaces", "add", "--home", home, "--", name)
        assert done.returncode == 0, done.stderr
        hint = done.stdout.split("`")[1]
        assert shlex.split(hint) == ["bundlekit", "trust", "add", "CARD", "--space", name, "--home", str(home)]


def test_every_hint_that_names_a_trusted_zone_or_space_quotes_it_for_the_shell() -> None:
    from bundlekit.zone.spaces import move_trust

    hint = move_trust("dev zone", "Team $(id)")
    commands = [part for i, part in enumerate(hint.split("`")) if i % 2]
    assert [shlex.split(c) for c in commands] == [["bundlekit", "trust", "set", "dev zone", "--space", "Team $(id)"]]


def test_no_hint_in_the_source_embeds_a_name_without_quoting_it() -> None:
    """A source scan: in a backquoted ``bundlekit ...`` command of a message, every ``{...}`` that
    holds a name, slug or path goes through ``shell_word`` (the reviewed exceptions are ids and
    numbers bundlekit makes itself)."""
    import re

    root = Path(__file__).resolve().parents[2] / "bundlekit"
    command = re.compile(r"`bundlekit [^`]*`")
    field = re.compile(r"\{([^{}]+)\}")
    reviewed = {"self.deployment_id", "rec.deployment_id", "unsigned.seq", "option", "full", "home", "used", "home_option_of(root)",
                "home_option_of(self_dir(zone))", "command_path"}  # quoted where made; full: a literal flag
    bad = []
    for path in sorted(root.rglob("*.py")):
        for match in command.finditer(path.read_text("utf-8")):
            for inner in field.findall(match.group(0)):
                if not inner.startswith(("shell_word(", "terminal_text(shell_word(", "shlex.quote(", "quote(", "run", "where",
                                          "how", "space_flag(", "here_flags(", "home_flag(", "_card(")) \
                        and inner not in reviewed and not inner.isupper():
                    bad.append(f"{path.relative_to(root)}: {{{inner}}} in {match.group(0)[:80]}")
    assert not bad, "\n".join(bad)
