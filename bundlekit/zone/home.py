"""A zone's home folder: its keys, its identity and where its state and packages are.

Layout::

    HOME/                    mode 0700: only the zone's owner enters
      zone.json              name, zone id, created (public)
      keys/signing.key       Ed25519 private key, raw 32 bytes or passphrase-protected (spec/keys.md), 0600
      keys/sealing.key       X25519 private key, the same
      keys/retired/          signing keys replaced by `rotate-key` (co-sign for 90 days), 0600
      keys/ssh_client.key    the zone's SSH client key (OpenSSH format, 0600), made by `targets ssh-key`
      keys/state.password    the PostgreSQL state's password, if one was given (0600)
      bundlekit.conf         node settings: BUNDLEKIT_STATE, BUNDLEKIT_PACKAGE_STORE (0600; optional)
      state.db               SQLite state (trust store, sequences, records; see zone/db.py),
                             unless bundlekit.conf names a PostgreSQL state
      packages/              content-addressed package store (sha256/ab/cdef...), unless
                             bundlekit.conf names a shared one
      outbox/                receipts waiting to travel back

Several homes (nodes, each on its own machine) can be one zone: same keys, one PostgreSQL
state, one shared package store (``bundlekit join``, ``zone/join.py``, decision 181); keys that
appear after a node joined reach it wrapped through the state (``zone/keyring.py``, decision 189).
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from bundlekit.core.atomic import fsync_dir, write_atomic
from bundlekit.core.clock import EpochSeconds
from bundlekit.core.files import unusable_path
from bundlekit.errors import StateError
from bundlekit.format.card import IdentityCard
from bundlekit.format.crypto import key_id, raw_private, raw_public
from bundlekit.zone.audit import Auditor, begin_trail
from bundlekit.zone.db import Database
from bundlekit.format.passphrase import derive, new_kdf, protect_key
from bundlekit.zone.keyfiles import read_key_file, read_public
from bundlekit.zone.keyring import Keyring
from bundlekit.zone.owned_keys import check_key_files
from bundlekit.zone.location import (Settings, StateURL, read_password, read_settings, settings_path, store_password,
                                     write_settings)
from bundlekit.zone.state import Found, open_state, open_url, state_path, stored_zone
from bundlekit.zone.store import PackageStore, check_new_store, check_store, mark_store

__all__ = ["Zone", "ZoneInfo", "init_zone", "open_zone", "check_new_home", "stored_zone", "write_zone_file"]


@dataclass(frozen=True, slots=True)
class ZoneInfo:
    name: str
    zone_id: str
    created: int


class Zone:
    """An opened zone home. Keys are loaded lazily; the state database is opened on first use."""

    def __init__(self, home: Path, info: ZoneInfo, settings: Settings | None = None) -> None:
        self.home = home
        self.info = info
        self.settings = settings if settings is not None else read_settings(home)
        self._db: Database | None = None
        self._signing: Ed25519PrivateKey | None = None
        self._sealing: X25519PrivateKey | None = None
        self._store_checked = False
        self._auditor: Auditor | None = None
        self._keys_checked = False

    @property
    def store(self) -> PackageStore:
        """The zone's package store: the shared folder the settings name, else ``HOME/packages``.

        A shared folder is checked to be this zone's on first use (``store_unavailable``,
        ``store_mismatch``: ``zone/store.py`` :func:`check_store`), before anything reads or
        writes it: a node pointed at the wrong folder says so instead of failing later."""
        root = self.settings.package_store
        if root is None:
            return PackageStore(self.home / "packages", self.home / "staging")
        if not self._store_checked:
            check_store(root, self.zone_id, self.name, where=f"BUNDLEKIT_PACKAGE_STORE in {settings_path(self.home)}",
                        listed=lambda: (r["sha256"] for r in self.db.all("SELECT sha256 FROM packages LIMIT 200")))
            self._store_checked = True
        return PackageStore(root)

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
            self._db = open_state(self.home, expect=self._this_zone)
            self._db.watcher = self.auditor  # the audit trail: every write is recorded (zone/audit.py)
        return self._db

    @property
    def auditor(self) -> Auditor:
        """What records this zone's changes in its audit trail: one for the opened zone, whichever
        connection its state is on (``zone/audit.py``)."""
        if self._auditor is None:
            self._auditor = Auditor(self)
        return self._auditor

    def _this_zone(self, found: Found) -> None:
        """Refuse a shared state that is not this home's zone, before anything is migrated in it."""
        if found.zone_id is None and (self.home / PENDING).is_file():
            raise StateError(f"{self.home}: bundlekit init of this zone did not finish (it was stopped before it "
                             f"recorded the zone in {self.settings.state}); run the same init command again to "
                             "finish it", code="not_a_zone")
        if found.zone_id != self.zone_id:
            raise StateError(f"{self.home}: bundlekit.conf points at {self.settings.state}, which holds "
                             f"{found.describe()}, not this home's zone {self.name} ({self.zone_id}); nothing was "
                             "changed in it. Fix BUNDLEKIT_STATE in the home's bundlekit.conf", code="zone_mismatch")

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> "Zone":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def keyring(self) -> Keyring:
        """The zone's keys as this node holds them, and their wrapped copies in the state (``zone/keyring.py``)."""
        return Keyring(self.home / "keys", self.zone_id, self.sealing_key())

    def signing_key(self) -> Ed25519PrivateKey:
        """The zone's signing key now: this node's key file, brought up to date first when another
        node rotated the key (decision 189). Read once per opened zone."""
        if self._signing is None:
            self.check_key_files()
            self._signing = self.keyring.current_signing_key(self.db)
        return self._signing

    def forget_signing_key(self) -> None:
        """Read the signing key afresh at its next use (after this node rotated it)."""
        self._signing = None

    def sealing_key(self) -> X25519PrivateKey:
        """The zone's sealing key (``key_missing``, ``invalid_zone_key``; when the keys are
        protected, the passphrase refusals of ``zone/keyfiles.py``). Read once per opened zone."""
        if self._sealing is None:
            self.check_key_files()
            self._sealing = X25519PrivateKey.from_private_bytes(read_key_file(self.home / "keys" / "sealing.key",
                                                                              "x25519"))
        return self._sealing

    def check_key_files(self) -> None:
        """Refuse (``invalid_zone_key``, naming the file) key files that are not this zone's own
        keys as its state records them (``zone/owned_keys.py``), before any private key is read
        or anything changed; public parts only, once per opened zone."""
        if not self._keys_checked:
            check_key_files(self.home, self.db, self.zone_id, self.name)
            self._keys_checked = True

    @property
    def signing_key_id(self) -> str:
        return key_id("ed25519", raw_public(self.signing_key()))

    @property
    def sealing_key_id(self) -> str:
        """The sealing key's id, read without the passphrase (a protected key file states its public key)."""
        if self._sealing is not None:
            return key_id("x25519", raw_public(self._sealing))
        return key_id("x25519", read_public(self.home / "keys" / "sealing.key", "x25519"))

    def card(self) -> IdentityCard:
        return IdentityCard(self.name, self.zone_id, raw_public(self.signing_key()),
                            raw_public(self.sealing_key()), self.info.created)

    def card_bytes(self) -> bytes:
        return self.card().render(self.signing_key())


def check_new_home(home: Path) -> None:
    """Refuse a folder that holds a zone (``zone_exists``) or anything else (``home_not_empty``),
    and a path the system will not let us use (``path_unusable``: a name too long, a place no
    folder can be made)."""
    try:
        _check_new_home(home)
    except OSError as error:
        raise unusable_path(home, error, "--home") from None


def _check_new_home(home: Path) -> None:
    if (home / "zone.json").exists() or state_path(home).exists() or (home / "keys").exists():
        raise StateError(f"{home}: already holds a zone; refusing to overwrite it. Use another --home.",
                         code="zone_exists")
    if home.exists() and any(home.iterdir()):
        raise StateError(f"{home}: folder is not empty; choose an empty or new folder for the zone home",
                         code="home_not_empty")


def init_zone(home: Path, name: str, now: EpochSeconds, *, state: StateURL | None = None,
              password: str | None = None, package_store: Path | None = None,
              passphrase: bytes | None = None) -> Zone:
    """Create a new zone home; refuses to touch an existing zone or a non-empty folder.

    ``state`` puts the zone's state in that PostgreSQL database (it must hold no zone:
    ``state_not_empty``; ``password`` is kept in ``keys/state.password``); ``package_store``
    is a folder for the package store other nodes can share (created if missing; it must be
    empty, ``store_mismatch``), marked as this zone's (``zone/store.py`` :data:`MARKER`).
    ``passphrase`` protects the new private keys at rest from the start (``zone/keyfiles.py``).
    """
    IdentityCard(name, "0" * 32, b"\0" * 32, b"\0" * 32, 0)  # validates the name early
    if state is not None and (home / PENDING).is_file():
        return _finish_init(home, name, state, password, package_store)
    check_new_home(home)
    settings = Settings(state, package_store.resolve() if package_store is not None else None)
    if settings.package_store is not None:
        check_new_store(settings.package_store, "--package-store")
    db = (open_url(state, password, create=True, expect=_no_zone(state), password_from="--state-password-file")
          if state is not None else None)
    try:
        if settings.package_store is not None:
            try:
                settings.package_store.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise unusable_path(settings.package_store, error, "--package-store") from None
        try:
            home.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise unusable_path(home, error, "--home") from None
        # Only the zone's owner may enter the home: the worker user must not reach the keys.
        os.chmod(home, 0o700)
        keys = home / "keys"
        keys.mkdir(mode=0o700)
        signing = Ed25519PrivateKey.generate()
        sealing = X25519PrivateKey.generate()
        if passphrase is None:
            write_atomic(keys / "signing.key", raw_private(signing), mode=0o600)
            write_atomic(keys / "sealing.key", raw_private(sealing), mode=0o600)
        else:
            kdf = new_kdf()
            wrap = derive(passphrase, kdf)
            write_atomic(keys / "signing.key", protect_key("ed25519", raw_private(signing), kdf, wrap), mode=0o600)
            write_atomic(keys / "sealing.key", protect_key("x25519", raw_private(sealing), kdf, wrap), mode=0o600)
        if password is not None:
            store_password(home, password)
        if settings != Settings():
            write_settings(home, settings)
        info = ZoneInfo(name, secrets.token_hex(16), now)
        if db is None:  # SQLite: the state is the home's own file; a home killed half made is deleted and made again
            if settings.package_store is not None:  # every open checks the mark (review v32-att N2)
                mark_store(settings.package_store, info.zone_id, info.name)
            db = open_state(home, create=True)
            _record_zone(db, info, None)
            write_zone_file(home, info)
            return _begun(Zone(home, info, settings), signing, sealing)
        # A shared state: the home is made whole first, and the zone recorded in the state last, so
        # the state never names a zone whose home is not whole. Killed between, the same command
        # run again finishes it (PENDING).
        write_atomic(home / PENDING, _info_json(info))
        if settings.package_store is not None:
            mark_store(settings.package_store, info.zone_id, info.name)  # what join and every node check
        write_zone_file(home, info)
        _record_zone(db, info, state)
    finally:
        if db is not None:
            db.close()
    (home / PENDING).unlink()
    fsync_dir(home)
    return _begun(Zone(home, info, settings), signing, sealing)


def _begun(zone: Zone, signing: Ed25519PrivateKey | None = None, sealing: X25519PrivateKey | None = None) -> Zone:
    """``zone``, just made, with its audit trail begun (the first entry records the zone's
    creation, signed with the keys just made, held in memory: a protected home asks for no
    passphrase at init), returned as a zone just opened: nothing of that read or cached."""
    if signing is not None and sealing is not None:
        zone._signing, zone._sealing = signing, sealing
    with zone:
        begin_trail(zone)
    return Zone(zone.home, zone.info, zone.settings)


#: In a home while ``init --state`` records its zone in the shared state: the init did not finish.
PENDING = "init.pending"


def _info_json(info: ZoneInfo) -> bytes:
    return (json.dumps({"name": info.name, "zone_id": info.zone_id, "created": info.created}, indent=2)
            + "\n").encode()


def _record_zone(db: Database, info: ZoneInfo, state: StateURL | None) -> None:
    """Record ``info`` as the zone of the state (nothing when it already is: an init finished again)."""
    with db.transaction() as tx:
        found = tx.scalar("SELECT value FROM meta WHERE key = 'zone_id'")
        if found == info.zone_id:
            return
        if found is not None:  # another node was quicker
            raise StateError(f"{state}: another node created a zone in this database first; use bundlekit "
                             "join", code="state_not_empty")
        for k, v in (("name", info.name), ("zone_id", info.zone_id), ("created", str(info.created))):
            tx.run("INSERT INTO meta(key, value) VALUES (?, ?)", (k, v))


def _finish_init(home: Path, name: str, state: StateURL, password: str | None,
                 package_store: Path | None) -> Zone:
    """Finish an ``init --state`` that was killed before it recorded its zone (``PENDING`` is in
    ``home``): the same command again records the zone made then; another is ``zone_exists``."""
    try:
        data = json.loads((home / PENDING).read_text("utf-8"))
        info = ZoneInfo(str(data["name"]), str(data["zone_id"]), int(data["created"]))
    except (OSError, ValueError, KeyError, TypeError):
        raise StateError(f"{home / PENDING}: damaged; this home's init cannot be finished. Use another --home",
                         code="state_damaged") from None
    settings = read_settings(home)
    store = package_store.resolve() if package_store is not None else None
    if (name, state, store) != (info.name, settings.state, settings.package_store):
        raise StateError(f"{home}: bundlekit init of zone {info.name!r} into {settings.state} did not finish "
                         "here; run that same command again (same --zone, --state and --package-store) to finish "
                         "it, or use another --home", code="zone_exists")

    def ours(found: Found) -> None:
        if found.zone_id not in (None, info.zone_id):
            raise StateError(f"{state}: the database now holds {found.describe()}; nothing was changed in it. Use "
                             "another --home and database", code="state_not_empty")

    db = open_url(state, password if password is not None else read_password(home), create=True, expect=ours,
                  password_from="--state-password-file")
    try:
        if password is not None:
            store_password(home, password)
        if settings.package_store is not None:
            mark_store(settings.package_store, info.zone_id, info.name)
        write_zone_file(home, info)
        _record_zone(db, info, state)
    finally:
        db.close()
    (home / PENDING).unlink()
    fsync_dir(home)
    return _begun(Zone(home, info, settings))


def _no_zone(state: StateURL) -> Callable[[Found], None]:
    """The check ``init --state`` makes before anything is migrated: the database holds no zone."""
    def check(found: Found) -> None:
        if found.zone_id:
            raise StateError(f"{state}: the database already holds {found.describe()}; nothing was changed in it. "
                             "To add a node to that zone use bundlekit join --from EXISTING_HOME with its --state, or give an "
                             "empty database", code="state_not_empty")
    return check


def write_zone_file(home: Path, info: ZoneInfo) -> None:
    write_atomic(home / "zone.json", _info_json(info))
    fsync_dir(home)


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
    settings = read_settings(home)
    if settings.state is None and not os.access(state_path(home), os.R_OK):
        raise StateError(f"{home}: state.db missing or unreadable", code="not_a_zone")
    return Zone(home, info, settings)
