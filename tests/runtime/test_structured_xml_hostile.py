"""XML structured configuration given hostile files and values: every outcome is well-formed
XML or a coded refusal, never a traceback, and the work stays linear in the file's size."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from lxml import etree

from bundlekit.runtime.files import apply_structured_file
from bundlekit.runtime.structured import ConfigParseError
from bundlekit.runtime.structured.xmlfile import _adjacent_cost, apply_xml
from tests.conftest import raises_code


@pytest.mark.parametrize(("text", "line", "column"), [
    ('  <?xml version="1.0" encoding="UTF-8"?><r><a>t</a></r>', 1, 3),
    ('\n\t<?xml version="1.0"?>\n<r><a>t</a></r>', 2, 2),
])
def test_an_xml_declaration_after_leading_whitespace_is_a_parse_error_naming_where(text: str, line: int,
                                                                                    column: int) -> None:
    with pytest.raises(ConfigParseError, match="must be the very first thing") as caught:
        apply_xml(text, {"/r/a": "z"})
    assert (caught.value.line, caught.value.column) == (line, column)


def test_on_a_target_a_late_xml_declaration_is_refused_with_a_code_and_the_file_left_as_it_was(
        tmp_path: Path) -> None:
    config = tmp_path / "web.config"
    config.write_bytes(b'  <?xml version="1.0" encoding="UTF-8"?><r><a>t</a></r>')
    before = hashlib.sha256(config.read_bytes()).hexdigest()
    with raises_code("invalid_structured_config") as refused:
        apply_structured_file(config, "xml", {"/r/a": "z"})
    assert "web.config" in str(refused.value) and "very first thing" in str(refused.value)
    assert hashlib.sha256(config.read_bytes()).hexdigest() == before


def test_leading_whitespace_without_a_declaration_is_still_edited() -> None:
    edit = apply_xml("\n  <r><a>t</a></r>", {"/r/a": "z"})
    assert edit.text == "\n  <r><a>z</a></r>"


@pytest.mark.parametrize(("value", "written"), [
    ("a-", "a- "), ("x---y", "x- - -y"), ("--", "- - "), ("-", "- "), ("-a", "-a"), ("a--b", "a- -b"),
])
def test_a_replaced_comment_is_always_a_well_formed_comment(value: str, written: str) -> None:
    edit = apply_xml("<r><!--old--><a/></r>", {"/r/comment()": value})
    assert edit.text == f"<r><!--{written}--><a/></r>"
    parsed = etree.fromstring(edit.text)  # raises on a malformed comment
    assert parsed[0].text == written


@pytest.mark.parametrize("value", ["a\x01b", "\x00", "tab\tok\x1b[31m", "\ufffe", "\ud800"])
@pytest.mark.parametrize("xpath", ["/r/comment()", "/r/a/@x", "/r/a", "/r/processing-instruction('p')", "/r/b"])
def test_a_value_with_a_character_xml_cannot_hold_keeps_the_node_and_says_which_character(value: str,
                                                                                          xpath: str) -> None:
    text = '<r><!--c--><?p d?><a x="1">t</a><b><![CDATA[c]]></b></r>'
    edit = apply_xml(text, {xpath: value, "/r/a/@x": "2"} if xpath != "/r/a/@x" else {xpath: value})
    assert edit.text is None or etree.fromstring(edit.text) is not None
    assert (edit.text or text).count("\x01") == 0 and "\x00" not in (edit.text or text)
    bad = next(c for c in value if c not in "\tabok[31mt")
    assert any(w.startswith(f"{xpath}: ") and f"U+{ord(bad):04X}" in w for w in edit.warnings)
    assert xpath not in dict(edit.replaced)


def test_a_long_run_of_adjacent_comments_is_refused_before_any_xpath_is_evaluated(tmp_path: Path) -> None:
    text = "<r>" + "<!--c-->" * 20000 + "</r>"  # libxml2 orders these in about 20000 * 20000 steps
    assert _adjacent_cost(etree.fromstring(text).getroottree()) == (20000 * 20000, 20000)
    with pytest.raises(ConfigParseError, match="up to 20000 comments, processing instructions and texts"):
        apply_xml(text, {"/r/comment()": "1"})
    config = tmp_path / "app.config"
    config.write_text(text)
    with raises_code("invalid_structured_config"):
        apply_structured_file(config, "xml", {"/r/comment()": "1"})
    assert config.read_text() == text
    assert apply_xml(text, {"NotAnXPath": "1"}).text is None  # only an XPath makes the order matter


def test_as_many_comments_between_elements_are_all_replaced() -> None:
    text = "<r>\n" + "<!--c-->\n<a/>\n" * 20000 + "</r>"
    assert _adjacent_cost(etree.fromstring(text).getroottree())[1] == 3  # text, comment, text
    edit = apply_xml(text, {"/r/comment()": "1"})
    assert edit.text is not None and edit.text.count("<!--1-->") == 20000 and "<!--c-->" not in edit.text


def test_runs_count_texts_comments_and_instructions_and_end_at_each_element() -> None:
    tree = etree.fromstring("<r>t<!--a--><?p x?>u<e>v</e>w<!--b--></r>").getroottree()
    # the root: t, a, p, u (4), then w, b (2); e: v (1)
    assert _adjacent_cost(tree) == (16 + 4 + 1, 4)


def test_a_prefix_declared_again_on_many_elements_warns_once_and_means_its_first_namespace() -> None:
    declared = "".join(f'<e xmlns:p="urn:n{i}" p:x="{i}"/>' for i in range(500))
    text = f'<r xmlns:p="urn:first"><f p:x="0"/>{declared}</r>'
    edit = apply_xml(text, {"//@p:x": "9"})
    assert edit.text is not None
    assert edit.text.startswith('<r xmlns:p="urn:first"><f p:x="9"/><e xmlns:p="urn:n0" p:x="0"/>')
    assert [w for w in edit.warnings if "'p:'" in w] == [
        "the prefix 'p:' is declared for urn:first and again for urn:n0; an XPath's 'p:' means urn:first: "
        "give each namespace its own prefix"]
