"""The removable-media volume header: a fixed 512-byte block, pure bytes <-> model.

Every volume (data or parity) starts with this header so that any single volume can be
checked alone: it names the whole bundle (SHA-256, size, original file name), its own
place in the set (index, data count, parity count) and its own payload SHA-256, and it
ends with a SHA-256 over the header itself. The byte layout is normative and documented
in ``spec/transport.md`` section 2.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from bundlekit.core.names import file_name_problem
from bundlekit.errors import TransportError

__all__ = [
    "MAGIC", "VERSION", "HEADER_SIZE", "MAX_VOLUMES", "MAX_PARITY_SET", "CODE_NONE", "CODE_RS_CAUCHY",
    "VolumeHeader", "parse_header", "layout_for", "data_payload_length", "stripe_length",
]

MAGIC = b"\x89BKVOL\r\n"
VERSION = 1
HEADER_SIZE = 512
#: Volume numbers are printed with at least four digits; more volumes than this is a mistake.
MAX_VOLUMES = 9999
#: Reed-Solomon over GF(2^8): data + parity volumes in one erasure-coded set.
MAX_PARITY_SET = 255

CODE_NONE = 0
CODE_RS_CAUCHY = 1

KIND_DATA = 0
KIND_PARITY = 1

# magic, version, header length, kind, code, reserved, index, k, m, chunk, size, digest,
# nominal payload, payload length, payload digest, name length
_FIXED = struct.Struct(">8sHHBBHIIIIQ32sQQ32sH")
_NAME_OFF = _FIXED.size  # 122
_NAME_MAX = 255
_CHECK_OFF = HEADER_SIZE - 32  # 480
assert _NAME_OFF + _NAME_MAX <= _CHECK_OFF


def _damaged(msg: str) -> TransportError:
    return TransportError(msg, code="volume_damaged")


def data_payload_length(size: int, nominal: int, data_count: int, index: int) -> int:
    """Payload length of data volume ``index``: full volumes, then the remainder in the last."""
    if index < data_count - 1:
        return nominal
    return size - (data_count - 1) * nominal


def stripe_length(size: int, nominal: int, data_count: int) -> int:
    """Length of the longest data payload, which is also every parity volume's payload length."""
    return nominal if data_count > 1 else size


def layout_for(size: int, nominal: int) -> int:
    """Number of data volumes for a bundle of ``size`` bytes cut into ``nominal``-byte payloads."""
    if nominal < 1:
        raise ValueError("nominal payload must be positive")
    return max(1, -(-size // nominal))


@dataclass(slots=True, frozen=True)
class VolumeHeader:
    """One volume's header. A VolumeHeader that exists is internally consistent."""

    index: int
    data_count: int
    parity_count: int
    chunk_size: int
    bundle_size: int
    bundle_sha256: bytes
    nominal_payload: int
    payload_length: int
    payload_sha256: bytes
    name: str
    code: int = CODE_NONE

    def __post_init__(self) -> None:
        k, m = self.data_count, self.parity_count
        if k < 1 or m < 0 or k + m > MAX_VOLUMES:
            raise _damaged(f"volume counts data={k} parity={m} are out of range (1..{MAX_VOLUMES} in all)")
        if m and k + m > MAX_PARITY_SET:
            raise _damaged(f"{k} data + {m} parity volumes exceed the erasure code's {MAX_PARITY_SET}")
        if not 0 <= self.index < k + m:
            raise _damaged(f"volume index {self.index} is outside 0..{k + m - 1}")
        if (m == 0) != (self.code == CODE_NONE) or self.code not in (CODE_NONE, CODE_RS_CAUCHY):
            raise _damaged(f"erasure code id {self.code} does not match parity count {m}")
        if (m == 0) != (self.chunk_size == 0):
            raise _damaged(f"stripe chunk size {self.chunk_size} does not match parity count {m}")
        if len(self.bundle_sha256) != 32 or len(self.payload_sha256) != 32:
            raise _damaged("digests must be 32 bytes")
        if self.nominal_payload < 1 or layout_for(self.bundle_size, self.nominal_payload) != k:
            raise _damaged(f"bundle size {self.bundle_size} in {self.nominal_payload}-byte payloads "
                           f"does not make {k} data volumes")
        if self.payload_length != self.expected_payload_length:
            raise _damaged(f"payload length {self.payload_length} should be {self.expected_payload_length}")
        problem = file_name_problem(self.name, hidden=False)
        if problem:
            raise _damaged(f"bundle name {self.name!r} is unsafe: {problem}")

    @property
    def is_parity(self) -> bool:
        return self.index >= self.data_count

    @property
    def total(self) -> int:
        return self.data_count + self.parity_count

    @property
    def expected_payload_length(self) -> int:
        if self.is_parity:
            return stripe_length(self.bundle_size, self.nominal_payload, self.data_count)
        return data_payload_length(self.bundle_size, self.nominal_payload, self.data_count, self.index)

    @property
    def set_key(self) -> tuple[bytes, int, int, int, int, int, int]:
        """What makes two volumes members of the same set (the name is informative only)."""
        return (self.bundle_sha256, self.bundle_size, self.data_count, self.parity_count,
                self.nominal_payload, self.chunk_size, self.code)

    def encode(self) -> bytes:
        name = self.name.encode("utf-8")
        fixed = _FIXED.pack(
            MAGIC, VERSION, HEADER_SIZE, KIND_PARITY if self.is_parity else KIND_DATA, self.code, 0,
            self.index, self.data_count, self.parity_count, self.chunk_size, self.bundle_size,
            self.bundle_sha256, self.nominal_payload, self.payload_length, self.payload_sha256, len(name),
        )
        body = (fixed + name).ljust(_CHECK_OFF, b"\x00")
        return body + hashlib.sha256(body).digest()


def parse_header(raw: bytes) -> VolumeHeader:
    """Check and decode a volume header; raises TransportError(code=volume_damaged) if it is not one.

    The header checksum is verified before any field is interpreted.
    """
    if len(raw) < HEADER_SIZE:
        raise _damaged(f"the file is shorter ({len(raw)} bytes) than a volume header ({HEADER_SIZE} bytes)")
    raw = bytes(raw[:HEADER_SIZE])
    if raw[:8] != MAGIC:
        raise _damaged("the file does not start with the bundlekit volume magic")
    if hashlib.sha256(raw[:_CHECK_OFF]).digest() != raw[_CHECK_OFF:]:
        raise _damaged("the header checksum does not match (the header is damaged)")
    (_magic, version, hlen, kind, code, reserved, index, k, m, chunk, size, digest, nominal, plen, pdigest,
     nlen) = _FIXED.unpack_from(raw)
    if version != VERSION:
        raise TransportError(f"volume format version {version} is not supported (this bundlekit reads {VERSION})",
                             code="volume_unsupported")
    if hlen != HEADER_SIZE or reserved != 0:
        raise _damaged("header length or reserved field is wrong")
    if nlen > _NAME_MAX or any(raw[_NAME_OFF + nlen:_CHECK_OFF]):
        raise _damaged("the name field or the reserved bytes after it are malformed")
    try:
        name = raw[_NAME_OFF:_NAME_OFF + nlen].decode("utf-8")
    except UnicodeDecodeError:
        raise _damaged("the bundle name is not UTF-8") from None
    header = VolumeHeader(index=index, data_count=k, parity_count=m, chunk_size=chunk, bundle_size=size,
                          bundle_sha256=digest, nominal_payload=nominal, payload_length=plen,
                          payload_sha256=pdigest, name=name, code=code)
    if kind != (KIND_PARITY if header.is_parity else KIND_DATA):
        raise _damaged(f"volume kind {kind} does not match index {index}")
    return header
