"""The diode receiver returns once what it was told about is complete; --once takes one delivery."""

from __future__ import annotations

import json
import os
from pathlib import Path

from bundlekit.transport.channel import MemoryChannel, SpoolChannel
from bundlekit.transport.diode_loop import receive
from bundlekit.transport.diode_send import SendOptions, send
from tests.cli.operator_world import bk
from tests.transport.helpers import write_payload

MiB = 1 << 20


class CountingSource:
    """A frame source that fails the test if the receiver keeps polling an empty channel.

    Deterministic instead of timed: a receiver that waited for its idle timeout after every
    announced file was complete would poll the empty channel again and again.
    """

    def __init__(self, inner: MemoryChannel, allowed_empty: int = 1) -> None:
        self.inner, self.allowed_empty, self.empty = inner, allowed_empty, 0

    def recv(self, timeout: float) -> bytes | None:
        frame = self.inner.recv(0)
        if frame is None:
            self.empty += 1
            assert self.empty <= self.allowed_empty, "the receiver kept waiting after every file was complete"
        return frame


def _sent(files: list[Path]) -> MemoryChannel:
    ch = MemoryChannel()
    send(files, ch, SendOptions(rate=0, symbol_size=256, block_symbols=512))
    return ch


def test_receive_returns_as_soon_as_every_announced_file_is_complete(tmp_path: Path) -> None:
    a = write_payload(tmp_path / "a.bundle", MiB, 1)
    b = write_payload(tmp_path / "b.bundle", MiB // 3, 2)
    (tmp_path / "in").mkdir()
    source = CountingSource(_sent([tmp_path / "a.bundle", tmp_path / "b.bundle"]))
    report = receive(source, tmp_path / "in", idle_timeout=1e9)  # type: ignore[arg-type]
    assert report.ok and [f.status for f in report.files] == ["complete", "complete"]
    assert (tmp_path / "in" / "a.bundle").read_bytes() == a and (tmp_path / "in" / "b.bundle").read_bytes() == b


def test_receive_once_returns_without_reading_the_senders_repeat_passes(tmp_path: Path) -> None:
    write_payload(tmp_path / "a.bundle", MiB // 2, 3)
    ch = MemoryChannel()
    send([tmp_path / "a.bundle"], ch, SendOptions(rate=0, symbol_size=256, block_symbols=512, repeat=2))
    sent = len(ch.frames)
    (tmp_path / "in").mkdir()
    report = receive(ch, tmp_path / "in", idle_timeout=1e9, once=True)
    assert report.ok and len(ch.frames) > sent // 2  # two of three passes were never needed


def _spool_deliveries(tmp_path: Path) -> Path:
    spool = tmp_path / "spool"
    for name, seed in (("first.bundle", 4), ("second.bundle", 5)):
        write_payload(tmp_path / name, MiB // 4, seed)
        assert bk("diode", "send", tmp_path / name, "--spool", spool, "--rate", "0").exit_code == 0
    return spool


def test_receive_once_takes_one_delivery_and_leaves_the_next_in_the_spool(tmp_path: Path) -> None:
    spool = _spool_deliveries(tmp_path)
    r = bk("diode", "receive", "--spool", spool, "--out", tmp_path / "in", "--once", "--json")
    assert r.exit_code == 0, r.stdout + r.stderr
    assert [f["name"] for f in json.loads(r.stdout)["files"]] == ["first.bundle"]
    assert sorted(os.listdir(tmp_path / "in")) == ["first.bundle"] and os.listdir(spool)
    r = bk("diode", "receive", "--spool", spool, "--out", tmp_path / "in", "--once", "--json")
    assert [f["name"] for f in json.loads(r.stdout)["files"]] == ["second.bundle"]


def test_receive_without_once_drains_every_delivery_waiting_in_the_spool(tmp_path: Path) -> None:
    spool = _spool_deliveries(tmp_path)
    r = bk("diode", "receive", "--spool", spool, "--out", tmp_path / "in", "--json")
    assert r.exit_code == 0, r.stdout + r.stderr
    assert sorted(f["name"] for f in json.loads(r.stdout)["files"]) == ["first.bundle", "second.bundle"]
    assert os.listdir(spool) == []


def test_spool_receive_with_nothing_there_still_waits_for_the_idle_timeout(tmp_path: Path) -> None:
    (tmp_path / "spool").mkdir()
    source = SpoolChannel.for_receiving(tmp_path / "spool")
    ticks = iter(range(10_000))
    (tmp_path / "in").mkdir()
    report = receive(source, tmp_path / "in", idle_timeout=5, clock=lambda: float(next(ticks)))
    assert report.files == () and next(ticks) > 5  # the unknown case: it waited the whole timeout
