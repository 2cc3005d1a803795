"""Diode frames: self-describing, MTU-sized, and any corruption or inconsistency is refused."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import pytest

from bundlekit.transport.diode_send import SendOptions, iter_frames, plan_objects
from bundlekit.transport.fec import MIN_REPAIR, repair_count
from bundlekit.transport.frames import (
    MAX_DATAGRAM, TYPE_ANNOUNCE, TYPE_DATA, Announce, FrameError, ObjectInfo, crc_ok, encode_announce, parse_announce,
    parse_common, parse_data,
)
from tests.transport.helpers import write_payload

SESSION = b"S" * 8


def _info(**kw: object) -> ObjectInfo:
    base: dict[str, object] = dict(session=SESSION, object_id=0, size=5000, digest_prefix=b"\x01" * 8,
                                   symbol_size=1400, block_symbols=1024)
    base.update(kw)
    return ObjectInfo(**base)  # type: ignore[arg-type]


def test_announce_round_trips_and_carries_name_digest_and_count() -> None:
    digest = b"\x01" * 8 + bytes(24)
    raw = encode_announce(Announce(_info(), 3, digest, "acme-1.4.0.bundle"))
    ftype, info = parse_common(raw)
    assert ftype == TYPE_ANNOUNCE and info == _info()
    a = parse_announce(raw, info)
    assert (a.object_count, a.sha256, a.name) == (3, digest, "acme-1.4.0.bundle")


def test_every_frame_of_a_real_send_fits_a_1500_byte_mtu_and_checks(tmp_path: Path) -> None:
    write_payload(tmp_path / "a.bundle", 20_000)
    objs = plan_objects([tmp_path / "a.bundle"])
    frames = list(iter_frames(objs, SESSION, SendOptions()))
    assert all(len(f) <= MAX_DATAGRAM for f in frames)
    data = [f for f in frames if f[4] == TYPE_DATA]
    assert {len(f) for f in data} == {1452}
    for f in frames:
        ftype, info = parse_common(f)
        assert info.session == SESSION and info.size == 20_000
        assert info.digest_prefix == hashlib.sha256((tmp_path / "a.bundle").read_bytes()).digest()[:8]
        if ftype == TYPE_DATA:
            block, _esi = parse_data(f, info)
            assert block == 0


def test_any_single_bit_flip_fails_the_frame_checksum(tmp_path: Path) -> None:
    write_payload(tmp_path / "a.bundle", 3000)
    frame = next(f for f in iter_frames(plan_objects([tmp_path / "a.bundle"]), SESSION, SendOptions())
                 if f[4] == TYPE_DATA)
    rng = random.Random(0)
    for bit in rng.sample(range(len(frame) * 8), 400) + list(range(48 * 8)):
        b = bytearray(frame)
        b[bit // 8] ^= 1 << (bit % 8)
        assert not crc_ok(bytes(b))
        with pytest.raises(FrameError, match="^(bad magic|checksum mismatch|unknown frame type or flags)$"):
            parse_common(bytes(b))


def test_garbage_and_truncated_datagrams_are_not_frames() -> None:
    rng = random.Random(1)
    for n in (0, 3, 47, 100, 1452, 1500):
        with pytest.raises(FrameError, match="^(wrong length|bad magic)$"):
            parse_common(rng.randbytes(n))


def test_data_frame_with_wrong_length_source_block_number_or_block_is_refused() -> None:
    info = _info()
    with pytest.raises(FrameError, match="data frame length does not match its symbol size"):
        parse_data(bytes(1000), info)  # not the length its symbol size implies
    good = bytearray(1452)
    good[44] = 1  # SBN must be 0: each block is its own RFC 6330 object
    with pytest.raises(FrameError, match="source block number must be 0"):
        parse_data(bytes(good), info)
    beyond = bytearray(1452)
    beyond[40:44] = (7).to_bytes(4, "big")
    with pytest.raises(FrameError, match="block number beyond the object's size"):
        parse_data(bytes(beyond), info)


@pytest.mark.parametrize("kw", [dict(symbol_size=1404), dict(symbol_size=1424), dict(block_symbols=0),
                                dict(block_symbols=5000), dict(session=b"short")])
def test_impossible_geometry_is_refused(kw: dict[str, object]) -> None:
    with pytest.raises(FrameError, match="symbol size .* is not a multiple of 8|block symbols .* not in|are 8 bytes"):
        _info(**kw)


def test_repair_count_is_the_fraction_with_a_floor_for_tiny_blocks() -> None:
    assert repair_count(1024, 0.15) == 154
    assert repair_count(1000, 0.10) == 100
    assert repair_count(3, 0.15) == MIN_REPAIR
    assert repair_count(1024, 0.0) == 0
