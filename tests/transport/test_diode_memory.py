"""Sender -> seeded lossy in-memory channel -> receiver: what the FEC survives, and how it fails.

Small symbols (256 bytes, 1024 per block) keep these fast while keeping the real block
geometry (K = 1024, so 5% loss costs ~51 symbols of 154 repair symbols per block).
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from bundlekit.transport.channel import LossyChannel, MemoryChannel
from bundlekit.transport.diode_loop import receive
from bundlekit.transport.diode_receive import ReceiveReport, Receiver
from bundlekit.transport.diode_send import SendOptions, iter_frames, plan_objects, send
from bundlekit.transport.frames import TYPE_ANNOUNCE, Announce, encode_announce, parse_announce, parse_common
from tests.conftest import raises_code, snapshot
from tests.transport.helpers import write_payload

SMALL = SendOptions(rate=0, symbol_size=256, block_symbols=1024)  # 256 KiB blocks, 8 per interleave group
MiB = 1 << 20


def _transfer(files: list[Path], out: Path, opts: SendOptions = SMALL, *, budget: int = 64 * MiB,
              **impair: object) -> ReceiveReport:
    mem = MemoryChannel()
    lossy = LossyChannel(mem, **impair) if impair else mem  # type: ignore[arg-type]
    send(files, lossy, opts)
    lossy.close()
    out.mkdir(exist_ok=True)
    return receive(mem, out, idle_timeout=0, memory_budget=budget)


def _frames(files: list[Path], opts: SendOptions = SMALL, session: bytes = b"A" * 8) -> list[bytes]:
    return list(iter_frames(plan_objects(files), session, opts))


def _receive_frames(frames: list[bytes], out: Path, **kw: int) -> ReceiveReport:
    mem = MemoryChannel()
    for f in frames:
        mem.send(f)
    out.mkdir(exist_ok=True)
    return receive(mem, out, idle_timeout=0, **kw)  # type: ignore[arg-type]


def _assert_nothing_kept(out: Path) -> None:
    assert sorted(p.name for p in out.iterdir()) == [], "no file, no .part, no .spill may remain"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_recovers_at_5_percent_random_loss(tmp_path: Path, seed: int) -> None:
    data = write_payload(tmp_path / "a.bundle", 2 * MiB, seed)
    r = _transfer([tmp_path / "a.bundle"], tmp_path / "out", seed=seed, drop=0.05)
    assert r.ok, r.to_dict()
    assert (tmp_path / "out" / "a.bundle").read_bytes() == data


def test_survives_drop_duplicate_reorder_and_corruption_at_once(tmp_path: Path) -> None:
    data = write_payload(tmp_path / "a.bundle", 2 * MiB, 7)
    r = _transfer([tmp_path / "a.bundle"], tmp_path / "out", seed=7, drop=0.04, duplicate=0.05, reorder=0.1,
                  corrupt=0.02)
    assert r.ok, r.to_dict()
    assert r.frames["corrupt"] > 0 and r.frames["duplicate"] > 0
    assert (tmp_path / "out" / "a.bundle").read_bytes() == data


def test_default_geometry_recovers_at_5_percent_loss(tmp_path: Path) -> None:
    data = write_payload(tmp_path / "a.bundle", 3 * MiB, 4)
    r = _transfer([tmp_path / "a.bundle"], tmp_path / "out", SendOptions(rate=0), seed=4, drop=0.05)
    assert r.ok and (tmp_path / "out" / "a.bundle").read_bytes() == data


def test_interleaving_absorbs_a_burst_within_the_configured_tolerance(tmp_path: Path) -> None:
    # 8 interleaved blocks x 154 repair symbols: a burst of 8 x 140 frames costs each block <= 140.
    data = write_payload(tmp_path / "a.bundle", 2 * MiB, 5)
    r = _transfer([tmp_path / "a.bundle"], tmp_path / "out", seed=5, bursts=[(2000, 8 * 140)])
    assert r.ok, r.to_dict()
    assert (tmp_path / "out" / "a.bundle").read_bytes() == data


def test_burst_beyond_tolerance_fails_as_incomplete_and_keeps_nothing(tmp_path: Path) -> None:
    write_payload(tmp_path / "a.bundle", 2 * MiB, 5)
    r = _transfer([tmp_path / "a.bundle"], tmp_path / "out", seed=5, bursts=[(2000, 8 * 200)])
    assert not r.ok
    f = r.files[0]
    assert f.status == "incomplete" and f.blocks_total == 8 and f.blocks_missing == 8
    assert f.bytes_missing == 2 * MiB and f.name == "a.bundle"
    with raises_code("incomplete") as err:
        r.raise_for_status()
    assert "8 of 8 blocks" in err.value.message
    _assert_nothing_kept(tmp_path / "out")


def test_random_loss_beyond_the_redundancy_fails_clearly(tmp_path: Path) -> None:
    write_payload(tmp_path / "a.bundle", 2 * MiB, 6)
    r = _transfer([tmp_path / "a.bundle"], tmp_path / "out", seed=6, drop=0.25)
    assert [f.status for f in r.files] == ["incomplete"]
    assert 0 < r.files[0].blocks_missing <= 8
    with raises_code("incomplete") as err:
        r.raise_for_status()
    assert err.value.details["files"][0]["bytes_missing"] > 0
    _assert_nothing_kept(tmp_path / "out")


def test_repeat_pass_sends_new_symbols_that_complete_a_heavily_damaged_transfer(tmp_path: Path) -> None:
    data = write_payload(tmp_path / "a.bundle", 1 * MiB, 8)
    opts = SendOptions(rate=0, symbol_size=256, block_symbols=1024, repeat=1)
    r = _transfer([tmp_path / "a.bundle"], tmp_path / "out", opts, seed=8, drop=0.40)
    assert r.ok, r.to_dict()
    assert (tmp_path / "out" / "a.bundle").read_bytes() == data


def test_receiver_that_joins_late_completes_from_the_next_pass(tmp_path: Path) -> None:
    data = write_payload(tmp_path / "a.bundle", 1 * MiB, 9)
    frames = _frames([tmp_path / "a.bundle"], SendOptions(rate=0, symbol_size=256, block_symbols=1024, repeat=1))
    late = frames[len(frames) // 3:]  # the receiver came up a third of the way into pass 1
    r = _receive_frames(late, tmp_path / "out")
    assert r.ok and (tmp_path / "out" / "a.bundle").read_bytes() == data


def test_garbage_datagrams_are_counted_and_ignored(tmp_path: Path) -> None:
    data = write_payload(tmp_path / "a.bundle", 1 * MiB, 10)
    rng = random.Random(10)
    frames = _frames([tmp_path / "a.bundle"])
    junk = [rng.randbytes(rng.randrange(0, 1500)) for _ in range(500)]
    junk += [b"BKD\x01" + rng.randbytes(1448) for _ in range(200)]  # right magic, wrong checksum
    junk += [f[:-10] for f in frames[:50]]  # truncated real frames
    mixed = frames + junk
    rng.shuffle(mixed)
    (tmp_path / "out").mkdir()
    rx = Receiver(tmp_path / "out")  # every datagram fed: receive() would stop once the file is complete
    for frame in mixed:
        rx.feed(frame)
    r = rx.finish()
    assert r.ok and (tmp_path / "out" / "a.bundle").read_bytes() == data
    assert r.frames["garbage"] + r.frames["corrupt"] == len(junk)


def test_second_concurrent_session_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    data = write_payload(tmp_path / "a" / "x.bundle", 1 * MiB, 11)
    write_payload(tmp_path / "b" / "x.bundle", MiB // 2, 12)  # same name and object id, other bytes
    a = _frames([tmp_path / "a" / "x.bundle"], session=b"A" * 8)
    b = _frames([tmp_path / "b" / "x.bundle"], session=b"B" * 8)
    mixed = [a[0]]
    for i, f in enumerate(a[1:]):
        mixed.append(f)
        if i < len(b):
            mixed.append(b[i])  # the intruder talks while we follow session A
    r = _receive_frames(mixed, tmp_path / "out")
    assert [(f.session, f.status) for f in r.files] == [(("A" * 8).encode().hex(), "complete")]
    assert r.frames["other_session"] == len(b)
    assert (tmp_path / "out" / "x.bundle").read_bytes() == data


def test_sessions_one_after_another_are_both_received(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    da = write_payload(tmp_path / "a" / "one.bundle", 300_000, 13)
    db = write_payload(tmp_path / "a" / "two.bundle", 200_000, 14)
    frames = _frames([tmp_path / "a" / "one.bundle"], session=b"1" * 8)
    frames += _frames([tmp_path / "a" / "two.bundle"], session=b"2" * 8)
    r = _receive_frames(frames, tmp_path / "out")
    assert r.ok and len(r.files) == 2
    assert (tmp_path / "out" / "one.bundle").read_bytes() == da
    assert (tmp_path / "out" / "two.bundle").read_bytes() == db


def test_tiny_memory_budget_spills_symbols_to_disk_and_still_completes(tmp_path: Path) -> None:
    data = write_payload(tmp_path / "a.bundle", 2 * MiB, 15)
    frames = _frames([tmp_path / "a.bundle"])
    frames += frames[::3]  # duplicates, some of which arrive after their block was spilled
    random.Random(15).shuffle(frames)  # every block stays open until the very end
    budget = 256 * 1024
    r = _receive_frames(frames, tmp_path / "out", memory_budget=budget)
    assert r.ok, r.to_dict()
    assert r.frames["blocks_spilled"] > 0
    # The budget plus one block being decoded (its K + R frames at most): bounded, whatever the file size.
    assert r.peak_buffered_bytes <= budget + (1024 + 154) * (256 + 52)
    assert (tmp_path / "out" / "a.bundle").read_bytes() == data
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.bundle"]  # spill file removed


def test_report_counts_exactly_the_missing_blocks_and_bytes(tmp_path: Path) -> None:
    write_payload(tmp_path / "a.bundle", 640 * 1024, 23)  # blocks of 256 KiB: 2 full + a 128 KiB tail
    frames = [f for f in _frames([tmp_path / "a.bundle"])
              if not (f[4] == 1 and int.from_bytes(f[40:44], "big") == 2)]
    r = _receive_frames(frames, tmp_path / "out")
    f = r.files[0]
    assert (f.status, f.blocks_total, f.blocks_missing, f.bytes_missing) == ("incomplete", 3, 1, 128 * 1024)
    _assert_nothing_kept(tmp_path / "out")


def _forge_announce(frames: list[bytes], **change: object) -> list[bytes]:
    out = []
    for f in frames:
        if f[4] == TYPE_ANNOUNCE:
            _t, info = parse_common(f)
            a = parse_announce(f, info)
            fields = dict(info=info, object_count=a.object_count, sha256=a.sha256, name=a.name)
            fields.update(change)
            f = encode_announce(Announce(**fields))  # type: ignore[arg-type]
        out.append(f)
    return out


def test_file_whose_bytes_do_not_match_the_announced_digest_is_never_released(tmp_path: Path) -> None:
    write_payload(tmp_path / "a.bundle", 600_000, 16)
    frames = _frames([tmp_path / "a.bundle"])
    _t, info = parse_common(frames[0])
    forged = _forge_announce(frames, sha256=info.digest_prefix + b"\x00" * 24)
    r = _receive_frames(forged, tmp_path / "out")
    assert [f.status for f in r.files] == ["digest_mismatch"]
    _assert_nothing_kept(tmp_path / "out")


@pytest.mark.parametrize("name", ["../escape.bundle", ".hidden", "a/b.bundle", "nul\x00.bundle"])
def test_unsafe_announced_name_is_rejected_and_nothing_is_written(tmp_path: Path, name: str) -> None:
    write_payload(tmp_path / "a.bundle", 100_000, 17)
    forged = _forge_announce(_frames([tmp_path / "a.bundle"]), name=name)
    (tmp_path / "out").mkdir()
    r = _receive_frames(forged, tmp_path / "out")
    assert [f.status for f in r.files] == ["rejected"]
    _assert_nothing_kept(tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bundle", "out"]


def test_existing_file_with_other_content_is_left_alone(tmp_path: Path) -> None:
    write_payload(tmp_path / "a.bundle", 100_000, 18)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.bundle").write_bytes(b"someone else's")
    before = snapshot(tmp_path / "out")
    r = _receive_frames(_frames([tmp_path / "a.bundle"]), tmp_path / "out")
    assert [f.status for f in r.files] == ["name_conflict"] and not r.ok
    assert snapshot(tmp_path / "out") == before


def test_identical_file_already_present_is_success(tmp_path: Path) -> None:
    data = write_payload(tmp_path / "a.bundle", 100_000, 19)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.bundle").write_bytes(data)
    r = _receive_frames(_frames([tmp_path / "a.bundle"]), tmp_path / "out")
    assert [f.status for f in r.files] == ["already_present"] and r.ok


def test_several_files_including_an_empty_one(tmp_path: Path) -> None:
    sizes = {"a.bundle": 700_000, "empty.bundle": 0, "one.bundle": 1}
    datas = {n: write_payload(tmp_path / n, s, 20) for n, s in sizes.items()}
    r = _transfer([tmp_path / n for n in sizes], tmp_path / "out", seed=20, drop=0.05)
    assert r.ok and sorted(f.name for f in r.files) == sorted(sizes)  # type: ignore[type-var]
    for n, d in datas.items():
        assert (tmp_path / "out" / n).read_bytes() == d


def test_file_is_not_released_without_its_announcement(tmp_path: Path) -> None:
    write_payload(tmp_path / "a.bundle", 100_000, 21)
    frames = [f for f in _frames([tmp_path / "a.bundle"]) if f[4] != TYPE_ANNOUNCE]
    r = _receive_frames(frames, tmp_path / "out")
    assert [f.status for f in r.files] == ["incomplete"] and r.files[0].blocks_missing == 0
    assert "announcement" in r.files[0].detail
    _assert_nothing_kept(tmp_path / "out")


def test_nothing_received_is_its_own_error(tmp_path: Path) -> None:
    r = _receive_frames([], tmp_path / "out")
    with raises_code("nothing_received"):
        r.raise_for_status()


def test_token_bucket_paces_to_the_configured_rate(tmp_path: Path) -> None:
    write_payload(tmp_path / "a.bundle", 200_000, 22)
    now = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    mem = MemoryChannel()
    rep = send([tmp_path / "a.bundle"], mem, SendOptions(rate=100_000), clock=lambda: now[0], sleep=sleep)
    # With a fake clock only sleeping advances time: the total must be the bytes over the rate,
    # minus the one initial burst allowance (64 KiB).
    expected = (rep.wire_bytes - 64 * 1024) / 100_000
    assert sum(slept) == pytest.approx(expected, rel=0.02)
    assert len(mem.frames) == rep.frames
