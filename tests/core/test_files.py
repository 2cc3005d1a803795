"""The one reader of whole files a user names: bounded, with the shared refusals."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from bundlekit.cli.common import stdin_text
from bundlekit.core.files import argument_text, open_regular, read_limited, read_user_file
from tests.conftest import raises_code


def test_a_file_at_the_limit_is_read_whole(tmp_path: Path) -> None:
    (tmp_path / "card").write_bytes(b"x" * 4096)
    assert read_user_file(tmp_path / "card", what="identity card card", limit=4096) == b"x" * 4096


def test_one_byte_over_the_limit_is_refused_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "card").write_bytes(b"x" * 4097)
    with raises_code("input_too_large", match="identity card card is larger than 4 KiB"):
        read_user_file(tmp_path / "card", what="identity card card", limit=4096)


def test_an_endless_device_is_refused_before_a_byte_is_read() -> None:
    with raises_code("not_a_file", match="^release file /dev/zero is a character device"):  # the path once (r12a N2)
        read_user_file("/dev/zero", what="release file /dev/zero", limit=16 * 1024 * 1024)
    with raises_code("not_a_file", match="^the key \\(/dev/zero\\) is a character device"):  # added when not named
        read_user_file("/dev/zero", what="the key", limit=16)


def test_a_fifo_with_no_writer_is_refused_at_once_not_waited_on(tmp_path: Path) -> None:
    """Opening a FIFO for reading waits for a writer: the check must come before that wait.
    (Were it after, this test would never end.)"""
    fifo = tmp_path / "evidence.bundle"
    os.mkfifo(fifo)
    with raises_code("not_a_file", match="is a FIFO"):
        read_user_file(fifo, what="card evidence.bundle", limit=10)
    with raises_code("not_a_file", match="is a FIFO"):
        open_regular(fifo, "bundle evidence.bundle")


def test_a_value_on_stdin_or_the_command_line_must_be_utf8(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"TOPSECRET-9f8e7d\xff\xfe")))
    with raises_code("not_utf8", match="standard input is not UTF-8 text \\(byte 16 is invalid\\)") as caught:
        stdin_text("standard input", 100)
    assert "TOPSECRET" not in str(caught.value)
    with raises_code("not_utf8", match="VALUE is not UTF-8 text"):
        argument_text("TOPSECRET\udcff", "VALUE")
    assert argument_text("grüße", "VALUE") == "grüße"


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


def test_too_much_on_standard_input_says_to_check_what_is_piped_in_not_a_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Review r12a N3: the refusal of 20 MB on stdin told the user to check a path there is not."""
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"x" * 101)))
    with raises_code("input_too_large", match="check what is piped or redirected into the command") as caught:
        stdin_text("the value on standard input", 100)
    assert "path" not in caught.value.message
