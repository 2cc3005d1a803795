"""The 32-byte header of a relayed bundle (format 1.6, spec/relay.md §1, §4 steps 1-2; pure).

``magic major minor kind(3) reserved origin_length hops_length``: the container
(:mod:`bundlekit.format.container`) recognises kind 3 and asks :func:`check_relay_header` where
the origin bundle and the hops are; :mod:`bundlekit.format.relay` reads the hops.
"""

from __future__ import annotations

import struct

from bundlekit.errors import FormatError

__all__ = ["RELAYED", "MAX_HOPS_LENGTH", "check_relay_header", "relay_version"]

#: The header kind byte of a relayed bundle.
RELAYED = 3
#: The largest hops section of a relayed bundle (the manifest size limit).
MAX_HOPS_LENGTH = 16 * 1024 * 1024
_HEADER = struct.Struct(">8sHHB3sQQ")
_SIZE = _HEADER.size


def check_relay_header(head: bytes, file_size: int, where: str) -> tuple[int, int]:
    """(origin_length, hops_length) of a relay header whose magic, major version and kind the
    caller checked. Raises ``FormatError`` ``malformed`` (reserved bytes), ``truncated``,
    ``trailing_bytes`` (the lengths do not add up to ``file_size``), ``limit_exceeded``."""
    _, _, _, _, reserved, origin_len, hops_len = _HEADER.unpack(head)
    if reserved != b"\0\0\0":
        raise FormatError(f"{where}: reserved relay header bytes are not zero", code="malformed")
    if origin_len < _SIZE or _SIZE + origin_len > file_size:
        raise FormatError(f"{where}: the relay header promises an origin bundle of {origin_len} bytes, the file has "
                          f"{file_size - _SIZE} after the header; the bundle is truncated", code="truncated")
    if hops_len > MAX_HOPS_LENGTH:
        raise FormatError(f"{where}: relay hops of {hops_len} bytes, above the limit {MAX_HOPS_LENGTH}",
                          code="limit_exceeded")
    whole = _SIZE + origin_len + hops_len
    if whole != file_size:
        raise FormatError(f"{where}: the relay header promises {whole} bytes, the file has {file_size}",
                          code="truncated" if whole > file_size else "trailing_bytes")
    return origin_len, hops_len


def relay_version(head: bytes) -> str:
    """``"1.6"``: the format version a relay header (checked) states; the origin bundle's own
    header keeps the version its source wrote (spec/relay.md §1)."""
    _, major, minor, _, _, _, _ = _HEADER.unpack(head)
    return f"{major}.{minor}"
