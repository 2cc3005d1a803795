"""What a hostile sender on the wire can cost the diode receiver: bounded memory, bounded waits.

Diode frames are not authenticated (spec/transport.md §3.10): anyone who can put datagrams on
the wire can name objects of any size. The receiver must not pay for what a frame merely
claims: memory for an object is allocated as its data arrives, held to a total, and the
stalest incomplete objects are dropped first (§3.8 rule 8). Peak memory is read from a fresh
process (tests/memory.py), the datagrams travel over real UDP sockets on 127.0.0.1.
"""

from __future__ import annotations

from pathlib import Path

from bundlekit.transport.diode_receive import Receiver
from bundlekit.transport.diode_send import SendOptions, iter_frames, plan_objects
from bundlekit.transport.frames import TYPE_DATA, ObjectInfo, object_prefix, seal
from tests.memory import peak_of
from tests.transport.helpers import write_payload

MiB = 1 << 20
#: The largest block count a frame may name (2^24): a per-block table of it is 16 MiB.
BLOCKS = 1 << 24


def spoofed(session: bytes, object_id: int, *, symbol: int, k: int, block: int) -> bytes:
    """One valid DATA frame (right magic, right CRC) of an object of ``BLOCKS`` blocks that does not
    exist: ``BLOCKS * symbol * k - 1`` bytes (at most 256 MiB here, so it fits the free space)."""
    info = ObjectInfo(session, object_id, BLOCKS * symbol * k - 1, b"\x5a" * 8, symbol, k)
    return seal(object_prefix(info, TYPE_DATA) + block.to_bytes(4, "big") + b"\x00\x00\x00\x00" + b"\x11" * symbol)


_UDP_SETUP = """
    import socket, threading
    from pathlib import Path
    from bundlekit.transport.channel import UdpChannel
    from bundlekit.transport.diode_loop import receive
    from tests.transport.test_diode_bounds import spoofed
    out = Path({out!r})
    rx = UdpChannel.listener("127.0.0.1", 0, offload=False)
    frames = [spoofed(b"S" * 8, i, symbol={symbol}, k={k}, block=(1 << 24) - 1) for i in range({count})]

    def attack():
        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for f in frames:
            tx.sendto(f, rx.address)
        tx.close()
"""

_UDP_WORK = """
    threading.Thread(target=attack, daemon=True).start()
    report = receive(rx, out, idle_timeout=1.0)
    rx.close()
    heard = len(report.files)
    assert heard >= {count} * 9 // 10, report.frames  # loopback loses few, if any
    assert all(f.status == "incomplete" for f in report.files)
    assert sorted(p.name for p in out.iterdir()) == [], "no temporary file may remain"
    {check}
"""


def test_spoofed_datagrams_naming_huge_objects_cost_no_memory_until_their_data_arrives(tmp_path: Path) -> None:
    """64 datagrams, each naming a new object of 2^24 blocks (of two symbols: one datagram decodes
    none): a per-block table allocated when the object was first heard cost 16 MiB each (1 GiB
    here) and was never freed."""
    (tmp_path / "out").mkdir()
    count = 64
    peak = peak_of(setup=_UDP_SETUP.format(out=str(tmp_path / "out"), symbol=8, k=2, count=count),
                   work=_UDP_WORK.format(count=count, check="assert report.frames['blocks_decoded'] == 0"))
    assert peak.outcome == "ok", peak
    assert peak.grown_kib < 32 * 1024, peak


def test_objects_whose_data_does_arrive_are_held_to_the_state_budget(tmp_path: Path) -> None:
    """With one symbol per block, every spoofed datagram decodes its object's last block, so the
    receiver must record it: 192 such objects would hold 2 MiB of block map each (384 MiB). The
    receiver keeps its bookkeeping within its budget by dropping the stalest incomplete objects."""
    (tmp_path / "out").mkdir()
    count = 192
    peak = peak_of(setup=_UDP_SETUP.format(out=str(tmp_path / "out"), symbol=8, k=1, count=count),
                   work=_UDP_WORK.format(count=count, check="assert report.frames['objects_dropped'] > 0"))
    assert peak.outcome == "ok", peak
    assert peak.grown_kib < 64 * 1024, peak


def test_a_real_file_completes_after_a_flood_of_spoofed_objects_in_its_session(tmp_path: Path) -> None:
    """The spoofed objects use the real sender's session (an attacker on the wire sees it) and
    come first; they are dropped, stalest first, to stay within the budget; once the real
    announcement says how many files there are, the rest are refused. The real file arrives."""
    data = write_payload(tmp_path / "a.bundle", 600_000, 1)
    session = b"R" * 8
    real = list(iter_frames(plan_objects([tmp_path / "a.bundle"]), session,
                            SendOptions(rate=0, symbol_size=256, block_symbols=256)))
    (tmp_path / "out").mkdir()
    budget = 4 * MiB
    rx = Receiver(tmp_path / "out", state_budget=budget)
    for i in range(200):  # each decodes its object's last block: a 2 MiB block map each
        rx.feed(spoofed(session, 1000 + i, symbol=8, k=1, block=BLOCKS - 1))
        assert rx.state_bytes <= budget + 2 * MiB + 64 * 1024  # one object's block map over, at most
    for i, frame in enumerate(real):
        rx.feed(frame)
        rx.feed(spoofed(session, 2000 + i, symbol=8, k=1, block=BLOCKS - 1))
        assert rx.state_bytes <= budget + 2 * MiB + 64 * 1024
    report = rx.finish()
    byname = {f.name: f for f in report.files if f.name}
    assert byname["a.bundle"].status == "complete"
    assert (tmp_path / "out" / "a.bundle").read_bytes() == data
    dropped = [f for f in report.files if "bound the receiver's memory" in f.detail]
    assert len(dropped) == report.frames["objects_dropped"] >= 190
    refused = [f for f in report.files if f.status == "rejected"]
    assert refused and all("announced 1 file" in f.detail for f in refused)  # open when the announcement came
    assert report.frames["inconsistent"] >= len(real) - 5  # later ones contradict it from the start
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.bundle"]


def test_one_object_whose_blocks_in_progress_outgrow_the_budget_is_dropped_itself(tmp_path: Path) -> None:
    """One datagram per block, two symbols per block: no block ever decodes, and each one held a
    record in memory for as long as the object was open, with no bound for a single object."""
    (tmp_path / "out").mkdir()
    budget = MiB
    rx = Receiver(tmp_path / "out", state_budget=budget)
    for block in range(5000):
        rx.feed(spoofed(b"S" * 8, 7, symbol=8, k=2, block=block))
        assert rx.state_bytes <= budget
    report = rx.finish()
    assert report.frames["objects_dropped"] == 1
    assert report.frames["after_complete"] > 0  # its later frames are not taken up again
    [dropped] = report.files
    assert dropped.status == "incomplete" and "blocks in progress" in dropped.detail
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == []
