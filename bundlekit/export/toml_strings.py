"""Where each character of a TOML string value stands in the file's own text.

``tomllib`` gives a string's value, not where its characters are, and the two differ: an
escape (``\\"``, ``\\t``, ``\\u00e9``) is several characters of the file for one of the value, a
backslash at the end of a line in a multi-line basic string drops the line break and the
blanks after it, the line break right after an opening ``\"\"\"`` or ``'''`` is not part of the
value, and a multi-line string in a CRLF file reads each ``\\r\\n`` as one ``\\n`` (tomllib
normalises them). Lint reports a template's problems at the line and column of the token in
the file, so it maps each character of the value back to its offset here.

The rules are TOML 1.0's (https://toml.io/en/v1.0.0, "String"), the version ``tomllib``
reads. :func:`value_strings` reads the value written after a key (a string, or every string of
an array, nested arrays included); a token whose decoded text is not the value ``tomllib``
gave is never used (:func:`value_offsets` returns None), so a mistake here can only lose a
position, never give a wrong one.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["StringToken", "value_strings", "value_offsets"]

_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "\\": "\\"}
_HEX = {"u": 4, "U": 8}
_BLANK = " \t"


@dataclass(frozen=True, slots=True)
class StringToken:
    """One TOML string as written: ``start`` is the offset of its opening quote, ``value`` what
    TOML reads, ``offsets`` the offset in the text of each character of ``value`` (for an escape,
    its backslash; for a CRLF read as ``\\n``, the ``\\r``), then of the closing quote."""

    start: int
    value: str
    offsets: tuple[int, ...]


def _newline_at(text: str, i: int) -> int:
    """Length of the line break at ``i`` (1 or 2), 0 when there is none."""
    if text.startswith("\r\n", i):
        return 2
    return 1 if text.startswith("\n", i) else 0


def _string(text: str, start: int) -> tuple[StringToken | None, int]:
    """The string whose opening quote is at ``start``, and the offset just past it (None and the
    end of the text when it does not end, or has an escape TOML 1.0 does not have)."""
    quote = text[start]
    multi = text.startswith(quote * 3, start)
    i = start + (3 if multi else 1)
    if multi:
        i += _newline_at(text, i)
    chars: list[str] = []
    offsets: list[int] = []
    n = len(text)
    while i < n:
        c = text[i]
        if c == quote:
            if not multi:
                return StringToken(start, "".join(chars), tuple(offsets + [i])), i + 1
            run = 0
            while i + run < n and text[i + run] == quote:
                run += 1
            if run >= 3:
                for k in range(min(run - 3, 2)):  # up to two quotes just before the closing three
                    chars.append(quote)
                    offsets.append(i + k)
                close = i + min(run - 3, 2)
                return StringToken(start, "".join(chars), tuple(offsets + [close])), close + 3
            for k in range(run):
                chars.append(quote)
                offsets.append(i + k)
            i += run
            continue
        if c == "\\" and quote == '"':
            nxt = text[i + 1] if i + 1 < n else ""
            if multi and (nxt in _BLANK or _newline_at(text, i + 1)) and nxt:
                j = i + 1
                while j < n and text[j] in _BLANK:
                    j += 1
                if not _newline_at(text, j):
                    return None, n  # a backslash, blanks, then text: not TOML
                while j < n and (text[j] in _BLANK or _newline_at(text, j)):
                    j += _newline_at(text, j) or 1
                i = j
                continue
            if nxt in _ESCAPES:
                chars.append(_ESCAPES[nxt])
                offsets.append(i)
                i += 2
                continue
            if nxt in _HEX:
                digits = text[i + 2:i + 2 + _HEX[nxt]]
                try:
                    chars.append(chr(int(digits, 16)))
                except ValueError:
                    return None, n
                offsets.append(i)
                i += 2 + _HEX[nxt]
                continue
            return None, n
        width = _newline_at(text, i)
        if width:
            if not multi:
                return None, n
            chars.append("\n")  # tomllib reads CRLF in a multi-line string as LF
            offsets.append(i)
            i += width
            continue
        chars.append(c)
        offsets.append(i)
        i += 1
    return None, n


def _skip_key(text: str, i: int) -> int:
    """The offset of the ``=`` after the key that starts at ``i`` (its quotes skipped)."""
    n = len(text)
    while i < n and text[i] != "=":
        if text[i] in "\"'":
            token, i = _string(text, i)
            if token is None:
                return n
            continue
        if _newline_at(text, i):
            return n
        i += 1
    return i


def value_strings(text: str, key_at: int) -> list[StringToken]:
    """Every string of the value of the key written at ``key_at`` (``key = "..."``, or each
    string of ``key = ["...", [...]]`` in order); ``[]`` for any other value."""
    i = _skip_key(text, key_at) + 1
    n = len(text)
    while i < n and text[i] in _BLANK:
        i += 1
    if i >= n:
        return []
    if text[i] in "\"'":
        token, _ = _string(text, i)
        return [token] if token is not None else []
    if text[i] != "[":
        return []
    out: list[StringToken] = []
    depth = 0
    while i < n:
        c = text[i]
        if c in "\"'":
            token, i = _string(text, i)
            if token is None:
                break
            out.append(token)  # nested arrays' strings count; an inline table is skipped whole below
            continue
        if c == "#":
            while i < n and not _newline_at(text, i):
                i += 1
            continue
        if c == "[":
            depth += 1
        elif c == "]":
            depth -= 1
            if depth == 0:
                break
        elif c == "{":
            i = _skip_table(text, i)
            continue
        i += 1
    return out


def _skip_table(text: str, i: int) -> int:
    """The offset just past the inline table that opens at ``i``."""
    depth = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c in "\"'":
            token, i = _string(text, i)
            if token is None:
                return n
            continue
        if c in "{[":
            depth += 1
        elif c in "}]":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return n


def value_offsets(text: str, key_at: int | None, value: str) -> tuple[int, ...] | None:
    """The offsets of ``value``'s characters (then of its closing quote) in the string written
    after the key at ``key_at`` (the first such string of an array that reads as ``value``), or
    None when the key is not known or no string there reads as ``value``."""
    if key_at is None:
        return None
    for token in value_strings(text, key_at):
        if token.value == value:
            return token.offsets
    return None
