"""Diode datagrams ("frames"): pure bytes <-> fields, normative layout in spec/transport.md section 3.

Every frame is self-describing so a receiver can join at any time: it carries the session
and object it belongs to, the object's size and the first 8 bytes of its SHA-256, the FEC
block geometry, and ends with a CRC-32 over everything before it (stored little-endian).
DATA frames carry one
RaptorQ encoding packet (RFC 6330 FEC payload id + one symbol); ANNOUNCE frames carry the
object's full SHA-256, its file name and the number of objects in the session.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

__all__ = [
    "MAGIC", "TYPE_DATA", "TYPE_ANNOUNCE", "COMMON", "COMMON_SIZE", "DATA_HEADER_SIZE", "MAX_DATAGRAM",
    "MAX_SYMBOL_SIZE", "MAX_BLOCK_SYMBOLS", "CRC_RESIDUE", "ObjectInfo", "Announce", "FrameError", "crc", "crc_ok",
    "seal",
    "object_prefix", "data_frame_size", "encode_announce", "parse_common", "parse_announce", "parse_data",
]

#: "BKD" + format version 1.
MAGIC = b"BKD\x01"
TYPE_DATA = 1
TYPE_ANNOUNCE = 2
#: magic(4) type(1) flags(1) symbol size(2) session(8) object(4) size(8) digest prefix(8) block symbols(4)
COMMON = struct.Struct(">4sBBH8sIQ8sI")
COMMON_SIZE = COMMON.size  # 40
#: common header + block number(4); the RaptorQ packet follows, then CRC-32(4).
DATA_HEADER_SIZE = COMMON_SIZE + 4
_ANNOUNCE = struct.Struct(">I32sH")  # object count, SHA-256, name length
#: Fits a 1500-byte MTU: 1500 - 20 (IPv4) - 8 (UDP).
MAX_DATAGRAM = 1472
MAX_SYMBOL_SIZE = MAX_DATAGRAM - DATA_HEADER_SIZE - 4 - 4  # 1420; symbols are multiples of 8 -> 1416
#: Keeps every block a single RFC 6330 source block without sub-blocking.
MAX_BLOCK_SYMBOLS = 4096


class FrameError(ValueError):
    """A datagram that is not a valid frame (garbage, truncated, corrupted, inconsistent)."""


#: CRC-32 of any frame *including* its little-endian trailer, when the trailer is right.
CRC_RESIDUE = 0x2144DF1C


def crc(data: bytes | memoryview) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


def crc_ok(frame: bytes) -> bool:
    """The trailer is the CRC-32 of the bytes before it (checked without slicing)."""
    return zlib.crc32(frame) == CRC_RESIDUE


def seal(body: bytes) -> bytes:
    """Append the CRC-32 trailer (little-endian, as Ethernet and zlib store it)."""
    return body + crc(body).to_bytes(4, "little")


@dataclass(slots=True, frozen=True)
class ObjectInfo:
    """What every frame says about the object it belongs to."""

    session: bytes
    object_id: int
    size: int
    digest_prefix: bytes
    symbol_size: int
    block_symbols: int

    def __post_init__(self) -> None:
        if len(self.session) != 8 or len(self.digest_prefix) != 8:
            raise FrameError("session id and digest prefix are 8 bytes")
        if not (8 <= self.symbol_size <= MAX_SYMBOL_SIZE and self.symbol_size % 8 == 0):
            raise FrameError(f"symbol size {self.symbol_size} is not a multiple of 8 in 8..{MAX_SYMBOL_SIZE}")
        if not 1 <= self.block_symbols <= MAX_BLOCK_SYMBOLS:
            raise FrameError(f"block symbols {self.block_symbols} not in 1..{MAX_BLOCK_SYMBOLS}")
        if not 0 <= self.size < 1 << 63 or not 0 <= self.object_id < 1 << 32:
            raise FrameError("object size or id out of range")

    @property
    def block_bytes(self) -> int:
        return self.symbol_size * self.block_symbols

    @property
    def block_count(self) -> int:
        return -(-self.size // self.block_bytes)

    def block_length(self, block: int) -> int:
        return min(self.block_bytes, self.size - block * self.block_bytes)

    def block_source_symbols(self, block: int) -> int:
        return -(-self.block_length(block) // self.symbol_size)


def object_prefix(info: ObjectInfo, frame_type: int) -> bytes:
    return COMMON.pack(MAGIC, frame_type, 0, info.symbol_size, info.session, info.object_id, info.size,
                       info.digest_prefix, info.block_symbols)


def data_frame_size(symbol_size: int) -> int:
    return DATA_HEADER_SIZE + 4 + symbol_size + 4


@dataclass(slots=True, frozen=True)
class Announce:
    info: ObjectInfo
    object_count: int
    sha256: bytes
    name: str


def encode_announce(a: Announce) -> bytes:
    name = a.name.encode("utf-8")
    if a.sha256[:8] != a.info.digest_prefix:
        raise FrameError("announced digest does not start with the object's digest prefix")
    body = object_prefix(a.info, TYPE_ANNOUNCE) + _ANNOUNCE.pack(a.object_count, a.sha256, len(name)) + name
    if len(body) + 4 > MAX_DATAGRAM:
        raise FrameError("announcement does not fit one datagram")
    return seal(body)


def parse_common(frame: bytes) -> tuple[int, ObjectInfo]:
    """Check magic and CRC, then decode the common header. Raises FrameError."""
    if len(frame) < COMMON_SIZE + 4 or len(frame) > MAX_DATAGRAM:
        raise FrameError("wrong length")
    if frame[:4] != MAGIC:
        raise FrameError("bad magic")
    if not crc_ok(frame):
        raise FrameError("checksum mismatch")
    _m, ftype, flags, tsize, session, obj, size, prefix, ksym = COMMON.unpack_from(frame)
    if flags != 0 or ftype not in (TYPE_DATA, TYPE_ANNOUNCE):
        raise FrameError("unknown frame type or flags")
    return ftype, ObjectInfo(session, obj, size, prefix, tsize, ksym)


def parse_announce(frame: bytes, info: ObjectInfo) -> Announce:
    if len(frame) < COMMON_SIZE + _ANNOUNCE.size + 4:
        raise FrameError("announcement too short")
    count, digest, nlen = _ANNOUNCE.unpack_from(frame, COMMON_SIZE)
    start = COMMON_SIZE + _ANNOUNCE.size
    if start + nlen + 4 != len(frame):
        raise FrameError("announcement name length does not match the frame length")
    try:
        name = frame[start:start + nlen].decode("utf-8")
    except UnicodeDecodeError:
        raise FrameError("announced name is not UTF-8") from None
    if digest[:8] != info.digest_prefix:
        raise FrameError("announced digest does not match the digest prefix")
    if count < 1 or info.object_id >= count:
        raise FrameError("object id is not below the announced object count")
    return Announce(info, count, digest, name)


def parse_data(frame: bytes, info: ObjectInfo) -> tuple[int, int]:
    """(block number, encoding symbol id) of a checked DATA frame; the packet is frame[44:-4]."""
    if len(frame) != data_frame_size(info.symbol_size):
        raise FrameError("data frame length does not match its symbol size")
    block = int.from_bytes(frame[COMMON_SIZE:DATA_HEADER_SIZE], "big")
    if frame[DATA_HEADER_SIZE] != 0:
        raise FrameError("source block number must be 0")
    if block >= info.block_count:
        raise FrameError("block number beyond the object's size")
    esi = int.from_bytes(frame[DATA_HEADER_SIZE + 1:DATA_HEADER_SIZE + 4], "big")
    return block, esi
