"""The diode over real UDP sockets on 127.0.0.1, through the API and through the real CLI in subprocesses."""

from __future__ import annotations

import hashlib
import json
import random
import re
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from bundlekit.transport.channel import LossyChannel, UdpChannel
from bundlekit.transport.diode_loop import receive
from bundlekit.transport.diode_receive import ReceiveReport
from bundlekit.transport.diode_send import SendOptions, send
from bundlekit.transport.frames import Announce, ObjectInfo, encode_announce
from tests.transport.helpers import write_payload

LOOPBACK = "127.0.0.1"
MiB = 1 << 20


def _start_receiver(out: Path, idle: float = 1.5,
                    offload: bool = True) -> tuple[UdpChannel, threading.Thread, list[ReceiveReport]]:
    rx = UdpChannel.listener(LOOPBACK, 0, offload=offload)
    result: list[ReceiveReport] = []
    t = threading.Thread(target=lambda: result.append(receive(rx, out, idle_timeout=idle)), daemon=True)
    t.start()
    return rx, t, result


@pytest.mark.parametrize("offload", [True, False])  # with and without kernel segmentation/GRO
def test_udp_loopback_with_5_percent_loss_and_junk_datagrams(tmp_path: Path, offload: bool) -> None:
    data = write_payload(tmp_path / "a.bundle", 3 * MiB, 1)
    (tmp_path / "out").mkdir()
    rx, thread, result = _start_receiver(tmp_path / "out", offload=offload)
    port = rx.address[1]
    junk = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rng = random.Random(1)
    for _ in range(200):
        junk.sendto(rng.randbytes(rng.randrange(1, 1400)), (LOOPBACK, port))
    tx = UdpChannel.sender(LOOPBACK, port, offload=offload)
    lossy = LossyChannel(tx, seed=1, drop=0.05)
    send([tmp_path / "a.bundle"], lossy, SendOptions(rate=40 * MiB))
    lossy.close()
    for _ in range(50):
        junk.sendto(b"BKD\x01" + rng.randbytes(1448), (LOOPBACK, port))
    junk.close()
    thread.join(timeout=60)
    rx.close()
    report = result[0]
    assert report.ok, report.to_dict()
    assert report.frames["garbage"] + report.frames["corrupt"] >= 250 - 10  # a few may be lost in the kernel
    assert (tmp_path / "out" / "a.bundle").read_bytes() == data


def _receiver_process(out: Path, idle: float = 2.0) -> tuple[subprocess.Popen[str], int]:
    p = subprocess.Popen([sys.executable, "-m", "bundlekit", "diode", "receive", "--listen", f"{LOOPBACK}:0",
                          "--out", str(out), "--idle-timeout", str(idle), "--json"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.stderr is not None
    line = p.stderr.readline()
    assert line.startswith("listening on "), line
    return p, int(line.strip().rsplit(":", 1)[1])


def test_cli_send_and_receive_in_subprocesses(tmp_path: Path) -> None:
    a = write_payload(tmp_path / "a.bundle", 2 * MiB, 2)
    b = write_payload(tmp_path / "b.bundle", 1000, 3)
    # Room for the sender CLI to start on a loaded machine; the receiver returns once complete.
    rxp, port = _receiver_process(tmp_path / "inbox", idle=15.0)
    tx = subprocess.run([sys.executable, "-m", "bundlekit", "diode", "send", str(tmp_path / "a.bundle"),
                         str(tmp_path / "b.bundle"), "--to", f"{LOOPBACK}:{port}", "--rate", "20M", "--json"],
                        capture_output=True, text=True, timeout=60)
    assert tx.returncode == 0, tx.stderr
    sent = json.loads(tx.stdout)
    assert [f["name"] for f in sent["files"]] == ["a.bundle", "b.bundle"]
    assert 0.15 < sent["overhead"] < 0.30  # 15% repair symbols + headers + announcements
    out, err = rxp.communicate(timeout=60)
    assert rxp.returncode == 0, out + err
    got = json.loads(out)
    assert got["ok"] is True and {f["status"] for f in got["files"]} == {"complete"}
    assert got["files"][0]["session"] == sent["session"]
    assert (tmp_path / "inbox" / "a.bundle").read_bytes() == a
    assert (tmp_path / "inbox" / "b.bundle").read_bytes() == b


def test_cli_receiver_with_nothing_to_hear_exits_1_nothing_received(tmp_path: Path) -> None:
    p = subprocess.run([sys.executable, "-m", "bundlekit", "diode", "receive", "--listen", f"{LOOPBACK}:0",
                        "--out", str(tmp_path / "inbox"), "--idle-timeout", "0.3", "--json"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 1
    error = json.loads(p.stdout)["error"]
    assert error["code"] == "nothing_received"
    # Advice for UDP: the address listened on and the sender's --to, not spool folders.
    assert f"on {LOOPBACK}:" in error["message"] and "--to" in error["message"] and "spool" not in error["message"]


def test_a_stream_of_junk_datagrams_does_not_hold_the_receiver_past_its_idle_timeout(tmp_path: Path) -> None:
    """Junk kept the receiver from ever noticing it was idle: only an empty wait counted."""
    (tmp_path / "out").mkdir()
    rx = UdpChannel.listener(LOOPBACK, 0, offload=False)
    returned = threading.Event()

    def flood() -> None:
        junk = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rng = random.Random(3)
        for _ in range(2_000_000):  # far longer than the idle timeout; stops once the receiver returned
            if returned.is_set():
                break
            junk.sendto(b"BKD\x01" + rng.randbytes(200), rx.address)
        junk.close()

    sender = threading.Thread(target=flood, daemon=True)
    sender.start()
    report = receive(rx, tmp_path / "out", idle_timeout=0.5)
    returned.set()
    still_flooding = sender.is_alive()
    sender.join(timeout=60)
    rx.close()
    assert still_flooding, "the receiver returned only once the junk stopped"
    assert report.frames["corrupt"] > 0 and not report.files


def test_cli_receiver_reports_incomplete_when_the_sender_stops_early(tmp_path: Path) -> None:
    write_payload(tmp_path / "a.bundle", 1 * MiB, 4)
    rxp, port = _receiver_process(tmp_path / "inbox")
    tx = UdpChannel.sender(LOOPBACK, port)
    lossy = LossyChannel(tx, seed=4, drop=0.5)  # far beyond what 15% repair symbols can cover
    send([tmp_path / "a.bundle"], lossy, SendOptions(rate=20 * MiB))
    lossy.close()
    out, _ = rxp.communicate(timeout=60)
    assert rxp.returncode == 1
    err = json.loads(out)["error"]
    assert err["code"] == "incomplete"
    f = err["details"]["files"][0]
    assert f["name"] == "a.bundle" and f["blocks_missing"] >= 1 and f["bytes_missing"] > 0
    assert not (tmp_path / "inbox").exists()  # nothing partial kept, not even the folder the receiver made


def test_frames_of_another_session_are_named_as_such_not_blamed_on_loss(tmp_path: Path) -> None:
    """A second sender heard first (here one forged announcement) made the receiver drop every frame
    of the real one, and the message advised more --redundancy as for frame loss (review v33-15a F6)."""
    write_payload(tmp_path / "good.bin", 300_000, 4)
    p = subprocess.Popen([sys.executable, "-m", "bundlekit", "diode", "receive", "--listen", f"{LOOPBACK}:0",
                          "--out", str(tmp_path / "inbox"), "--idle-timeout", "3"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.stderr is not None
    line = p.stderr.readline()
    port = int(line.strip().rsplit(":", 1)[1])
    sha = hashlib.sha256(b"not the file").digest()
    forged = encode_announce(Announce(ObjectInfo(b"\x0b" * 8, 0, 5000, sha[:8], 1024, 16), 1, sha, "bogus.bundle"))
    other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for _ in range(3):
            other.sendto(forged, (LOOPBACK, port))
        tx = UdpChannel.sender(LOOPBACK, port, offload=False)
        sent = send([tmp_path / "good.bin"], tx, SendOptions(rate=20 << 20))
        tx.close()
        out, err = p.communicate(timeout=60)
    finally:
        p.kill()
    assert p.returncode == 1, out + err
    assert "error [incomplete]: " in err and "bogus.bundle: 1 of 1 blocks" in err
    dropped = re.search(r"(\d+) frame\(s\) of another session were dropped", err)
    assert dropped is not None and 0 < int(dropped.group(1)) <= sent.frames, err
    assert "session 0b0b0b0b0b0b0b0b, heard first" in err and "Make sure only the sender you expect sends" in err
    assert "more --redundancy does not help with that" in err
