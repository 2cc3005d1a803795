"""Split then join gives back the exact bundle, for any size and volume size (Hypothesis)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bundlekit.transport import media
from bundlekit.transport.media import SplitNotes, check, join, split
from bundlekit.transport.volume import HEADER_SIZE, parse_header
from tests.conftest import raises_code, snapshot
from tests.transport.helpers import payload, write_payload


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(size=st.integers(0, 20_000), parity=st.integers(0, 2), seed=st.integers(0, 3), data=st.data())
def test_split_then_join_is_identity(size: int, parity: int, seed: int, data: st.DataObject) -> None:
    # Payload sizes from 1 byte up, but at most ~40 volumes so the run stays fast.
    payload_size = data.draw(st.one_of(st.integers(max(1, size // 40), 6_000), st.sampled_from([max(1, size)])))
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        original = write_payload(tmp / "b.bundle", size, seed)
        vols = split(tmp / "b.bundle", tmp / "vols", HEADER_SIZE + payload_size, parity)
        k = max(1, -(-size // payload_size))
        assert len(vols) == k + parity
        for v in vols:
            assert v.stat().st_size <= HEADER_SIZE + payload_size
        assert check([tmp / "vols"]).joinable
        out = join([tmp / "vols"], tmp / "joined.bundle")
        assert out.read_bytes() == original


@pytest.mark.parametrize("size,payload_size,expected", [
    (0, 100, [0]),                     # an empty bundle still makes one (empty) volume
    (100, 100, [100]),                 # exact fit: no empty trailing volume
    (101, 100, [100, 1]),              # one byte over: a 1-byte last volume
    (300, 100, [100, 100, 100]),
    (250, 100, [100, 100, 50]),
])
def test_last_volume_is_short_or_absent_never_empty(tmp_path: Path, size: int, payload_size: int,
                                                     expected: list[int]) -> None:
    data = write_payload(tmp_path / "b.bundle", size)
    vols = split(tmp_path / "b.bundle", tmp_path / "v", HEADER_SIZE + payload_size)
    assert [v.stat().st_size - HEADER_SIZE for v in vols] == expected
    assert join([tmp_path / "v"], tmp_path / "out").read_bytes() == data


def test_every_volume_names_the_whole_bundle_and_its_place(tmp_path: Path) -> None:
    write_payload(tmp_path / "acme.bundle", 2500)
    vols = split(tmp_path / "acme.bundle", tmp_path / "v", HEADER_SIZE + 1000, parity=1)
    headers = [parse_header(v.read_bytes()[:HEADER_SIZE]) for v in vols]
    assert [h.index for h in headers] == [0, 1, 2, 3]
    assert {h.name for h in headers} == {"acme.bundle"}
    assert len({h.bundle_sha256 for h in headers}) == 1
    assert [h.is_parity for h in headers] == [False, False, False, True]
    assert [v.name for v in vols][:1] == ["acme.bundle.001-of-003.bkvol"]


def test_split_is_deterministic(tmp_path: Path) -> None:
    write_payload(tmp_path / "b.bundle", 5000)
    a = split(tmp_path / "b.bundle", tmp_path / "a", 2000, parity=2)
    b = split(tmp_path / "b.bundle", tmp_path / "b", 2000, parity=2)
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]


def test_join_takes_volumes_from_several_folders_in_any_order(tmp_path: Path) -> None:
    data = write_payload(tmp_path / "b.bundle", 9000, seed=5)
    vols = split(tmp_path / "b.bundle", tmp_path / "all", HEADER_SIZE + 1000)
    sticks = [tmp_path / f"stick{i}" for i in range(3)]
    for s in sticks:
        s.mkdir()
    for i, v in enumerate(reversed(vols)):
        shutil.move(str(v), sticks[i % 3] / f"renamed-{i}.bin")  # names do not matter, headers do
    assert join(list(reversed(sticks)), tmp_path / "out.bundle").read_bytes() == data


def test_stripes_stream_through_volumes_larger_than_one_chunk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Many stripes per volume (chunk 512 bytes) exercises the streaming parity path with small data.
    monkeypatch.setattr(media, "STRIPE_CHUNK", 512)
    data = write_payload(tmp_path / "b.bundle", 20_000, seed=2)
    vols = split(tmp_path / "b.bundle", tmp_path / "v", HEADER_SIZE + 6000, parity=1)
    assert parse_header(vols[0].read_bytes()[:HEADER_SIZE]).chunk_size == 512
    vols[1].unlink()
    assert join([tmp_path / "v"], tmp_path / "out").read_bytes() == data


def test_split_refuses_to_overwrite_volumes_of_another_bundle_and_changes_nothing(tmp_path: Path) -> None:
    write_payload(tmp_path / "b.bundle", 3000)
    vols = split(tmp_path / "b.bundle", tmp_path / "v", 2000)
    before = snapshot(tmp_path / "v")
    notes = SplitNotes()  # the same bundle and options again: this very set is there, nothing to do
    assert split(tmp_path / "b.bundle", tmp_path / "v", 2000, notes=notes) == vols and notes.unchanged
    assert snapshot(tmp_path / "v") == before
    write_payload(tmp_path / "b.bundle", 3000, seed=1)  # same name and size, other content
    with raises_code("output_exists"):
        split(tmp_path / "b.bundle", tmp_path / "v", 2000)
    assert snapshot(tmp_path / "v") == before


def test_volume_size_too_small_for_the_header_is_a_usage_error(tmp_path: Path) -> None:
    write_payload(tmp_path / "b.bundle", 10)
    with raises_code("volume_size_too_small"):
        split(tmp_path / "b.bundle", tmp_path / "v", HEADER_SIZE)
    assert not (tmp_path / "v").exists()


def test_too_many_parity_volumes_for_the_code_is_refused_before_writing(tmp_path: Path) -> None:
    write_payload(tmp_path / "b.bundle", 300)
    with raises_code("too_many_volumes"):
        split(tmp_path / "b.bundle", tmp_path / "v", HEADER_SIZE + 1, parity=1)  # 300 data + 1 parity > 255
    assert not (tmp_path / "v").exists()


def test_missing_bundle_is_an_input_error(tmp_path: Path) -> None:
    with raises_code("bundle_not_found"):
        split(tmp_path / "nope.bundle", tmp_path / "v", 4096)


def test_no_temporary_files_are_left_after_split(tmp_path: Path) -> None:
    write_payload(tmp_path / "b.bundle", 5000)
    split(tmp_path / "b.bundle", tmp_path / "v", 2000, parity=1)
    assert not [p for p in (tmp_path / "v").iterdir() if p.name.startswith(".")]


def test_payload_helper_is_reproducible() -> None:
    assert payload(1000, 3) == payload(1000, 3) != payload(1000, 4)
