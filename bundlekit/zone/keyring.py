"""The zone's private keys shared by its nodes: files in each home, wrapped copies in the state.

Every node signs, seals and connects with the key files of its own home (``keys/``, 0600),
copied from another node when it joined (``zone/join.py``). A key that appears after a node
joined (the signing key `rotate-key` makes on another node, the SSH client key `targets
ssh-key` makes there) reaches the other nodes through the zone's state, *wrapped*: encrypted
and authenticated with ChaCha20-Poly1305 under a key derived (HKDF-SHA256) from the zone's
sealing key, which every node holds and the database never sees (decision 189). So:

* a private key is never in the database in clear, and whoever reads the database without a
  node's key files learns nothing from it;
* whoever can *write* the database without those files cannot plant a key: a wrapped key is
  accepted only if it authenticates under the zone's wrapping key, bound to the zone id and
  the key's name (``zone_key_damaged`` otherwise);
* a node moves to a new signing key only along the zone's rotation statements (signed by the
  old and the new key, ``zone/rotation.py``), starting from the key it holds: the database
  cannot roll a node back to an older key.

Rows of ``zone_keys``: ``name`` (``signing/<key id>`` for each signing key the zone has had
since its first rotation, ``ssh_client`` for the SSH client key), ``wrapped`` (nonce, 12
bytes, then ciphertext and tag), ``added``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bundlekit.core.hints import home_flag
from bundlekit.core.clock import EpochSeconds
from bundlekit.errors import StateError
from bundlekit.format.crypto import key_id, raw_private, raw_public
from bundlekit.format.keyfile import RotationStatement, parse_rotation
from bundlekit.zone.db import Reader, Writer
from bundlekit.zone.keyfiles import RESTORE, read_key_file, write_key_file

__all__ = ["Keyring", "signing_name", "SSH_CLIENT", "RESTORE", "read_key_file"]

_WRAP_INFO = b"bundlekit/1 zone key wrap"
_AD_DOMAIN = b"bundlekit/1 zone key"
#: The name of the zone's SSH client key in ``zone_keys``.
SSH_CLIENT = "ssh_client"


def signing_name(kid: str) -> str:
    """The ``zone_keys`` name of the signing key with key id ``kid``."""
    return f"signing/{kid}"


class Keyring:
    """One node's view of the zone's keys: its home's ``keys/`` folder and the zone's state.

    ``sealing`` is the zone's sealing key (every node has the same), from which the wrapping
    key is derived; ``zone_id`` binds every wrapped key to the zone.
    """

    def __init__(self, keys: Path, zone_id: str, sealing: X25519PrivateKey) -> None:
        self.keys = keys
        self.zone_id = zone_id
        self._aead = ChaCha20Poly1305(HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                                           info=_WRAP_INFO).derive(raw_private(sealing)))

    def _ad(self, name: str) -> bytes:
        parts = [_AD_DOMAIN, self.zone_id.encode(), name.encode()]
        return b"".join(len(p).to_bytes(4, "big") + p for p in parts)

    def wrap(self, name: str, secret: bytes) -> bytes:
        """``secret`` encrypted and authenticated for the state, bound to this zone and ``name``."""
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, secret, self._ad(name))

    def unwrap(self, name: str, wrapped: bytes) -> bytes:
        """The secret of a ``zone_keys`` row; ``StateError`` ``zone_key_damaged`` if it does not
        authenticate (altered, or not written by a node of this zone)."""
        try:
            return self._aead.decrypt(bytes(wrapped[:12]), bytes(wrapped[12:]), self._ad(name))
        except InvalidTag:
            raise StateError(f"the zone key {name!r} in the zone's state does not authenticate under this zone's "
                             "key: it was altered, or written by something that is not a node of this zone. Nothing "
                             f"was used; restore the state from a backup, or run `bundlekit rotate-key{home_flag()}` on a node "
                             "that signs with the zone's current key", code="zone_key_damaged") from None

    def fetch(self, db: Reader, name: str) -> bytes | None:
        """The secret stored under ``name``, or None when the state has none."""
        wrapped = db.scalar("SELECT wrapped FROM zone_keys WHERE name = ?", (name,))
        return None if wrapped is None else self.unwrap(name, bytes(wrapped))

    def publish(self, tx: Writer, name: str, secret: bytes, now: EpochSeconds) -> bytes:
        """Store ``secret`` under ``name`` unless a secret is already stored there (another node
        was first); returns the stored one, which every node then uses."""
        tx.run("INSERT INTO zone_keys(name, wrapped, added) VALUES (?, ?, ?) ON CONFLICT(name) DO NOTHING",
               (name, self.wrap(name, secret), now))
        stored = self.fetch(tx, name)
        assert stored is not None
        return stored

    # --- signing keys ---------------------------------------------------------------------

    def local_signing_key(self) -> Ed25519PrivateKey:
        """The signing key file of this node (``key_missing``, ``invalid_zone_key``)."""
        return Ed25519PrivateKey.from_private_bytes(read_key_file(self.keys / "signing.key"))

    def retired_key(self, db: Reader, kid: str) -> Ed25519PrivateKey | None:
        """A retired signing key: this node's file, else the zone's wrapped copy, else None."""
        path = self.keys / "retired" / f"{kid}.key"
        if path.is_file():
            key = Ed25519PrivateKey.from_private_bytes(read_key_file(path))
            if key_id("ed25519", raw_public(key)) != kid:  # it would co-sign as another key
                raise StateError(f"{path}: holds another key than the retired key {kid} its name says; it is "
                                 f"damaged. Delete it (the zone's state keeps a copy where nodes share keys) or "
                                 f"{RESTORE[0].lower()}{RESTORE[1:]}", code="invalid_zone_key")
            return key
        secret = self.fetch(db, signing_name(kid))
        return None if secret is None else _signing_key(secret, kid)

    def current_signing_key(self, db: Reader) -> Ed25519PrivateKey:
        """The zone's signing key now, as this node must sign with it: :meth:`follow`, and when
        this node was behind, :meth:`install` what it found (the keys it leaves stay as retired
        files: they co-sign during the rotation window)."""
        key, left = self.follow(db)
        if left:
            self.install(key, left)
        return key

    def follow(self, db: Reader) -> tuple[Ed25519PrivateKey, list[Ed25519PrivateKey]]:
        """The zone's newest signing key, and the older ones this node's key leads through to it.

        Starts from this node's key file and follows the zone's rotation statements (each
        verified, ``invalid_rotation``), taking each newer key from the state
        (``zone_key_damaged`` if one does not authenticate or is not the key its statement
        names). Writes nothing. Raises ``StateError`` ``node_key_outdated`` when a newer key is
        not in the state (a rotation recorded by a bundlekit that did not share keys).
        """
        key = self.local_signing_key()
        chain = _rotations_by_old_key(db, self.zone_id)
        left: list[Ed25519PrivateKey] = []
        seen: set[str] = set()
        while (kid := key_id("ed25519", raw_public(key))) in chain and kid not in seen:
            seen.add(kid)
            new_id = key_id("ed25519", chain[kid].new_key)
            secret = self.fetch(db, signing_name(new_id))
            if secret is None:
                raise StateError(
                    f"{self.keys}: this node signs with key {kid}, which the zone replaced by {new_id}, but the "
                    "zone's state does not hold the new key (it was rotated by an older bundlekit). Copy "
                    "keys/signing.key and keys/retired/ from the node that rotated, or join this node again from it",
                    code="node_key_outdated")
            left.append(key)
            key = _signing_key(secret, new_id)
        return key, left

    def install(self, key: Ed25519PrivateKey, retired: list[Ed25519PrivateKey]) -> None:
        """Make ``key`` this node's signing key, keeping each of ``retired`` as a retired key file
        (protected, as the signing key, when the home's keys are: ``zone/keyfiles.py``)."""
        folder = self.keys / "retired"
        folder.mkdir(mode=0o700, exist_ok=True)
        for old in retired:
            write_key_file(self.keys, f"retired/{key_id('ed25519', raw_public(old))}.key", "ed25519", raw_private(old))
        write_key_file(self.keys, "signing.key", "ed25519", raw_private(key))


def _signing_key(secret: bytes, kid: str) -> Ed25519PrivateKey:
    """The signing key ``secret`` holds, which must be the key ``kid`` names."""
    key = Ed25519PrivateKey.from_private_bytes(secret) if len(secret) == 32 else None
    if key is None or key_id("ed25519", raw_public(key)) != kid:
        raise StateError(f"the zone key {signing_name(kid)!r} in the zone's state is not the key its name says; "
                         "nothing was used", code="zone_key_damaged")
    return key


def _rotations_by_old_key(db: Reader, zone_id: str) -> dict[str, RotationStatement]:
    """The zone's own rotation statements by the id of the key each retires (the latest one
    when, before decision 189, two nodes rotated one key at once)."""
    out: dict[str, RotationStatement] = {}
    for row in db.all("SELECT statement FROM rotations ORDER BY issued"):
        st = parse_rotation(json.loads(row["statement"]), "rotation statement")
        if st.zone_id == zone_id:
            out[key_id("ed25519", st.old_key)] = st
    return out
