"""Relayed bundles bundlekit never writes, countersigned properly with a zone's own key (tests only).

A verifier must refuse them for what their hops say, not for a bad countersignature: each hop is
signed by the relaying zone's signing key read from its home, after its record was changed (or
written by hand). This is how a buggy or compromised relay zone would look.
"""

from __future__ import annotations

import struct
import time
from pathlib import Path
from typing import Any, Callable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bundlekit.format import codec, crypto
from bundlekit.format.container import HEADER_SIZE, MAGIC, BundleFile
from bundlekit.format.relay import frame_hop, hop_message, parse_hop, split_hops

_HEADER = struct.Struct(">8sHHB3sQQ")


def signing_key(home: Path) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes((home / "keys" / "signing.key").read_bytes())


def origin_and_hops(path: Path) -> tuple[bytes, bytes, str]:
    """(origin bundle bytes, raw hops section, origin digest) of a relayed or plain bundle."""
    data = path.read_bytes()
    with BundleFile(path) as b:
        off, size, hops, digest = b.origin_offset, b.file_size, b.hops_raw or b"", b.digest
    return data[off:off + size], hops, digest


def write_relayed(out: Path, origin: bytes, hops: bytes) -> Path:
    out.write_bytes(_HEADER.pack(MAGIC, 1, 6, 3, b"\0\0\0", len(origin), len(hops)) + origin + hops)
    return out


def add_hop(bundle: Path, out: Path, relay_home: Path, record: dict[str, Any]) -> Path:
    """``bundle`` (plain or relayed) with one more hop whose record is ``record`` as given,
    countersigned by ``relay_home``'s signing key."""
    origin, hops, digest = origin_and_hops(bundle)
    key = signing_key(relay_home)
    signed = hops + frame_hop(codec.encode(record))
    sig = crypto.sign(key, "relay", hop_message(digest, signed))
    return write_relayed(out, origin, signed + crypto.raw_public(key) + sig)


def edit_last_hop(bundle: Path, out: Path, relay_home: Path, mutate: Callable[[dict[str, Any]], None],
                  resign: bool = True) -> Path:
    """``bundle`` (relayed) with its last hop's record changed by ``mutate``; countersigned again by
    ``relay_home`` when ``resign``, else with the old (now wrong) countersignature."""
    origin, hops, digest = origin_and_hops(bundle)
    raw = split_hops(hops, str(bundle))
    last = raw[-1]
    record = parse_hop(last.record, "hop").to_dict()
    mutate(record)
    before = last.signed[:len(last.signed) - 4 - len(last.record)]
    signed = before + frame_hop(codec.encode(record))
    if resign:
        key = signing_key(relay_home)
        tail = crypto.raw_public(key) + crypto.sign(key, "relay", hop_message(digest, signed))
    else:
        tail = last.signature.public_key + last.signature.signature
    return write_relayed(out, origin, signed + tail)


def hop_record(origin_bundle: Path, zone: dict[str, str], to: dict[str, str], **over: Any) -> dict[str, Any]:
    """A hop record for ``origin_bundle`` (plain), relayed now, with no sealed values unless
    ``over`` says."""
    with BundleFile(origin_bundle) as b:
        from bundlekit.format.manifest import parse_manifest
        m = parse_manifest(b.manifest_bytes)
        digest = b.digest
    record = {"format": "bundlekit/1", "kind": "relay", "hop": 0,
              "origin": {"bundle_id": m.bundle_id, "digest": digest, "kind": m.kind},
              "zone": zone, "to": to, "relayed": int(time.time()), "checks": ["verified"], "sealed": [],
              "writer": {"name": "bundlekit", "version": "0.1.0"}}
    record.update(over)
    return record


__all__ = ["signing_key", "origin_and_hops", "write_relayed", "add_hop", "edit_last_hop", "hop_record", "HEADER_SIZE"]
