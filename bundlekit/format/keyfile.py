"""Approver key files and key rotation statements (pure; the caller does the I/O).

Approver keys (``bundlekit keys new``) are two short text files::

    PREFIX.key   bundlekit signing key v1 / name: alice / key: ed25519:<base64 private>   (mode 0600)
    PREFIX.pub   bundlekit public key v1 / name: alice / key: ed25519:<base64 public>

A rotation statement says "zone Z's signing key OLD is replaced by NEW"; it is signed by
both keys over ``DOMAIN(rotation) || canonical msgpack {zone_id, old_key, new_key, issued}``,
so neither a thief of the new key alone nor of the old key alone can forge one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bundlekit.core.names import check_name
from bundlekit.errors import BundleError, InputError, VerificationError
from bundlekit.format import codec
from bundlekit.format.crypto import b64, key_id, raw_private, raw_public, sign, unb64, verify_signature

__all__ = ["ApproverKey", "MAX_KEY_FILE_BYTES", "render_private", "render_public", "parse_private", "parse_public",
           "RotationStatement", "make_rotation", "parse_rotation"]

#: Largest key file read or accepted, in bytes (a real one is under 256).
MAX_KEY_FILE_BYTES = 4096


@dataclass(frozen=True, slots=True)
class ApproverKey:
    name: str
    public: bytes

    @property
    def key_id(self) -> str:
        return key_id("ed25519", self.public)


def _check_name(name: str) -> None:
    check_name(name, what="key name", error=InputError, code="invalid_key_name")


def render_private(name: str, key: Ed25519PrivateKey) -> bytes:
    _check_name(name)
    return f"bundlekit signing key v1\nname: {name}\nkey: ed25519:{b64(raw_private(key))}\n".encode()


def render_public(name: str, key: Ed25519PrivateKey) -> bytes:
    _check_name(name)
    return f"bundlekit public key v1\nname: {name}\nkey: ed25519:{b64(raw_public(key))}\n".encode()


def _parse(data: bytes, where: str, header: str) -> tuple[str, bytes]:
    """``(name, raw key)`` of a key file; every defect is ``invalid_key_file`` (or
    ``invalid_key_name``), naming the file and the line."""
    try:
        lines = data.decode("utf-8").split("\n") if len(data) <= MAX_KEY_FILE_BYTES else []
    except UnicodeDecodeError:
        lines = []
    if len(lines) != 4 or lines[0] != header or lines[3] != "" or not lines[1].startswith("name: ") \
            or not lines[2].startswith("key: ed25519:"):
        raise InputError(f"{where}: not a {header!r} file", code="invalid_key_file")
    name = lines[1][len("name: "):]
    _check_name(name)
    try:
        return name, unb64(lines[2][len("key: ed25519:"):], "key", 32)
    except BundleError as err:
        raise InputError(f"{where}: the 'key:' line is damaged ({err.message}); use the file bundlekit keys new "
                         "wrote, or make a new key pair", code="invalid_key_file") from None


def parse_private(data: bytes, where: str) -> tuple[str, Ed25519PrivateKey]:
    name, raw = _parse(data, where, "bundlekit signing key v1")
    return name, Ed25519PrivateKey.from_private_bytes(raw)


def parse_public(data: bytes, where: str) -> ApproverKey:
    name, raw = _parse(data, where, "bundlekit public key v1")
    return ApproverKey(name, raw)


@dataclass(frozen=True, slots=True)
class RotationStatement:
    zone_id: str
    old_key: bytes
    new_key: bytes
    issued: int
    old_signature: bytes
    new_signature: bytes

    def body(self) -> bytes:
        return codec.encode({"zone_id": self.zone_id, "old_key": b64(self.old_key), "new_key": b64(self.new_key),
                             "issued": self.issued})

    def to_dict(self) -> dict[str, Any]:
        return {"zone_id": self.zone_id, "old_key": b64(self.old_key), "new_key": b64(self.new_key),
                "issued": self.issued, "old_signature": b64(self.old_signature),
                "new_signature": b64(self.new_signature)}


def make_rotation(zone_id: str, old: Ed25519PrivateKey, new: Ed25519PrivateKey, issued: int) -> RotationStatement:
    unsigned = RotationStatement(zone_id, raw_public(old), raw_public(new), issued, b"", b"")
    body = unsigned.body()
    return RotationStatement(zone_id, unsigned.old_key, unsigned.new_key, issued, sign(old, "rotation", body),
                             sign(new, "rotation", body))


#: Raw length of each base64 field of a rotation statement: two Ed25519 keys, two signatures.
_ROTATION_BYTES = {"old_key": 32, "new_key": 32, "old_signature": 64, "new_signature": 64}


def _raw(d: Mapping[str, Any], name: str, where: str) -> bytes:
    """Field ``name`` of a rotation statement decoded; damaged base64 (not base64, not canonical,
    another length) refuses the statement as a whole (``invalid_rotation``), naming the field."""
    text = d[name]
    if not isinstance(text, str):
        raise TypeError(name)
    try:
        return unb64(text, name, _ROTATION_BYTES[name])
    except BundleError as err:
        raise VerificationError(f"{where}.{name}: {err.message.removeprefix(name + ': ')}; the key rotation statement "
                                "is damaged, so this zone cannot tell which key replaced which. Ask the source zone "
                                "for a fresh export", code="invalid_rotation") from None


def parse_rotation(d: Mapping[str, Any], where: str) -> RotationStatement:
    """A rotation statement whose two signatures both verify; anything else is refused.

    Raises ``VerificationError`` ``invalid_rotation`` for every defect: a field missing or of
    the wrong type, a key or signature that is not canonical base64 of its length (naming the
    field), a signature that does not verify. ``where`` names the statement
    (``BUNDLE: rotations[0]``)."""
    try:
        zone_id, issued = d["zone_id"], int(d["issued"])
        raw = {name: _raw(d, name, where) for name in _ROTATION_BYTES}
        st = RotationStatement(zone_id, raw["old_key"], raw["new_key"], issued, raw["old_signature"],
                               raw["new_signature"])
    except (KeyError, TypeError, ValueError):
        raise VerificationError(f"{where}: malformed key rotation statement (a field is missing or of the wrong "
                                "type)", code="invalid_rotation") from None
    body = st.body()
    if not (verify_signature(st.old_key, "rotation", body, st.old_signature)
            and verify_signature(st.new_key, "rotation", body, st.new_signature)):
        raise VerificationError(f"{where}: key rotation statement is not signed by both keys", code="invalid_rotation")
    return st
