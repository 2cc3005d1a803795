"""The one reader of whole files a user names: bounded, with the shared refusals."""

from __future__ import annotations

import io
from pathlib import Path

from bundlekit.core.files import read_limited, read_user_file
from tests.conftest import raises_code


def test_a_file_at_the_limit_is_read_whole(tmp_path: Path) -> None:
    (tmp_path / "card").write_bytes(b"x" * 4096)
    assert read_user_file(tmp_path / "card", what="identity card card", limit=4096) == b"x" * 4096


def test_one_byte_over_the_limit_is_refused_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "card").write_bytes(b"x" * 4097)
    with raises_code("input_too_large", match="identity card card is larger than 4 KiB"):
        read_user_file(tmp_path / "card", what="identity card card", limit=4096)


def test_an_endless_device_is_read_no_further_than_the_limit() -> None:
    with raises_code("input_too_large", match="16 MiB"):
        read_user_file("/dev/zero", what="release file /dev/zero", limit=16 * 1024 * 1024)


def test_a_stream_is_read_at_most_one_byte_past_the_limit() -> None:
    stream = io.BytesIO(b"y" * 10_000)
    with raises_code("input_too_large"):
        read_limited(stream, 100, "standard input")
    assert stream.tell() == 101


def test_a_missing_file_and_a_folder_are_file_not_found(tmp_path: Path) -> None:
    with raises_code("file_not_found", match="key file k does not exist"):
        read_user_file(tmp_path / "k", what="key file k", limit=10)
    with raises_code("file_not_found", match="is a folder"):
        read_user_file(tmp_path, what="key file k", limit=10)


def test_a_link_loop_is_unreadable(tmp_path: Path) -> None:
    (tmp_path / "loop").symlink_to("loop")
    with raises_code("unreadable", match="cannot read key file loop"):
        read_user_file(tmp_path / "loop", what="key file loop", limit=10)
