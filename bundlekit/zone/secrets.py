"""Sensitive values at rest in a zone: sealed to the zone's own key, compared by fingerprint.

A sensitive value is stored once, sealed (same construction as bundles, spec §8) to the
zone's X25519 key, under its *fingerprint*: a keyed hash (HMAC-SHA256 with a key derived
from the zone's sealing key) so equal values compare equal in snapshots and merges without
ever being readable there, and nobody without the zone's key can test guesses against it.
Snapshots hold ``"secret:<fingerprint>"`` in place of the value.
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bundlekit.errors import StateError
from bundlekit.format import crypto
from bundlekit.zone.db import Writer
from bundlekit.zone.home import Zone

__all__ = ["PREFIX", "fingerprint", "store", "reveal", "is_secret_ref"]

PREFIX = "secret:"


def _fp_key(zone: Zone) -> bytes:
    private = crypto.raw_private(zone.sealing_key())
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=b"bundlekit/1 secret fingerprint").derive(private)


def fingerprint(zone: Zone, value: str) -> str:
    return PREFIX + hmac.new(_fp_key(zone), value.encode("utf-8"), hashlib.sha256).hexdigest()[:40]


def is_secret_ref(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def _ad(zone: Zone, ref: str) -> bytes:
    return crypto.seal_ad("at-rest", zone.sealing_key_id, ref)


def store(zone: Zone, tx: Writer, value: str) -> str:
    """Seal ``value`` at rest (inside the caller's transaction ``tx``); return its reference."""
    ref = fingerprint(zone, value)
    if tx.one("SELECT 1 AS hit FROM secrets WHERE fingerprint = ?", (ref,)) is None:
        sealed = crypto.seal(crypto.raw_public(zone.sealing_key()), value.encode("utf-8"), _ad(zone, ref))
        tx.run("INSERT INTO secrets(fingerprint, sealed) VALUES (?, ?)", (ref, sealed))
    return ref


def reveal(zone: Zone, ref: str) -> str:
    """The value behind ``ref``; raises ``StateError`` ``secret_missing`` if it is not stored."""
    sealed = zone.db.scalar("SELECT sealed FROM secrets WHERE fingerprint = ?", (ref,))
    if sealed is None:
        raise StateError(f"sensitive value {ref[:20]}... is missing from the zone's state", code="secret_missing")
    return crypto.open_sealed(zone.sealing_key(), bytes(sealed), _ad(zone, ref), "stored secret").decode("utf-8")
