"""The one sanitizer for untrusted text, for terminals, HTML and JSON alike, and the one mask.

Text that came from outside (release notes, names and logs from a bundle or a receipt,
script output) must never steer what shows it: an escape sequence can rewrite an operator's
terminal, retitle the window or hide a line; a bidirectional-text control can make
``txt.exe`` read as ``exe.txt``; a ``<`` can open a tag in a page. Such characters are not
dropped or replaced: they are *shown escaped*, so an operator sees that they were there
(``docs/decisions/121-untrusted-text-shown-escaped.md``).

Unsafe characters: C0 controls (tab and line feed are kept only in multi-line text), DEL, C1
controls, bidirectional-text controls, the line and paragraph separators U+2028/U+2029 and
lone surrogates. Each is written as ``\\xNN`` (below U+0100) or ``\\uNNNN``. ESC is one of them,
so every ANSI CSI or OSC sequence shows as ``\\x1b[31m`` or ``\\x1b]0;title\\x07``. Backslashes
are left alone, so the escaped form is for people, not a reversible encoding; machine output
(JSON) stays exact instead, with the same characters escaped the JSON way.
"""

from __future__ import annotations

import difflib
import html
import json
import re
import shlex
import unicodedata
from typing import Any, Iterable

__all__ = ["MASK", "terminal_text", "html_text", "json_text", "dumps", "is_clean", "closest", "size_text",
           "shell_word", "char_cells", "cell_width", "pad_cells", "fit_cells"]

#: What every sensitive value (and any value derived from one) is shown as.
MASK = "********"

# C0 but TAB and LF, DEL, C1, bidi controls, LS/PS, lone surrogates.
_UNSAFE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029"
                          "\ud800-\udfff]")
_UNSAFE_MULTILINE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
                               "\u2028\u2029\ud800-\udfff]")
# In JSON the same characters, plus those that matter when JSON is embedded in HTML.
_JSON_ESCAPE = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\ud800-\udfff<>&]")


def _shown(match: "re.Match[str]") -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_text(text: str, *, multiline: bool = False) -> str:
    """``text`` with every unsafe character shown escaped, safe to print on a terminal.

    One line by default: a line feed shows as ``\\x0a`` too, so text cannot forge a line of
    output. ``multiline`` keeps line feeds and tabs (for logs) and makes CR LF and a lone CR
    line breaks (a lone CR would otherwise overwrite the line it ends; progress output uses
    it to redraw, and every state it drew is then shown).
    """
    if not isinstance(text, str):
        text = str(text)
    if multiline:
        return _UNSAFE_MULTILINE.sub(_shown, text.replace("\r\n", "\n").replace("\r", "\n"))
    return _UNSAFE_LINE.sub(_shown, text)


def html_text(text: str, *, multiline: bool = True) -> str:
    """``text`` safe inside an HTML element or a quoted attribute: unsafe characters shown
    escaped as on a terminal, then ``& < > " '`` as character references."""
    return html.escape(terminal_text(text, multiline=multiline), quote=True)


def _json_escape(match: "re.Match[str]") -> str:
    return f"\\u{ord(match.group()):04x}"


def dumps(obj: Any, *, indent: int | None = None, sort_keys: bool = False) -> str:
    """JSON for ``obj`` that is exact (it decodes to ``obj``) yet safe to print or embed.

    Non-ASCII text stays readable, but every unsafe character (as for terminals), and ``<``,
    ``>`` and ``&`` (so the JSON can sit inside an HTML ``<script>`` or be sniffed as HTML
    without opening a tag), is written as a ``\\uNNNN`` escape.
    """
    raw = json.dumps(obj, indent=indent, sort_keys=sort_keys, ensure_ascii=False)
    # Outside strings json.dumps writes only ASCII punctuation, digits, letters and spaces,
    # none of them in _JSON_ESCAPE, so escaping the whole document only touches strings.
    return _JSON_ESCAPE.sub(_json_escape, raw)


def json_text(text: str) -> str:
    """A JSON string literal for ``text`` (with its quotes), escaped as :func:`dumps` does."""
    return dumps(text)


def is_clean(text: str, *, multiline: bool = False) -> bool:
    """Whether ``text`` has nothing :func:`terminal_text` would escape."""
    pattern = _UNSAFE_MULTILINE if multiline else _UNSAFE_LINE
    return pattern.search(text) is None


def closest(value: str, known: Iterable[str], *, n: int = 3, cutoff: float = 0.6) -> list[str]:
    """The up to ``n`` names in ``known`` closest to ``value`` (case-insensitively, by
    :func:`difflib.get_close_matches`), in ``known``'s spelling, best first: "did you mean"."""
    spelled: dict[str, str] = {}
    for k in known:
        spelled.setdefault(k.casefold(), k)
    return [spelled[c] for c in difflib.get_close_matches(value.casefold(), list(spelled), n=n, cutoff=cutoff)]


def size_text(n: int) -> str:
    """``2.0 GiB``, ``512 KiB``, ``17 bytes``: sizes as people read them, in powers of 1024 (``--json``
    keeps bytes)."""
    value = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def shell_word(text: str) -> str:
    """``text`` as one word for a POSIX shell (``shlex.quote``): every copy-paste command a hint
    prints quotes the names and paths it embeds with this, so a name holding ``$(...)``, quotes or
    spaces reaches the command as it was typed, and runs nothing (finding selfatk 4)."""
    return shlex.quote(text)


def char_cells(ch: str) -> int:
    """How many terminal cells the character ``ch`` takes: wide and full-width ones (East Asian
    width W or F, most emoji) two, combining marks and zero-width format characters none, others one."""
    if unicodedata.combining(ch) or unicodedata.category(ch) in ("Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def cell_width(text: str) -> int:
    """How many terminal cells ``text`` takes (:func:`char_cells` of each character)."""
    if text.isascii():  # most names: one cell a character, no lookups
        return len(text)
    return sum(char_cells(ch) for ch in text)


def pad_cells(text: str, width: int) -> str:
    """``text`` padded with spaces to ``width`` terminal cells (:func:`cell_width`), for a column of
    names people chose (``f"{name:<24}"`` counts characters, and wide ones shift the columns)."""
    return text + " " * max(0, width - cell_width(text))


def fit_cells(text: str, width: int, ellipsis: str = "…") -> str:
    """``text`` padded to ``width`` terminal cells, or cut to them ending in ``ellipsis``."""
    if cell_width(text) <= width:
        return pad_cells(text, width)
    out, used = [], 0
    for ch in text:
        w = char_cells(ch)
        if used + w > width - cell_width(ellipsis):
            break
        out.append(ch)
        used += w
    return pad_cells("".join(out) + ellipsis, width)
