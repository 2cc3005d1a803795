"""The zone's own public keys, recorded in its state, and the check that a key file holds one of them.

A key file of the right kind is well formed whoever made it: another zone's key, or 32 random
bytes, opens as well as the zone's own. So the zone records the public keys it was created
with in its state (``meta`` ``zone_signing_public`` and ``zone_sealing_public``, base64), and
every command that loads a private key first compares the public part of each key file with
them (:func:`check_key_files`; a protected file states its public key, so no passphrase is
needed, and opening it proves the private key matches). A signing key is the zone's when it is
the recorded one or is linked to it by the zone's own rotation statements, in either direction
(retired keys are older, a node that has not yet followed a rotation holds an older one). The
state is shared by all nodes of a zone, so one record serves them all (decision 675).

A zone made before the record existed has none: its keys are recorded, as the key files hold
them, by its next change (``zone/audit.py``), and until then nothing can be compared.
"""

from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path
from typing import NamedTuple

from bundlekit.errors import BundleError, StateError
from bundlekit.format.crypto import key_id
from bundlekit.format.keyfile import parse_rotation
from bundlekit.zone.db import Reader, Writer
from bundlekit.zone.keyfiles import RESTORE, read_public

__all__ = ["SIGNING", "SEALING", "Owned", "record", "recorded", "linked", "file_problems", "check_key_files",
           "signing_publics"]

SIGNING = "zone_signing_public"
SEALING = "zone_sealing_public"


class Owned(NamedTuple):
    """The zone's public keys: every signing key by key id, and the sealing key."""

    signing: dict[str, bytes]
    sealing: bytes


def record(tx: Writer, signing: bytes, sealing: bytes) -> None:
    """Record ``signing`` and ``sealing`` (32-byte public keys) as the zone's, unless it has a record."""
    for name, public in ((SIGNING, signing), (SEALING, sealing)):
        tx.run("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO NOTHING",
               (name, base64.b64encode(public).decode("ascii")))


def _public(value: object) -> bytes | None:
    try:
        raw = base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == 32 else None


def recorded(db: Reader, zone_id: str) -> Owned | None:
    """The zone's public keys as its state records them (None: a zone made before the record,
    not yet recorded). ``StateError`` ``state_damaged`` when the record is not two 32-byte keys."""
    rows = {r["key"]: r["value"] for r in db.all("SELECT key, value FROM meta WHERE key IN (?, ?)",
                                                  (SIGNING, SEALING))}
    if not rows:
        return None
    signing, sealing = _public(rows.get(SIGNING)), _public(rows.get(SEALING))
    if signing is None or sealing is None:
        raise StateError(f"the zone's record of its own public keys (meta {SIGNING}, {SEALING}) is damaged; "
                         "restore the state from a backup", code="state_damaged")
    return Owned(linked(db, zone_id, signing), sealing)


def linked(db: Reader, zone_id: str, signing: bytes) -> dict[str, bytes]:
    """``signing`` (a public key) and every key the zone's own rotation statements link to it,
    either way, by key id."""
    links: list[tuple[bytes, bytes]] = []
    for row in db.all("SELECT statement FROM rotations ORDER BY issued"):
        st = parse_rotation(json.loads(row["statement"]), "rotation statement")
        if st.zone_id == zone_id:
            links.append((st.old_key, st.new_key))
    keys = {key_id("ed25519", signing): signing}
    grown = True
    while grown:  # the recorded key and every key a rotation of this zone links to it
        grown = False
        for old, new in links:
            for a, b in ((old, new), (new, old)):
                if key_id("ed25519", a) in keys and key_id("ed25519", b) not in keys:
                    keys[key_id("ed25519", b)] = b
                    grown = True
    return keys


def signing_publics(home: Path, db: Reader, zone_id: str) -> frozenset[bytes]:
    """Every signing public key (32 bytes) of the zone, past and present: the recorded one and
    those its rotations link to it, or, for a zone made before the record, the public part of
    ``keys/signing.key`` (no passphrase needed). Empty when neither can be read: the caller uses
    it to word a refusal only (a bundle this zone signed itself, review relayatk F3), never to
    decide one."""
    try:
        owned = recorded(db, zone_id)
        if owned is not None:
            return frozenset(owned.signing.values())
        return frozenset({read_public(home / "keys" / "signing.key", "ed25519")})
    except (BundleError, OSError):
        return frozenset()


def _key_files(keys: Path) -> list[tuple[Path, str]]:
    found = [(keys / "signing.key", "ed25519"), (keys / "sealing.key", "x25519")]
    retired = keys / "retired"
    if retired.is_dir():
        found += [(p, "ed25519") for p in sorted(retired.glob("*.key"))]
    return found


def file_problems(home: Path, owned: Owned, zone_name: str) -> list[tuple[Path, str]]:
    """Each key file of ``home`` whose public key is not one of ``owned``, with what is wrong
    (reads public parts only: no passphrase). A missing or damaged file raises its own error."""
    problems: list[tuple[Path, str]] = []
    for path, kind in _key_files(home / "keys"):
        public = read_public(path, kind)
        mine = owned.sealing == public if kind == "x25519" else key_id("ed25519", public) in owned.signing
        if not mine:
            what = "sealing" if kind == "x25519" else "signing"
            problems.append((path, f"{path}: holds {what} key {key_id(kind, public)}, which is not one of zone "
                                   f"{zone_name}'s (the zone's state records its keys): it is another zone's key "
                                   f"or was replaced. Nothing was changed. {RESTORE}"))
    return problems


def check_key_files(home: Path, db: Reader, zone_id: str, zone_name: str) -> None:
    """Refuse (``StateError`` ``invalid_zone_key``, naming the first file) when a key file of
    ``home`` is not the zone's own; nothing when the zone has no record yet."""
    owned = recorded(db, zone_id)
    if owned is None:
        return
    problems = file_problems(home, owned, zone_name)
    if problems:
        path, message = problems[0]
        raise StateError(message, code="invalid_zone_key", details={"file": str(path)})
