"""`--help` states an option's range only when it has one (review r1015a N1, r1015u F6)."""

from __future__ import annotations

from click.testing import CliRunner

from bundlekit.cli import cli


def test_help_of_an_unbounded_whole_number_option_shows_no_none_range() -> None:
    for args, option in ((["media", "split", "--help"], "--parity"), (["diode", "send", "--help"], "--repeat")):
        text = CliRunner().invoke(cli, args, terminal_width=200).output
        line = next(line for line in text.splitlines() if line.strip().startswith(option))
        assert "None" not in text and "[default: 0]" in text, text
        assert option in line
    bounded = CliRunner().invoke(cli, ["retention", "set", "--help"], terminal_width=200).output
    assert "x>=1" in bounded or "1<=x" in bounded  # a real range is still shown
