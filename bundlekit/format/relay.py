"""Relayed bundles (format 1.6, spec/relay.md): the relay header, the hops and their records (pure).

A relayed bundle is the origin bundle, byte for byte, behind a 32-byte header of kind 3, followed
by one hop per zone that relayed it. A hop is ``u32 record_length || record || public key (32) ||
countersignature (64)``; the record is a canonical msgpack map (:class:`Hop`). Hop *i* signs
``"bundlekit/1 relay hop\\n" || origin digest (32 raw bytes) || hops section up to the end of
record i`` (:func:`hop_message`), so each countersignature covers the origin and every earlier hop
exactly as stored: nothing is re-serialised to be verified.

Nothing here reads a file or a clock: :mod:`bundlekit.format.container` cuts the file into its
parts, and the verifier (``importer/relay_check.py``) decides whom to believe.
"""

from __future__ import annotations

import hashlib
import re
import struct
from dataclasses import dataclass
from typing import Any, Mapping

from bundlekit.core.names import name_problem
from bundlekit.errors import FormatError, VerificationError
from bundlekit.format import codec
from bundlekit.format.container import SIGNATURE_RECORD, SignatureRecord
from bundlekit.format.relay_header import MAX_HOPS_LENGTH, RELAYED
from bundlekit.format.crypto import seal_ad

__all__ = ["RELAY_KIND", "RELAY_MINOR", "MAX_HOPS", "MAX_RECORD", "MAX_HOPS_LENGTH", "CHECKS", "RawHop", "Hop",
           "SealedCopy", "split_hops", "hop_message", "parse_hop", "encode_hop", "relay_seal_ad", "frame_hop"]

#: The header kind byte of a relayed bundle.
RELAY_KIND = RELAYED
#: The format minor version that added relayed bundles (written in the relay header).
RELAY_MINOR = 6
#: The most hops one relayed bundle may carry (as many as signature records, spec §9).
MAX_HOPS = 32
#: The largest hop record (as the hops section: the manifest size limit).
MAX_RECORD = MAX_HOPS_LENGTH
#: What a hop's ``checks`` may say (spec/relay.md §2).
CHECKS = ("imported", "opened", "verified")
_LEN = struct.Struct(">I")
_HEX32 = re.compile(r"[0-9a-f]{32}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_KEYS = frozenset({"format", "kind", "hop", "origin", "zone", "to", "relayed", "checks", "sealed", "writer"})
_MAX_INT = (1 << 53) - 1


@dataclass(frozen=True, slots=True)
class RawHop:
    """One hop as stored: its record's bytes, its countersignature, and what that signature covers
    (``signed``: the hops section from its start to the end of this record, without the prefix)."""

    record: bytes
    signature: SignatureRecord
    signed: bytes


@dataclass(frozen=True, slots=True)
class SealedCopy:
    """A sensitive value sealed again for the hop's ``to`` zone (spec/relay.md §5)."""

    variable: int  # index in the origin's variables[]
    label: str
    sealed: str  # base64

    def to_dict(self) -> dict[str, Any]:
        return {"variable": self.variable, "label": self.label, "sealed": self.sealed}


@dataclass(frozen=True, slots=True)
class Hop:
    """A hop record (spec/relay.md §2): which zone relayed what, to whom, when, after which checks."""

    hop: int
    origin: Mapping[str, str]  # {bundle_id, digest, kind}
    zone: Mapping[str, str]  # {zone_id, name, key_id}: the relaying zone, its signing key
    to: Mapping[str, str]  # {zone_id, name, key_id}: the next zone, its sealing key
    relayed: int
    checks: tuple[str, ...]
    sealed: tuple[SealedCopy, ...]
    writer: Mapping[str, str]

    def to_dict(self) -> dict[str, Any]:
        return {"format": "bundlekit/1", "kind": "relay", "hop": self.hop, "origin": dict(self.origin),
                "zone": dict(self.zone), "to": dict(self.to), "relayed": self.relayed,
                "checks": list(self.checks), "sealed": [s.to_dict() for s in self.sealed],
                "writer": dict(self.writer)}


def split_hops(raw: bytes, where: str) -> list[RawHop]:
    """Cut the hops section into hops (spec/relay.md §4 step 4). Raises ``FormatError``
    ``truncated`` (a hop cut short, or none), ``limit_exceeded`` (a record of 0 or more than
    :data:`MAX_RECORD` bytes, more than :data:`MAX_HOPS` hops)."""
    hops: list[RawHop] = []
    pos = 0
    while pos < len(raw):
        if len(hops) == MAX_HOPS:
            raise FormatError(f"{where}: more than {MAX_HOPS} relay hops", code="limit_exceeded")
        if len(raw) - pos < _LEN.size:
            raise FormatError(f"{where}: relay hop {len(hops) + 1} is cut short", code="truncated")
        (n,) = _LEN.unpack_from(raw, pos)
        if n == 0 or n > MAX_RECORD:
            raise FormatError(f"{where}: relay hop {len(hops) + 1} declares a record of {n} bytes (1 .. {MAX_RECORD})",
                              code="limit_exceeded")
        end = pos + _LEN.size + n
        if end + SIGNATURE_RECORD > len(raw):
            raise FormatError(f"{where}: relay hop {len(hops) + 1} is cut short (its record or countersignature "
                              "is missing)", code="truncated")
        sig = raw[end:end + SIGNATURE_RECORD]
        hops.append(RawHop(raw[pos + _LEN.size:end], SignatureRecord(sig[:32], sig[32:]), raw[:end]))
        pos = end + SIGNATURE_RECORD
    if not hops:
        raise FormatError(f"{where}: a relayed bundle without any relay hop", code="truncated")
    return hops


def hop_message(origin_digest: str, signed: bytes) -> bytes:
    """What a hop's countersignature covers, after the domain string: the origin's digest (32 raw
    bytes) and the hops section up to the end of the hop's record (``RawHop.signed``)."""
    return bytes.fromhex(origin_digest) + signed


def frame_hop(record: bytes, signature: SignatureRecord | None = None) -> bytes:
    """A hop's stored bytes: the record's length, the record and (when given) the countersignature."""
    tail = b"" if signature is None else signature.public_key + signature.signature
    return _LEN.pack(len(record)) + record + tail


def relay_seal_ad(origin_bundle_id: str, recipient_key_id: str, label: str) -> bytes:
    """The associated data of a value a relay sealed again (spec/relay.md §5)."""
    return seal_ad(f"relay:{origin_bundle_id}", recipient_key_id, label)


def encode_hop(hop: Hop) -> bytes:
    """The canonical record of ``hop`` (checked as a reader would before it is signed)."""
    data = codec.encode(hop.to_dict())
    parse_hop(data, "relay hop record")
    return data


def _bad(where: str, what: str) -> VerificationError:
    return VerificationError(f"{where}: {what}; the relay record is not one bundlekit writes (damaged or forged): "
                             "ask the relaying zone to relay the bundle again", code="invalid_relay")


def _zone_ref(d: Any, where: str, field: str) -> dict[str, str]:
    if not isinstance(d, dict) or set(d) != {"zone_id", "name", "key_id"}:
        raise _bad(where, f"{field} is not a map of zone_id, name and key_id")
    for k in ("zone_id", "key_id"):
        if not isinstance(d[k], str) or not _HEX32.fullmatch(d[k]):
            raise _bad(where, f"{field}.{k} is not 32 lowercase hex characters")
    problem = name_problem(d["name"])
    if problem:
        raise _bad(where, f"{field}.name {problem}")
    return dict(d)


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= _MAX_INT


def parse_hop(data: bytes, where: str) -> Hop:
    """A record's bytes (countersignature already checked) to a :class:`Hop`. Raises what
    :func:`codec.decode` raises, then ``VerificationError`` ``invalid_relay`` naming the field."""
    try:
        obj = codec.decode(data, what=where)
    except FormatError as err:  # the same code (spec/relay.md §4 step 7), and what to do
        raise FormatError(f"{err.message}; the relay record is not one bundlekit writes (damaged or forged): ask the "
                          "relaying zone to relay the bundle again", code=err.code) from None
    if not isinstance(obj, dict) or set(obj) != _KEYS:
        raise _bad(where, f"the record's keys must be exactly {', '.join(sorted(_KEYS))}")
    if obj["format"] != "bundlekit/1" or obj["kind"] != "relay":
        raise _bad(where, "format is not 'bundlekit/1' or kind is not 'relay'")
    if not _int(obj["hop"]) or not _int(obj["relayed"]):
        raise _bad(where, "hop and relayed must be integers from 0 to 2^53 - 1")
    origin = obj["origin"]
    if (not isinstance(origin, dict) or set(origin) != {"bundle_id", "digest", "kind"}
            or not isinstance(origin["bundle_id"], str) or not _HEX32.fullmatch(origin["bundle_id"])
            or not isinstance(origin["digest"], str) or not _HEX64.fullmatch(origin["digest"])
            or origin["kind"] not in ("release", "receipt")):
        raise _bad(where, "origin must be {bundle_id: 32 hex, digest: 64 hex, kind: release|receipt}")
    checks = obj["checks"]
    if (not isinstance(checks, list) or any(c not in CHECKS for c in checks) or checks != sorted(set(checks))):
        raise _bad(where, f"checks must be a sorted list of distinct values from {', '.join(CHECKS)}")
    writer = obj["writer"]
    if (not isinstance(writer, dict) or set(writer) != {"name", "version"}
            or not all(isinstance(v, str) and 0 < len(v) <= 64 for v in writer.values())):
        raise _bad(where, "writer must be {name, version}")
    sealed = obj["sealed"]
    if not isinstance(sealed, list):
        raise _bad(where, "sealed must be an array")
    copies = []
    for i, s in enumerate(sealed):
        if (not isinstance(s, dict) or set(s) != {"variable", "label", "sealed"} or not _int(s["variable"])
                or not isinstance(s["label"], str) or not isinstance(s["sealed"], str)):
            raise _bad(where, f"sealed[{i}] must be {{variable, label, sealed}}")
        copies.append(SealedCopy(s["variable"], s["label"], s["sealed"]))
    return Hop(obj["hop"], origin, _zone_ref(obj["zone"], where, "zone"), _zone_ref(obj["to"], where, "to"),
               obj["relayed"], tuple(checks), tuple(copies), writer)


def digest_of(message: bytes) -> str:
    """The bundle digest of a signed message (``header || manifest``)."""
    return hashlib.sha256(message).hexdigest()
