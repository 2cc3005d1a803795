"""zone/backup.py in process: where a restore may go, and what it leaves when it may not."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bundlekit.zone.backup import backup_zone, peek_backup, restore_zone
from bundlekit.zone.home import init_zone, open_zone
from tests.conftest import raises_code, snapshot

PASS = b"zone backup passphrase"


@pytest.fixture
def backup(tmp_path: Path) -> Path:
    zone = init_zone(tmp_path / "src" / "prod", "prod", int(time.time()))
    with zone:
        backup_zone(zone, tmp_path / "prod.zbak", PASS, int(time.time()))
    return tmp_path / "prod.zbak"


def test_a_restore_fills_an_existing_empty_folder_with_the_same_zone(tmp_path: Path, backup: Path) -> None:
    home = tmp_path / "empty"
    home.mkdir()
    done = restore_zone(backup, home, lambda: PASS)
    with open_zone(home) as z, open_zone(tmp_path / "src" / "prod") as src:
        assert (z.zone_id, z.signing_key_id, z.sealing_key_id) == (src.zone_id, src.signing_key_id, src.sealing_key_id)
        assert done.zone_id == z.zone_id and done.replaced is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "prod.zbak", "src"]


def test_a_folder_holding_anything_is_refused_without_replace_before_the_passphrase_is_asked(
        tmp_path: Path, backup: Path) -> None:
    home = tmp_path / "busy"
    home.mkdir()
    (home / "notes.txt").write_text("someone's file")
    before = snapshot(tmp_path)

    def never() -> bytes:
        raise AssertionError("the passphrase was asked for")

    with raises_code("home_not_empty"):
        restore_zone(backup, home, never)
    assert snapshot(tmp_path) == before
    other = init_zone(tmp_path / "other", "other", int(time.time())).home
    before = snapshot(tmp_path)
    with raises_code("backup_zone_mismatch"):
        restore_zone(backup, other, never, replace=True)
    assert snapshot(tmp_path) == before


def test_the_clear_header_names_the_zone_and_nothing_secret(backup: Path) -> None:
    header = peek_backup(backup)
    with open_zone(backup.parent / "src" / "prod") as z:
        assert (header.zone, header.zone_id) == ("prod", z.zone_id)
    # the writers' cost (spec/backup.md), which the restores here pay: backups at the default cost restore
    assert (header.kdf.n, header.kdf.r, header.kdf.p) == (131072, 8, 1)


def test_a_backup_lists_the_packages_the_state_names_but_the_store_lacks(tmp_path: Path) -> None:
    zone = init_zone(tmp_path / "z", "z", int(time.time()))
    there, gone = "a" * 64, "b" * 64
    with zone:
        with zone.db.transaction() as tx:
            for n, digest in enumerate((there, gone)):
                tx.run("INSERT INTO packages(id, version, sha256, size, file, added) VALUES (?, ?, ?, 1, 'p.zip', 0)",
                       (f"P{n}", "1.0.0", digest))
        path = zone.store.path(there)
        path.parent.mkdir(parents=True)
        path.write_bytes(b"x")
        done = backup_zone(zone, tmp_path / "z.zbak", PASS, int(time.time()))
    assert done.missing == (gone,)


def test_a_backup_written_inside_the_home_is_refused(tmp_path: Path) -> None:
    zone = init_zone(tmp_path / "z", "z", int(time.time()))
    before = snapshot(tmp_path)
    with zone, raises_code("output_in_home", match="a backup there would also hold itself"):
        backup_zone(zone, zone.home / "outbox" / "z.zbak", PASS, int(time.time()))
    assert snapshot(tmp_path) == before
