"""Signing and sealing primitives of the bundle format (pure; no files, no clock).

* Signatures are Ed25519 over ``DOMAIN || message``. Each kind of signed thing has its own
  domain string (:data:`DOMAINS`), so a signature made for one kind can never verify as
  another (a receipt signature never passes as a release signature).
* Sealing follows age's X25519 recipient construction: a fresh ephemeral X25519 key per
  sealed value, shared secret (all-zero refused), HKDF-SHA256 with
  ``salt = ephemeral_public || recipient_public`` and info :data:`SEAL_INFO`, then
  ChaCha20-Poly1305 with a zero nonce (the key is used exactly once) and associated data
  that names the bundle, the recipient key and the value's label.
* Key ids are the first 16 bytes of ``SHA-256("bundlekit key id\\n" || algorithm || ":" || public key)``,
  in lowercase hex.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bundlekit.errors import FormatError, InputError, VerificationError

__all__ = [
    "DOMAINS",
    "SEAL_INFO",
    "key_id",
    "raw_public",
    "raw_private",
    "sign",
    "verify_signature",
    "seal",
    "sealable",
    "open_sealed",
    "open_text",
    "sealed_text",
    "seal_ad",
    "seal_label",
    "b64",
    "unb64",
]

DOMAINS = {
    "release": b"bundlekit/1 release manifest\n",
    "receipt": b"bundlekit/1 receipt manifest\n",
    "identity": b"bundlekit/1 identity card\n",
    "rotation": b"bundlekit/1 key rotation\n",
    "audit": b"bundlekit/1 audit entry\n",
    "audit head": b"bundlekit/1 audit head\n",  # the zone's signed record of its trail's last entry (spec/audit.md §3)
    "relay": b"bundlekit/1 relay hop\n",  # a relay's countersignature (spec/relay.md §3)
}
SEAL_INFO = b"bundlekit/1 sealed value"
SEAL_AD_DOMAIN = b"bundlekit/1 seal ad"
_ZERO_NONCE = b"\x00" * 12


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str, what: str, length: int | None = None) -> bytes:
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise FormatError(f"{what}: not valid base64", code="malformed") from None
    if b64(raw) != text:
        raise FormatError(f"{what}: base64 is not canonical", code="malformed")
    if length is not None and len(raw) != length:
        raise FormatError(f"{what}: expected {length} bytes, got {len(raw)}", code="malformed")
    return raw


def key_id(algorithm: str, public: bytes) -> str:
    digest = hashlib.sha256(b"bundlekit key id\n" + algorithm.encode() + b":" + public).digest()
    return digest[:16].hex()


def raw_public(key: Ed25519PrivateKey | X25519PrivateKey | Ed25519PublicKey | X25519PublicKey) -> bytes:
    pub = key.public_key() if isinstance(key, (Ed25519PrivateKey, X25519PrivateKey)) else key
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def raw_private(key: Ed25519PrivateKey | X25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )


def sign(private: Ed25519PrivateKey, kind: str, message: bytes) -> bytes:
    return private.sign(DOMAINS[kind] + message)


_P = 2**255 - 19
# y-coordinates of the Ed25519 points of small order (1, 2, 4, 8). A "public key" of small
# order can make a forged signature verify under cofactorless checks; such keys are refused.
_SMALL_ORDER_Y = {
    0, 1, _P - 1,
    int.from_bytes(bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"), "little"),
    int.from_bytes(bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"), "little"),
}


def acceptable_public_key(public: bytes) -> bool:
    """Canonical encoding and not a small-order point."""
    if len(public) != 32:
        return False
    y = int.from_bytes(public[:31] + bytes([public[31] & 0x7F]), "little")
    return y < _P and y not in _SMALL_ORDER_Y


def verify_signature(public: bytes, kind: str, message: bytes, signature: bytes) -> bool:
    """True when ``signature`` is ``public``'s Ed25519 signature of ``message`` in ``kind``'s domain."""
    if len(signature) != 64 or not acceptable_public_key(public):
        return False
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, DOMAINS[kind] + message)
    except (InvalidSignature, ValueError):
        return False
    return True


def seal_ad(bundle_id: str, recipient_key_id: str, label: str) -> bytes:
    """Associated data binding a sealed value to its bundle, recipient key and label."""
    parts = [SEAL_AD_DOMAIN, bundle_id.encode(), recipient_key_id.encode(), label.encode("utf-8")]
    # Length-prefix every part so no two different triples give the same bytes.
    return b"".join(len(p).to_bytes(4, "big") + p for p in parts)


def seal_label(kind: str, name: str, scope: dict[str, list[str]]) -> str:
    """The label a sealed value is bound to (spec §8): kind, lowercased name and canonical scope."""
    parts = ";".join(f"{k}={','.join(v)}" for k, v in sorted(scope.items()))
    return f"{kind}:{name.lower()}|{parts}"


def sealable(public: bytes) -> bool:
    """Whether ``public`` (32 bytes) is an X25519 key a value can be sealed to: not a point of low
    order, with which every shared secret is all zeros (RFC 7748 §6.1; OpenSSL refuses the
    exchange). The identity card's sealing key must be one (spec/bundle-format.md §6.5)."""
    try:
        X25519PrivateKey.generate().exchange(X25519PublicKey.from_public_bytes(public))
    except ValueError:
        return False
    return True


def _derive(shared: bytes, epk: bytes, rpk: bytes) -> bytes:
    if hmac.compare_digest(shared, b"\x00" * 32):
        raise VerificationError("sealed value uses a low-order ephemeral key", code="invalid_seal")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=epk + rpk, info=SEAL_INFO).derive(shared)


def seal(recipient_public: bytes, plaintext: bytes, ad: bytes,
         ephemeral: X25519PrivateKey | None = None) -> bytes:
    """Seal ``plaintext`` to an X25519 public key. Output: ephemeral public (32) || ciphertext+tag.

    ``ephemeral`` exists only so test vectors can be regenerated byte for byte; production
    callers never pass it (a fresh key per sealed value is what makes the zero nonce safe).
    """
    eph = ephemeral or X25519PrivateKey.generate()
    epk = raw_public(eph)
    try:
        shared = eph.exchange(X25519PublicKey.from_public_bytes(recipient_public))
    except ValueError:  # a low-order point (cards that say so are refused: a zone trusted before that rule)
        raise InputError(f"sealing key {key_id('x25519', recipient_public)} is a low-order X25519 point: nothing "
                         "sealed to it would be secret. Trust that zone again with a card of its real keys (trust "
                         "remove, then trust add)", code="invalid_card") from None
    key = _derive(shared, epk, recipient_public)
    return epk + ChaCha20Poly1305(key).encrypt(_ZERO_NONCE, plaintext, ad)


def open_sealed(recipient: X25519PrivateKey, sealed: bytes, ad: bytes, what: str) -> bytes:
    """Open a value sealed with :func:`seal`; any mismatch raises ``invalid_seal``."""
    if len(sealed) < 32 + 16:
        raise VerificationError(f"{what}: sealed value too short", code="invalid_seal")
    epk, ct = sealed[:32], sealed[32:]
    try:
        shared = recipient.exchange(X25519PublicKey.from_public_bytes(epk))
    except ValueError:
        raise VerificationError(f"{what}: invalid ephemeral key", code="invalid_seal") from None
    key = _derive(shared, epk, raw_public(recipient))
    try:
        return ChaCha20Poly1305(key).decrypt(_ZERO_NONCE, ct, ad)
    except InvalidTag:
        raise VerificationError(
            f"{what}: cannot be opened with this zone's sealing key (tampered, or sealed for another "
            "zone or bundle)",
            code="invalid_seal",
        ) from None


def open_text(recipient: X25519PrivateKey, sealed: str, ad: bytes, what: str, field: str) -> str:
    """The text of a sealed value as a manifest carries it (``base64(sealed)``, spec §8): its
    base64 decoded, opened with :func:`open_sealed`, and its plaintext read as UTF-8, which is
    what a sensitive value is (a string, like every other value of the manifest).

    ``what`` names the value in messages (``variable 'Db.Password'``), ``field`` the manifest
    field it came from. Raises ``FormatError`` ``malformed`` (not canonical base64),
    ``VerificationError`` ``invalid_seal`` (does not open, or opens to bytes that are not UTF-8
    text; the bytes are never quoted)."""
    return sealed_text(open_sealed(recipient, unb64(sealed, field), ad, what), what)


def sealed_text(plain: bytes, what: str) -> str:
    """The text of an opened sealed value ``plain`` (a value is UTF-8 text, spec §8); raises
    ``VerificationError`` ``invalid_seal`` for other bytes, which it never quotes (``what``
    names the value in the message)."""
    try:
        return plain.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise VerificationError(
            f"{what}: the sealed value opens, but to {len(plain)} bytes that are not UTF-8 text (byte {exc.start} "
            "is invalid), and a value is text; the zone that sealed it is wrong or not bundlekit: ask its "
            "operators to set the value again as text and re-export",
            code="invalid_seal") from None
