"""The runner's wire protocol: length-prefixed frames over the runner's stdin and stdout.

A frame is a 4-byte big-endian length ``N`` (1 <= N <= :data:`MAX_FRAME`), then ``N`` bytes:
one kind byte and the body. ``J``: a JSON object (UTF-8), every message has ``"op"``; ``D``: raw
bytes (a chunk of a package being sent). Nothing else is ever written to the runner's stdout
(a script's output goes to its own pipe), so a frame boundary can never be forged by a step.

Messages (``spec/runner.md``), zone -> runner: ``hello``, ``have``, ``put`` (then ``D`` frames),
``step``, ``cancel``, ``bye``. Runner -> zone: ``hello``, ``have``, ``put``, ``log`` (one masked
line), ``result``, ``error`` (``code``, ``message``). One request at a time; only ``cancel``
may be sent while a step runs.

This module is pure (bytes in, bytes out) apart from :class:`FrameReader`/:func:`write_frame`,
which work on binary files (the runner's side). Shipped to targets: Python 3.8 or newer.
"""

from __future__ import annotations

import json
import struct
from typing import Any, BinaryIO, Dict, Optional, Tuple

__all__ = ["PROTOCOL", "MAX_FRAME", "DATA_CHUNK", "encode_message", "encode_data", "decode_frame",
           "FrameReader", "write_frame", "ProtocolError", "JSON", "DATA"]

#: The protocol's version; ``hello`` carries it and a mismatch is refused.
PROTOCOL = 1
#: The largest frame either side accepts (a log line is at most 1 MiB of text, JSON-escaped).
MAX_FRAME = 8 << 20
#: The size of the data chunks a package travels in.
DATA_CHUNK = 256 << 10
JSON = b"J"
DATA = b"D"
_HEADER = struct.Struct(">I")


class ProtocolError(Exception):
    """The other side sent something that is not a frame of this protocol."""


def encode_message(message: Dict[str, Any]) -> bytes:
    """One ``J`` frame carrying ``message`` (which must have ``"op"``)."""
    body = JSON + json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if len(body) > MAX_FRAME:
        raise ProtocolError(f"message {message.get('op')!r} is {len(body)} bytes, above the frame limit")
    return _HEADER.pack(len(body)) + body


def encode_data(chunk: bytes) -> bytes:
    """One ``D`` frame carrying ``chunk``."""
    if len(chunk) + 1 > MAX_FRAME:
        raise ProtocolError("data chunk above the frame limit")
    return _HEADER.pack(len(chunk) + 1) + DATA + chunk


def frame_length(header: bytes) -> int:
    """The body length a 4-byte header announces; refuses 0 and anything above the limit."""
    (length,) = _HEADER.unpack(header)
    if not 1 <= length <= MAX_FRAME:
        raise ProtocolError(f"frame length {length} outside 1..{MAX_FRAME}")
    return length


def decode_frame(body: bytes) -> Tuple[bytes, Any]:
    """``(kind, payload)`` of a frame body: a dict for ``J``, bytes for ``D``."""
    kind, rest = body[:1], body[1:]
    if kind == DATA:
        return kind, rest
    if kind != JSON:
        raise ProtocolError(f"unknown frame kind {kind!r}")
    try:
        message = json.loads(rest.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise ProtocolError(f"a JSON frame does not hold JSON ({error})") from None
    if not isinstance(message, dict) or not isinstance(message.get("op"), str):
        raise ProtocolError("a JSON frame must hold an object with an 'op'")
    return kind, message


class FrameReader:
    """Frames from a binary stream (blocking). ``read()`` returns None at a clean end of stream."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream

    def _exactly(self, size: int) -> Optional[bytes]:
        buffer = bytearray(size)
        view = memoryview(buffer)
        filled = 0
        while filled < size:
            count = self.stream.readinto(view[filled:])  # type: ignore[attr-defined]
            if not count:
                if filled:
                    raise ProtocolError("the stream ended inside a frame")
                return None
            filled += count
        return bytes(buffer)

    def read(self) -> Optional[Tuple[bytes, Any]]:
        header = self._exactly(4)
        if header is None:
            return None
        body = self._exactly(frame_length(header))
        if body is None:
            raise ProtocolError("the stream ended inside a frame")
        return decode_frame(body)


def write_frame(stream: BinaryIO, frame: bytes) -> None:
    """Write one encoded frame and flush it."""
    stream.write(frame)
    stream.flush()
