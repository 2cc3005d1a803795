"""Masking of sensitive values in deployment logs and output values.

This module owns one thing: turning text (or bytes) that may contain secrets into text
that does not. Every log line a step produces passes through a :class:`Masker` before it
is stored, printed or put in a receipt, and the zone checks every output value with it.

Rules (see ``docs/decisions/040-log-masking.md`` and ``550-secrets-masked-in-their-encodings.md``):

* Only values of at least :data:`MIN_SECRET_LENGTH` (4) characters are masked, like
  Octopus: masking ``"1"`` or ``"yes"`` would shred every log and protect nothing.
* Each line of a multi-line secret (a PEM key, a certificate) is also a secret on its own,
  because logs are masked line by line and the whole value never appears on one line.
* A secret is also masked in the encodings a script most often makes of it
  (:func:`secret_forms`): base64 and base64url (padded or not, at each of the three alignments
  it can have inside a longer encoding, wrapped at 64 and 76 columns), hex in lower and upper
  case, URL-encoding and JSON string escaping. A script that transforms it its own way is not
  caught: the README states that limit.
* Every region covered by any secret is replaced, even when secrets overlap at different
  offsets, so no part of a longer secret survives because a shorter one matched first.
* An encoding a tool wraps (coreutils ``base64`` at 76 columns, ``xxd -p`` at 60) may split a
  secret's encoding inside a longer text at any point: runs of base64 (and hex) characters that go
  on across line breaks are joined and searched as one, and what matches is masked on each line
  it covers (:func:`_wrapped_spans`); :class:`LineMasker` holds such lines back while a log streams.
* Key material (:func:`encoded_forms`) is masked in the same encodings, but only in pieces of at
  least :data:`MIN_ENCODED_PIECE` characters (decision 380).
"""

from __future__ import annotations

import base64
import json
import re
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from typing import Any, AnyStr, Dict, List, Tuple

from bundlekit.core.text import MASK  # what a masked region becomes (the same string Octopus prints)

__all__ = ["LineMasker", "Masker", "MIN_SECRET_LENGTH", "encoded_forms", "secret_forms"]

#: Values shorter than this are not masked (too common to be secret, would shred logs).
MIN_SECRET_LENGTH = 4
#: The shortest piece of an encoding that :func:`encoded_forms` masks on its own (a base64 core
#: at another alignment, one line of a wrapped encoding): 12 bytes of key material.
MIN_ENCODED_PIECE = 16
#: Where ``base64`` (coreutils) and PEM writers wrap an encoding.
_WRAP = (64, 76)
_PERCENT = re.compile(r"%[0-9A-F]{2}")
#: The characters of base64 and base64url text (padding included); hex is a subset.
_B64_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_="
_B64_SET = frozenset(_B64_CHARS)
#: A line whose last :data:`MIN_WRAPPED_LINE` characters are base64 characters, followed by a line
#: that begins with one: where a wrapped encoding may go on. Every tool wraps at a wider column.
MIN_WRAPPED_LINE = 16
# Starts with the line break, so the search skips to each one (a literal prefix) before it looks back.
_WRAP_BREAK = re.compile(r"\n(?:(?<=[A-Za-z0-9+/=_-]{%d}\n)|(?<=[A-Za-z0-9+/=_-]{%d}\r\n))(?=[A-Za-z0-9+/=_-])"
                         % (MIN_WRAPPED_LINE, MIN_WRAPPED_LINE))
_RUN = re.compile(r"[A-Za-z0-9+/=_-]*")


def _b64_cores(value: bytes, encode: Callable[[bytes], bytes], shortest: int) -> set[str]:
    """The base64 text of ``value`` wherever it starts in a longer byte string: the whole encoding
    (padded and not), at each of the three alignments the characters whose six bits all come from
    ``value`` (the one or two characters it shares with the bytes around it differ with them), and
    the lines of the whole encoding wrapped where ``base64`` and PEM writers wrap it. Pieces shorter
    than ``shortest`` characters are left out, except the whole encoding."""
    whole = encode(value).decode("ascii")
    cores = {whole, whole.rstrip("=")}
    bits = 8 * len(value)
    for shift in range(3):
        text = encode(b"\0" * shift + value + b"\0\0").decode("ascii")
        first = -(-8 * shift // 6)  # the first character starting at or after the value's first bit
        last = (8 * shift + bits) // 6  # characters before this one end at or before its last bit
        cores.add(text[first:last])
    for width in _WRAP:
        if len(whole) > width:
            cores |= {whole[i:i + width] for i in range(0, len(whole), width)}
    return {c for c in cores if len(c) >= shortest or (c and c in (whole, whole.rstrip("=")))}


def _text_forms(text: str) -> set[str]:
    """URL-encodings (``quote`` and ``quote_plus``, with ``/`` escaped or kept, escapes in upper and
    lower case) and JSON string escapings (ASCII-only or not, ``/`` kept or escaped) of ``text``."""
    forms = {urllib.parse.quote(text, safe=""), urllib.parse.quote(text),
             urllib.parse.quote_plus(text, safe=""), urllib.parse.quote_plus(text)}
    forms |= {_PERCENT.sub(lambda m: m.group(0).lower(), form) for form in forms}
    escaped = {json.dumps(text)[1:-1], json.dumps(text, ensure_ascii=False)[1:-1]}
    return forms | escaped | {form.replace("/", "\\/") for form in escaped}


def _forms(value: bytes, shortest: int) -> set[str]:
    forms: set[str] = set()
    text = value.decode("utf-8", "replace")
    forms.add(text)
    forms |= _b64_cores(value, base64.b64encode, shortest) | _b64_cores(value, base64.urlsafe_b64encode, shortest)
    forms |= {value.hex(), value.hex().upper()}
    if "\ufffd" not in text:
        forms |= _text_forms(text)
    return {f for f in forms if len(f) >= MIN_SECRET_LENGTH}


def encoded_forms(value: bytes) -> set[str]:
    """The strings that stand for ``value`` (key material: raw bytes or the text of a key file) in a
    log: as text (undecodable bytes shown as U+FFFD, the way step logs decode them), base64 and
    base64url (see :func:`_b64_cores`; pieces of at least :data:`MIN_ENCODED_PIECE` characters),
    hex in lower and upper case, and, for text, its URL-encodings and JSON string escapings. Give
    them to :class:`Masker` as ``forms``, which also masks every line of a multi-line form. Forms
    shorter than :data:`MIN_SECRET_LENGTH` are left out; a script that transforms the bytes its own
    way (another encoding, a cipher) is not caught."""
    return _forms(value, MIN_ENCODED_PIECE)


def secret_forms(secret: str) -> set[str]:
    """The strings :class:`Masker` masks for one sensitive value of at least
    :data:`MIN_SECRET_LENGTH` characters (none for a shorter one): the value, each of its lines of
    4+ characters (stripped and not), and of the whole value (UTF-8) its base64 and base64url at
    every alignment (pieces of 4+ characters), hex in both cases, URL-encodings and JSON escapings
    (:func:`_text_forms`). Example: ``"hunter22"`` gives ``aHVudGVyMjI``, ``68756e7465723232``..."""
    if len(secret) < MIN_SECRET_LENGTH:
        return set()
    return _secret_parts(secret) | _forms(secret.encode("utf-8", "surrogatepass"), MIN_SECRET_LENGTH)


def _secret_parts(secret: str) -> set[str]:
    """The strings that must be masked for one literal form: itself and its long-enough lines."""
    parts: set[str] = set()
    if len(secret) >= MIN_SECRET_LENGTH:
        parts.add(secret)
    if "\n" in secret or "\r" in secret:
        for line in secret.splitlines():
            for candidate in (line, line.strip()):
                if len(candidate) >= MIN_SECRET_LENGTH:
                    parts.add(candidate)
    return parts


def _trie_pattern(words: Sequence[AnyStr]) -> AnyStr:
    """One regular expression matching any of ``words`` (non-empty), the longest one at an offset.

    The words are merged into a prefix tree, so a search tries the few branches the text can take
    at each offset instead of every word (a masker holds a few dozen forms of each secret). A word
    that ends where longer ones go on makes the rest an optional, greedy group: longest first."""
    empty = words[0][:0]
    root: Dict[Any, Any] = {}
    for word in words:
        node = root
        for i in range(len(word)):
            node = node.setdefault(word[i:i + 1], {})
        node[None] = None
    out: List[Any] = []
    # Iterative walk: ("node", node) writes a node's branches; ("text", piece) writes text.
    todo: List[Any] = [("node", root)]
    while todo:
        kind, item = todo.pop()
        if kind == "text":
            out.append(item)
            continue
        node = item
        chain = []
        while len(node) == 1 and None not in node:  # a run with one way on: plain text
            (token, node), = node.items()
            chain.append(re.escape(token))
        out.append(empty.join(chain))
        branches = sorted(token for token in node if token is not None)
        if not branches:
            continue
        optional = None in node
        opener, closer, bar = ("(?:", ")?" if optional else ")", "|")
        if isinstance(empty, bytes):
            opener, closer, bar = opener.encode(), closer.encode(), bar.encode()
        todo.append(("text", closer))
        for index in range(len(branches) - 1, -1, -1):
            token = branches[index]
            todo.append(("node", node[token]))
            todo.append(("text", (bar if index else opener) + re.escape(token)))
    return empty.join(out)


def _compile(words: Iterable[AnyStr]) -> re.Pattern[AnyStr]:
    ordered = sorted(words, key=lambda s: (-len(s), s))
    try:
        return re.compile(_trie_pattern(ordered))
    except (RecursionError, OverflowError, re.error):  # a tree nested too deep for ``re``: one alternation
        bar: Any = b"|" if isinstance(ordered[0], bytes) else "|"
        return re.compile(bar.join(re.escape(s) for s in ordered))


class Masker:
    """Replace every occurrence of the known secrets, in any of their :func:`secret_forms`, with :data:`MASK`.

    Matching is one compiled prefix-tree expression over every form, longest first at an offset,
    rebuilt when a secret is added; the common case (a line with no secret) costs one regex
    search. Lines that do contain a secret are masked over the union of all matches, so
    overlapping secrets at different offsets cannot leave a fragment behind.

    ``secrets``: sensitive values, masked with their encodings. ``forms``: strings masked as they
    are (and their lines), such as the :func:`encoded_forms` of key material.
    """

    __slots__ = ("_secrets", "_pattern", "_bpattern", "_longest")

    def __init__(self, secrets: Iterable[str] = (), *, forms: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._bpattern: re.Pattern[bytes] | None = None
        for secret in secrets:
            self._secrets |= secret_forms(secret)
        for form in forms:
            self._secrets |= _secret_parts(form)
        self._rebuild()

    def add(self, secret: str) -> None:
        """Start masking ``secret`` (its lines and encodings) from now on; short values are ignored."""
        new = secret_forms(secret) - self._secrets
        if new:
            self._secrets |= new
            self._rebuild()

    @property
    def secret_count(self) -> int:
        """How many distinct strings are masked, encodings included (for diagnostics; never the values)."""
        return len(self._secrets)

    def __contains__(self, value: object) -> bool:
        return value in self._secrets

    def _rebuild(self) -> None:
        self._longest = max(map(len, self._secrets), default=0)
        self._pattern = _compile(self._secrets) if self._secrets else None
        # The bytes pattern is built lazily: most callers only mask text.
        self._bpattern = None

    @property
    def longest(self) -> int:
        """The length in characters of the longest string masked (0 with none)."""
        return self._longest

    def hides(self, text: str) -> bool:
        """Whether ``text`` contains any secret in any of its forms (what :meth:`mask` would change),
        a wrapped encoding's pieces on several lines included."""
        if self._pattern is None:
            return False
        if self._pattern.search(text) is not None:
            return True
        return "\n" in text and bool(_wrapped_spans(text, self._pattern))

    def mask(self, text: str) -> str:
        """Return ``text`` with every secret region replaced by :data:`MASK`; a region of a wrapped
        encoding that runs across line breaks becomes one :data:`MASK` on each line it covers."""
        if self._pattern is None:
            return text
        if "\n" not in text:
            if not self._pattern.search(text):
                return text
            return _mask_regions(text, self._pattern, MASK)
        spans = self._regions(text)
        return _replace(text, spans, MASK) if spans else text

    def _regions(self, text: str) -> List[Tuple[int, int]]:
        """Every region of ``text`` :meth:`mask` replaces, as ``(start, end)`` offsets (may overlap)."""
        if self._pattern is None:
            return []
        return _spans(text, self._pattern) + _wrapped_spans(text, self._pattern)

    def mask_bytes(self, data: bytes) -> bytes:
        """Return ``data`` with the UTF-8 encoding of every secret form replaced by :data:`MASK`."""
        if not self._secrets:
            return data
        if self._bpattern is None:
            self._bpattern = _compile({s.encode("utf-8", "surrogatepass") for s in self._secrets})
        if not self._bpattern.search(data):
            return data
        return _mask_regions(data, self._bpattern, MASK.encode("ascii"))


def _mask_regions(text: AnyStr, pattern: re.Pattern[AnyStr], mask: AnyStr) -> AnyStr:
    """Replace the union of all (possibly overlapping) matches of ``pattern`` by ``mask``.

    ``pattern`` (:func:`_compile`) prefers the longest secret, so ``pattern.match`` at an offset returns
    the longest secret starting there. After each leftmost match we look for secrets that
    start inside it and run past its end (``"abcdef"`` then ``"defgh"`` in ``"abcdefgh"``)
    and grow the region; the cost is proportional to the masked length only.
    """
    pieces: list[AnyStr] = []
    kept_from = 0
    found = pattern.search(text)
    while found is not None:
        start, end = found.span()
        offset = start + 1
        while offset < end:
            inner = pattern.match(text, offset)
            if inner is not None and inner.end() > end:
                end = inner.end()
            offset += 1
        pieces.append(text[kept_from:start])
        pieces.append(mask)
        kept_from = end
        found = pattern.search(text, end)
    pieces.append(text[kept_from:])
    return text[:0].join(pieces)


def _spans(text: str, pattern: re.Pattern[str]) -> List[Tuple[int, int]]:
    """The regions :func:`_mask_regions` replaces, as ``(start, end)`` offsets in order."""
    spans: List[Tuple[int, int]] = []
    found = pattern.search(text)
    while found is not None:
        start, end = found.span()
        for offset in range(start + 1, end):
            inner = pattern.match(text, offset)
            if inner is not None and inner.end() > end:
                end = inner.end()
        spans.append((start, end))
        found = pattern.search(text, end)
    return spans


def _replace(text: str, spans: List[Tuple[int, int]], mask: str) -> str:
    """``text`` with each union of overlapping ``spans`` replaced by ``mask``."""
    pieces: List[str] = []
    kept_from = 0
    for start, end in sorted(spans):
        if start < kept_from:  # overlaps the region just masked: grow it
            if end > kept_from:
                kept_from = end
            continue
        pieces.append(text[kept_from:start])
        pieces.append(mask)
        kept_from = end
    pieces.append(text[kept_from:])
    return "".join(pieces)


def _wrapped_spans(text: str, pattern: re.Pattern[str]) -> List[Tuple[int, int]]:
    """The regions of ``text`` where ``pattern`` matches a run of base64 characters that goes on
    across line breaks (a wrapped encoding), one ``(start, end)`` per line the match covers, line
    breaks left out. Each run is joined without its breaks and searched once: linear in ``text``."""
    spans: List[Tuple[int, int]] = []
    size = len(text)
    position = 0
    while True:
        hit = _WRAP_BREAK.search(text, position)
        if hit is None:
            return spans
        brk = hit.start() - (1 if text[hit.start() - 1] == "\r" else 0)
        line_start = text.rfind("\n", 0, brk) + 1
        pieces = [(line_start + len(text[line_start:brk].rstrip(_B64_CHARS)), brk)]
        cursor = hit.end()
        while True:
            end = _RUN.match(text, cursor).end()  # type: ignore[union-attr]  # ``*`` always matches
            pieces.append((cursor, end))
            following = end + 2 if text.startswith("\r\n", end) else end + 1
            if end == cursor or following >= size or text[following - 1] != "\n" or text[following] not in _B64_SET:
                break
            cursor = following
        position = end
        spans.extend(_covered(pieces, _spans("".join(text[a:b] for a, b in pieces), pattern)))


def _covered(pieces: List[Tuple[int, int]], found: List[Tuple[int, int]]) -> List[Tuple[int, int]]:
    """Map regions ``found`` in the join of ``pieces`` (offsets in the text) back onto the text."""
    spans: List[Tuple[int, int]] = []
    index, base = 0, 0  # the piece at ``index`` starts at ``base`` in the join
    for start, end in found:
        while base + pieces[index][1] - pieces[index][0] <= start:
            base += pieces[index][1] - pieces[index][0]
            index += 1
        at, offset = index, base
        while offset < end:
            a, b = pieces[at]
            spans.append((a + max(start - offset, 0), a + min(end - offset, b - a)))
            offset += b - a
            at += 1
    return [(a, b) for a, b in spans if b > a]


class LineMasker:
    """Mask a log that arrives line by line and hand each line on, masked, to ``emit``.

    A line that ends in a run of :data:`MIN_WRAPPED_LINE` or more base64 characters may be one line
    of a wrapped encoding whose next line completes a secret's encoding, so it is held back and
    masked with the lines after it; every other line goes on at once. Past ``limit`` characters
    held, the older lines go on, masked with enough of the later ones to cover the longest secret
    form (so at most ``limit`` plus that many characters and a line are held); a region that runs
    on from them into the lines still held stays masked there. Call :meth:`flush` when the log
    ends (and before any other line is written to the same log). Lines are never joined or split.
    """

    __slots__ = ("masker", "emit", "limit", "_held", "_size", "_carried")

    def __init__(self, masker: Masker, emit: Callable[[str], None], limit: int = 1 << 20) -> None:
        self.masker, self.emit, self.limit = masker, emit, limit
        self._held: List[str] = []
        self._size = 0
        self._carried: List[Tuple[int, int]] = []  # regions already masked in the held lines

    def line(self, text: str) -> None:
        """Take one line (without its line break)."""
        self._held.append(text)
        self._size += len(text) + 1
        end = text[:-1] if text.endswith("\r") else text
        if len(end) - len(end.rstrip(_B64_CHARS)) < MIN_WRAPPED_LINE:
            self.flush()
        elif self._size > self.limit:
            keep, kept = len(self._held), 0
            while keep > 0 and kept <= self.masker.longest:
                keep -= 1
                kept += len(self._held[keep]) + 1
            if keep > 0:
                self._release(keep)

    def flush(self) -> None:
        """Mask and hand on every line held back."""
        if self._held:
            self._release(len(self._held))

    def _release(self, count: int) -> None:
        """Hand on the first ``count`` held lines, masked with all the held ones."""
        block = "\n".join(self._held)
        spans = sorted(self.masker._regions(block) + self._carried)
        start, first = 0, 0  # spans before ``first`` end before the current line
        for line in self._held[:count]:
            end = start + len(line)
            while first < len(spans) and spans[first][1] <= start and spans[first][0] < start:
                first += 1
            inside = []
            for a, b in spans[first:]:
                if a >= end:
                    break
                if b > start:
                    inside.append((max(a, start) - start, min(b, end) - start))
            self.emit(_replace(line, inside, MASK) if inside else line)
            start = end + 1
        self._carried = [(max(a, start) - start, b - start) for a, b in spans if b > start]
        self._held = self._held[count:]
        self._size = sum(len(line) + 1 for line in self._held)
