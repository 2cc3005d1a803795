"""Reading a JSON configuration file as Json.NET reads it, with where every value is written.

Octopus reads ``appsettings.json`` with Json.NET, and ``spec/substitution.md`` section 9 promises
the same reading for JSON values: RFC 8259 plus ``//`` and ``/* */`` comments, a trailing comma
in an object or an array, property names without quotes and single-quoted strings
(``{Name: 'web', Port: 80,}``). Json.NET's other liberties (``NaN``, ``Infinity``, ``undefined``,
hexadecimal numbers, ``new Date(...)``) are refused, as they are in values, and so are a key
written twice in one object (which one would the application read?) and raw control characters
in a string (decision 576).

:func:`read_json` returns the document as Python data (objects as dicts in file order, numbers
as ``int`` or ``float``) and, for every value, the character span where it is written, so a
replacement can be spliced into the text and everything else (comments included) stays as
written. Errors carry a 1-based line and column counted in characters. Shipped to targets:
Python 3.8 or newer.
"""

from __future__ import annotations

import json
import re
from typing import Any, Dict, List, Tuple, Union

from bundlekit.runtime.structured.base import ConfigParseError

__all__ = ["read_json", "Spans", "MAX_DEPTH"]

#: Deeper documents are refused ("nested too deeply"), never a RecursionError.
MAX_DEPTH = 256

#: path (keys as written, array indexes as ints) -> (start, end) of the value's text.
Spans = Dict[Tuple[Union[str, int], ...], Tuple[int, int]]

_BLANK = re.compile(r"(?:[ \t\r\n]+|//[^\r\n]*|/\*[\s\S]*?\*/)*")
_BLANK_STARTS = frozenset(" \t\r\n/")
_NUMBER_STARTS = frozenset("-0123456789")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_DOUBLE = re.compile(r'"(?:[^"\\\x00-\x1f]+|\\(?:["\\/bfnrt]|u[0-9A-Fa-f]{4}))*"')
_SINGLE = re.compile(r"'(?:[^'\\\x00-\x1f]+|\\(?:['\"\\/bfnrt]|u[0-9A-Fa-f]{4}))*'")
_NAME = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_WORDS = {"true": True, "false": False, "null": None}


def _position(text: str, at: int) -> Tuple[int, int]:
    line = text.count("\n", 0, at) + 1
    return line, at - (text.rfind("\n", 0, at) + 1) + 1


class _Reader:
    def __init__(self, text: str) -> None:
        self.s, self.i = text, 0
        self.spans: Spans = {}

    def fail(self, reason: str, at: int | None = None) -> ConfigParseError:
        line, column = _position(self.s, self.i if at is None else at)
        return ConfigParseError("json", reason, line, column)

    def blank(self) -> None:
        if self.s[self.i:self.i + 1] not in _BLANK_STARTS:  # most tokens follow one another directly
            return
        match = _BLANK.match(self.s, self.i)
        assert match is not None  # the pattern matches the empty string
        self.i = match.end()
        if self.s.startswith("/*", self.i):
            raise self.fail("a '/*' comment that is never closed with '*/'")

    def document(self) -> Any:
        self.blank()
        if self.i >= len(self.s):
            raise self.fail("the file holds no JSON value")
        value = self.value((), 1)
        self.blank()
        if self.i < len(self.s):
            raise self.fail("text after the JSON value")
        return value

    def value(self, path: Tuple[Union[str, int], ...], depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise self.fail("nested too deeply")
        start, c = self.i, self.s[self.i:self.i + 1]
        if c == "{":
            value: Any = self.members(path, depth)
        elif c == "[":
            value = self.elements(path, depth)
        elif c in ("\"", "'"):
            value = self.string()
        else:
            value = self.scalar()
        self.spans[path] = (start, self.i)
        return value

    def scalar(self) -> Any:
        word = None if self.s[self.i:self.i + 1] in _NUMBER_STARTS else _NAME.match(self.s, self.i)
        if word is not None:
            if word.group(0) not in _WORDS:
                raise self.fail(f"{word.group(0)} is not valid JSON" if word.group(0) in ("NaN", "Infinity",
                                                                                        "undefined")
                                else f"unexpected {word.group(0)!r}: a text value is written in quotes")
            self.i = word.end()
            return _WORDS[word.group(0)]
        number = _NUMBER.match(self.s, self.i)
        if number is None or _NAME.match(self.s, number.end()) or self.s[number.end():number.end() + 1].isdigit():
            if self.s.startswith("-Infinity", self.i):
                raise self.fail("-Infinity is not valid JSON")
            shown = self.s[self.i:self.i + 1]
            raise self.fail(f"expected a value, found {shown!r}" if shown else "expected a value, found the end")
        self.i = number.end()
        written = number.group(0)
        return float(written) if any(c in written for c in ".eE") else int(written)

    def string(self) -> str:
        pattern = _DOUBLE if self.s[self.i] == "\"" else _SINGLE
        match = pattern.match(self.s, self.i)
        if match is None:
            raise self.fail(self._string_problem())
        self.i = match.end()
        body = match.group(0)[1:-1]
        if "\\" not in body:
            return body
        if pattern is _SINGLE:  # as a double-quoted string: \' is ', a bare " needs escaping
            body = re.sub(r"\\(.)|\"", lambda m: "\\\"" if m.group(0) == "\"" else
                          ("'" if m.group(1) == "'" else m.group(0)), body)
        return json.loads(f"\"{body}\"")  # type: ignore[no-any-return]

    def _string_problem(self) -> str:
        quote, j = self.s[self.i], self.i + 1
        while j < len(self.s):
            c = self.s[j]
            if c == quote:
                break
            if c == "\\":
                self.i = j
                return "an invalid escape in a string (\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX are valid)"
            if c < " ":
                self.i = j
                return "a control character (such as a line break) inside a string: write it as an escape"
            j += 1
        return "a string that is never closed"

    def key(self) -> str:
        c = self.s[self.i:self.i + 1]
        if c in ("\"", "'"):
            return self.string()
        name = _NAME.match(self.s, self.i)
        if name is None:
            raise self.fail(f"expected a property name, found {c!r}" if c else "expected a property name, "
                            "found the end")
        self.i = name.end()
        return name.group(0)

    def members(self, path: Tuple[Union[str, int], ...], depth: int) -> Dict[str, Any]:
        self.i += 1
        out: Dict[str, Any] = {}
        while True:
            self.blank()
            if self.s.startswith("}", self.i):
                self.i += 1
                return out
            at = self.i
            key = self.key()
            if key in out:
                raise self.fail(f"key {key!r} appears twice in the same object", at)
            self.blank()
            if not self.s.startswith(":", self.i):
                raise self.fail(f"expected ':' after the property name {key!r}")
            self.i += 1
            self.blank()
            out[key] = self.value(path + (key,), depth + 1)
            if not self.separator("}"):
                return out

    def elements(self, path: Tuple[Union[str, int], ...], depth: int) -> List[Any]:
        self.i += 1
        out: List[Any] = []
        while True:
            self.blank()
            if self.s.startswith("]", self.i):
                self.i += 1
                return out
            out.append(self.value(path + (len(out),), depth + 1))
            if not self.separator("]"):
                return out

    def separator(self, closer: str) -> bool:
        """After a member or element: True for ',' (more may follow), False for the closer."""
        self.blank()
        c = self.s[self.i:self.i + 1]
        if c == ",":
            self.i += 1
            return True
        if c == closer:
            self.i += 1
            return False
        raise self.fail(f"expected ',' or '{closer}', found {c!r}" if c else f"expected ',' or '{closer}', found "
                        "the end")


def read_json(text: str) -> Tuple[Any, Spans]:
    """``(document, spans)`` of ``text``; raises :class:`ConfigParseError` (``json``) with the
    line and column of the first problem. See the module docstring for what is accepted."""
    reader = _Reader(text)
    try:
        return reader.document(), reader.spans
    except RecursionError:  # a caller already deep in its own stack
        raise ConfigParseError("json", "nested too deeply") from None
