"""Structured configuration variables for Java ``.properties`` files.

A variable whose name is a key of the file (compared case-insensitively, after the file's
escapes are read) replaces that key's value; ``Octopus.*`` names never do. The grammar is
``java.util.Properties``: ``#`` and ``!`` comments, ``=``, ``:`` or whitespace between key
and value, a trailing backslash continuing a logical line, and ``\\t \\n \\r \\f \\uXXXX``
escapes. Only the replaced logical lines change; comments, blank lines, order, spacing and
line endings stay exactly as written. A new value is escaped as ``Properties.store(OutputStream,
String)`` writes an element (the rules of its Javadoc, java.util.Properties, checked against
OpenJDK 17's output by ``tests/deploy/test_properties_store.py``): ``\\t \\n \\r \\f``, a
backslash doubled, ``#``, ``!``, ``=`` and ``:`` after a backslash wherever they are, a space
after a backslash when it is the first character, and every character outside printable ASCII
(U+0020 to U+007E: ``é``, ``☃``, control characters, DEL) as ``\\uXXXX``, upper-case hex, one per
UTF-16 code unit. So Java reads it back whether it reads the file as ISO-8859-1
(``Properties.load(InputStream)``) or as UTF-8.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from bundlekit.runtime.structured.base import ConfigEdit, ConfigParseError, is_reserved

__all__ = ["apply_properties", "read_properties"]

_LINE = re.compile(r"[^\r\n]*(\r\n|\r|\n|$)")
_SIMPLE = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


def _continues(line: str) -> bool:
    trailing = len(line) - len(line.rstrip("\\"))
    return trailing % 2 == 1


def _unescape(raw: str, line_no: int, column: int = 1) -> str:
    """``raw`` with its escapes read; ``column``: where ``raw`` starts on line ``line_no`` (1-based)."""
    out, i = [], 0
    while i < len(raw):
        c = raw[i]
        if c != "\\" or i + 1 >= len(raw):
            out.append(c)
            i += 1
            continue
        e = raw[i + 1]
        if e == "u":
            digits = raw[i + 2 : i + 6]
            if not re.fullmatch(r"[0-9A-Fa-f]{4}", digits):
                raise ConfigParseError("properties", "malformed \\uXXXX escape", line_no, column + i)
            out.append(chr(int(digits, 16)))
            i += 6
            continue
        out.append(_SIMPLE.get(e, e))
        i += 2
    # Java's strings are UTF-16: \uD83D\uDE00 is one character, U+1F600, as store writes it.
    return "".join(out).encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


def _split(logical: str) -> tuple[str, str, str]:
    """(key as written, separator as written, value as written) of a logical line body."""
    i = 0
    while i < len(logical):
        c = logical[i]
        if c == "\\":
            i += 2
            continue
        if c in "=: \t\f":
            break
        i += 1
    key = logical[:i]
    j = i
    while j < len(logical) and logical[j] in " \t\f":
        j += 1
    if j < len(logical) and logical[j] in "=:":
        j += 1
        while j < len(logical) and logical[j] in " \t\f":
            j += 1
    return key, logical[i:j], logical[j:]


#: Characters ``Properties.store`` writes after a backslash in a key or an element.
_STORE_ESCAPED = "#!=:"


def _escape_value(value: str) -> str:
    """``value`` as ``Properties.store`` writes an element (see the module docstring)."""
    out = []
    for n, c in enumerate(value):
        if c == "\\" or c in _STORE_ESCAPED:
            out.append("\\" + c)
        elif c in "\t\n\r\f":
            out.append({"\t": "\\t", "\n": "\\n", "\r": "\\r", "\f": "\\f"}[c])
        elif c == " " and n == 0:
            out.append("\\ ")
        elif not " " <= c <= "~":
            out.extend(f"\\u{unit:04X}" for unit in _utf16_units(c))
        else:
            out.append(c)
    return "".join(out)


def _utf16_units(c: str) -> list[int]:
    raw = c.encode("utf-16-le")
    return [int.from_bytes(raw[i : i + 2], "little") for i in range(0, len(raw), 2)]


def _entries(text: str) -> list[tuple[int, int, str, str, str, str, int]]:
    """Each key-value logical line: (start, end without its line ending, indent, key, separator, ending, line)."""
    lines = [m.group(0) for m in _LINE.finditer(text) if m.group(0)]
    out: list[tuple[int, int, str, str, str, str, int]] = []
    pos = 0
    i = 0
    while i < len(lines):
        start, line_no = pos, i + 1
        body = lines[i].rstrip("\r\n")
        stripped = body.lstrip(" \t\f")
        if not stripped or stripped[0] in "#!":
            pos += len(lines[i])
            i += 1
            continue
        # One piece per physical line, joined once: a line continues when its own trailing
        # backslashes are odd (as Java's LineReader counts them), and joining piece by piece
        # made a long run of continuation lines quadratic.
        pieces = [stripped]
        while _continues(pieces[-1]) and i + 1 < len(lines):
            pieces[-1] = pieces[-1][:-1]
            pos += len(lines[i])
            i += 1
            pieces.append(lines[i].rstrip("\r\n").lstrip(" \t\f"))
        logical = "".join(pieces)
        ending = lines[i][len(lines[i].rstrip("\r\n")):]
        end = pos + len(lines[i]) - len(ending)
        pos += len(lines[i])
        i += 1
        key, separator, _ = _split(logical)
        out.append((start, end, body[: len(body) - len(stripped)], key, separator, ending, line_no))
    return out


def read_properties(text: str) -> dict[str, str]:
    """Every key -> value of the file, escapes read (the last of a repeated key wins, as in Java)."""
    values: dict[str, str] = {}
    for start, end, _indent, key, _separator, _ending, line_no in _entries(text):
        logical = text[start:end]
        joined = re.sub(r"\\\r?\n[ \t\f]*|\\\r[ \t\f]*", "", logical)
        stripped = joined.lstrip(" \t\f")
        raw_key, separator, raw_value = _split(stripped)
        indent = len(joined) - len(stripped)
        values[_unescape(raw_key, line_no, indent + 1)] = _unescape(raw_value, line_no,
                                                                     indent + len(raw_key) + len(separator) + 1)
    return values


def apply_properties(text: str, variables: Mapping[str, str]) -> ConfigEdit:
    """Replace the value of every key named by ``variables``; see the module docstring."""
    read_properties(text)  # the whole file must read as Java reads it, not only the keys we replace
    folded = {name.casefold(): (name, value) for name, value in variables.items() if not is_reserved(name)}
    out: list[str] = []
    last = 0
    replaced: list[tuple[str, str]] = []
    for start, end, indent, key, separator, _ending, line_no in _entries(text):
        logical_key = _unescape(key, line_no)
        found = folded.get(logical_key.casefold())
        if found is None:
            continue
        out.append(text[last:start])
        value = _escape_value(found[1])  # a leading '=' or ':' is escaped, so never read as a separator
        out.append(f"{indent}{key}{separator or '='}{value}")
        last = end
        replaced.append((found[0], logical_key))
    if not replaced:
        return ConfigEdit(None)
    out.append(text[last:])
    return ConfigEdit("".join(out), tuple(replaced))
