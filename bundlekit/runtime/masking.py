"""Masking of sensitive values in deployment logs.

This module owns one thing: turning text (or bytes) that may contain secrets into text
that does not. Every log line a step produces passes through a :class:`Masker` before it
is stored, printed or put in a receipt.

Rules (see ``docs/decisions/040-log-masking.md``):

* Only values of at least :data:`MIN_SECRET_LENGTH` (4) characters are masked, like
  Octopus: masking ``"1"`` or ``"yes"`` would shred every log and protect nothing.
* Each line of a multi-line secret (a PEM key, a certificate) is also a secret on its own,
  because logs are masked line by line and the whole value never appears on one line.
* Every region covered by any secret is replaced, even when secrets overlap at different
  offsets, so no part of a longer secret survives because a shorter one matched first.
* Key material (:func:`encoded_forms`) is masked in the encodings a script most often makes of
  bytes: the text itself, base64 and base64url (padded or not, at any alignment, wrapped at 76
  columns), hex in either case, URL-encoding and JSON string escaping (decision 380).
"""

from __future__ import annotations

import base64
import json
import re
import urllib.parse
from collections.abc import Callable, Iterable
from typing import AnyStr

from bundlekit.core.text import MASK  # what a masked region becomes (the same string Octopus prints)

__all__ = ["Masker", "MIN_SECRET_LENGTH", "encoded_forms"]

#: Values shorter than this are not masked (too common to be secret, would shred logs).
MIN_SECRET_LENGTH = 4
#: The shortest piece of an encoding that :func:`encoded_forms` masks on its own (a base64 core
#: at another alignment, one line of a wrapped encoding): 12 bytes of key material.
MIN_ENCODED_PIECE = 16
#: Where ``base64`` (coreutils) and PEM writers wrap an encoding.
_WRAP = (64, 76)


def _b64_cores(value: bytes, encode: Callable[[bytes], bytes]) -> set[str]:
    """The base64 text of ``value`` wherever it starts in a longer byte string: at each of the three
    alignments, the characters that depend on ``value``'s bytes alone, and the lines of the whole
    encoding wrapped where ``base64`` and PEM writers wrap it."""
    cores: set[str] = set()
    whole = encode(value).decode("ascii")
    cores |= {whole, whole.rstrip("=")}
    for shift in range(3):
        text = encode(b"\0" * shift + value).decode("ascii")
        start = 4 if shift else 0
        end = 4 * ((shift + len(value)) // 3)
        cores.add(text[start:end])
    for width in _WRAP:
        cores |= {whole[i:i + width] for i in range(0, len(whole), width)}
    return {c for c in cores if len(c) >= MIN_ENCODED_PIECE or c in (whole, whole.rstrip("="))}


def encoded_forms(value: bytes) -> set[str]:
    """The strings that stand for ``value`` (key material: raw bytes or the text of a key file) in a
    log: as text (undecodable bytes shown as U+FFFD, the way step logs decode them), base64 and
    base64url (see :func:`_b64_cores`), hex in lower and upper case, and, for text, its URL-encoding
    and JSON string escaping. Give each to :meth:`Masker.add`, which also masks every line of a
    multi-line form. Forms shorter than :data:`MIN_SECRET_LENGTH` are left out; a script that
    transforms the bytes its own way (another encoding, a cipher) is not caught."""
    forms: set[str] = set()
    text = value.decode("utf-8", "replace")
    forms.add(text)
    forms |= _b64_cores(value, base64.b64encode) | _b64_cores(value, base64.urlsafe_b64encode)
    forms |= {value.hex(), value.hex().upper()}
    if "\ufffd" not in text:
        forms |= {urllib.parse.quote(text, safe=""), urllib.parse.quote_plus(text, safe=""),
                  json.dumps(text)[1:-1], json.dumps(text, ensure_ascii=False)[1:-1]}
    return {f for f in forms if len(f) >= MIN_SECRET_LENGTH}


def _secret_parts(secret: str) -> set[str]:
    """The strings that must be masked for one secret: itself and its long-enough lines."""
    parts: set[str] = set()
    if len(secret) >= MIN_SECRET_LENGTH:
        parts.add(secret)
    if "\n" in secret or "\r" in secret:
        for line in secret.splitlines():
            for candidate in (line, line.strip()):
                if len(candidate) >= MIN_SECRET_LENGTH:
                    parts.add(candidate)
    return parts


class Masker:
    """Replace every occurrence of the known secrets with :data:`MASK`.

    Matching is a single compiled alternation, longest secret first, rebuilt when a secret
    is added; the common case (a line with no secret) costs one regex search. Lines that do
    contain a secret are masked over the union of all matches, so overlapping secrets at
    different offsets cannot leave a fragment behind.
    """

    __slots__ = ("_secrets", "_pattern", "_bpattern")

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._bpattern: re.Pattern[bytes] | None = None
        for secret in secrets:
            self._secrets |= _secret_parts(secret)
        self._rebuild()

    def add(self, secret: str) -> None:
        """Start masking ``secret`` (and its lines) from now on; short values are ignored."""
        new = _secret_parts(secret) - self._secrets
        if new:
            self._secrets |= new
            self._rebuild()

    @property
    def secret_count(self) -> int:
        """How many distinct strings are masked (for diagnostics; never the values)."""
        return len(self._secrets)

    def __contains__(self, value: object) -> bool:
        return value in self._secrets

    def _rebuild(self) -> None:
        if not self._secrets:
            self._pattern = None
            self._bpattern = None
            return
        # Longest first: at one offset the alternation then takes the longest secret.
        ordered = sorted(self._secrets, key=lambda s: (-len(s), s))
        alternation = "|".join(re.escape(s) for s in ordered)
        self._pattern = re.compile(alternation)
        # The bytes pattern is built lazily: most callers only mask text.
        self._bpattern = None

    def mask(self, text: str) -> str:
        """Return ``text`` with every secret region replaced by :data:`MASK`."""
        if self._pattern is None or not self._pattern.search(text):
            return text
        return _mask_regions(text, self._pattern, MASK)

    def mask_bytes(self, data: bytes) -> bytes:
        """Return ``data`` with the UTF-8 encoding of every secret replaced by :data:`MASK`."""
        if not self._secrets:
            return data
        if self._bpattern is None:
            ordered = sorted((s.encode("utf-8") for s in self._secrets), key=lambda b: (-len(b), b))
            self._bpattern = re.compile(b"|".join(re.escape(s) for s in ordered))
        if not self._bpattern.search(data):
            return data
        return _mask_regions(data, self._bpattern, MASK.encode("ascii"))


def _mask_regions(text: AnyStr, pattern: re.Pattern[AnyStr], mask: AnyStr) -> AnyStr:
    """Replace the union of all (possibly overlapping) matches of ``pattern`` by ``mask``.

    ``pattern`` lists the secrets longest first, so ``pattern.match`` at an offset returns
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
