"""Structured configuration variables in JSON files: key paths, types, formatting, refusals.

Driven through a real local target, as a deploy applies them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bundlekit.runtime.files import apply_structured_file
from bundlekit.runtime.structured.jsonread import read_json
from tests.conftest import raises_code


def replace_json_values(path: Path, variables: dict[str, str]) -> list[str]:
    return apply_structured_file(path, "json", variables)[0]

APPSETTINGS = """{
  "ConnectionStrings": {
    "Default": "Server=dev;Database=app"
  },
  "Logging": {"Level": "Debug", "Verbose": true, "Retention": 7, "Ratio": 0.5},
  "Servers": [{"Name": "a", "Port": 80}, {"Name": "b", "Port": 81}],
  "Feature": null,
  "Nested": {"Keep": "me", "Deep": {"X": 1}}
}
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "appsettings.json"
    path.write_text(APPSETTINGS)
    return path


def test_key_paths_are_matched_case_insensitively_and_reported_as_spelled_in_the_file(config: Path) -> None:
    replaced = replace_json_values(config, {"connectionstrings:default": "Server=prod", "Unrelated": "x"})
    assert replaced == ["ConnectionStrings:Default"]
    assert json.loads(config.read_text())["ConnectionStrings"]["Default"] == "Server=prod"


def test_array_elements_are_addressed_by_index(config: Path) -> None:
    assert replace_json_values(config, {"Servers:1:Name": "web-02", "Servers:5:Name": "nope"}) == ["Servers:1:Name"]
    servers = json.loads(config.read_text())["Servers"]
    assert servers == [{"Name": "a", "Port": 80}, {"Name": "web-02", "Port": 81}]


def test_numbers_and_bools_keep_their_type_when_the_text_reads_as_one(config: Path) -> None:
    replace_json_values(config, {"Logging:Verbose": "False", "Logging:Retention": "30",
                                 "Logging:Ratio": "0.75", "Servers:0:Port": "8080"})
    data = json.loads(config.read_text())
    assert data["Logging"]["Verbose"] is False
    assert data["Logging"]["Retention"] == 30 and isinstance(data["Logging"]["Retention"], int)
    assert data["Logging"]["Ratio"] == 0.75
    assert data["Servers"][0]["Port"] == 8080


def test_text_that_does_not_read_as_the_old_type_becomes_a_string(config: Path) -> None:
    replace_json_values(config, {"Logging:Verbose": "sometimes", "Logging:Retention": "a week",
                                 "ConnectionStrings:Default": "42"})
    data = json.loads(config.read_text())
    assert data["Logging"]["Verbose"] == "sometimes"
    assert data["Logging"]["Retention"] == "a week"
    assert data["ConnectionStrings"]["Default"] == "42"  # a string stays a string


def test_a_variable_holding_json_replaces_a_whole_object_and_wins_over_children(config: Path) -> None:
    replaced = replace_json_values(config, {"Nested": '{"New": [1, 2]}', "Nested:Keep": "ignored",
                                            "Feature": "true"})
    data = json.loads(config.read_text())
    assert data["Nested"] == {"New": [1, 2]}
    assert data["Feature"] is True
    assert replaced == ["Feature", "Nested"]


def test_key_order_indent_and_final_newline_are_preserved(config: Path) -> None:
    replace_json_values(config, {"Logging:Level": "Warning"})
    text = config.read_text()
    assert list(json.loads(text)) == ["ConnectionStrings", "Logging", "Servers", "Feature", "Nested"]
    assert text.startswith('{\n  "ConnectionStrings": {\n    "Default"')
    assert text.endswith("}\n")


def test_compact_files_stay_as_written_and_unicode_stays_readable(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text('{"a":{"b":"x"},"c":1}')
    replace_json_values(path, {"a:b": "wört"})
    assert path.read_text() == '{"a":{"b":"wört"},"c":1}'


def test_byte_order_mark_and_file_mode_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + b'{"A": "1"}')
    os.chmod(path, 0o640)
    replace_json_values(path, {"A": "2"})
    assert path.read_bytes() == b'\xef\xbb\xbf{"A": "2"}'
    assert path.stat().st_mode & 0o777 == 0o640


def test_nothing_matching_leaves_the_file_byte_identical(config: Path) -> None:
    before = config.read_bytes()
    stat_before = config.stat()
    assert replace_json_values(config, {"Missing:Key": "x"}) == []
    assert config.read_bytes() == before and config.stat().st_mtime_ns == stat_before.st_mtime_ns


@pytest.mark.parametrize(
    "content, words",
    [
        (b'{"a": 1,,}', "not valid JSON at line 1, column 9: expected a property name"),
        (b'{"a": 1 /* never closed', "not valid JSON at line 1, column 9: a '/*' comment that is never closed"),
        (b'{"a": \'x\n\'}', "not valid JSON at line 1, column 9: a control character"),
        (b'{"a": 0x1F}', "not valid JSON at line 1, column 7"),
        (b'{"a": 1, "a": 2}', "appears twice"),
        (b'{"a": NaN}', "NaN is not valid JSON"),
        (b'\xff\xfe{"a": 1', "not text"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ],
)
def test_invalid_json_is_refused_naming_the_file_and_leaving_it_untouched(tmp_path: Path, content: bytes,
                                                                         words: str) -> None:
    path = tmp_path / "broken.json"
    path.write_bytes(content)
    with raises_code("invalid_structured_config") as caught:
        replace_json_values(path, {"a": "2"})
    assert str(path) in caught.value.message and words in caught.value.message
    assert path.read_bytes() == content
    assert [p.name for p in tmp_path.iterdir()] == ["broken.json"]


def test_a_top_level_key_is_replaced_keeping_its_type(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text('{"port": 80, "name": "web", "tls": false, "Octopus": 1}\n')
    assert replace_json_values(path, {"Port": "8443", "tls": "true", "Octopus.Environment.Name": "x"}) == \
        ["port", "tls"]
    assert path.read_text() == '{"port": 8443, "name": "web", "tls": true, "Octopus": 1}\n'


def test_utf16_file_with_bom_is_rewritten_in_utf16(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_bytes(b"\xff\xfe" + '{\r\n  "Db": "dev"\r\n}\r\n'.encode("utf-16-le"))
    assert replace_json_values(path, {"Db": "prod"}) == ["Db"]
    assert path.read_bytes() == b"\xff\xfe" + '{\r\n  "Db": "prod"\r\n}\r\n'.encode("utf-16-le")


JSON_NET = """{
  // connection to the database
  "ConnectionStrings": { "Default": "Server=dev" /* dev only */ },
  Logging: { 'Level': 'Debug', "Verbose": true, },
  "Servers": [ { "Port": 80 }, ],
}
"""


def test_json_net_comments_trailing_commas_unquoted_names_and_single_quotes_are_read(tmp_path: Path) -> None:
    path = tmp_path / "appsettings.json"
    path.write_text(JSON_NET)
    replaced = replace_json_values(path, {"ConnectionStrings:Default": "Server=prod", "Logging:Level": "Warning",
                                          "Logging:Verbose": "false", "Servers:0:Port": "8080"})
    assert replaced == ["ConnectionStrings:Default", "Logging:Level", "Logging:Verbose", "Servers:0:Port"]
    # Only the four values change: comments, spacing, quoting of names and trailing commas stay.
    assert path.read_text() == JSON_NET.replace('"Server=dev"', '"Server=prod"').replace("'Debug'", '"Warning"') \
        .replace("true", "false").replace("80 }", "8080 }")


def test_a_structure_replacing_a_value_is_indented_like_the_file_and_keeps_crlf(tmp_path: Path) -> None:
    path = tmp_path / "appsettings.json"
    path.write_bytes(b'{\r\n    "A": {\r\n        "B": 1\r\n    }, // keep\r\n    "C": 2\r\n}\r\n')
    replace_json_values(path, {"A": '{"X": [1, "y"]}', "C": "3.50"})
    assert path.read_bytes() == (b'{\r\n    "A": {\r\n        "X": [\r\n            1,\r\n'
                                 b'            "y"\r\n        ]\r\n    }, // keep\r\n    "C": 3.50\r\n}\r\n')


@pytest.mark.parametrize("text, line, column", [
    ('{\n  // a comment\n  "a": 1\n  "b": 2\n}\n', 4, 3),
    ("{\n  'a': 'x\\q'\n}", 2, 10),
    ("{\n  \"wört\": tru\n}", 2, 11),
    ('{"a": NaN}', 1, 7),
])
def test_a_parse_error_names_line_and_column_in_characters(tmp_path: Path, text: str, line: int,
                                                           column: int) -> None:
    path = tmp_path / "appsettings.json"
    path.write_text(text)
    with raises_code("invalid_structured_config") as caught:
        replace_json_values(path, {"a": "2"})
    assert f"at line {line}, column {column}:" in caught.value.message


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=20)


@settings(max_examples=200, deadline=None)
@given(value=_JSON, indent=st.sampled_from([None, 2, "\t"]), ascii_only=st.booleans())
def test_strict_json_reads_as_the_standard_library_reads_it_and_every_span_holds_its_value(
        value: object, indent: int | str | None, ascii_only: bool) -> None:
    text = json.dumps(value, indent=indent, ensure_ascii=ascii_only)
    data, spans = read_json(text)
    assert data == json.loads(text)
    for path, (start, end) in spans.items():
        expected = data
        for step in path:
            expected = expected[step]  # type: ignore[index]
        assert json.loads(text[start:end]) == expected
