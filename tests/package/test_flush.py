"""What reaches the disk before a package version is swapped in, and what may not (decision 432).

An installed version must be whole after a crash: each of its files and folders is fsync'd
before the rename that makes it visible. Only its own: the old ``os.sync()`` waited for every
byte any program on the target had written (the package archive just received included). The
archive itself is not forced to disk: a runner hashes it before its first use, so a copy a
crash emptied is removed and sent again, never installed.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from pathlib import Path

import pytest

from bundlekit.core.atomic import fsync_tree
from bundlekit.package.extract import stage_package, swap_in
from bundlekit.runtime.workdir import WorkFolder


def _synced(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the path of every descriptor fsync'd from now on."""
    seen: list[str] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        seen.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)
    monkeypatch.setattr(os, "fsync", fsync)
    return seen


def test_every_file_and_folder_of_a_staged_version_is_synced_before_the_swap_and_nothing_else(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for n in range(20):
            archive.writestr(f"app/part-{n}.txt", f"part {n}\n" * 100)
        archive.writestr("app/deep/er/index.html", "<p>hi</p>")
    (tmp_path / "a.zip").write_bytes(buffer.getvalue())
    dest = tmp_path / "Acme.Web" / "1.0.0"
    staging, files = stage_package(tmp_path / "a.zip", dest)
    (tmp_path / "unrelated.log").write_text("another program's file")

    def no_global_sync() -> None:
        raise AssertionError("os.sync() flushes every program's writes, not the package's")
    monkeypatch.setattr(os, "sync", no_global_sync)
    seen = _synced(monkeypatch)
    swap_in(staging, dest)
    wanted = {str(staging / f) for f in files} | {str(staging), str(staging / "app"), str(staging / "app" / "deep"),
                                                  str(staging / "app" / "deep" / "er")}
    assert wanted <= set(seen), sorted(wanted - set(seen))
    # the staged tree, then the parent that names the new version (the rename): nothing else
    assert set(seen) - wanted == {str(dest.parent)}, sorted(set(seen) - wanted)
    assert (dest / "app" / "deep" / "er" / "index.html").read_text() == "<p>hi</p>"


def test_a_link_or_a_fifo_a_script_left_in_the_staged_folder_is_neither_followed_nor_waited_for(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    top = tmp_path / "staged"
    top.mkdir()
    (top / "real.txt").write_text("x")
    outside = tmp_path / "outside.txt"
    outside.write_text("not the package's")
    (top / "link.txt").symlink_to(outside)
    os.mkfifo(top / "pipe")  # opening it for reading would block without a writer
    seen = _synced(monkeypatch)
    fsync_tree(top)
    assert sorted(seen) == sorted([str(top / "real.txt"), str(top)])


def test_an_archive_a_crash_emptied_is_hashed_by_the_next_runner_and_sent_again(tmp_path: Path,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    data = b"PK-package-bytes" * 4096
    sha = hashlib.sha256(data).hexdigest()
    work = WorkFolder(tmp_path / "work")
    work.prepare()
    seen = _synced(monkeypatch)
    work.receive(sha, "a.zip", len(data), iter([data[:1000], data[1000:]]))
    kept = work.archive(sha, "a.zip")
    assert str(kept) not in seen and not any(".incoming-" in p for p in seen)  # not forced to disk on arrival
    # A power cut before the kernel wrote it back: the name survived, the bytes did not.
    kept.write_bytes(bytes(len(data)))
    after_reboot = WorkFolder(work.root)  # a new runner process: nothing cached from the old one
    held, why = after_reboot.held_archive(sha, "a.zip", len(data))
    assert not held and why is not None and why.startswith("has SHA-256 ")
    assert not kept.exists()  # removed, so the zone sends it again (decision 401)
