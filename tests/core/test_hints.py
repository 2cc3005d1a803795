"""How messages repeat what an operator typed and write the commands they suggest (core/hints.py)."""

from __future__ import annotations

from bundlekit.core.hints import cut, in_space, shown, space_flag
from bundlekit.core.text import shell_word


def test_a_long_value_is_echoed_cut_so_a_refusal_stays_one_short_line() -> None:
    assert shown("x" * 100_000) == repr("x" * 60) + "..."
    assert shown("A") == "'A'" and shown("a\nb") == "'a\\nb'"
    assert cut("y" * 61) == "y" * 60 + "..." and cut("Payments") == "Payments"


def test_a_suggested_command_carries_the_space_it_must_work_in_but_not_default() -> None:
    assert space_flag("B") == " --space B"
    assert space_flag("Payments Team") == " --space 'Payments Team'"
    assert space_flag("Default") == "" and space_flag("default") == "" and space_flag(None) == ""
    assert in_space("B") == " in space B" and in_space("B", "of") == " of space B" and in_space("Default") == ""


def test_a_suggested_argument_survives_a_shell() -> None:
    assert shell_word("web-01") == "web-01" and shell_word("it's") == "'it'\"'\"'s'" and shell_word("a b") == "'a b'"
