"""The zone's SSH client key: what the zone authenticates with on its SSH targets.

One Ed25519 key per zone in ``keys/ssh_client.key`` (OpenSSH private key format, mode 0600,
beside the zone's other keys; a protected key file of its seed when the home's keys are
protected, ``zone/keyfiles.py``), created by ``bundlekit targets ssh-key``, which prints its
public half, one ``ssh-ed25519 ...`` line for each target user's ``~/.ssh/authorized_keys``.
Deployments and checks only read it (decision 147); ``bundlekit join`` copies it to a new node,
and a node that joined before the key was made takes it, wrapped, from the zone's state
(decision 189).
"""

from __future__ import annotations

from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bundlekit.core.clock import EpochSeconds
from bundlekit.errors import StateError
from bundlekit.zone.home import Zone
from bundlekit.format.passphrase import is_protected
from bundlekit.zone.keyfiles import SSH, read_key_file, ssh_file, ssh_seed, write_key_file
from bundlekit.zone.keyring import RESTORE, SSH_CLIENT

__all__ = ["client_key", "client_public_line", "KEY_FILE"]

KEY_FILE = "ssh_client.key"


def client_key(zone: Zone, *, create: bool = True, now: EpochSeconds = 0) -> bytes | None:
    """The private key (OpenSSH format bytes): the zone's, the same on every node.

    The zone's state holds it wrapped for the zone's nodes (``zone/keyring.py``, decision 189);
    a node keeps a copy in ``keys/ssh_client.key``. ``create`` (``targets ssh-key``) makes the
    key when the zone has none, or shares the one this node made before keys were shared; when
    two nodes do it at once, both end with the one stored first. Without ``create``
    (deployments and checks, which never make a key: no target could know it) the result is
    None when neither the state nor this node has one. ``now`` dates a key stored in the state.
    """
    path = zone.home / "keys" / KEY_FILE
    ring = zone.keyring
    stored = ring.fetch(zone.db, SSH_CLIENT)
    if stored is None and create:
        local = _read(path)
        with zone.db.transaction() as tx:
            stored = ring.publish(tx, SSH_CLIENT, local if local is not None else _new_key(), now)
    if stored is None:
        return _read(path)
    local = _read(path)
    seed = ssh_seed(stored, "the zone's SSH key in its state")
    if local is None or ssh_seed(local, str(path)) != seed:
        write_key_file(path.parent, KEY_FILE, SSH, seed)  # protected when the home's keys are
    return stored


def _read(path: Path) -> bytes | None:
    """This node's copy of the SSH key as an unencrypted OpenSSH Ed25519 private key file
    (``invalid_zone_key`` otherwise: a damaged file is never used, nor shared through the state).
    A protected copy (``zone/keyfiles.py``) is opened with the zone's passphrase."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise StateError(f"{path}: cannot read the zone's SSH key ({error.strerror or error}). {RESTORE}",
                         code="key_missing") from None
    if is_protected(data):
        return ssh_file(read_key_file(path, "ed25519"))
    ssh_seed(data, str(path))  # refuses anything but an unencrypted OpenSSH Ed25519 key
    return data


def _new_key() -> bytes:
    key = Ed25519PrivateKey.generate()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                             serialization.NoEncryption())


def client_public_line(zone: Zone, now: EpochSeconds) -> str:
    """``ssh-ed25519 AAAA... bundlekit-<zone>`` (authorized_keys form); the key is made at ``now``
    if the zone has none."""
    data = client_key(zone, now=now)
    assert data is not None
    try:
        key = serialization.load_ssh_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise StateError("the zone's SSH key kept in its state is not an OpenSSH private key; it was stored damaged. "
                         "Restore the state from a backup, or ask for help: every node shares this key",
                         code="zone_key_damaged") from None
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return f"{public.decode('ascii')} bundlekit-{zone.name}"
