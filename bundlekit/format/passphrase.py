"""Passphrase-protected zone key files, and the passphrase key derivation they share with backups (pure).

A protected key file (``spec/keys.md``) is nine text lines::

    bundlekit protected key v1
    kind: ed25519                      (or x25519)
    public: <base64 of the 32-byte public key>
    kdf: scrypt
    salt: <base64 of 16 random bytes>
    n: 131072
    r: 8
    p: 1
    sealed: <base64 of nonce (12 bytes) || ChaCha20-Poly1305 ciphertext and tag of the 32-byte private key>

The AEAD key is ``scrypt(passphrase, salt, n, r, p, 32 bytes)``; the associated data is every
byte of the file before ``sealed:`` (so kind, public key and work factors cannot be changed
without the passphrase failing). After opening, the private key must give the stated public
key. The passphrase is the UTF-8 bytes of the text the user gave, without its trailing line
break (``decision 580``).

Nothing here reads a file, a clock or a terminal: bytes in, bytes or typed objects out.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from bundlekit.errors import BundleError, InputError, StateError
from bundlekit.format.crypto import b64, raw_public, unb64

__all__ = ["MAGIC", "KINDS", "Kdf", "new_kdf", "derive", "ProtectedKey", "is_protected", "protect_key",
           "open_key", "public_of", "MAX_PASSPHRASE_BYTES"]

MAGIC = b"bundlekit protected key v1\n"
#: Key kinds a protected file may hold: the zone's signing (and retired) keys, and its sealing key.
KINDS = ("ed25519", "x25519")
#: Work factors written now: 128 MiB and a few tenths of a second on a server core (decision 580).
DEFAULT_N, DEFAULT_R, DEFAULT_P = 1 << 17, 8, 1
#: The most a reader accepts, so a planted file cannot make it spend gigabytes or minutes.
MAX_N, MAX_R, MAX_P, MAX_MEMORY = 1 << 20, 32, 16, 1 << 30
SALT_BYTES = 16
#: A passphrase longer than this is refused where it is read (it is a line a person types).
MAX_PASSPHRASE_BYTES = 1024


@dataclass(frozen=True, slots=True)
class Kdf:
    """scrypt's salt and work factors (``n`` a power of two, ``r``, ``p``), checked on construction:
    a value outside the bounds a reader accepts is ``ValueError`` (the callers name the file)."""

    salt: bytes
    n: int
    r: int
    p: int

    def __post_init__(self) -> None:
        if len(self.salt) != SALT_BYTES:
            raise ValueError(f"salt must be {SALT_BYTES} bytes")
        if not (2 <= self.n <= MAX_N and self.n & (self.n - 1) == 0):
            raise ValueError(f"n must be a power of two from 2 to {MAX_N}")
        if not (1 <= self.r <= MAX_R and 1 <= self.p <= MAX_P and 128 * self.n * self.r * self.p <= MAX_MEMORY):
            raise ValueError(f"r must be 1..{MAX_R}, p 1..{MAX_P}, and 128*n*r*p at most {MAX_MEMORY} bytes")

    def lines(self) -> bytes:
        return (f"kdf: scrypt\nsalt: {b64(self.salt)}\nn: {self.n}\nr: {self.r}\np: {self.p}\n").encode("ascii")


def new_kdf() -> Kdf:
    """A fresh random salt with the default work factors."""
    return Kdf(os.urandom(SALT_BYTES), DEFAULT_N, DEFAULT_R, DEFAULT_P)


def derive(passphrase: bytes, kdf: Kdf) -> bytes:
    """The 32-byte key scrypt derives from ``passphrase`` with ``kdf`` (slow on purpose)."""
    return Scrypt(salt=kdf.salt, length=32, n=kdf.n, r=kdf.r, p=kdf.p).derive(passphrase)


@dataclass(frozen=True, slots=True)
class ProtectedKey:
    """A parsed protected key file: what it says in clear, and its sealed private key."""

    kind: str
    public: bytes
    kdf: Kdf
    sealed: bytes

    def head(self) -> bytes:
        """The bytes before ``sealed:``: the associated data of the seal."""
        return MAGIC + f"kind: {self.kind}\npublic: {b64(self.public)}\n".encode("ascii") + self.kdf.lines()

    def render(self) -> bytes:
        return self.head() + f"sealed: {b64(self.sealed)}\n".encode("ascii")

    @staticmethod
    def parse(data: bytes, where: str) -> "ProtectedKey":
        """A protected key file's fields; anything else is ``StateError`` ``invalid_zone_key``
        naming ``where`` and the line. Accepts only the canonical rendering (it is re-rendered
        and compared), so one file has one reading."""
        def bad(why: str) -> StateError:
            return StateError(f"{where}: damaged protected key file ({why}). Restore it from a backup of this "
                              "home or from another node of the zone", code="invalid_zone_key")

        try:
            lines = data.decode("ascii").split("\n") if len(data) <= 1024 else []
        except UnicodeDecodeError:
            raise bad("not ASCII text") from None
        names = ("kind", "public", "kdf", "salt", "n", "r", "p", "sealed")
        if len(lines) != 10 or lines[0] + "\n" != MAGIC.decode() or lines[9] != "":
            raise bad("expected the header line and eight 'name: value' lines")
        fields = {}
        for name, line in zip(names, lines[1:9]):
            if not line.startswith(f"{name}: "):
                raise bad(f"line {name!r} missing or out of order")
            fields[name] = line[len(name) + 2:]
        if fields["kind"] not in KINDS or fields["kdf"] != "scrypt":
            raise bad(f"kind {fields['kind']!r} / kdf {fields['kdf']!r} unknown")
        try:
            kdf = Kdf(unb64(fields["salt"], "salt", SALT_BYTES), int(fields["n"]), int(fields["r"]), int(fields["p"]))
            parsed = ProtectedKey(fields["kind"], unb64(fields["public"], "public", 32), kdf,
                                  unb64(fields["sealed"], "sealed", 12 + 32 + 16))
        except (BundleError, ValueError) as err:
            raise bad(str(getattr(err, "message", err))) from None
        if parsed.render() != data:
            raise bad("not in canonical form")
        return parsed


def is_protected(data: bytes) -> bool:
    """Whether key file bytes are a protected key file (a raw key is 32 bytes of anything)."""
    return data.startswith(MAGIC)


def public_of(kind: str, secret: bytes) -> bytes:
    """The public key of a raw 32-byte private key of ``kind``."""
    key = Ed25519PrivateKey.from_private_bytes(secret) if kind == "ed25519" else X25519PrivateKey.from_private_bytes(secret)
    return raw_public(key)


def protect_key(kind: str, secret: bytes, kdf: Kdf, key: bytes) -> bytes:
    """The protected key file of the raw private key ``secret`` under ``key`` (:func:`derive` of
    the passphrase with ``kdf``)."""
    assert kind in KINDS and len(secret) == 32 and len(key) == 32
    unsealed = ProtectedKey(kind, public_of(kind, secret), kdf, b"")
    nonce = os.urandom(12)
    return ProtectedKey(kind, unsealed.public, kdf,
                        nonce + ChaCha20Poly1305(key).encrypt(nonce, secret, unsealed.head())).render()


def open_key(pk: ProtectedKey, key: bytes, where: str) -> bytes:
    """The raw private key ``pk`` seals, opened with ``key``. A key that does not open it is
    ``InputError`` ``passphrase_wrong`` (a wrong passphrase, or a file altered since); a
    private key that does not give the stated public key is ``invalid_zone_key``."""
    try:
        secret = ChaCha20Poly1305(key).decrypt(pk.sealed[:12], pk.sealed[12:], pk.head())
    except InvalidTag:
        raise InputError(f"{where}: the passphrase does not open this protected key (a wrong passphrase, or the file "
                         "was altered). Nothing was changed. Give the zone's passphrase: a file named by "
                         "--passphrase-file or BUNDLEKIT_PASSPHRASE_FILE, or type it at the prompt on a terminal",
                         code="passphrase_wrong") from None
    if len(secret) != 32 or public_of(pk.kind, secret) != pk.public:
        raise StateError(f"{where}: the protected key does not match the public key it states; the file is "
                         "damaged. Restore it from a backup of this home or from another node of the zone",
                         code="invalid_zone_key")
    return secret
