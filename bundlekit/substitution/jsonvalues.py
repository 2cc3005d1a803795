"""Variables whose value is a JSON object or array: parse, walk a path, render a leaf.

``#{Config.Db.Port}`` and ``#{Servers[0].Name}`` reach inside a variable whose value is
JSON. Rendering follows Octostache: strings as they are, numbers as written, ``true`` /
``false`` as ``True`` / ``False``, ``null`` as empty, objects and arrays as compact JSON.
JSON is read as Octostache reads it (Json.NET): RFC 8259 plus the lax forms Octopus users
write, namely property names without quotes, single-quoted strings, ``//`` and ``/* */``
comments and a trailing comma. Only objects and arrays count; anything else is plain text.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable, Sequence

__all__ = [
    "JsonNumber", "ABSENT", "UNRESOLVED", "parse_container", "has_templated_keys", "member", "walk", "to_text",
    "MAX_JSON_DEPTH",
]

MAX_JSON_DEPTH = 64  # deeper documents are treated as plain text, never a RecursionError


class JsonNumber(str):
    """A JSON number, kept exactly as written (``15.21`` stays ``15.21``)."""

    __slots__ = ()


class _Absent:
    __slots__ = ()

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()


class _Unresolved:
    __slots__ = ()

    def __repr__(self) -> str:
        return "UNRESOLVED"


#: What :func:`walk` returns for a path that cannot be followed (the token stays unresolved).
UNRESOLVED: Any = _Unresolved()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _depth_ok(data: Any) -> bool:
    stack = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return False
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
    return True


def parse_container(text: str) -> dict[str, Any] | list[Any] | None:
    """The JSON object or array in ``text`` (strict or Json.NET's lax forms), or None."""
    stripped = text.strip()
    if not stripped or stripped[0] not in "[{":
        return None
    try:
        data = json.loads(stripped, parse_int=JsonNumber, parse_float=JsonNumber, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        try:
            data = _Lax(stripped).document()
        except ValueError:
            return None
    if not isinstance(data, (dict, list)) or not _depth_ok(data):
        return None
    return data


_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")
_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


class _Lax:
    """A reader for Json.NET's lax JSON; raises ValueError for anything else."""

    def __init__(self, text: str) -> None:
        self.s, self.i = text, 0

    def document(self) -> Any:
        value = self.value(1)
        self.ws()
        if self.i != len(self.s):
            raise ValueError("text after the JSON value")
        return value

    def ws(self) -> None:
        s = self.s
        while self.i < len(s):
            if s[self.i].isspace():
                self.i += 1
            elif s.startswith("//", self.i):
                end = s.find("\n", self.i)
                self.i = len(s) if end < 0 else end + 1
            elif s.startswith("/*", self.i):
                end = s.find("*/", self.i + 2)
                if end < 0:
                    raise ValueError("unterminated comment")
                self.i = end + 2
            else:
                return

    def value(self, depth: int) -> Any:
        if depth > MAX_JSON_DEPTH:
            raise ValueError("nested too deeply")
        self.ws()
        c = self.s[self.i : self.i + 1]
        if c == "{":
            return self.members(depth)
        if c == "[":
            return self.elements(depth)
        if c in ("\"", "'"):
            return self.string()
        for word, meaning in (("true", True), ("false", False), ("null", None)):
            if self.s.startswith(word, self.i) and not self.s[self.i + len(word) : self.i + len(word) + 1].isalnum():
                self.i += len(word)
                return meaning
        m = _NUMBER.match(self.s, self.i)
        if m is None or self.s[m.end() : m.end() + 1].isalnum():
            raise ValueError("not a JSON value")
        self.i = m.end()
        return JsonNumber(m.group(0))

    def members(self, depth: int) -> dict[str, Any]:
        self.i += 1
        out: dict[str, Any] = {}
        while True:
            self.ws()
            if self.s[self.i : self.i + 1] == "}":
                self.i += 1
                return out
            if self.s[self.i : self.i + 1] in ("\"", "'"):
                key = self.string()
            else:
                start = self.i
                while self.i < len(self.s) and (self.s[self.i].isalnum() or self.s[self.i] in "_$"):
                    self.i += 1
                if self.i == start:
                    raise ValueError("expected a property name")
                key = self.s[start : self.i]
            self.ws()
            if self.s[self.i : self.i + 1] != ":":
                raise ValueError("expected ':'")
            self.i += 1
            out[key] = self.value(depth + 1)
            self.ws()
            c = self.s[self.i : self.i + 1]
            self.i += 1
            if c == "}":
                return out
            if c != ",":
                raise ValueError("expected ',' or '}'")

    def elements(self, depth: int) -> list[Any]:
        self.i += 1
        out: list[Any] = []
        while True:
            self.ws()
            if self.s[self.i : self.i + 1] == "]":
                self.i += 1
                return out
            out.append(self.value(depth + 1))
            self.ws()
            c = self.s[self.i : self.i + 1]
            self.i += 1
            if c == "]":
                return out
            if c != ",":
                raise ValueError("expected ',' or ']'")

    def string(self) -> str:
        quote, s = self.s[self.i], self.s
        self.i += 1
        out: list[str] = []
        while True:
            if self.i >= len(s):
                raise ValueError("unterminated string")
            c = s[self.i]
            if c == quote:
                self.i += 1
                return "".join(out)
            if c == "\\":
                e = s[self.i + 1 : self.i + 2]
                if e == "u" and re.fullmatch(r"[0-9A-Fa-f]{4}", s[self.i + 2 : self.i + 6]):
                    out.append(chr(int(s[self.i + 2 : self.i + 6], 16)))
                    self.i += 6
                    continue
                if e not in _ESCAPES:
                    raise ValueError("invalid escape")
                out.append(_ESCAPES[e])
                self.i += 2
                continue
            if c < " ":
                raise ValueError("control character in a string")
            out.append(c)
            self.i += 1


def has_templated_keys(data: Any) -> bool:
    """True if any object key contains '#': such JSON must be evaluated before it is read."""
    stack = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if any("#" in key for key in node):
                return True
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


def member(node: Any, name: str) -> Any:
    """One step down: an object member (exact name first, then any case) or an array element;
    ABSENT when there is no such member or element."""
    if isinstance(node, dict):
        if name in node:
            return node[name]
        folded = name.casefold()
        for key, value in node.items():
            if key.casefold() == folded:
                return value
        return ABSENT
    if isinstance(node, list):
        if name.isdigit() and int(name) < len(node):
            return node[int(name)]
        return ABSENT
    return ABSENT


def walk(node: Any, steps: Sequence[str], read: Callable[[str, int], str] | None = None) -> Any:
    """The node at ``steps`` below ``node``; ABSENT when the last step names a member or element
    that is not there (rendered empty); UNRESOLVED when the path cannot be followed, as
    Octostache does: a missing or null member with steps still to go, a scalar stepped into, a
    string that is not JSON, an array stepped into with a name that is not an index. A string
    met with steps still to go is read as JSON in turn (``{"inner": "{\\"a\\": 1}"}`` has
    ``inner.a``); ``read(text, depth)`` gives its text first (the engine evaluates it there when
    the JSON was parsed as written), ``depth`` being how many steps led to it."""
    for depth, step in enumerate(steps):
        if isinstance(node, str) and not isinstance(node, JsonNumber):
            node = parse_container(read(node, depth) if read is not None else node)
        if not isinstance(node, (dict, list)) or (isinstance(node, list) and not step.isdigit()):
            return UNRESOLVED
        node = member(node, step)
    return node


def to_text(node: Any) -> str:
    if node is None:
        return ""
    if node is True:
        return "True"
    if node is False:
        return "False"
    if isinstance(node, str):
        return str(node)
    return _compact(node)


def _compact(node: Any) -> str:
    if isinstance(node, JsonNumber):
        return str(node)
    if isinstance(node, dict):
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + _compact(v) for k, v in node.items()) + "}"
    if isinstance(node, list):
        return "[" + ",".join(_compact(v) for v in node) + "]"
    return json.dumps(node, ensure_ascii=False)
