"""Identity cards: a zone's public identity, self-signed, exchanged by hand (spec/bundle-format.md §6.5).

A card is a short UTF-8 text file, readable by the people who carry it::

    bundlekit identity card v1
    name: prod
    zone-id: 5f0c...                     (32 hex)
    signing-key: ed25519:<base64>
    sealing-key: x25519:<base64>
    created: 1700000000
    signature: <base64 Ed25519 signature>

The signature is by the card's own signing key over the identity domain and the exact
bytes of every line before ``signature:`` (newlines included). Any change, even a space,
fails to load. Pure: the caller reads and writes the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bundlekit.core.names import check_name
from bundlekit.errors import InputError
from bundlekit.format.crypto import b64, key_id, raw_public, sealable, sign, unb64, verify_signature

__all__ = ["IdentityCard", "parse_card"]

#: Largest identity card read or accepted, in bytes (a real one is under 1 KiB).
MAX_CARD_BYTES = 4096
HEADER = "bundlekit identity card v1"
_FIELDS = ("name", "zone-id", "signing-key", "sealing-key", "created")
_HEX32 = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True, slots=True)
class IdentityCard:
    name: str
    zone_id: str
    signing_key: bytes  # raw Ed25519 public key
    sealing_key: bytes  # raw X25519 public key
    created: int

    def __post_init__(self) -> None:
        check_name(self.name, what="zone name", error=InputError, code="invalid_zone_name")
        if not _HEX32.match(self.zone_id) or len(self.signing_key) != 32 or len(self.sealing_key) != 32:
            raise InputError("identity card: malformed zone id or key", code="invalid_card")

    @property
    def signing_key_id(self) -> str:
        return key_id("ed25519", self.signing_key)

    @property
    def sealing_key_id(self) -> str:
        return key_id("x25519", self.sealing_key)

    def body(self) -> bytes:
        lines = [HEADER, f"name: {self.name}", f"zone-id: {self.zone_id}",
                 f"signing-key: ed25519:{b64(self.signing_key)}", f"sealing-key: x25519:{b64(self.sealing_key)}",
                 f"created: {self.created}"]
        return ("\n".join(lines) + "\n").encode("utf-8")

    def render(self, private: Ed25519PrivateKey) -> bytes:
        """The card file's bytes, signed with the zone's signing key (must match ``signing_key``)."""
        if raw_public(private) != self.signing_key:
            raise ValueError("signing key does not belong to this card")
        body = self.body()
        return body + f"signature: {b64(sign(private, 'identity', body))}\n".encode()


def parse_card(data: bytes, where: str) -> IdentityCard:
    """Load a card, refusing any alteration (``invalid_card``) or malformed line."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{where}: not a bundlekit identity card (not UTF-8 text)", code="invalid_card") from None
    if len(data) > MAX_CARD_BYTES:
        raise InputError(f"{where}: too large to be an identity card", code="invalid_card")
    lines = text.split("\n")
    if lines[0] != HEADER:
        raise InputError(f"{where}: not a bundlekit identity card (first line should be {HEADER!r}); "
                         "create one in its zone with bundlekit identity -o CARD", code="invalid_card")
    if len(lines) != len(_FIELDS) + 3 or lines[-1] != "":
        raise InputError(f"{where}: expected {len(_FIELDS) + 2} lines ending with a newline", code="invalid_card")
    values: dict[str, str] = {}
    for expected, line in zip(_FIELDS + ("signature",), lines[1:-1]):
        key, sep, value = line.partition(": ")
        if key != expected or not sep:
            raise InputError(f"{where}: expected a {expected!r} line, found {line[:40]!r}", code="invalid_card")
        values[key] = value
    try:
        signing = _key(values["signing-key"], "ed25519", where)
        sealing = _key(values["sealing-key"], "x25519", where)
        created = int(values["created"]) if values["created"].isascii() and values["created"].isdigit() else -1
        if created < 0:
            raise InputError(f"{where}: 'created' is not a number", code="invalid_card")
        card = IdentityCard(values["name"], values["zone-id"], signing, sealing, created)
        sig = unb64(values["signature"], f"{where}: signature", 64)
    except InputError:
        raise
    except Exception as err:  # malformed base64 and friends: one clear message
        raise InputError(f"{where}: malformed identity card ({err})", code="invalid_card") from None
    body = data[: data.rindex(b"signature: ")]
    if body != card.body() or not verify_signature(signing, "identity", body, sig):
        raise InputError(f"{where}: the card's self-signature does not match its contents; it was altered. "
                         "Ask the zone's operators for a fresh card.", code="invalid_card")
    if not sealable(sealing):  # attack review 38, B5: trusted, then every export to it crashed
        raise InputError(f"{where}: its sealing key is a low-order X25519 point, to which nothing can be sealed "
                         "secretly, and which no zone's identity command writes. Ask the zone's operators for its real "
                         "card.", code="invalid_card")
    return card


def _key(value: str, algorithm: str, where: str) -> bytes:
    prefix = algorithm + ":"
    if not value.startswith(prefix):
        raise InputError(f"{where}: key {value[:20]!r} should start with {prefix!r}", code="invalid_card")
    return unb64(value[len(prefix):], f"{where}: {algorithm} key", 32)
