"""Staging: a file written before its digest is known is named once it is, or dropped."""

from __future__ import annotations

import hashlib
from pathlib import Path

from bundlekit.zone.store import PackageStore, Staging


def test_pending_file_lands_in_the_store_under_its_digest_only_on_commit(tmp_path: Path) -> None:
    store = PackageStore(tmp_path / "packages", tmp_path / "staging")
    staging = Staging(store)
    staging.pending()(b"package bytes")
    digest = hashlib.sha256(b"package bytes").hexdigest()
    staging.adopt(digest)
    assert not store.has(digest)
    staging.commit()
    staging.cleanup()
    assert store.path(digest).read_bytes() == b"package bytes"
    assert not (tmp_path / "staging").exists()


def test_pending_copy_of_bytes_the_store_has_is_dropped_and_an_abandoned_one_leaves_nothing(tmp_path: Path) -> None:
    store = PackageStore(tmp_path / "packages", tmp_path / "staging")
    first = Staging(store)
    first.pending()(b"same")
    digest = hashlib.sha256(b"same").hexdigest()
    first.adopt(digest)
    first.commit()
    first.cleanup()
    again = Staging(store)
    again.pending()(b"same")
    again.adopt(digest)
    again.pending()(b"never named")
    assert again.commit() == []
    again.cleanup()
    assert not (tmp_path / "staging").exists()
    assert [p.name for p in store.root.rglob("*") if p.is_file()] == [digest]
