"""Another node of an existing zone: same keys, same PostgreSQL state, same package store.

``bundlekit join`` makes a new home that is a second (third, ...) node of a zone whose state
is in PostgreSQL (decision 181). The zone's private keys are copied from an existing node's
home, file to file with mode 0600 in a 0700 folder; they never pass through the database in
clear (keys made later reach the nodes wrapped, decision 189). The state the new home points
at must be that zone's (its recorded zone id is checked), so a typing error in the URL cannot
make a node of one zone write into another's state.
"""

from __future__ import annotations

import os
from pathlib import Path

from bundlekit.core.atomic import write_atomic
from bundlekit.errors import StateError, UsageError
from bundlekit.zone.home import Zone, check_new_home, open_zone, write_zone_file
from bundlekit.zone.keyring import Keyring
from bundlekit.zone.location import (Settings, StateURL, password_path, read_password, read_settings,
                                     store_password, write_settings)
from bundlekit.zone.state import Found, open_url
from bundlekit.zone.store import check_store

__all__ = ["join_zone"]


def join_zone(home: Path, *, state: StateURL, password: str | None, package_store: Path, source: Path) -> Zone:
    """Make ``home`` a node of the zone whose home ``source`` is; returns the new node's zone.

    ``password`` is the state's (None: reuse the source node's ``keys/state.password`` if it
    has one, else libpq's own password file). Raises ``StateError``: ``not_a_zone`` (``source``
    is no zone home, or the database holds no zone), ``zone_mismatch`` (the database is another
    zone's), ``zone_exists`` / ``home_not_empty`` (``home`` is taken); ``UsageError`` ``usage``
    when ``home`` is ``source``; ``StateError`` ``store_unavailable`` / ``store_mismatch`` when
    ``package_store`` is not the zone's package store as this machine mounts it (decision 275);
    and the state's connection errors.
    """
    if home.resolve() == source.resolve():
        raise UsageError(f"--home {home} is the --from home; give the new node's own folder", code="usage")
    existing = open_zone(source)
    ring = Keyring(source / "keys", existing.zone_id, existing.sealing_key())
    ring.local_signing_key()  # both keys present and well-formed before anything is written
    check_new_home(home)
    password_from = "--state-password-file"
    if password is None and (password := read_password(source)) is not None:
        password_from = str(password_path(source))
        _same_server(state, read_settings(source).state, source)

    def same_zone(found: Found) -> None:  # before anything is migrated in the database
        if found.zone_id != existing.zone_id:
            raise StateError(f"{state} holds {found.describe()}, but {source} is a node of zone {existing.name!r} "
                             f"({existing.zone_id}); nothing was changed. Give the state URL of that zone",
                             code="zone_mismatch")

    db = open_url(state, password, expect=same_zone, password_from=password_from, url_from="--state")
    try:
        # The folder must be the zone's store as this machine mounts it, never an empty stand-in.
        package_store = package_store.resolve()
        check_store(package_store, existing.zone_id, existing.name, where="--package-store", holds_objects=True,
                    listed=lambda: (r["sha256"] for r in db.all("SELECT sha256 FROM packages LIMIT 200")))
        # The --from home may be behind a rotation made on another node: the new node starts current.
        current, left = ring.follow(db)
    finally:
        db.close()
    home.mkdir(parents=True, exist_ok=True)
    os.chmod(home, 0o700)  # as init: only the zone's owner enters (decision 143)
    keys = home / "keys"
    keys.mkdir(mode=0o700)
    _copy_keys(source / "keys", keys)
    if left:
        Keyring(keys, existing.zone_id, existing.sealing_key()).install(current, left)
    if password is not None:
        store_password(home, password)
    settings = Settings(state, package_store)
    write_settings(home, settings)
    write_zone_file(home, existing.info)
    return Zone(home, existing.info, settings)


def _same_server(state: StateURL, theirs: StateURL | None, source: Path) -> None:
    """Refuse to send the ``--from`` home's password to another server or user than the one it is for:
    a mistyped (or planted) ``--state`` would hand it to whoever answers there (``usage``)."""
    if theirs is None or (theirs.host.lower(), theirs.port, theirs.user) != (state.host.lower(), state.port, state.user):
        kept_for = theirs.masked if theirs is not None else "no PostgreSQL state (the --from home uses SQLite)"
        raise UsageError(f"--state {state.masked}: the --from home's password ({password_path(source)}) is for "
                         f"{kept_for}, and is only reused for the same host, port and user; give this server's "
                         "password with --state-password-file FILE (or `-` to type it), or fix --state",
                         code="usage")


def _copy_keys(source: Path, dest: Path) -> None:
    """The zone's signing and sealing keys, its SSH client key if it has one (every node reaches the
    same SSH targets), and its retired signing keys (co-signing after a rotation)."""
    for name in ("signing.key", "sealing.key", "ssh_client.key"):
        if name == "ssh_client.key" and not (source / name).is_file():
            continue
        write_atomic(dest / name, (source / name).read_bytes(), mode=0o600)
    retired = source / "retired"
    if retired.is_dir():
        (dest / "retired").mkdir(mode=0o700)
        for key in sorted(retired.glob("*.key")):
            write_atomic(dest / "retired" / key.name, key.read_bytes(), mode=0o600)
