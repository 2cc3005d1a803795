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
* Key material (:func:`encoded_forms`) is masked in the same encodings, but only in pieces of at
  least :data:`MIN_ENCODED_PIECE` characters (decision 380).
"""

from __future__ import annotations

import base64
import json
import re
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from typing import Any, AnyStr, Dict, List

from bundlekit.core.text import MASK  # what a masked region becomes (the same string Octopus prints)

__all__ = ["Masker", "MIN_SECRET_LENGTH", "encoded_forms", "secret_forms"]

#: Values shorter than this are not masked (too common to be secret, would shred logs).
MIN_SECRET_LENGTH = 4
#: The shortest piece of an encoding that :func:`encoded_forms` masks on its own (a base64 core
#: at another alignment, one line of a wrapped encoding): 12 bytes of key material.
MIN_ENCODED_PIECE = 16
#: Where ``base64`` (coreutils) and PEM writers wrap an encoding.
_WRAP = (64, 76)
_PERCENT = re.compile(r"%[0-9A-F]{2}")


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

    __slots__ = ("_secrets", "_pattern", "_bpattern")

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
        self._pattern = _compile(self._secrets) if self._secrets else None
        # The bytes pattern is built lazily: most callers only mask text.
        self._bpattern = None

    def hides(self, text: str) -> bool:
        """Whether ``text`` contains any secret in any of its forms (what :meth:`mask` would change)."""
        return self._pattern is not None and self._pattern.search(text) is not None

    def mask(self, text: str) -> str:
        """Return ``text`` with every secret region replaced by :data:`MASK`."""
        if self._pattern is None or not self._pattern.search(text):
            return text
        return _mask_regions(text, self._pattern, MASK)

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
