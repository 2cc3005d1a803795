"""Export keeps what the zone authored in its package store, and writes that copy once (decision 881).

The first export of a package's bytes writes them twice (the bundle and the store's copy, in one
read); a later export of the same id, version and bytes, to another destination or the same one
again, writes the bundle only and leaves the store's file as it was. A package rebuilt under the
same version (same size, other bytes) still reaches the store, checked, under its new digest.
The zone's state is asked which packages its releases hold on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from bundlekit.export import exporter
from bundlekit.export.exporter import export_release
from bundlekit.format.card import parse_card
from bundlekit.trust.policy import SourcePolicy
from bundlekit.zone import truststore
from bundlekit.zone.home import init_zone
from tests.conftest import Zones, raises_code, snapshot

SIZE = 4 << 20  # random bytes: stored as they are, so the bundle's share of the writes is SIZE too


def _written() -> int:
    """Bytes this process has passed to write() so far, every thread counted (Linux /proc)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    raise AssertionError("no wchar in /proc/self/io")


def _random_release(release_dir: Path) -> tuple[Path, Path]:
    """The fixture release with its package replaced by SIZE random bytes (no step deploys it:
    random bytes are no archive, and lint would refuse a step that does)."""
    release = release_dir / "release.toml"
    step = ('[[steps]]\nname = "Deploy web"\ntype = "package"\npackage = "Acme.Web"\nroles = ["web"]\n'
            'substitute = ["appsettings.json", "index.html"]\n')
    assert step in release.read_text()
    release.write_text(release.read_text().replace(step, ""))
    pkg = release_dir / "packages" / "Acme.Web.1.4.0.zip"
    pkg.write_bytes(os.urandom(SIZE))
    return release, pkg


def _export_counted(zones: Zones, release: Path, to: str, out: Path, **kw: object) -> tuple[str, int]:
    """The package's digest as the bundle names it, and the bytes the export wrote."""
    before = _written()
    result = export_release(zones.dev, release, to, out, now=int(time.time()), **kw)  # type: ignore[arg-type]
    return result.manifest.packages[0].sha256, _written() - before


def _stored(zones: Zones, digest: str) -> os.stat_result:
    path = zones.dev.store.path(digest)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    return path.stat()


def test_exports_after_the_first_write_no_second_copy_of_a_package_the_store_holds(
        state_engine: str, zones: Zones, release_dir: Path, tmp_path: Path) -> None:
    release, _ = _random_release(release_dir)
    staging = init_zone(tmp_path / "staging", "staging", int(time.time()))
    truststore.add_zone(zones.dev, parse_card(staging.card_bytes(), "staging.card"), SourcePolicy(), int(time.time()))
    try:
        digest, first = _export_counted(zones, release, "prod", tmp_path / "a.bundle")
        held = _stored(zones, digest)
        assert first > 2 * SIZE  # the bundle and the store's copy
        for to, name in (("staging", "b.bundle"), ("prod", "c.bundle")):
            again, written = _export_counted(zones, release, to, tmp_path / name)
            assert again == digest
            assert written < SIZE + SIZE // 2, f"export to {to} wrote {written} bytes: a second copy"
            now = _stored(zones, digest)
            assert (now.st_ino, now.st_mtime_ns) == (held.st_ino, held.st_mtime_ns)
    finally:
        staging.close()


def test_a_new_release_that_keeps_a_package_writes_no_second_copy_of_it(state_engine: str, zones: Zones,
                                                                       release_dir: Path, tmp_path: Path) -> None:
    release, _ = _random_release(release_dir)
    digest, _ = _export_counted(zones, release, "prod", tmp_path / "a.bundle")
    held = _stored(zones, digest)
    text = release.read_text()
    assert '[release]\nversion = "1.4.0"' in text
    release.write_text(text.replace('[release]\nversion = "1.4.0"', '[release]\nversion = "1.4.1"'))
    again, written = _export_counted(zones, release, "prod", tmp_path / "b.bundle", delta=False)
    assert again == digest and written < SIZE + SIZE // 2
    now = _stored(zones, digest)
    assert (now.st_ino, now.st_mtime_ns) == (held.st_ino, held.st_mtime_ns)


def test_a_package_the_store_lost_is_copied_again(zones: Zones, release_dir: Path, tmp_path: Path) -> None:
    release, _ = _random_release(release_dir)
    digest, _ = _export_counted(zones, release, "prod", tmp_path / "a.bundle")
    zones.dev.store.path(digest).unlink()  # recorded in the state, gone from the store
    again, written = _export_counted(zones, release, "prod", tmp_path / "b.bundle")
    assert again == digest and written > 2 * SIZE
    _stored(zones, digest)


def test_a_package_rebuilt_under_the_same_version_lands_in_the_store_with_its_new_digest(
        zones: Zones, release_dir: Path, tmp_path: Path) -> None:
    release, pkg = _random_release(release_dir)
    old, _ = _export_counted(zones, release, "prod", tmp_path / "a.bundle")
    pkg.write_bytes(os.urandom(SIZE))  # same id, version and size; other bytes
    new, _ = _export_counted(zones, release, "prod", tmp_path / "b.bundle", replace=True)
    assert new != old and new == hashlib.sha256(pkg.read_bytes()).hexdigest()
    _stored(zones, new)
    _stored(zones, old)  # what the earlier release named stays


def test_a_package_rebuilt_again_while_it_is_copied_is_refused_and_nothing_changes(
        zones: Zones, release_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    release, pkg = _random_release(release_dir)
    _export_counted(zones, release, "prod", tmp_path / "a.bundle")
    pkg.write_bytes(os.urandom(SIZE))
    streamed = exporter.BundleWriter.add_blob

    def then_rebuilt(self: exporter.BundleWriter, *args: object, **kw: object) -> object:
        record = streamed(self, *args, **kw)  # type: ignore[arg-type]
        pkg.write_bytes(os.urandom(SIZE))  # a third build, after the bundle read the second
        return record

    monkeypatch.setattr(exporter.BundleWriter, "add_blob", then_rebuilt)
    zones.close()
    before = snapshot(zones.dev.home)
    with raises_code("input_changed"):
        export_release(zones.dev, release, "prod", tmp_path / "b.bundle", now=int(time.time()), replace=True)
    assert snapshot(zones.dev.home) == before
    assert not (tmp_path / "b.bundle").exists()
