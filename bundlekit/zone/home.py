"""A zone's home folder: its keys, its identity and its state database.

Layout::

    HOME/
      zone.json              name, zone id, created (public)
      keys/signing.key       Ed25519 private key, raw 32 bytes, mode 0600
      keys/sealing.key       X25519 private key, raw 32 bytes, mode 0600
      state.db               SQLite state (trust store, sequences, records; see zone/db.py)
      packages/              content-addressed package store (sha256/ab/cdef...)
      outbox/                receipts waiting to travel back
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from bundlekit.core.atomic import fsync_dir, write_atomic
from bundlekit.core.clock import EpochSeconds
from bundlekit.errors import StateError
from bundlekit.format.card import IdentityCard
from bundlekit.format.crypto import key_id, raw_private, raw_public
from bundlekit.zone.db import Database
from bundlekit.zone.state import open_state, state_path

__all__ = ["Zone", "init_zone", "open_zone"]


@dataclass(frozen=True, slots=True)
class ZoneInfo:
    name: str
    zone_id: str
    created: int


class Zone:
    """An opened zone home. Keys are loaded lazily; the state database is opened on first use."""

    def __init__(self, home: Path, info: ZoneInfo) -> None:
        self.home = home
        self.info = info
        self._db: Database | None = None

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def zone_id(self) -> str:
        return self.info.zone_id

    @property
    def db(self) -> Database:
        """The zone's state (``zone/db.py``): reads, ``read()`` snapshots, ``transaction()`` writes."""
        if self._db is None:
            self._db = open_state(self.home)
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> "Zone":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def signing_key(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(self._read_key("signing.key"))

    def sealing_key(self) -> X25519PrivateKey:
        return X25519PrivateKey.from_private_bytes(self._read_key("sealing.key"))

    def _read_key(self, name: str) -> bytes:
        path = self.home / "keys" / name
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise StateError(f"{path}: key file missing; the zone home is incomplete", code="key_missing") from None
        if len(data) != 32:
            raise StateError(f"{path}: not a 32-byte key file", code="invalid_zone_key")
        return data

    @property
    def signing_key_id(self) -> str:
        return key_id("ed25519", raw_public(self.signing_key()))

    @property
    def sealing_key_id(self) -> str:
        return key_id("x25519", raw_public(self.sealing_key()))

    def card(self) -> IdentityCard:
        return IdentityCard(self.name, self.zone_id, raw_public(self.signing_key()),
                            raw_public(self.sealing_key()), self.info.created)

    def card_bytes(self) -> bytes:
        return self.card().render(self.signing_key())


def init_zone(home: Path, name: str, now: EpochSeconds) -> Zone:
    """Create a new zone home; refuses to touch an existing zone or a non-empty folder."""
    IdentityCard(name, "0" * 32, b"\0" * 32, b"\0" * 32, 0)  # validates the name early
    if (home / "zone.json").exists() or state_path(home).exists() or (home / "keys").exists():
        raise StateError(f"{home}: already holds a zone; refusing to overwrite it. Use another --home.",
                         code="zone_exists")
    if home.exists() and any(home.iterdir()):
        raise StateError(f"{home}: folder is not empty; choose an empty or new folder for the zone home",
                         code="home_not_empty")
    home.mkdir(parents=True, exist_ok=True)
    keys = home / "keys"
    keys.mkdir(mode=0o700)
    signing = Ed25519PrivateKey.generate()
    sealing = X25519PrivateKey.generate()
    write_atomic(keys / "signing.key", raw_private(signing), mode=0o600)
    write_atomic(keys / "sealing.key", raw_private(sealing), mode=0o600)
    info = ZoneInfo(name, secrets.token_hex(16), now)
    db = open_state(home, create=True)
    try:
        with db.transaction() as tx:
            for k, v in (("name", info.name), ("zone_id", info.zone_id), ("created", str(info.created))):
                tx.run("INSERT INTO meta(key, value) VALUES (?, ?)", (k, v))
    finally:
        db.close()
    write_atomic(home / "zone.json", (json.dumps(
        {"name": info.name, "zone_id": info.zone_id, "created": info.created}, indent=2) + "\n").encode())
    fsync_dir(home)
    return Zone(home, info)


def open_zone(home: Path) -> Zone:
    path = home / "zone.json"
    try:
        data = json.loads(path.read_text("utf-8"))
        info = ZoneInfo(str(data["name"]), str(data["zone_id"]), int(data["created"]))
    except FileNotFoundError:
        raise StateError(f"{home}: not a zone home (no zone.json). Create one with "
                         "`bundlekit init --zone NAME --home DIR`, or pass the right --home / BUNDLEKIT_HOME.",
                         code="not_a_zone") from None
    except (ValueError, KeyError, TypeError):
        raise StateError(f"{path}: damaged zone file", code="state_damaged") from None
    if not os.access(state_path(home), os.R_OK):
        raise StateError(f"{home}: state.db missing or unreadable", code="not_a_zone")
    return Zone(home, info)
