"""Sensitive values at rest in a zone: sealed to the zone's own key, compared by fingerprint.

A sensitive value is stored once, sealed (same construction as bundles, spec §8) to the
zone's X25519 key, under its *fingerprint*: a keyed hash (HMAC-SHA256 with a key derived
from the zone's sealing key) so equal values compare equal in snapshots and merges without
ever being readable there, and nobody without the zone's key can test guesses against it.
Snapshots hold ``"secret:<fingerprint>"`` in place of the value.

Every snapshot a zone stores (a project's local copy and base, a release's snapshot) passes
through :func:`seal_snapshot` first: a variable marked sensitive whose value is still clear
(the merge kept it sensitive although the side its value came from was plain, decision 250)
is sealed there, so no sensitive value is stored in clear.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import re
from typing import Any, Mapping

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bundlekit.core.hints import home_flag
from bundlekit.errors import StateError
from bundlekit.format import crypto
from bundlekit.zone.db import Writer
from bundlekit.zone.home import Zone

__all__ = ["PREFIX", "fingerprint", "store", "reveal", "is_secret_ref", "sealed_refs", "seal_snapshot"]

PREFIX = "secret:"
_REF = re.compile(r"secret:[0-9a-f]{40}")


def _fp_key(zone: Zone) -> bytes:
    private = crypto.raw_private(zone.sealing_key())
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=b"bundlekit/1 secret fingerprint").derive(private)


def fingerprint(zone: Zone, value: str) -> str:
    return PREFIX + hmac.new(_fp_key(zone), value.encode("utf-8"), hashlib.sha256).hexdigest()[:40]


def is_secret_ref(value: object) -> bool:
    """True for a reference as :func:`fingerprint` makes it (``secret:`` and 40 hex digits)."""
    return isinstance(value, str) and _REF.fullmatch(value) is not None


def sealed_refs(zone: Zone, snapshot: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """``snapshot`` (a merge snapshot, ``importer/merge_model.py``) with the clear value of every
    sensitive variable replaced by its reference, and the values so replaced (reference ->
    value) for :func:`store`. Writes nothing; a value that is not a string is sealed as its
    JSON text."""
    out = copy.deepcopy(dict(snapshot))
    values: dict[str, str] = {}
    for entry in (out.get("variables") or {}).values():
        value = entry.get("value")
        if entry.get("sensitive") is True and value is not None and not is_secret_ref(value):
            text = value if isinstance(value, str) else json.dumps(value)
            ref = fingerprint(zone, text)
            values[ref] = text
            entry["value"] = ref
    return out, values


def seal_snapshot(zone: Zone, tx: Writer, snapshot: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`sealed_refs`, storing the sealed values inside the caller's transaction ``tx``."""
    out, values = sealed_refs(zone, snapshot)
    for value in values.values():
        store(zone, tx, value)
    return out


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
    """The value behind ``ref``; raises ``StateError`` ``secret_missing`` if it is not stored,
    ``state_damaged`` if it opens to bytes that are not UTF-8 (this zone seals text only, so the
    state was written by something else), and ``VerificationError`` ``invalid_seal`` if it does
    not open."""
    sealed = zone.db.scalar("SELECT sealed FROM secrets WHERE fingerprint = ?", (ref,))
    if sealed is None:
        raise StateError(f"sensitive value {ref[:20]}... is missing from the zone's state", code="secret_missing")
    plain = crypto.open_sealed(zone.sealing_key(), bytes(sealed), _ad(zone, ref), "stored secret")
    try:
        return plain.decode("utf-8")
    except UnicodeDecodeError:
        raise StateError(f"sensitive value {ref[:20]}... in the zone's state opens to bytes that are not UTF-8 text, "
                         "which this zone never stores: the state was changed by something else. Set the variable "
                         f"again (`bundlekit variables set PROJECT NAME - --sensitive{home_flag()}`) and check who can write the zone's state",
                         code="state_damaged") from None
