"""Hypothesis properties of the engine: plain text is untouched, escapes round-trip,
names are case-insensitive, and no input makes render() fail with anything but a
SubstitutionError (never a traceback)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bundlekit.substitution import SubstitutionError, VariableDictionary, references, render

from .cases import NOW

PLAIN = st.text(st.characters(blacklist_characters="#", blacklist_categories=["Cs"]), max_size=80)
# Text made mostly of the grammar's own characters, to reach odd corners of the parser.
GRAMMAR = st.text(st.sampled_from(list("#{}|[].\"\\ =!ifunlesach/ABxy01,\n")), max_size=60)
NAME = st.text(st.sampled_from(list("abcXYZ019 _-")), min_size=1, max_size=12).filter(lambda s: s.strip() != "")


@settings(max_examples=200, deadline=None)
@given(PLAIN)
def test_text_without_hash_renders_unchanged_in_both_modes(text: str) -> None:
    variables = VariableDictionary({"A": "x"})
    assert render(text, variables).text == text
    assert render(text, variables, allow_missing=False).text == text


@settings(max_examples=200, deadline=None)
@given(PLAIN)
def test_double_hash_escape_renders_a_literal_token(text: str) -> None:
    result = render("##{" + text, VariableDictionary(), allow_missing=False)
    assert result.text == "#{" + text and result.missing == ()


@settings(max_examples=200, deadline=None)
@given(NAME, PLAIN)
def test_names_are_case_insensitive(name: str, value: str) -> None:
    variables = VariableDictionary({name: value})
    assert variables.get_raw(name.swapcase()) == value
    assert render("#{" + name.swapcase() + "}", variables, allow_missing=False).text == value


@settings(max_examples=400, deadline=None)
@given(GRAMMAR, st.dictionaries(st.sampled_from(["A", "B", "x", "if", "L"]), GRAMMAR, max_size=4))
def test_any_input_gives_text_or_a_substitution_error(template: str, values: dict[str, str]) -> None:
    variables = VariableDictionary(values)
    try:
        result = render(template, variables, now=NOW)
    except SubstitutionError as exc:  # only a cycle can stop allow-missing mode
        assert exc.code in ("variable_cycle", "substitution_too_deep"), exc.code
    else:
        assert isinstance(result.text, str)
    try:
        render(template, variables, allow_missing=False, now=NOW)
    except SubstitutionError as exc:
        assert exc.code and exc.message
    references(template)
