"""Text files in the encoding they were written in: UTF-8 (with or without a byte order
mark), or UTF-16 / UTF-32 with a byte order mark.

Substitution and structured configuration read a file, change some text and write it back
in exactly the encoding it had: same byte order mark, same code units, line endings
untouched (they are part of the text). A file that is neither is not text to bundlekit
(a UTF-16 file without a byte order mark cannot be told apart from binary data; a NUL byte
in what would be UTF-8 marks it as not text). :func:`rewrite_text` is the one path from a file's
bytes to its changed bytes: deploys (substitution and structured configuration on a target)
and ``bundlekit render`` / ``render-config`` all go through it, so what a command prints is
what a deploy writes.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from typing import Callable, Optional

__all__ = ["TextEncoding", "decode_text", "encode_text", "rewrite_text", "UTF8"]


@dataclass(frozen=True)
class TextEncoding:
    """How a file's text is stored: the Python codec and the byte order mark written first."""

    codec: str
    bom: bytes

    @property
    def label(self) -> str:
        """A name for people: ``UTF-16LE with BOM``."""
        name = self.codec.upper().replace("-LE", "LE").replace("-BE", "BE")
        return f"{name} with BOM" if self.bom else name


UTF8 = TextEncoding("utf-8", b"")
# Longest first: the UTF-32LE mark starts with the UTF-16LE one.
_MARKS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"), (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def decode_text(data: bytes) -> tuple[str, TextEncoding]:
    """The text of ``data`` and how it was stored. Raises ``UnicodeDecodeError`` (its
    ``start`` is the offending byte offset) when ``data`` is not text in a supported encoding."""
    for mark, codec in _MARKS:
        if data.startswith(mark):
            body = data[len(mark):]
            return body.decode(codec), TextEncoding(codec, mark)
    text = data.decode("utf-8")
    if "\0" in text:  # UTF-8 text has no NUL; UTF-16 without a byte order mark does
        at = data.index(b"\0")
        raise UnicodeDecodeError("utf-8", data, at, at + 1, "a NUL byte: binary data, or UTF-16/32 without a BOM")
    return text, UTF8


def encode_text(text: str, encoding: TextEncoding) -> bytes:
    """``text`` stored as ``encoding`` stores it (the byte order mark first)."""
    return encoding.bom + text.encode(encoding.codec)


def rewrite_text(data: bytes, change: Callable[[str], Optional[str]]) -> Optional[bytes]:
    """The bytes of ``change(text)`` stored as ``data`` was (byte order mark, code units; line
    endings are part of the text), or None when ``change`` returns None or the text unchanged.

    Raises ``UnicodeDecodeError`` when ``data`` is not text in a supported encoding (see
    :func:`decode_text`); ``change``'s own errors pass through.
    """
    text, encoding = decode_text(data)
    changed = change(text)
    if changed is None or changed == text:
        return None
    return encode_text(changed, encoding)
