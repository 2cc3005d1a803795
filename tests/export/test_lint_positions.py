"""Lint places a template's problem at its token in the release file's own text.

A TOML string's value and its text differ: escapes (``\\"``, ``\\u00e9``, ``\\t``) are several
characters of the file for one of the value, a backslash ending a line of a multi-line basic
string drops the line break and the blanks after it, and tomllib reads a CRLF of a multi-line
string as LF. Each test writes such a value with a broken reference after the difference and
checks the finding's line and column against where the token is in the file, found by searching
the file's lines (not by the code under test).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from bundlekit.export.lint import lint_release
from bundlekit.export.toml_strings import value_offsets

HEAD = '[project]\nname = "P"\nspace = "Default"\n\n[release]\nversion = "1.0.0"\n\n'
STEP = '[[steps]]\nname = "S"\ntype = "script"\nsyntax = "bash"\nroles = ["web"]\n'


def _where(text: str, needle: str) -> tuple[int, int]:
    """1-based line and column of ``needle`` in ``text`` (lines split on LF, a CR kept at the end)."""
    for n, line in enumerate(text.split("\n"), 1):
        if needle in line:
            return n, line.index(needle) + 1
    raise AssertionError(needle)


def _lint(tmp_path: Path, text: str, newline: str = "\n") -> list[tuple[str, str | None, int | None, int | None]]:
    path = tmp_path / "release.toml"
    path.write_bytes(text.replace("\n", newline).encode())
    tomllib.loads(path.read_text())  # the test's own release file is valid TOML
    return [(f.code, f.path, f.line, f.column) for f in lint_release(path).findings]


def test_an_escaped_quote_accent_and_tab_before_a_reference_leave_its_column_where_the_file_has_it(
        tmp_path: Path) -> None:
    text = HEAD + STEP + 'script = "echo \\"\\u00e9\\t\\" #{Nope}"\n'
    assert _lint(tmp_path, text) == [("undefined_variable", "steps[0].script", *_where(text, "Nope}"))]


def test_a_long_unicode_escape_counts_as_one_character_of_the_value_and_ten_of_the_file(tmp_path: Path) -> None:
    text = HEAD + '[[variables]]\nname = "A"\nvalue = "\\U0001F600 #{Nope}"\n'
    assert _lint(tmp_path, text) == [("undefined_variable", "variables[0].value", *_where(text, "Nope}"))]


def test_a_line_continuation_backslash_keeps_the_reference_on_its_own_line_of_the_file(tmp_path: Path) -> None:
    text = HEAD + '[[variables]]\nname = "A"\nvalue = """\\\n   first \\\n\n      #{Nope}"""\n'
    assert tomllib.loads(text)["variables"][0]["value"] == "first #{Nope}"
    assert _lint(tmp_path, text) == [("undefined_variable", "variables[0].value", *_where(text, "Nope}"))]


def test_a_multi_line_script_in_a_crlf_file_is_placed_on_the_reference_line(tmp_path: Path) -> None:
    for quotes in ('"""', "'''"):
        text = HEAD + STEP + f"script = {quotes}\necho one\necho two #{{Nope}}\n{quotes}\n"
        crlf = text.replace("\n", "\r\n")
        assert _lint(tmp_path, text, "\r\n") == [("undefined_variable", "steps[0].script", *_where(crlf, "Nope}"))]


def test_a_parse_failure_after_escapes_is_placed_at_its_token(tmp_path: Path) -> None:
    text = HEAD + STEP + 'script = "printf \\"%s\\\\n\\" #{}"\n'
    [(code, path, line, column)] = _lint(tmp_path, text)
    assert (code, path) == ("template_syntax", "steps[0].script")
    assert (line, column) == _where(text, "#{}")


def test_a_role_in_a_list_is_found_as_a_whole_string_not_inside_an_earlier_one(tmp_path: Path) -> None:
    text = 'x = ["ab", "a\\u0062c", "a"]\n'
    offsets = value_offsets(text, 0, "a")
    assert offsets is not None and offsets[0] == text.index('"a"]') + 1
    assert value_offsets(text, 0, "abc") == tuple([text.index("a\\u") + k for k in (0, 1)] +
                                                  [text.index("\\u0062") + 6, text.index('", "a"]')])


def test_quotes_just_before_a_closing_triple_quote_are_part_of_the_value(tmp_path: Path) -> None:
    text = 'x = """say ""hi"""""\n'
    value = tomllib.loads(text)["x"]
    assert value == 'say ""hi""'
    offsets = value_offsets(text, 0, value)
    assert offsets is not None and [text[o] for o in offsets] == list(value) + ['"']
    assert offsets[-1] == len(text) - 4


def test_a_string_that_does_not_read_as_the_value_gives_no_position(tmp_path: Path) -> None:
    assert value_offsets('x = "a\\tb"\n', 0, "a\\tb") is None
