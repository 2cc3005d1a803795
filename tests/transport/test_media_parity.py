"""With --parity N, any N missing or damaged volumes are rebuilt; N + 1 is refused with nothing written."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from bundlekit.transport import media
from bundlekit.transport.erasure import StripeCodec
from bundlekit.transport.media import check, join, split
from bundlekit.transport.volume import HEADER_SIZE
from tests.transport.helpers import write_payload
from tests.conftest import raises_code

VOL = HEADER_SIZE + 700


def _spoil(path: Path, how: str) -> None:
    if how == "missing":
        path.unlink()
    elif how == "payload":
        with open(path, "r+b") as f:
            f.seek(HEADER_SIZE + 3)
            b = f.read(1)[0]
            f.seek(HEADER_SIZE + 3)
            f.write(bytes([b ^ 0xFF]))
    elif how == "header":
        with open(path, "r+b") as f:
            f.seek(100)
            b = f.read(1)[0]
            f.seek(100)
            f.write(bytes([b ^ 0x42]))
    else:
        with open(path, "r+b") as f:
            f.truncate(HEADER_SIZE + 1)


@pytest.fixture
def three_parity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[bytes, list[Path], Path]:
    monkeypatch.setattr(media, "STRIPE_CHUNK", 256)  # several stripes per volume
    data = write_payload(tmp_path / "b.bundle", 4000, seed=3)  # 6 data volumes, last one short
    vols = split(tmp_path / "b.bundle", tmp_path / "v", VOL, parity=3)
    assert len(vols) == 9
    return data, vols, tmp_path


@pytest.mark.parametrize("lost", [c for n in (1, 2, 3) for c in itertools.combinations(range(9), n)][::7])
def test_any_n_missing_or_damaged_volumes_are_rebuilt(three_parity: tuple[bytes, list[Path], Path],
                                                       lost: tuple[int, ...]) -> None:
    data, vols, tmp = three_parity
    hows = ["missing", "payload", "header", "truncate"]
    for n, i in enumerate(lost):
        _spoil(vols[i], hows[(i + n) % len(hows)])
    r = check([tmp / "v"])
    assert r.joinable, r.message
    assert r.needs_parity == any(i < 6 for i in lost)
    assert join([tmp / "v"], tmp / "out.bundle").read_bytes() == data


def test_the_short_last_data_volume_is_rebuilt_to_its_exact_length(
        three_parity: tuple[bytes, list[Path], Path]) -> None:
    data, vols, tmp = three_parity
    for i in (5, 0, 3):
        vols[i].unlink()
    assert join([tmp / "v"], tmp / "out.bundle").read_bytes() == data


@pytest.mark.parametrize("lost", [(0, 1, 2, 3), (5, 6, 7, 8), (0, 2, 4, 6)])
def test_n_plus_one_lost_volumes_are_refused_and_nothing_is_written(three_parity: tuple[bytes, list[Path], Path],
                                                                     lost: tuple[int, ...]) -> None:
    _, vols, tmp = three_parity
    for i in lost:
        _spoil(vols[i], "missing" if i % 2 else "payload")
    r = check([tmp / "v"])
    assert not r.joinable and r.code == "volumes_incomplete"
    assert set(r.missing) | set(r.damaged) == set(lost)
    with raises_code("volumes_incomplete"):
        join([tmp / "v"], tmp / "out.bundle")
    assert sorted(p.name for p in tmp.iterdir()) == ["b.bundle", "v"]


def test_parity_for_a_one_volume_bundle_is_a_full_copy(tmp_path: Path) -> None:
    data = write_payload(tmp_path / "b.bundle", 300)
    vols = split(tmp_path / "b.bundle", tmp_path / "v", VOL, parity=1)
    vols[0].unlink()
    assert join([tmp_path / "v"], tmp_path / "out").read_bytes() == data


def test_empty_bundle_with_parity(tmp_path: Path) -> None:
    write_payload(tmp_path / "b.bundle", 0)
    vols = split(tmp_path / "b.bundle", tmp_path / "v", VOL, parity=2)
    vols[0].unlink()
    assert join([tmp_path / "v"], tmp_path / "out").read_bytes() == b""


def _gf_mul(a: int, b: int) -> int:
    r = 0
    while b:
        if b & 1:
            r ^= a
        a <<= 1
        if a & 0x100:
            a ^= 0x11D
        b >>= 1
    return r


def test_parity_is_the_cauchy_reed_solomon_code_the_spec_defines() -> None:
    # spec/transport.md 2.3: parity row i (k <= i < k+m) has entries 1 / (i XOR j) in GF(2^8)/0x11D.
    inverse = {a: next(x for x in range(1, 256) if _gf_mul(a, x) == 1) for a in range(1, 256)}
    for k, m in ((3, 2), (6, 3), (1, 1)):
        chunks = [bytes((7 * j + 13 * t) % 256 for t in range(32)) for j in range(k)]
        expected = []
        for i in range(k, k + m):
            row = [inverse[i ^ j] for j in range(k)]
            out = bytearray(32)
            for j in range(k):
                for t in range(32):
                    out[t] ^= _gf_mul(row[j], chunks[j][t])
            expected.append(bytes(out))
        assert StripeCodec(k, m).encode(chunks) == expected


def test_stripe_codec_rebuilds_data_chunks_from_parity() -> None:
    codec = StripeCodec(4, 2)
    chunks = [bytes([i]) * 100 for i in range(1, 5)]
    parity = codec.encode(chunks)
    assert [len(p) for p in parity] == [100, 100]
    rebuilt = codec.decode({0: chunks[0], 3: chunks[3], 4: parity[0], 5: parity[1]}, 100)
    assert rebuilt == {1: chunks[1], 2: chunks[2]}
    with raises_code("volumes_incomplete"):
        codec.decode({0: chunks[0], 4: parity[0], 5: parity[1]}, 100)
