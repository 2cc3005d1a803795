"""Where a token that does not parse is reported: the same line and column (1-based, counted in
characters) whether the template is rendered strictly (an error) or leniently (left as text),
and what a brace inside ``[...]`` is blamed for."""

from __future__ import annotations

import re

import pytest

from bundlekit.substitution import VariableDictionary, render
from tests.conftest import raises_code
from tests.substitution.cases import MALFORMED

# Characters that are more than one byte in UTF-8, a tab and a second line before the token.
PREFIX = "wört ☃\n\tünïcode 🙂 "


def strict_position(template: str, variables: dict[str, str]) -> tuple[int, int]:
    with raises_code("template_syntax") as caught:
        render(template, VariableDictionary(variables), allow_missing=False, lenient_syntax=False)
    details = caught.value.details
    assert isinstance(details, dict)
    assert f"line {details['line']}, column {details['column']}:" in caught.value.message
    return details["line"], details["column"]


def lenient_position(template: str, variables: dict[str, str]) -> tuple[int, int]:
    result = render(template, VariableDictionary(variables), allow_missing=True)
    assert result.skipped, template
    m = re.match(r"template, line (\d+), column (\d+): token left as text: ", result.skipped[0])
    assert m is not None, result.skipped[0]
    return int(m.group(1)), int(m.group(2))


@pytest.mark.parametrize("label, template, variables", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_strict_and_lenient_rendering_report_a_bad_token_at_the_same_line_and_column(
        label: str, template: str, variables: dict[str, str]) -> None:
    text = PREFIX + template
    strict = strict_position(text, variables)
    assert lenient_position(text, variables) == strict
    assert strict[0] >= 2  # counted after the first line


def test_columns_count_characters_not_bytes() -> None:
    # "\tünïcode 🙂 " is 11 characters (17 bytes in UTF-8); the '[' that never closes is 5 further on.
    assert strict_position(PREFIX + "#{Fo[o}", {}) == (2, 16)
    assert lenient_position(PREFIX + "#{Fo[o}", {}) == (2, 16)


@pytest.mark.parametrize("allow_missing", [False, True])
def test_a_brace_in_a_step_name_is_blamed_not_an_unterminated_bracket(allow_missing: bool) -> None:
    template = "build #{Octopus.Action[Deploy {web}].Output.Version}"
    if allow_missing:
        result = render(template, VariableDictionary({}), allow_missing=True)
        [message] = result.skipped
        assert result.text == template
    else:
        with raises_code("template_syntax") as caught:
            render(template, VariableDictionary({}), allow_missing=False)
        message = caught.value.message
    assert "unterminated" not in message
    assert "line 1, column 31" in message  # the '{' of the name
    assert "cannot contain braces" in message and "rename it without them" in message


def test_an_index_left_open_is_still_an_unterminated_bracket() -> None:
    with raises_code("template_syntax", match=r"column 5: unterminated '\[' \(missing '\]'\)"):
        render("#{Fo[o}", VariableDictionary({}), allow_missing=False)
