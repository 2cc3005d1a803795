"""The one atomic writer: nothing under the final name until the data is on disk, streaming."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import pytest

from bundlekit.core.atomic import CHUNK, AtomicFile, commit_all, replace_symlink, write_atomic
from tests.conftest import raises_code


def _listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_nothing_appears_under_the_final_name_before_commit(tmp_path: Path) -> None:
    out = AtomicFile(tmp_path / "app.bundle")
    out.write(b"half")
    assert not (tmp_path / "app.bundle").exists()
    [tmp] = _listing(tmp_path)
    assert tmp.startswith(".bundlekit-") and tmp.endswith(".app.bundle.tmp")
    out.write(b" and the rest")
    assert out.commit() == tmp_path / "app.bundle"
    assert (tmp_path / "app.bundle").read_bytes() == b"half and the rest"
    assert _listing(tmp_path) == ["app.bundle"]


def test_failure_inside_the_block_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "card"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="disk on fire"):
        with AtomicFile(target) as out:
            out.write(b"new but broken")
            raise RuntimeError("disk on fire")
    assert target.read_bytes() == b"old" and _listing(tmp_path) == ["card"]


def test_private_mode_is_set_before_any_byte_is_written(tmp_path: Path) -> None:
    out = AtomicFile(tmp_path / "signing.key", 0o600)
    assert os.stat(out.tmp_path).st_mode & 0o777 == 0o600
    out.write(b"secret")
    out.commit()
    assert os.stat(tmp_path / "signing.key").st_mode & 0o777 == 0o600


def test_streams_a_source_in_bounded_chunks(tmp_path: Path) -> None:
    data = os.urandom(3 * CHUNK + 17)
    reads: list[int] = []

    class Counting(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            chunk = super().read(size)
            reads.append(len(chunk))
            return chunk

    with AtomicFile(tmp_path / "big") as out:
        assert out.copy_from(Counting(data)) == len(data)
    assert (tmp_path / "big").read_bytes() == data
    assert max(reads) <= CHUNK and len(reads) >= 4


def test_copy_of_a_short_source_is_refused_and_discarded(tmp_path: Path) -> None:
    with pytest.raises(EOFError, match="source ended after 3 of 10 bytes"):
        with AtomicFile(tmp_path / "x") as out:
            out.copy_from(io.BytesIO(b"abc"), length=10)
    assert _listing(tmp_path) == []


def test_out_of_order_writes_then_a_late_final_name(tmp_path: Path) -> None:
    out = AtomicFile(None, temp_dir=tmp_path, prefix=".bkd-test-")
    out.pwrite(b"world", 6)
    out.pwrite(b"hello ", 0)
    assert out.pread(5, 6) == b"world"
    out.truncate(11)
    assert out.commit(tmp_path / "greeting.txt") == tmp_path / "greeting.txt"
    assert (tmp_path / "greeting.txt").read_bytes() == b"hello world"
    assert _listing(tmp_path) == ["greeting.txt"]


def test_exclusive_commit_never_replaces_a_file_that_appeared_meanwhile(tmp_path: Path) -> None:
    out = AtomicFile(tmp_path / "received.bundle", exclusive=True)
    out.write(b"ours")
    (tmp_path / "received.bundle").write_bytes(b"theirs")  # someone else got there first
    with pytest.raises(FileExistsError, match=r"File exists: .* -> .*received\.bundle'"):
        out.commit()
    assert (tmp_path / "received.bundle").read_bytes() == b"theirs"
    assert _listing(tmp_path) == ["received.bundle"]


def test_temp_dir_on_the_same_file_system_keeps_the_final_folder_clean(tmp_path: Path) -> None:
    staging, store = tmp_path / "staging", tmp_path / "store" / "ab"
    out = AtomicFile(store / "abcd", temp_dir=staging)
    out.write(b"blob")
    assert not store.exists()  # a refusal before commit leaves the store as it was
    out.commit()
    assert (store / "abcd").read_bytes() == b"blob" and _listing(staging) == []


def test_commit_all_writes_every_file_before_any_appears(tmp_path: Path) -> None:
    files = [AtomicFile(tmp_path / f"vol{i}") for i in range(3)]
    for i, f in enumerate(files):
        f.write(b"v%d" % i)
    for f in files:
        f.sync()  # data on disk, names not yet
    assert all(name.startswith(".") for name in _listing(tmp_path))
    assert commit_all(files) == [tmp_path / f"vol{i}" for i in range(3)]
    assert _listing(tmp_path) == ["vol0", "vol1", "vol2"]


def test_commit_all_discards_the_rest_when_one_cannot_be_placed(tmp_path: Path) -> None:
    files = [AtomicFile(tmp_path / "a"), AtomicFile(tmp_path / "b", exclusive=True), AtomicFile(tmp_path / "c")]
    (tmp_path / "b").write_bytes(b"taken")
    with pytest.raises(FileExistsError, match=r"File exists: .* -> .*/b'"):
        commit_all(files)
    assert _listing(tmp_path) == ["a", "b"] and (tmp_path / "b").read_bytes() == b"taken"


def test_write_atomic_takes_bytes_or_chunks(tmp_path: Path) -> None:
    write_atomic(tmp_path / "one", b"bytes")
    write_atomic(tmp_path / "two", (b"ch", b"unk", b"s"))
    assert (tmp_path / "one").read_bytes() == b"bytes" and (tmp_path / "two").read_bytes() == b"chunks"


def test_a_symlink_is_replaced_in_one_step_and_leaves_no_temporary_name(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    replace_symlink(tmp_path / "current", "a")
    assert os.readlink(tmp_path / "current") == "a"
    replace_symlink(tmp_path / "current", "b")  # over an existing link: renamed over it, never removed first
    assert os.readlink(tmp_path / "current") == "b"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "current"]


def test_a_fifo_at_the_final_name_is_refused_when_opened_and_when_it_appears_before_commit(tmp_path: Path) -> None:
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    with raises_code("not_a_file") as caught:
        AtomicFile(fifo)
    assert "FIFO" in caught.value.message
    late = tmp_path / "late"
    f = AtomicFile(late)
    f.write(b"data")
    os.mkfifo(late)  # swapped in while the file was being written
    with raises_code("not_a_file"):
        f.commit()
    assert stat.S_ISFIFO(os.lstat(late).st_mode) and sorted(p.name for p in tmp_path.iterdir()) == ["late", "out.fifo"]
