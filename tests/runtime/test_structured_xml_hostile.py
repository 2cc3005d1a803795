"""XML structured configuration given hostile files and values: every outcome is well-formed
XML or a coded refusal, never a traceback, and the work stays linear in the file's size."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from lxml import etree

from bundlekit.runtime.files import apply_structured_file
from bundlekit.runtime.structured import ConfigParseError
from bundlekit.runtime.structured.xmlfile import apply_xml
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
