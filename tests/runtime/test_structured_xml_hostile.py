"""XML structured configuration given hostile files and values: every outcome is well-formed
XML or a coded refusal, never a traceback, and the work stays linear in the file's size."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

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
