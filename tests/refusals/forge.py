"""Bundles a trusted source could send but bundlekit never writes: re-signed with the source's key.

A verifier must refuse them for what they say, not for a bad signature, so each is signed
properly by the dev zone's own signing key (read from its home) after its manifest, header
or blob records were changed. This is how a buggy or compromised source zone would look.
"""

from __future__ import annotations

import base64
import struct
from pathlib import Path
from typing import Any, Callable

import msgpack
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bundlekit.format import codec, crypto
from bundlekit.format.bundleid import bundle_id_of
from bundlekit.format.container import HEADER_SIZE, KINDS

_HEADER = struct.Struct(">8sHHB3sQQ")


def parts(data: bytes) -> tuple[tuple[Any, ...], bytes, bytes]:
    """(header fields, blob section, manifest bytes) of a bundle."""
    fields = _HEADER.unpack(data[:HEADER_SIZE])
    blobs_len, manifest_len = fields[5], fields[6]
    blobs = data[HEADER_SIZE:HEADER_SIZE + blobs_len]
    manifest = data[HEADER_SIZE + blobs_len:HEADER_SIZE + blobs_len + manifest_len]
    return fields, blobs, manifest


def _derived_id(doc: dict[str, Any], minor: int) -> str | None:
    try:
        project = doc.get("project") or {}
        return bundle_id_of(doc["kind"], minor, doc["source"]["zone_id"], doc["destination"]["zone_id"],
                            doc["sequence"], str(project.get("space", "")), str(project.get("slug", "")))
    except (KeyError, TypeError, AttributeError):
        return None


def edit_keeping_id(doc: dict[str, Any], minor: int, mutate: Callable[[dict[str, Any]], None]) -> None:
    """Apply ``mutate`` to a decoded manifest; when the manifest's ``bundle_id`` was the one its
    fields give and ``mutate`` did not set it, set it to the one the changed fields give: a forged
    bundle is then refused for what the forger changed, not for a stale id (spec §6.2)."""
    before = doc.get("bundle_id")
    derived = before is not None and before == _derived_id(doc, minor)
    mutate(doc)
    if derived and doc.get("bundle_id") == before:
        new = _derived_id(doc, minor)
        if new is not None:
            doc["bundle_id"] = new


def resign(bundle: Path, out: Path, signer_home: Path, *, mutate: Callable[[dict[str, Any]], None] | None = None,
           encode: Callable[[Any], bytes] = codec.encode, header_kind: str | None = None,
           blobs: bytes | None = None) -> Path:
    """Write ``out``: ``bundle`` with its manifest changed by ``mutate``, signed again."""
    fields, old_blobs, manifest_bytes = parts(bundle.read_bytes())
    manifest = codec.decode(manifest_bytes)
    if mutate is not None:
        edit_keeping_id(manifest, fields[2], mutate)
    body = encode(manifest)
    section = old_blobs if blobs is None else blobs
    kind = header_kind or KINDS[fields[3]]
    code = {v: k for k, v in KINDS.items()}[kind]
    header = _HEADER.pack(fields[0], fields[1], fields[2], code, fields[4], len(section), len(body))
    key = Ed25519PrivateKey.from_private_bytes((signer_home / "keys" / "signing.key").read_bytes())
    message = header + body
    out.write_bytes(message[:HEADER_SIZE] + section + body + crypto.raw_public(key) + crypto.sign(key, kind, message))
    return out


def unpack_recipe(text: str) -> list[list[int]]:
    """A packed recipe (format 1.3) as operations ``[0, offset, length]`` and ``[1, length]``, to change."""
    raw = base64.b64decode(text, validate=True)
    return [[1, b] if a == _DATA_MARK else [0, a, b] for a, b in struct.iter_unpack("<QQ", raw)]


def pack_recipe(ops: list[list[int]]) -> str:
    """Operations packed as a manifest carries them (format 1.3), with no check: any unsigned
    64-bit integers, so a test can write what a reader must refuse."""
    return base64.b64encode(b"".join(struct.pack("<QQ", _DATA_MARK, op[1]) if op[0] == 1 else
                                     struct.pack("<QQ", op[1], op[2]) for op in ops)).decode("ascii")


_DATA_MARK = (1 << 64) - 1


def duplicate_first_key(obj: Any) -> bytes:
    """Canonical bytes of ``obj`` with the top-level map's first entry written twice."""
    data = codec.encode(obj)
    first = next(iter(sorted(obj)))
    entry = codec.encode({first: obj[first]})[1:]
    if data[0] == 0xDE:
        n = struct.unpack(">H", data[1:3])[0]
        return b"\xde" + struct.pack(">H", n + 1) + entry + data[3:]
    assert 0x80 <= data[0] < 0x8F
    return bytes([data[0] + 1]) + entry + data[1:]


def tiny_maps(obj: Any, mib: int = 15) -> bytes:
    """Canonical bytes of ``obj`` (a map) with one more field, ``zz``, that a reader ignores: ``mib``
    arrays of 2^20 empty maps each, one byte per map. Built as bytes (decoding it is the attack:
    millions of maps)."""
    data = codec.encode(obj)
    n = struct.unpack(">H", data[1:3])[0] if data[0] == 0xDE else data[0] - 0x80
    assert data[0] == 0xDE or 0x80 <= data[0] < 0x8F and n < 15
    head = b"\xde" + struct.pack(">H", n + 1) if data[0] == 0xDE else bytes([data[0] + 1])
    rest = data[3:] if data[0] == 0xDE else data[1:]
    assert all(k < "zz" for k in obj)
    inner = b"\xdd" + struct.pack(">I", 1 << 20) + b"\x80" * (1 << 20)
    value = (bytes([0x90 + mib]) if mib < 16 else b"\xdc" + struct.pack(">H", mib)) + inner * mib
    return head + rest + codec.encode("zz") + value


def unsorted(obj: Any) -> bytes:
    """Valid msgpack of ``obj`` with the top-level keys in reverse order (not canonical)."""
    return msgpack.packb(dict(reversed(list(obj.items()))), use_bin_type=True)


def flip(data: bytes, at: int) -> bytes:
    b = bytearray(data)
    b[at] ^= 0x01
    return bytes(b)
