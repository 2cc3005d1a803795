"""Direct-I/O appends (core/direct.py): the file holds exactly the bytes written, whatever their
sizes, and falls back to ordinary writes where direct I/O is refused."""

from __future__ import annotations

import errno
import fcntl
import os
import random
from pathlib import Path

import pytest

from bundlekit.core import direct
from bundlekit.core.atomic import AtomicFile
from bundlekit.core.direct import ALIGN, BUFFER, DirectAppend

SIZES = [0, 1, ALIGN - 1, ALIGN, ALIGN + 1, BUFFER - 1, BUFFER, BUFFER + 1, 3 * BUFFER + 12345]


def _pieces(data: bytes, rng: random.Random) -> list[bytes]:
    out, pos = [], 0
    while pos < len(data):
        n = rng.choice([1, 7, ALIGN, 65536, 1 << 20, 3 * (1 << 20) + 5])
        out.append(data[pos:pos + n])
        pos += n
    return out


@pytest.mark.parametrize("size", SIZES)
def test_the_file_holds_exactly_what_was_appended_whatever_the_piece_sizes(tmp_path: Path, size: int) -> None:
    rng = random.Random(size)
    data = rng.randbytes(size)
    path = tmp_path / "f"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        appender = DirectAppend(fd)
        assert appender.direct == bool(getattr(os, "O_DIRECT", 0))  # this file system takes direct writes
        for piece in _pieces(data, rng):
            assert appender.write(piece) == len(piece)
        appender.close()
        assert not appender.direct
        assert appender.written == size
        assert os.lseek(fd, 0, os.SEEK_CUR) == size
    finally:
        os.close(fd)
    assert path.read_bytes() == data


def test_a_write_the_file_system_refuses_as_direct_is_finished_by_ordinary_writes(tmp_path: Path,
                                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    data = random.Random(1).randbytes(2 * BUFFER + 999)
    real_write = os.write
    refused = []

    def write(fd: int, view: object) -> int:
        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT and not refused:
            refused.append(True)
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_write(fd, view)  # type: ignore[arg-type]

    monkeypatch.setattr(direct.os, "write", write)
    path = tmp_path / "f"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        appender = DirectAppend(fd)
        assert appender.direct
        appender.write(data)
        assert refused and not appender.direct  # it gave up direct I/O for the rest of the file
        appender.close()
    finally:
        os.close(fd)
    assert path.read_bytes() == data


def test_a_position_off_the_alignment_uses_ordinary_writes(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    fd = os.open(path, os.O_RDWR)
    try:
        os.lseek(fd, 3, os.SEEK_SET)
        appender = DirectAppend(fd)
        assert not appender.direct
        appender.write(b"defg" * 5000)
        appender.close()
    finally:
        os.close(fd)
    assert path.read_bytes() == b"abc" + b"defg" * 5000


def test_a_bulk_atomic_file_can_be_read_back_and_truncated_and_commits_every_byte(tmp_path: Path) -> None:
    data = random.Random(2).randbytes(BUFFER + 5000)
    f = AtomicFile(tmp_path / "pkg", bulk=True)
    f.write(data)
    assert f.pread(10, BUFFER + 10) == data[BUFFER + 10:BUFFER + 20]  # buffered bytes written first
    f.write(b"tail")
    f.truncate(len(data) + 2)
    f.commit()
    assert (tmp_path / "pkg").read_bytes() == data + b"ta"


def test_a_discarded_bulk_file_leaves_nothing(tmp_path: Path) -> None:
    f = AtomicFile(tmp_path / "pkg", bulk=True)
    f.write(b"x" * (BUFFER + 1))
    f.discard()
    assert list(tmp_path.iterdir()) == []
