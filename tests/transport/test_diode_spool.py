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
    # Every spool file is there before receiving starts: the wait ends 0.2 s after the last one.
    # (The frames salvaged from the damaged file include corrupt ones: they do not end it early.)
    report = receive(rx, tmp_path / "inbox", idle_timeout=0.2)
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


def _undeletable(path: Path) -> Callable[[], None]:
    """Make ``path`` impossible to remove for this user (an immutable file for root, a read-only
    folder otherwise); returns what undoes it."""
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", str(path)], check=True)
        return lambda: subprocess.run(["chattr", "-i", str(path)], check=True) and None
    path.parent.chmod(0o555)
    return lambda: path.parent.chmod(0o755)


def _odd_entries(spool: Path) -> list[str]:
    """Entries named like spool files, sorted before every real one, that are not regular files."""
    (spool / "bkd-00000000000000000000-0000000-00000001.bkdframes").mkdir()
    os.mkfifo(spool / "bkd-00000000000000000000-0000000-00000002.bkdframes")
    (spool / "bkd-00000000000000000000-0000000-00000003.bkdframes").symlink_to("/dev/zero")
    return sorted(n for n in os.listdir(spool) if n.startswith("bkd-00000000000000000000"))


def _receive_cli(spool: Path, inbox: Path, idle: str = "1") -> subprocess.CompletedProcess[str]:
    # A receiver that loops on an entry never returns: the subprocess timeout is what would tell.
    return subprocess.run([sys.executable, "-m", "bundlekit", "diode", "receive", "--spool", str(spool), "--out",
                           str(inbox), "--idle-timeout", idle, "--json"], capture_output=True, text=True, timeout=60)


def test_spool_entries_that_cannot_be_removed_or_are_not_files_never_stall_the_receiver(tmp_path: Path) -> None:
    """A spool file the receiver may not delete was read again and again, and a folder, a pipe or a
    link named like one was opened forever: `diode receive --spool` never returned."""
    data = write_payload(tmp_path / "a.bundle", 300_000, 5)
    spool = tmp_path / "spool"
    ch = SpoolChannel.for_sending(spool, frames_per_file=64)
    send([tmp_path / "a.bundle"], ch, SendOptions(rate=0))
    ch.close()
    stuck = spool / sorted(os.listdir(spool))[0]  # the first delivery, with the announcements
    odd = _odd_entries(spool)
    undo = _undeletable(stuck)
    try:
        r = _receive_cli(spool, tmp_path / "inbox")
        assert stuck.exists()
    finally:
        undo()
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["files"][0]["status"] == "complete"
    assert (tmp_path / "inbox" / "a.bundle").read_bytes() == data
    assert f"1 spool file in {spool} could not be removed once read ({stuck.name})" in r.stderr
    assert "3 entries" in r.stderr and odd[0] in r.stderr and "not regular files" in r.stderr
    assert sorted(os.listdir(spool)) == sorted(odd + [stuck.name])  # what is not ours is left alone


def test_spool_receive_with_only_unusable_entries_ends_at_its_idle_timeout_with_spool_advice(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    _odd_entries(spool)
    junk = spool / "bkd-00000000000000000000-0000000-00000004.bkdframes"
    junk.write_bytes(b"BKS\x01" + b"\x00\x10" + b"not a frame at all")
    undo = _undeletable(junk)
    try:
        r = _receive_cli(spool, tmp_path / "inbox", idle="0.5")
    finally:
        undo()
    assert r.returncode == 1, r.stdout + r.stderr
    error = json.loads(r.stdout)["error"]
    assert error["code"] == "nothing_received"
    # Advice for the carrier in use: the spool folder and its mirror, not addresses and UDP.
    assert str(spool) in error["message"] and "--spool" in error["message"]
    assert "UDP" not in error["message"] and "--to" not in error["message"]
    assert not (tmp_path / "inbox").exists()
