"""Damaged key files and password files of a home are refused naming the file and what to do.

Before, a state.password that was not UTF-8 gave a bare ``not_utf8`` naming no file, a
damaged SSH key file a Python traceback (and was shared into the state first), and a
retired key file holding another key co-signed bundles as a stranger. None of them may show
what the file holds: it is a secret.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bundlekit.zone.home import init_zone
from bundlekit.zone.keyring import Keyring
from bundlekit.zone.location import read_password
from bundlekit.zone.rotation import rotate_key
from bundlekit.zone.sshkey import client_key
from tests.conftest import raises_code, snapshot


@pytest.mark.parametrize("data", [b"\xff\xfe zqxw\n", b"zq\x00xw\n", b"zq\x1bxw\n"],
                         ids=["not-utf8", "nul", "escape"])
def test_a_damaged_state_password_file_is_refused_naming_it_without_showing_it(tmp_path: Path, data: bytes) -> None:
    home = init_zone(tmp_path / "z", "z", int(time.time())).home
    path = home / "keys" / "state.password"
    path.write_bytes(data)
    with raises_code("invalid_state_password") as info:
        read_password(home)
    assert str(path) in info.value.message and "Replace it" in info.value.message
    assert "zq" not in info.value.message and "xw" not in info.value.message


def test_a_state_password_path_that_is_a_folder_is_refused_naming_it(tmp_path: Path) -> None:
    home = init_zone(tmp_path / "z", "z", int(time.time())).home
    (home / "keys" / "state.password").mkdir()
    with raises_code("invalid_state_password", match="cannot be read"):
        read_password(home)


def test_a_damaged_ssh_key_file_is_refused_and_never_shared_into_the_state(tmp_path: Path) -> None:
    zone = init_zone(tmp_path / "z", "z", int(time.time()))
    path = zone.home / "keys" / "ssh_client.key"
    path.write_bytes(b"-----BEGIN OPENSSH PRIVATE KEY-----\nnot base64 at all\n")
    before = snapshot(zone.home)
    with raises_code("invalid_zone_key") as info:
        client_key(zone, now=1)
    assert str(path) in info.value.message and "targets ssh-key" in info.value.message
    assert zone.db.scalar("SELECT COUNT(*) AS n FROM zone_keys") == 0
    zone.close()
    assert snapshot(zone.home) == before


def test_a_retired_key_file_holding_another_key_never_co_signs(tmp_path: Path) -> None:
    zone = init_zone(tmp_path / "z", "z", int(time.time()))
    old_id = zone.signing_key_id
    rotate_key(zone, int(time.time()))
    path = zone.home / "keys" / "retired" / f"{old_id}.key"
    assert path.is_file()
    path.write_bytes(b"\x11" * 32)
    ring = Keyring(zone.home / "keys", zone.zone_id, zone.sealing_key())
    with raises_code("invalid_zone_key") as info:
        ring.retired_key(zone.db, old_id)
    assert str(path) in info.value.message and old_id in info.value.message


def test_a_signing_key_path_that_is_a_folder_is_refused_naming_it(tmp_path: Path) -> None:
    zone = init_zone(tmp_path / "z", "z", int(time.time()))
    path = zone.home / "keys" / "signing.key"
    path.unlink()
    path.mkdir()
    with raises_code("invalid_zone_key") as info:
        zone.signing_key()
    assert str(path) in info.value.message and "Restore it" in info.value.message
