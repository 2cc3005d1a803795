"""The zone's private key files at rest: raw, or protected with a passphrase (decision 580).

A home's private keys are ``keys/signing.key`` (Ed25519), ``keys/sealing.key`` (X25519),
``keys/retired/*.key`` (Ed25519) and ``keys/ssh_client.key`` (Ed25519). Each file is either
raw (the 32-byte key; for the SSH key an unencrypted OpenSSH file) or a protected key file
(``format/passphrase.py``, ``spec/keys.md``; for the SSH key, of its Ed25519 seed). A home is *protected* when its sealing key
file is protected; keys this node writes later (a rotation, a key another node made) are then
written protected too, under the same passphrase.

The passphrase is never an argument of this layer's functions that read keys: it comes from
the *passphrase source* the command line installs (:func:`set_passphrase_source`), asked only
when a protected key is actually read (a command that needs no private key never asks).
Without one, a protected key is ``passphrase_missing``. Derived keys are cached for the
process by passphrase digest and KDF parameters, so one command pays scrypt once.

:func:`change_protection` protects, re-protects (a new passphrase) or unprotects every key of
a home at once: it reads and checks all of them first, writes the new files into
``keys.swap/``, and exchanges that folder with ``keys/`` in one ``renameat2(RENAME_EXCHANGE)``,
so a kill at any point leaves ``keys/`` wholly old or wholly new (the other copy, in
``keys.swap/``, is removed at once, or by the next ``keys protect``/``unprotect``/``doctor``).
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bundlekit.core.hints import home_flag
from bundlekit.core.atomic import fsync_dir, write_atomic
from bundlekit.core.tree import remove_tree, tree_paths
from bundlekit.errors import InputError, StateError
from bundlekit.format.crypto import raw_private
from bundlekit.format.passphrase import (Kdf, ProtectedKey, derive, is_protected, new_kdf, open_key, protect_key,
                                         public_of)

__all__ = ["RESTORE", "PassphraseSource", "set_passphrase_source", "read_key_file", "read_public",
           "write_key_file", "home_protected", "KeyState", "key_states", "change_protection", "opened_by", "SWAP",
           "sweep_swap", "exchange_folders", "SSH", "ssh_seed", "ssh_file"]

#: What to do about a zone key file that is missing or damaged.
RESTORE = "Restore it from a backup of this home or from another node of the zone (the same file in its keys folder)"
#: The folder (in the home) a protection change builds the new key folder in.
SWAP = "keys.swap"

#: ``source(why)`` gives the passphrase as bytes; ``why`` names the file it is for (for a prompt).
PassphraseSource = Callable[[str], bytes]


def _no_source(why: str) -> bytes:
    raise InputError(f"{why} is protected by a passphrase, and none was given; nothing was changed. Set "
                     "BUNDLEKIT_PASSPHRASE_FILE to the path of a file holding it, or run on a terminal to be asked",
                     code="passphrase_missing")


_source: PassphraseSource = _no_source
_derived: dict[tuple[bytes, Kdf], bytes] = {}


def set_passphrase_source(source: Optional[PassphraseSource]) -> None:
    """Install where protected keys' passphrase comes from (None: nowhere, ``passphrase_missing``);
    forgets keys derived from an earlier source."""
    global _source
    _source = source if source is not None else _no_source
    _derived.clear()


def _key_for(kdf: Kdf, passphrase: bytes) -> bytes:
    slot = (hashlib.sha256(passphrase).digest(), kdf)
    if slot not in _derived:
        _derived[slot] = derive(passphrase, kdf)
    return _derived[slot]


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise StateError(f"{path}: key file missing; the zone home is incomplete. {RESTORE}",
                         code="key_missing") from None
    except OSError as error:
        raise StateError(f"{path}: cannot read the key file ({error.strerror or error}). {RESTORE}",
                         code="invalid_zone_key") from None


def read_key_file(path: Path, kind: str = "ed25519") -> bytes:
    """The raw 32-byte private key of a key file, raw or protected (``key_missing``,
    ``invalid_zone_key``; for a protected one also ``passphrase_missing``, ``passphrase_wrong``
    and the passphrase source's own refusals)."""
    data = _read_bytes(path)
    if is_protected(data):
        pk = ProtectedKey.parse(data, str(path))
        if pk.kind != kind:
            raise StateError(f"{path}: holds an {pk.kind} key where an {kind} key belongs; it is damaged. {RESTORE}",
                             code="invalid_zone_key")
        return open_key(pk, _key_for(pk.kdf, _source(str(path))), str(path))
    if len(data) != 32:
        raise StateError(f"{path}: not a 32-byte key file ({len(data)} bytes); it is damaged. {RESTORE}",
                         code="invalid_zone_key")
    return data


def read_public(path: Path, kind: str) -> bytes:
    """The public key of a key file, without the passphrase (a protected file states it)."""
    data = _read_bytes(path)
    if is_protected(data):
        return ProtectedKey.parse(data, str(path)).public
    return public_of(kind, read_key_file(path, kind))


def home_protected(keys: Path) -> Optional[Kdf]:
    """The KDF of the sealing key when the key folder ``keys`` is protected, else None."""
    data = _read_bytes(keys / "sealing.key")
    return ProtectedKey.parse(data, str(keys / "sealing.key")).kdf if is_protected(data) else None


#: The SSH client key's kind here: an OpenSSH file when raw, its Ed25519 seed when protected.
SSH = "ssh-ed25519"


def ssh_seed(data: bytes, where: str) -> bytes:
    """The 32-byte Ed25519 seed of an unencrypted OpenSSH private key file (``invalid_zone_key``)."""
    try:
        key = serialization.load_ssh_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        key = None
    if not isinstance(key, Ed25519PrivateKey):
        raise StateError(f"{where}: not an unencrypted OpenSSH Ed25519 private key; the zone's SSH key file is "
                         f"damaged. {RESTORE}, or delete it and run `bundlekit targets ssh-key{home_flag()}` to make a new one "
                         "(then put its public line on every SSH target)", code="invalid_zone_key")
    return raw_private(key)


def ssh_file(seed: bytes) -> bytes:
    """The unencrypted OpenSSH private key file of an Ed25519 seed."""
    return Ed25519PrivateKey.from_private_bytes(seed).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption())


def _read_secret(path: Path, kind: str) -> bytes:
    """The 32-byte secret of a key file of ``kind`` (the seed, for the SSH key)."""
    if kind != SSH:
        return read_key_file(path, kind)
    data = _read_bytes(path)
    return read_key_file(path, "ed25519") if is_protected(data) else ssh_seed(data, str(path))


def _raw_form(kind: str, secret: bytes) -> bytes:
    return ssh_file(secret) if kind == SSH else secret


def write_key_file(keys: Path, name: str, kind: str, secret: bytes) -> None:
    """Write a private key into the key folder ``keys`` (``name`` relative to it), protected
    under the home's passphrase when the home is protected (the passphrase source is asked,
    and must open the sealing key: a new key never goes under another passphrase). ``kind``
    :data:`SSH` takes the key's seed and writes an OpenSSH file when the home is not protected."""
    kdf = home_protected(keys)
    if kdf is None:
        write_atomic(keys / name, _raw_form(kind, secret), mode=0o600)
        return
    kind = "ed25519" if kind == SSH else kind
    read_key_file(keys / "sealing.key", "x25519")  # the passphrase is the home's
    key = _key_for(kdf, _source(str(keys / "sealing.key")))
    write_atomic(keys / name, protect_key(kind, secret, kdf, key), mode=0o600)


@dataclass(frozen=True, slots=True)
class KeyState:
    """One private key file of a home: its path relative to the home, kind and protection."""

    path: str
    kind: str
    protected: bool


def _private_key_files(keys: Path) -> list[tuple[str, str]]:
    """``(name relative to keys, kind)`` of each private key file a protection change covers."""
    found = [("sealing.key", "x25519"), ("signing.key", "ed25519")]
    if os.path.lexists(keys / "ssh_client.key"):
        found.append(("ssh_client.key", SSH))
    retired = keys / "retired"
    if retired.is_dir():
        found += [(f"retired/{p.name}", "ed25519") for p in sorted(retired.glob("*.key"))]
    return found


def key_states(home: Path) -> list[KeyState]:
    """Each private key file of ``home`` and whether it is protected (reads no secret)."""
    keys = home / "keys"
    return [KeyState(f"keys/{name}", kind, is_protected(_read_bytes(keys / name)))
            for name, kind in _private_key_files(keys)]


def opened_by(home: Path, passphrase: bytes) -> bool:
    """Whether every private key file of ``home`` is protected and ``passphrase`` opens each: then
    protecting them under ``passphrase`` would change nothing (``keys protect`` says so). One
    scrypt per distinct KDF; raises what reading a key file raises, but ``passphrase_wrong``."""
    keys = home / "keys"
    for name, _ in _private_key_files(keys):
        data = _read_bytes(keys / name)
        if not is_protected(data):
            return False
        pk = ProtectedKey.parse(data, str(keys / name))
        try:
            open_key(pk, _key_for(pk.kdf, passphrase), str(keys / name))
        except InputError as error:
            if error.code != "passphrase_wrong":
                raise
            return False
    return True


def sweep_swap(home: Path) -> bool:
    """Remove what a killed protection change left in ``HOME/keys.swap``; True if there was any."""
    swap = home / SWAP
    if not os.path.lexists(swap):
        return False
    remove_tree(swap, ignore_errors=True)
    fsync_dir(home)
    return True


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def exchange_folders(a: Path, b: Path) -> None:
    """Swap two folders in one step (Linux ``renameat2``); ``OSError`` where the system cannot."""
    libc = ctypes.CDLL(None, use_errno=True)  # the C library this process already has (no ldconfig run)
    fn = getattr(libc, "renameat2", None)
    if fn is None:
        raise OSError(errno.ENOSYS, "renameat2 is not available")
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


def change_protection(home: Path, passphrase: Optional[bytes]) -> list[KeyState]:
    """Protect every private key of ``home`` under ``passphrase`` (a new salt), or with None
    write them all raw again; returns the new states.

    Every key is read (protected ones through the passphrase source: ``passphrase_missing``,
    ``passphrase_wrong``) and checked before anything is written; the new folder is then
    swapped in at once (module docstring). Raises ``StateError`` ``state_unreachable`` when the
    file system cannot swap folders atomically; on every refusal ``keys/`` is unchanged.
    """
    keys = home / "keys"
    listed = _private_key_files(keys)
    secrets = {name: _read_secret(keys / name, kind) for name, kind in listed}
    kdf = new_kdf() if passphrase is not None else None
    key = derive(passphrase, kdf) if passphrase is not None and kdf is not None else None
    sweep_swap(home)
    swap = home / SWAP
    swap.mkdir(mode=0o700)
    try:
        folders, others = tree_paths(keys)
        for folder in folders[1:]:
            (swap / Path(folder).relative_to(keys)).mkdir(mode=0o700, exist_ok=True)
        for other in map(Path, others):  # other files (SSH key, state password) are carried as they are
            rel = other.relative_to(keys)
            if str(rel) in secrets:
                continue
            if other.is_symlink():
                os.symlink(os.readlink(other), swap / rel)
            elif other.is_file():
                write_atomic(swap / rel, other.read_bytes(), mode=other.stat().st_mode & 0o777)
        for name, kind in listed:
            data = (_raw_form(kind, secrets[name]) if key is None or kdf is None
                    else protect_key("ed25519" if kind == SSH else kind, secrets[name], kdf, key))
            write_atomic(swap / name, data, mode=0o600)
        exchange_folders(keys, swap)
    except OSError as error:
        sweep_swap(home)
        raise StateError(f"{home}: cannot swap the new key folder in ({error.strerror or error}); the keys are "
                         "unchanged. The home must be on a local Linux file system (ext4, xfs, btrfs, tmpfs)",
                         code="state_unreachable") from None
    fsync_dir(home)
    sweep_swap(home)  # the old keys, now in keys.swap
    return key_states(home)
