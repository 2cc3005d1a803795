"""The package store as a folder several nodes share: atomic publication, concurrent writers,
hash-checked reads, sweeping only what dead processes left, and a store that refuses a write."""

from __future__ import annotations

import hashlib
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import threading

import zipfile
from pathlib import Path
from typing import Any

import pytest

from bundlekit.zone.store import PackageStore, Staging
from tests.conftest import ROOT, make_zones, raises_code, snapshot
from tests.importer.helpers import export
from tests.pgserver import PostgresServer


def _blob(size: int, seed: int = 1) -> tuple[bytes, str]:
    data = hashlib.sha256(str(seed).encode()).digest() * (size // 32)
    return data, hashlib.sha256(data).hexdigest()


def test_two_nodes_publishing_the_same_object_at_once_both_succeed_with_one_intact_copy(tmp_path: Path) -> None:
    store = PackageStore(tmp_path / "shared")
    data, digest = _blob(4 << 20)
    gate = threading.Barrier(2)
    errors: list[BaseException] = []

    def node() -> None:
        staging = Staging(store)
        try:
            sink = staging.sink_for(digest)
            assert sink is not None
            for i in range(0, len(data), 1 << 16):
                sink(data[i:i + (1 << 16)])
            gate.wait()
            assert staging.commit() == [digest]
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            staging.cleanup()

    threads = [threading.Thread(target=node) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert store.verify(digest) == store.path(digest)
    assert [p.name for p in store.path(digest).parent.iterdir()] == [digest]  # no temporary file left
    assert not store.staging.exists()


def test_a_reader_never_sees_an_object_before_it_is_complete(tmp_path: Path) -> None:
    store = PackageStore(tmp_path / "shared")
    data, digest = _blob(1 << 20)
    staging = Staging(store)
    sink = staging.sink_for(digest)
    assert sink is not None
    sink(data[: len(data) // 2])
    assert not store.has(digest) and not store.path(digest).exists()  # half written: nothing under its name
    sink(data[len(data) // 2:])
    assert not store.has(digest)  # fully written, not yet published
    staging.commit()
    staging.cleanup()
    assert store.path(digest).read_bytes() == data


def test_a_damaged_object_is_caught_when_read(tmp_path: Path) -> None:
    store = PackageStore(tmp_path / "shared")
    data, digest = _blob(4096)
    store.path(digest).parent.mkdir(parents=True)
    store.path(digest).write_bytes(data[:-1] + b"x")
    with raises_code("package_hash_mismatch") as info:
        store.verify(digest)
    assert str(store.path(digest)) in info.value.message


def test_a_sweep_removes_only_what_processes_that_are_gone_left(tmp_path: Path) -> None:
    store = PackageStore(tmp_path / "shared")
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    host = socket.gethostname()
    dead = store.staging / f"{host}-{gone}-aaaa"
    mine = store.staging / f"{host}-{os.getpid()}-bbbb"
    other_host = store.staging / f"elsewhere-{gone}-cccc"  # another node's import: not ours to judge
    for folder in (dead, mine, other_host):
        folder.mkdir(parents=True)
    Staging.sweep(store)
    assert not dead.exists() and mine.exists() and other_host.exists()


def _big_release(release_dir: Path, size: int) -> Path:
    package = release_dir / "packages" / "Acme.Web.1.4.0.zip"
    with zipfile.ZipFile(package, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("appsettings.json", "{}")
        zf.writestr("index.html", "<p>")
        zf.writestr("payload.bin", os.urandom(size))
    return release_dir / "release.toml"


def _limit_file_size() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))


def test_a_store_that_refuses_a_write_halfway_leaves_the_zone_as_it_was_and_a_retry_succeeds(
        tmp_path: Path, pg_server: PostgresServer, release_dir: Path) -> None:
    z = make_zones(tmp_path, pg=pg_server)
    bundle = export(z, tmp_path / "big.bundle", release=_big_release(release_dir, 3 << 20))
    home = z.prod.home
    z.close()
    before = snapshot(home)
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    cmd = [sys.executable, "-m", "bundlekit", "import", str(bundle), "--json", "--home", str(home)]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, preexec_fn=_limit_file_size,
                       timeout=120)
    err = json.loads(r.stdout)["error"]
    assert (r.returncode, err["code"]) == (1, "store_write_failed"), r.stdout + r.stderr
    assert snapshot(home) == before
    assert not [p for p in (home / "packages").rglob("*") if p.is_file()] if (home / "packages").exists() else True
    assert not (home / "staging").exists()
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert r.returncode == 0 and json.loads(r.stdout)["noop"] is False, r.stdout + r.stderr





def test_an_import_whose_staging_folder_vanishes_under_it_makes_it_again(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Each import removes the shared staging folder when it leaves it empty; on another node an
    import may have just made that folder and be about to make its own inside it."""
    store = PackageStore(tmp_path / "shared")
    real_mkdir = os.mkdir
    vanished: list[str] = []

    def mkdir(path: Any, mode: int = 0o777, **kw: Any) -> None:
        real_mkdir(path, mode, **kw)
        if Path(path) == store.staging and not vanished:
            os.rmdir(path)  # another node's import finished and removed the empty folder just now
            vanished.append(str(path))

    monkeypatch.setattr(os, "mkdir", mkdir)
    data, digest = _blob(4096)
    staging = Staging(store)
    sink = staging.sink_for(digest)
    assert vanished and sink is not None
    sink(data)
    staging.commit()
    staging.cleanup()
    assert store.verify(digest) == store.path(digest)
