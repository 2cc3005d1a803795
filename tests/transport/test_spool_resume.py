"""A spool receiver killed midway loses nothing: a spool file is deleted only once what it carried is safe.

On a one-way link nobody can send a frame again, so the spool files a killed receiver had read
must still be there for the next run (decision 920, spec/transport.md §3.6).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from bundlekit.transport.channel import SpoolChannel
from bundlekit.transport.diode_loop import receive
from bundlekit.transport.diode_send import SendOptions, send
from bundlekit.transport.frames import Announce, ObjectInfo, encode_announce
from tests.transport.helpers import write_payload

MiB = 1 << 20


def _spool_files(tmp_path: Path, size: int, seed: int) -> tuple[bytes, list[Path]]:
    """A file sent block after block (no interleaving) into many small spool files, in sending order."""
    data = write_payload(tmp_path / "a.bundle", size, seed)
    staged = tmp_path / "staged"
    ch = SpoolChannel.for_sending(staged, frames_per_file=64)
    send([tmp_path / "a.bundle"], ch, SendOptions(rate=0, redundancy=0.05, symbol_size=256, block_symbols=1024,
                                                  interleave=1))
    ch.close()
    return data, sorted(staged.iterdir())


def _receiver(spool: Path, inbox: Path, idle: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "bundlekit", "diode", "receive", "--spool", str(spool), "--out",
                             str(inbox), "--idle-timeout", idle, "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_receiver_killed_midway_is_restarted_and_the_file_arrives_intact(tmp_path: Path) -> None:
    data, files = _spool_files(tmp_path, 1 * MiB, 7)
    assert len(files) > 40  # four blocks of about 17 spool files each
    first, rest = files[:len(files) // 2], files[len(files) // 2:]
    spool, inbox = tmp_path / "spool", tmp_path / "inbox"
    spool.mkdir()
    for f in first:  # the mirror has delivered the first half (the first two blocks and more)
        shutil.copy(f, spool / f.name)
    rx = _receiver(spool, inbox, "600")
    try:
        # A decoded block is written to the receiver's temporary file in --out: by then it has
        # read spool files. It waits for the rest (its idle timeout is long) when it is killed.
        given_up = time.monotonic() + 300  # only so a broken receiver cannot hang the suite
        while not (inbox.is_dir() and any(p.name.startswith(".") for p in inbox.iterdir())):
            assert rx.poll() is None, rx.communicate()
            assert time.monotonic() < given_up, "the receiver never decoded a block"
            time.sleep(0.05)
    finally:
        rx.send_signal(signal.SIGKILL)
        rx.communicate()
    assert rx.returncode == -signal.SIGKILL
    assert sorted(os.listdir(spool)) == [f.name for f in first]  # nothing it read was thrown away
    for f in rest:  # the mirror delivers the rest
        shutil.copy(f, spool / f.name)
    again = _receiver(spool, inbox, "2")
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, out + err
    assert [f["status"] for f in json.loads(out)["files"]] == ["complete"]
    assert (inbox / "a.bundle").read_bytes() == data
    assert os.listdir(spool) == []  # every spool file is deleted once the file it carried is safe
    assert os.listdir(inbox) == ["a.bundle"]  # the killed receiver's temporary file was swept, and named
    assert f"removed {inbox}/.bundlekit-" in err and "a temporary file a killed bundlekit command left there" in err


def test_spool_files_of_an_incomplete_file_stay_and_a_later_run_takes_them_up(tmp_path: Path) -> None:
    """Without a kill: a run that ends at its idle timeout with a file incomplete keeps its spool
    files and says so; when the missing ones arrive, the next run finishes the file."""
    data, files = _spool_files(tmp_path, 1 * MiB, 8)
    spool, inbox = tmp_path / "spool", tmp_path / "inbox"
    spool.mkdir()
    inbox.mkdir()
    held_back = files[len(files) // 2:len(files) // 2 + 8]  # the mirror is late with these
    for f in files:
        if f not in held_back:
            shutil.copy(f, spool / f.name)
    report = receive(SpoolChannel.for_receiving(spool), inbox, idle_timeout=0.3)
    assert [f.status for f in report.files] == ["incomplete"]
    # The files of the blocks already rebuilt hold frames of an unfinished file too: all stay.
    assert report.spool_kept == tuple(sorted(os.listdir(spool))) and len(report.spool_kept) == len(files) - 8
    r = subprocess.run([sys.executable, "-m", "bundlekit", "diode", "receive", "--spool", str(spool), "--out",
                        str(inbox), "--idle-timeout", "0.3", "--json"], capture_output=True, text=True, timeout=120)
    err = json.loads(r.stdout)["error"]
    assert (r.returncode, err["code"]) == (1, "incomplete")
    assert f"{len(files) - 8} spool file(s) whose frames are still needed were kept in {spool}" in err["message"]
    assert err["details"]["spool_kept"] == sorted(os.listdir(spool))
    for f in held_back:
        shutil.copy(f, spool / f.name)
    report = receive(SpoolChannel.for_receiving(spool), inbox, idle_timeout=0.3)
    assert report.ok and (inbox / "a.bundle").read_bytes() == data
    assert os.listdir(spool) == [] and report.spool_kept == ()


def test_another_session_heard_first_in_the_spool_does_not_keep_the_real_delivery_out(tmp_path: Path) -> None:
    """Spool files are kept until their frames are spent, so a stray announcement that sorts first
    (another sender's, or forged) would be followed first in every run: the real delivery's files,
    kept, are read again in the same run once the stray session goes quiet."""
    data, files = _spool_files(tmp_path, 300_000, 9)
    spool, inbox = tmp_path / "spool", tmp_path / "inbox"
    stray = SpoolChannel.for_sending(spool)
    sha = hashlib.sha256(b"not the file").digest()
    stray.send(encode_announce(Announce(ObjectInfo(b"\x0b" * 8, 0, 5000, sha[:8], 1024, 16), 1, sha, "stray.bin")))
    stray.close()
    (written,) = spool.iterdir()
    written.rename(spool / "bkd-00000000000000000000-0000000-00000000.bkdframes")  # sorts before the real ones
    for f in files:
        shutil.copy(f, spool / f.name)
    r = subprocess.run([sys.executable, "-m", "bundlekit", "diode", "receive", "--spool", str(spool), "--out",
                        str(inbox), "--idle-timeout", "0.5", "--json"], capture_output=True, text=True, timeout=120)
    err = json.loads(r.stdout)["error"]
    assert (r.returncode, err["code"]) == (1, "incomplete")  # the stray file never completes: said so
    statuses = {f["name"]: f["status"] for f in err["details"]["files"]}
    assert statuses == {"stray.bin": "incomplete", "a.bundle": "complete"}
    assert (inbox / "a.bundle").read_bytes() == data
    assert len(err["details"]["spool_kept"]) == 1 == len(os.listdir(spool))  # only the stray one stays


def test_a_delivery_that_arrives_whole_says_which_spool_files_it_left_and_why(tmp_path: Path) -> None:
    """A frame the receiver cannot place (here one claiming a file its sender never announced) is
    no reason to fail the delivery, but its spool file is not the receiver's to delete."""
    data = write_payload(tmp_path / "a.bundle", 100_000, 10)
    spool, inbox = tmp_path / "spool", tmp_path / "inbox"
    ch = SpoolChannel.for_sending(spool)
    sent = send([tmp_path / "a.bundle"], ch, SendOptions(rate=0))
    sha = hashlib.sha256(b"never announced").digest()
    info = ObjectInfo(bytes.fromhex(sent.session), 5, 5000, sha[:8], 1024, 16)
    ch.send(encode_announce(Announce(info, 6, sha, "extra.bin")))  # after the real frames, in a file of its own
    ch.close()
    r = subprocess.run([sys.executable, "-m", "bundlekit", "diode", "receive", "--spool", str(spool), "--out",
                        str(inbox), "--idle-timeout", "0.5"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (inbox / "a.bundle").read_bytes() == data and "received 1 file(s) intact" in r.stdout
    assert len(os.listdir(spool)) == 1  # the real frames' files are gone, the extra one stays
    assert f"note: 1 spool file kept in {spool}: its frames belong to no file finished here" in r.stderr
