"""A key file is used only when it is the zone's own key (zone/owned_keys.py, decision 675).

The zone records its public keys in its state; another zone's key file, or random bytes, put in
its keys folder is refused (``invalid_zone_key``, naming the file) by every command that loads
a private key, before anything changes; `doctor` and `audit --verify` name the file. Verifying
the trail needs public keys only, so it asks a protected zone for no passphrase.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from bundlekit.zone.home import init_zone, open_zone
from bundlekit.zone.rotation import rotate_key
from tests.conftest import cli_in_process, snapshot


def _passfile(tmp: Path) -> Path:
    path = tmp / "pp.txt"
    path.write_bytes(b"right horse staple\n")
    os.chmod(path, 0o600)
    return path


def _target(home: Path, name: str, env: dict[str, str] | None = None) -> object:
    return cli_in_process("targets", "add", name, "--environment", "Production", "--role", "web", "--root",
                          home.parent / "targets" / name, "--json", home=home, env=env)


def test_another_zones_signing_key_is_refused_before_anything_changes(tmp_path: Path) -> None:
    """r12a F2 as the reviewer ran it: kz's signing.key replaced by kz2's (same passphrase), then
    `trust add`; and `doctor` / `audit --verify` name the file."""
    pp = _passfile(tmp_path)
    env = {"BUNDLEKIT_PASSPHRASE_FILE": str(pp)}
    for name in ("kz", "kz2"):
        assert cli_in_process("init", "--zone", name, "--passphrase-file", pp, home=tmp_path / name).returncode == 0
    assert cli_in_process("identity", "-o", tmp_path / "kz2.card", home=tmp_path / "kz2", env=env).returncode == 0
    swapped = tmp_path / "k_swap_sign"
    shutil.copytree(tmp_path / "kz", swapped)
    shutil.copy2(tmp_path / "kz2" / "keys" / "signing.key", swapped / "keys" / "signing.key")
    before = snapshot(swapped)
    refused = cli_in_process("trust", "add", tmp_path / "kz2.card", "--projects", "x*", "--json", home=swapped,
                             env=env)
    assert refused.returncode != 0
    error = json.loads(refused.stdout)["error"]
    assert error["code"] == "invalid_zone_key" and "keys/signing.key" in error["message"]
    assert "not one of zone kz's" in error["message"] and "backup" in error["message"]
    card = cli_in_process("identity", "-o", tmp_path / "b.card", "--json", home=swapped, env=env)
    assert json.loads(card.stdout)["error"]["code"] == "invalid_zone_key"  # never publishes kz2's key as kz's
    assert snapshot(swapped) == before
    doctor = json.loads(cli_in_process("doctor", "--json", home=swapped).stdout)["findings"]
    assert [f["code"] for f in doctor] == ["invalid_zone_key"] and "signing.key" in doctor[0]["message"]
    verify = cli_in_process("audit", "--verify", "--json", home=swapped)  # no passphrase given or needed
    error = json.loads(verify.stdout)["error"]
    assert error["code"] == "invalid_zone_key" and "signing.key" in error["message"]
    assert "trail itself is intact" in error["message"]


def test_a_random_key_file_in_place_of_either_key_is_refused(tmp_path: Path) -> None:
    zone = init_zone(tmp_path / "prod", "prod", int(time.time()))
    zone.close()
    for name in ("signing.key", "sealing.key"):
        copy = tmp_path / f"swap-{name}"
        shutil.copytree(zone.home, copy)
        (copy / "keys" / name).write_bytes(os.urandom(32))
        before = snapshot(copy)
        r = _target(copy, "web-01")
        assert json.loads(r.stdout)["error"]["code"] == "invalid_zone_key"  # type: ignore[attr-defined]
        assert name in json.loads(r.stdout)["error"]["message"]  # type: ignore[attr-defined]
        assert snapshot(copy) == before
        found = json.loads(cli_in_process("doctor", "--json", home=copy).stdout)["findings"]
        assert "invalid_zone_key" in [f["code"] for f in found]


def test_a_swapped_sealing_key_is_named_by_verify_though_the_trail_is_intact(tmp_path: Path) -> None:
    zone = init_zone(tmp_path / "prod", "prod", int(time.time()))
    other = init_zone(tmp_path / "other", "other", int(time.time()))
    zone.close()
    other.close()
    shutil.copy2(other.home / "keys" / "sealing.key", zone.home / "keys" / "sealing.key")
    r = cli_in_process("audit", "--verify", "--json", home=zone.home)
    error = json.loads(r.stdout)["error"]
    assert error["code"] == "invalid_zone_key" and "sealing.key" in error["message"]
    assert "intact" in error["message"]


def test_rotated_and_retired_keys_stay_the_zones_own(tmp_path: Path) -> None:
    zone = init_zone(tmp_path / "prod", "prod", int(time.time()))
    behind = tmp_path / "behind"
    zone.close()
    shutil.copytree(zone.home, behind)  # a node that has not yet followed the rotation
    with open_zone(zone.home) as z:
        rotate_key(z, int(time.time()))
    assert list((zone.home / "keys" / "retired").glob("*.key"))
    assert _target(zone.home, "web-01").returncode == 0  # type: ignore[attr-defined]
    assert cli_in_process("audit", "--verify", home=zone.home).returncode == 0
    found = json.loads(cli_in_process("doctor", "--json", home=zone.home).stdout)["findings"]
    assert "invalid_zone_key" not in [f["code"] for f in found]
    # An older key is still the zone's: the node holding it (here the same state, older files) is not refused.
    shutil.rmtree(behind / "keys")
    shutil.copytree(zone.home / "keys", behind / "keys")
    retired = next((zone.home / "keys" / "retired").glob("*.key"))
    shutil.copy2(retired, behind / "keys" / "signing.key")
    shutil.rmtree(behind / "keys" / "retired")
    shutil.copy2(zone.home / "state.db", behind / "state.db")
    assert _target(behind, "web-02").returncode == 0  # type: ignore[attr-defined]


def test_verify_of_a_protected_zone_needs_no_passphrase(tmp_path: Path) -> None:
    """r12a F3 / R12U-2: `audit --verify` with no BUNDLEKIT_PASSPHRASE_FILE and no terminal."""
    pp = _passfile(tmp_path)
    home = tmp_path / "prod2"
    assert cli_in_process("init", "--zone", "prod2", "--passphrase-file", pp, home=home).returncode == 0
    assert _target(home, "web-01", {"BUNDLEKIT_PASSPHRASE_FILE": str(pp)}).returncode == 0  # type: ignore[attr-defined]
    r = cli_in_process("audit", "--verify", "--json", home=home, env={"BUNDLEKIT_PASSPHRASE_FILE": None})  # type: ignore[dict-item]
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout) == {"verified": True, "entries": 2, "head": json.loads(r.stdout)["head"]}


def test_a_zone_made_before_the_record_does_not_record_a_key_its_trail_does_not_know(tmp_path: Path) -> None:
    """A zone without the record (made before it existed) whose signing.key was swapped: its next
    change would record the foreign key as its own; it is refused, nothing changed."""
    zone = init_zone(tmp_path / "old", "old", int(time.time()))
    other = init_zone(tmp_path / "other", "other", int(time.time()))
    db = zone.db
    watcher, db.watcher = db.watcher, None
    with db.transaction() as tx:
        tx.run("DELETE FROM meta WHERE key IN ('zone_signing_public', 'zone_sealing_public')")
    db.watcher = watcher
    zone.close()
    other.close()
    own = (zone.home / "keys" / "signing.key").read_bytes()
    shutil.copy2(other.home / "keys" / "signing.key", zone.home / "keys" / "signing.key")
    before = snapshot(zone.home)
    r = _target(zone.home, "web-01")
    error = json.loads(r.stdout)["error"]  # type: ignore[attr-defined]
    assert error["code"] == "invalid_zone_key" and "signing.key" in error["message"]
    assert snapshot(zone.home) == before
    # with its own key back, the next change records the zone's keys, and the swap is refused from then on
    (zone.home / "keys" / "signing.key").write_bytes(own)
    assert _target(zone.home, "web-01").returncode == 0  # type: ignore[attr-defined]
    with open_zone(zone.home) as z:
        assert z.db.scalar("SELECT value FROM meta WHERE key = 'zone_signing_public'") is not None
