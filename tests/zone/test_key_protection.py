"""Protecting a home's private keys with a passphrase (zone/keyfiles.py, decision 580).

The protection change is all-or-nothing: it is killed (SIGKILL) at many points, and after
each kill every key opens, all under one passphrase, with the zone's identity unchanged.

The keys here are written at a low scrypt cost (``low_scrypt_cost``, decision 700): what is
proven is the protection change, not the cost; tests/e2e/test_protected_keys.py proves the
default cost end to end.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest

from bundlekit.format.passphrase import is_protected
from bundlekit.zone import keyfiles
from bundlekit.zone.home import init_zone, open_zone
from bundlekit.zone.keyfiles import change_protection, key_states, set_passphrase_source, sweep_swap
from bundlekit.zone.rotation import rotate_key
from tests.conftest import LOW_COST_CLI, raises_code, snapshot

A, B = b"first passphrase 1", b"second passphrase 2"
pytestmark = pytest.mark.usefixtures("low_scrypt_cost")


@pytest.fixture
def source() -> Iterator[dict[str, bytes]]:
    """The passphrase the zone layer is given: ``source["now"]`` (restored afterwards)."""
    saved = keyfiles._source
    given: dict[str, bytes] = {}

    def give(why: str) -> bytes:
        if "now" not in given:
            raise AssertionError(f"no passphrase expected for {why}")
        return given["now"]

    set_passphrase_source(give)
    yield given
    set_passphrase_source(saved)


def identity(home: Path) -> tuple[str, str]:
    with open_zone(home) as z:
        return z.signing_key_id, z.sealing_key_id


def passfile(tmp: Path, name: str, value: bytes) -> Path:
    path = tmp / name
    path.write_bytes(value + b"\n")
    os.chmod(path, 0o600)
    return path


def test_a_rotation_in_a_protected_home_writes_the_new_and_retired_keys_protected(tmp_path: Path,
                                                                                 source: dict[str, bytes]) -> None:
    home = init_zone(tmp_path / "z", "z", int(time.time()), passphrase=A).home
    source["now"] = A
    with open_zone(home) as z:
        rotate_key(z, int(time.time()))
    states = key_states(home)
    assert len(states) == 3 and all(s.protected for s in states), states
    source["now"] = B
    with raises_code("passphrase_wrong"), open_zone(home) as z:
        z.signing_key()


def test_a_wrong_current_passphrase_changes_nothing(tmp_path: Path, source: dict[str, bytes]) -> None:
    home = init_zone(tmp_path / "z", "z", int(time.time()), passphrase=A).home
    before = snapshot(tmp_path)
    source["now"] = B
    with raises_code("passphrase_wrong"):
        change_protection(home, b"third passphrase")
    with raises_code("passphrase_wrong"):
        change_protection(home, None)
    assert snapshot(tmp_path) == before


def test_protect_change_and_unprotect_keep_the_zone_s_keys(tmp_path: Path, source: dict[str, bytes]) -> None:
    home = init_zone(tmp_path / "z", "z", int(time.time())).home
    ids = identity(home)
    raw = {s.path: (home / s.path).read_bytes() for s in key_states(home)}
    (home / "keys" / "state.password").write_text("db password\n")
    (home / "keys" / "linked").symlink_to("state.password")
    change_protection(home, A)
    assert (home / "keys" / "state.password").read_text() == "db password\n"  # other files carried as they are
    assert os.readlink(home / "keys" / "linked") == "state.password"
    assert all(s.protected for s in key_states(home))
    assert all(value not in (home / path).read_bytes() for path, value in raw.items())
    source["now"] = A
    assert identity(home) == ids
    change_protection(home, B)
    source["now"] = B
    assert identity(home) == ids
    change_protection(home, None)
    assert {s.path: (home / s.path).read_bytes() for s in key_states(home)} == raw
    assert not (home / "keys.swap").exists()


def test_leftovers_of_a_stopped_change_are_reported_and_swept(tmp_path: Path) -> None:
    from bundlekit.cli.key_cmds import doctor_findings

    home = init_zone(tmp_path / "z", "z", int(time.time())).home
    (home / "keys.swap").mkdir(mode=0o700)
    (home / "keys.swap" / "signing.key").write_bytes(os.urandom(32))
    assert "keys_swap_left" in [f["code"] for f in doctor_findings(home)]
    assert sweep_swap(home) and not (home / "keys.swap").exists()
    assert "keys_swap_left" not in [f["code"] for f in doctor_findings(home)]


def test_doctor_warns_about_a_passphrase_file_others_can_read(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from bundlekit.cli.key_cmds import doctor_findings

    home = init_zone(tmp_path / "z", "z", int(time.time()), passphrase=A).home
    path = passfile(tmp_path, "p.pass", A)
    monkeypatch.setenv("BUNDLEKIT_PASSPHRASE_FILE", str(path))
    assert doctor_findings(home) == []
    os.chmod(path, 0o644)
    found = doctor_findings(home)
    assert [f["code"] for f in found] == ["passphrase_file_open"] and A.decode() not in found[0]["message"]


def _opens_with(home: Path, passphrase: bytes, source: dict[str, bytes]) -> bool:
    source["now"] = passphrase
    try:
        identity(home)
        with open_zone(home) as z:
            z.sealing_key()
            z.signing_key()
        return True
    except Exception:
        return False


@pytest.mark.parametrize("start", ["raw", "protected"])
def test_a_kill_at_any_point_of_keys_protect_leaves_every_key_usable_under_one_passphrase(
        tmp_path: Path, source: dict[str, bytes], start: str) -> None:
    home = init_zone(tmp_path / "z", "z", int(time.time()), passphrase=A if start == "protected" else None).home
    source["now"] = A
    ids = identity(home)
    env = {**os.environ, "BUNDLEKIT_PASSPHRASE_FILE": str(passfile(tmp_path, "a.pass", A))}
    env.pop("BUNDLEKIT_HOME", None)
    new = passfile(tmp_path, "b.pass", B)
    delay, kills, finished = 0.05, 0, False
    while not finished and kills < 40:
        proc = subprocess.Popen([*LOW_COST_CLI, "keys", "protect", "--passphrase-file", str(new),
                                 "--home", str(home)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(delay)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        finished = proc.returncode == 0
        assert finished or proc.returncode == -signal.SIGKILL, proc.stderr.read() if proc.stderr else ""
        if proc.stderr:
            proc.stderr.close()
        states = key_states(home)
        protected = {s.protected for s in states}
        assert len(protected) == 1, states  # never a mix
        old = A if start == "protected" else None
        if protected == {False}:
            assert not finished and old is None
        else:
            usable = [p for p in (A, B) if _opens_with(home, p, source)]
            assert usable in ([A], [B]), usable  # one passphrase opens every key
            assert finished is False or usable == [B]
            if usable == [A]:
                assert old == A
        source["now"] = B if protected == {True} and _opens_with(home, B, source) else A
        # A kill after the exchange leaves the keys under B: the operator's next run gives B.
        env["BUNDLEKIT_PASSPHRASE_FILE"] = str(passfile(tmp_path, "now.pass", source["now"]))
        assert identity(home) == ids
        delay *= 1.4
    assert finished and kills >= 3
    assert all(is_protected((home / s.path).read_bytes()) for s in key_states(home))
    assert not (home / "keys.swap").exists()


def test_the_ssh_client_key_is_protected_with_the_others_and_still_serves_ssh(tmp_path: Path,
                                                                             source: dict[str, bytes]) -> None:
    from cryptography.hazmat.primitives import serialization

    from bundlekit.zone.sshkey import client_key, client_public_line

    home = init_zone(tmp_path / "z", "z", int(time.time())).home
    with open_zone(home) as z:
        line = client_public_line(z, int(time.time()))
    openssh = (home / "keys" / "ssh_client.key").read_bytes()
    change_protection(home, A)
    data = (home / "keys" / "ssh_client.key").read_bytes()
    assert is_protected(data) and b"OPENSSH" not in data
    assert {s.path: s.protected for s in key_states(home)}["keys/ssh_client.key"] is True
    source["now"] = A
    (home / "keys" / "ssh_client.key").unlink()  # a node without its copy takes it from the state, protected
    with open_zone(home) as z:
        served = client_key(z, create=False)
        assert served is not None and client_public_line(z, int(time.time())) == line
    key = serialization.load_ssh_private_key(served, password=None)  # what a deployment hands to asyncssh
    assert key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                             serialization.NoEncryption()) == serialization.load_ssh_private_key(
        openssh, password=None).private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                              serialization.NoEncryption())
    assert is_protected((home / "keys" / "ssh_client.key").read_bytes())
    change_protection(home, None)
    assert serialization.load_ssh_private_key((home / "keys" / "ssh_client.key").read_bytes(), password=None)
