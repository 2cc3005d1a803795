"""The zone's SSH client key: what the zone authenticates with on its SSH targets.

One Ed25519 key per zone in ``keys/ssh_client.key`` (OpenSSH private key format, mode 0600,
beside the zone's other keys), created by ``bundlekit targets ssh-key``, which prints its
public half, one ``ssh-ed25519 ...`` line for each target user's ``~/.ssh/authorized_keys``.
Deployments and checks only read it (decision 147); ``bundlekit join`` copies it to a new node.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bundlekit.errors import StateError
from bundlekit.core.atomic import write_atomic
from bundlekit.zone.home import Zone

__all__ = ["client_key", "client_public_line", "KEY_FILE"]

KEY_FILE = "ssh_client.key"


def client_key(zone: Zone, *, create: bool = True) -> bytes | None:
    """The private key (OpenSSH format bytes), created on first use; without ``create``, None
    when the zone has none yet (deployments and checks never create it: no target can know it)."""
    path = zone.home / "keys" / KEY_FILE
    try:
        return path.read_bytes()
    except FileNotFoundError:
        if not create:
            return None
    except OSError as error:
        raise StateError(f"{path}: cannot read the zone's SSH key ({error.strerror})", code="key_missing") from None
    key = Ed25519PrivateKey.generate()
    data = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                             serialization.NoEncryption())
    try:
        write_atomic(path, data, mode=0o600, exclusive=True)
    except FileExistsError:
        return path.read_bytes()  # another command created it first
    return data


def client_public_line(zone: Zone) -> str:
    """``ssh-ed25519 AAAA... bundlekit-<zone>`` (authorized_keys form)."""
    data = client_key(zone)
    assert data is not None
    key = serialization.load_ssh_private_key(data, password=None)
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return f"{public.decode('ascii')} bundlekit-{zone.name}"
