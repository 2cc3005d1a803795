"""Spool mode: the same frames as atomically written files in a mirrored folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner

from bundlekit.cli import cli
from bundlekit.transport.channel import SpoolChannel
from bundlekit.transport.diode_loop import receive
from bundlekit.transport.diode_send import SendOptions, send
from tests.transport.helpers import write_payload
from tests.conftest import raises_code

MiB = 1 << 20


def _run(*args: str | Path) -> tuple[int, str, str]:
    r = CliRunner().invoke(cli, [str(a) for a in args])
    return r.exit_code, r.stdout, r.stderr


def test_cli_spool_round_trip_consumes_the_spool(tmp_path: Path) -> None:
    a = write_payload(tmp_path / "a.bundle", 1 * MiB, 1)
    code, out, err = _run("diode", "send", tmp_path / "a.bundle", "--spool", tmp_path / "spool", "--rate", "0",
                          "--json")
    assert code == 0, err
    files = os.listdir(tmp_path / "spool")
    assert files and all(f.endswith(".bkdframes") and not f.startswith(".") for f in files)
    code, out, err = _run("diode", "receive", "--spool", tmp_path / "spool", "--out", tmp_path / "inbox",
                          "--idle-timeout", "0.2", "--json")
    assert code == 0, out + err
    assert json.loads(out)["files"][0]["status"] == "complete"
    assert (tmp_path / "inbox" / "a.bundle").read_bytes() == a
    assert os.listdir(tmp_path / "spool") == []


def test_missing_damaged_and_half_written_spool_files_are_tolerated(tmp_path: Path) -> None:
    data = write_payload(tmp_path / "a.bundle", 1 * MiB, 2)
    spool = tmp_path / "spool"
    ch = SpoolChannel.for_sending(spool, frames_per_file=64)
    send([tmp_path / "a.bundle"], ch, SendOptions(rate=0, symbol_size=256, block_symbols=1024))
    ch.close()
    names = sorted(os.listdir(spool))
    assert len(names) > 20
    (spool / names[5]).unlink()                               # lost by the appliance
    raw = bytearray((spool / names[9]).read_bytes())          # bit rot inside one file
    raw[len(raw) // 2] ^= 0xFF
    (spool / names[9]).write_bytes(bytes(raw))
    (spool / ".bkd-partial.bkdframes.tmp").write_bytes(b"BKS\x01half")  # a copy still in progress
    (spool / "README.txt").write_text("not ours")
    rx = SpoolChannel.for_receiving(spool)
    (tmp_path / "inbox").mkdir()
    # Every spool file is there before receiving starts, so the first empty poll means done: a
    # clock that moves a second per reading ends the idle wait at once instead of in real time.
    ticks = itertools.count()
    report = receive(rx, tmp_path / "inbox", idle_timeout=0.2, clock=lambda: float(next(ticks)))
    assert report.ok, report.to_dict()
    assert rx.files_damaged == 1
    assert (tmp_path / "inbox" / "a.bundle").read_bytes() == data
    assert sorted(os.listdir(spool)) == [".bkd-partial.bkdframes.tmp", "README.txt"]


def test_spool_receive_from_a_missing_folder_is_an_input_error(tmp_path: Path) -> None:
    with raises_code("spool_dir_missing"):
        SpoolChannel.for_receiving(tmp_path / "nope")
    code, out, _ = _run("diode", "receive", "--spool", tmp_path / "nope", "--out", tmp_path / "inbox", "--json")
    assert code == 1 and json.loads(out)["error"]["code"] == "spool_dir_missing"


def test_spool_files_appear_only_complete(tmp_path: Path) -> None:
    write_payload(tmp_path / "a.bundle", 100_000, 3)
    ch = SpoolChannel.for_sending(tmp_path / "spool", frames_per_file=10)
    send([tmp_path / "a.bundle"], ch, SendOptions(rate=0))
    ch.close()
    for name in os.listdir(tmp_path / "spool"):
        raw = (tmp_path / "spool" / name).read_bytes()
        assert raw.startswith(b"BKS\x01") and raw[-40:-36] == b"BKSE"
