"""Key rotation, both sides: issuing a statement (source) and applying one (receiver).

The source zone keeps its retired signing keys in ``keys/retired/`` for
:data:`ROTATION_WINDOW`: every bundle it signs in that window (release bundles and receipts
alike, :func:`zone_signing`) carries the rotation statements and is co-signed by the retired
keys, so a receiver that has not yet seen the rotation still recognises the zone, learns the
new key from the statement, and from then on refuses the old key. The zone's other nodes take
the new key from the zone's state (``zone/keyring.py``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bundlekit.core.clock import EpochSeconds
from bundlekit.format.container import SignatureRecord
from bundlekit.format.crypto import key_id, raw_private, raw_public, sign
from bundlekit.format.keyfile import RotationStatement, make_rotation, parse_rotation
from bundlekit.zone.db import Writer
from bundlekit.zone.home import Zone
from bundlekit.zone.keyring import signing_name

__all__ = ["ROTATION_WINDOW", "ZoneSigning", "rotate_key", "active_rotations", "zone_signing", "signing_at_commit", "apply_rotations"]

ROTATION_WINDOW = 90 * 86400


def rotate_key(zone: Zone, now: EpochSeconds) -> RotationStatement:
    """Replace the zone's signing key; the old one is retired (kept to co-sign for a while).

    One transaction records the statement and both keys, wrapped, in the zone's state, where
    the zone's other nodes find them (``zone/keyring.py``, decision 189); under its write lock
    a rotation another node made meanwhile is followed first, so the zone's keys stay one
    chain. This node's key files change only after the commit. Raises the key errors of
    :meth:`Zone.signing_key` and the state's errors; on any of them nothing changed.
    """
    ring = zone.keyring
    new = Ed25519PrivateKey.generate()
    with zone.db.transaction() as tx:
        old = ring.current_signing_key(tx)
        statement = make_rotation(zone.zone_id, old, new, now)
        for key in (old, new):
            ring.publish(tx, signing_name(key_id("ed25519", raw_public(key))), raw_private(key), now)
        tx.run("INSERT INTO rotations(new_key_id, statement, issued) VALUES (?, ?, ?)",
               (key_id("ed25519", raw_public(new)), json.dumps(statement.to_dict()), now))
    ring.install(new, [old])
    zone.forget_signing_key()
    return statement


def active_rotations(zone: Zone, now: EpochSeconds) -> list[tuple[RotationStatement, Ed25519PrivateKey | None]]:
    """Statements to carry in a bundle exported now, each with its retired key (to co-sign; None
    when neither this node nor the zone's state holds it).

    Every statement is checked (``invalid_rotation``) before anything is written.
    """
    out = []
    ring = zone.keyring
    for row in zone.db.all("SELECT statement FROM rotations WHERE issued > ? ORDER BY issued",
                           (now - ROTATION_WINDOW,)):
        st = parse_rotation(json.loads(row["statement"]), "rotation statement")
        out.append((st, ring.retired_key(zone.db, key_id("ed25519", st.old_key))))
    return out


@dataclass(frozen=True, slots=True)
class ZoneSigning:
    """What a bundle the zone signs now is signed with: its signing ``key``, and, within the
    rotation window, the ``statements`` the bundle carries and the retired keys that co-sign
    (``cosigners``; spec/bundle-format.md §6.4)."""

    key: Ed25519PrivateKey
    statements: tuple[RotationStatement, ...]
    cosigners: tuple[Ed25519PrivateKey, ...]

    @property
    def key_id(self) -> str:
        return key_id("ed25519", raw_public(self.key))

    def rotations(self) -> tuple[dict[str, Any], ...]:
        """The statements as the manifest's ``rotations[]`` carries them."""
        return tuple(st.to_dict() for st in self.statements)

    def signers(self, kind: str) -> list[Callable[[bytes], SignatureRecord]]:
        """Signature makers for a bundle of ``kind`` (its signing domain): the zone key first."""
        return [_signer(k, kind) for k in (self.key, *self.cosigners)]


def _signer(key: Ed25519PrivateKey, kind: str) -> Callable[[bytes], SignatureRecord]:
    return lambda message: SignatureRecord(raw_public(key), sign(key, kind, message))


def zone_signing(zone: Zone, now: EpochSeconds) -> ZoneSigning:
    """How every bundle the zone writes at ``now`` is signed (release bundles and receipts).

    Raises ``VerificationError`` ``invalid_rotation`` for a recorded statement that does not
    verify, and the key errors of :meth:`Zone.signing_key`.
    """
    rotations = active_rotations(zone, now)
    return ZoneSigning(zone.signing_key(), tuple(st for st, _ in rotations),
                       tuple(k for _, k in rotations if k is not None))


def signing_at_commit(zone: Zone, now: EpochSeconds) -> ZoneSigning:
    """:func:`zone_signing` read again inside the write transaction that records what it signs.

    Work done before that transaction (packing an export, the logs of a receipt) can take long,
    and a rotation may commit meanwhile, on this node or another. Inside the transaction the
    write lock keeps any further rotation out until the commit, so the key read here is the
    zone's key when the bundle is recorded: a rotation made meanwhile is followed (the new key
    signs, its statement is carried and the retired key co-signs), never signed past with the
    key it retired (decision 422). Raises what :func:`zone_signing` raises."""
    zone.forget_signing_key()
    return zone_signing(zone, now)


def apply_rotations(tx: Writer, source_zone_id: str, statements: list[RotationStatement],
                    now: EpochSeconds) -> list[str]:
    """Receiver side, inside the import transaction: trust each new key, retire each old one.

    ``statements`` are already parsed and checked (the import plan does it); returns the new key ids.
    """
    applied: list[str] = []
    pending = sorted((st for st in statements if st.zone_id == source_zone_id), key=lambda s: s.issued)
    # A chain of rotations (A to B, then B to C) applies in chain order whatever the order of the
    # statements (two rotations can share an ``issued`` second): repeat while one applies.
    while pending:
        done = [st for st in pending if _apply_one(tx, source_zone_id, st, now)]
        if not done:
            break
        applied += [key_id("ed25519", st.new_key) for st in done]
        pending = [st for st in pending if st not in done]
    return applied


def _apply_one(tx: Writer, source_zone_id: str, st: RotationStatement, now: EpochSeconds) -> bool:
    """Apply one statement if its old key is a current zone key of the source and its new key
    is unknown; returns whether it applied."""
    old_id, new_id = key_id("ed25519", st.old_key), key_id("ed25519", st.new_key)
    known_old = tx.one("SELECT 1 AS hit FROM trusted_keys WHERE key_id = ? AND zone_id = ? AND role = 'zone'",
                       (old_id, source_zone_id))
    revoked = tx.one("SELECT 1 AS hit FROM revoked_keys WHERE key_id = ?", (old_id,))
    known_new = tx.one("SELECT 1 AS hit FROM trusted_keys WHERE key_id = ? AND zone_id = ?", (new_id, source_zone_id))
    label = tx.scalar("SELECT name FROM trusted_zones WHERE zone_id = ?", (source_zone_id,))
    if known_old is None or revoked is not None or known_new is not None or label is None:
        return False
    tx.run("INSERT INTO trusted_keys(key_id, zone_id, public_key, role, label, added) VALUES (?,?,?,?,?,?)",
           (new_id, source_zone_id, st.new_key, "zone", label, now))
    tx.run("INSERT INTO revoked_keys(key_id, revoked, reason) VALUES (?, ?, ?) ON CONFLICT(key_id) DO NOTHING",
           (old_id, now, f"rotated to {new_id}"))
    return True
