"""Content-defined chunking and delta recipes at the source: the recipe rebuilds the package exactly."""

from __future__ import annotations

import hashlib
import io
import random
from pathlib import Path

import pytest

from bundlekit.export.chunking import ChunkList, RangeReader, chunk_stream, plan_delta
from bundlekit.format.delta import OP_BASE, OP_DATA, BaseRef, DeltaRef, Rebuilder

MIB = 1 << 20


def _base(seed: int = 7, size: int = 3 * MIB) -> bytes:
    return random.Random(seed).randbytes(size)


def _rebuild(base: bytes, new_path: Path, plan_recipe: tuple[tuple[int, ...], ...],
             ranges: tuple[tuple[int, int], ...]) -> bytes:
    delta = DeltaRef(BaseRef("P", "1", hashlib.sha256(base).hexdigest(), len(base)), "d" * 64, plan_recipe)
    out = io.BytesIO()
    rebuilder = Rebuilder(delta, lambda offset, length: base[offset:offset + length], out.write, "test")
    with open(new_path, "rb") as fh:
        reader = RangeReader(fh, ranges)
        while piece := reader.read(100_000):
            rebuilder.feed(piece)
    rebuilder.finish()
    return out.getvalue()


EDITS = {
    "insert at the start": lambda b, r: r.randbytes(5000) + b,
    "delete in the middle": lambda b, r: b[:MIB] + b[MIB + 70_000:],
    "change inside": lambda b, r: b[:2 * MIB] + r.randbytes(3000) + b[2 * MIB + 3000:],
    "append": lambda b, r: b + r.randbytes(10_000),
}


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_recipe_rebuilds_the_new_package_and_ships_little_more_than_the_edit(tmp_path: Path, edit: str) -> None:
    base = _base()
    new = EDITS[edit](base, random.Random(9))
    path = tmp_path / "new.bin"
    path.write_bytes(new)
    base_list = chunk_stream(io.BytesIO(base))
    plan = plan_delta(path, base_list)
    assert plan.sha256 == hashlib.sha256(new).hexdigest() and plan.size == len(new)
    assert _rebuild(base, path, plan.recipe, plan.data_ranges) == new
    # Only the chunks around the edit travel: a few 256 KiB maxima at most, not the 3 MiB package.
    assert plan.data_size < 600_000
    assert hashlib.sha256(b"".join(new[a:a + n] for a, n in plan.data_ranges)).hexdigest() == plan.data_sha256
    # Runs are merged: no two neighbouring operations of the same kind that could be one.
    for a, b in zip(plan.recipe, plan.recipe[1:]):
        assert not (a[0] == OP_DATA and b[0] == OP_DATA)
        assert not (a[0] == OP_BASE and b[0] == OP_BASE and a[1] + a[2] == b[1])


def test_chunk_boundaries_follow_content_so_a_shift_keeps_later_chunks() -> None:
    base = _base(size=2 * MIB)
    shifted = b"x" * 1234 + base
    a = chunk_stream(io.BytesIO(base))
    b = chunk_stream(io.BytesIO(shifted))
    assert len(set(a.digests) & set(b.digests)) >= len(a.digests) - 2
    assert 16 << 10 <= sorted(a.lengths)[len(a.lengths) // 2] <= 256 << 10


def test_chunk_list_round_trips_and_a_damaged_one_is_ignored() -> None:
    listed = chunk_stream(io.BytesIO(_base(size=MIB)))
    data = listed.encode()
    assert ChunkList.decode(data) == listed
    assert ChunkList.decode(data[:-1]) is None
    assert ChunkList.decode(b"not a list" + data[10:]) is None


def test_a_recipe_a_reader_would_refuse_is_not_written_the_package_travels_whole(tmp_path: Path) -> None:
    """The writer holds itself to the reader's limits (decision 301): a recipe over the operation
    limit, or over the room left in the manifest, sends the package whole (``None``, nothing
    added to the bundle) instead of signing a bundle every reader refuses."""
    from bundlekit.export.delta import recipe_bytes, write_delta
    from bundlekit.format.container import BundleWriter
    from bundlekit.zone.chunks import ChunkListStore

    base = _base()
    new = EDITS["change inside"](EDITS["insert at the start"](base, random.Random(3)), random.Random(4))
    path = tmp_path / "new.bin"
    path.write_bytes(new)
    base_list = chunk_stream(io.BytesIO(base))
    ref = BaseRef("P", "1", hashlib.sha256(base).hexdigest(), len(base))
    lists = ChunkListStore(tmp_path / "home")
    plan = plan_delta(path, base_list)
    assert len(plan.recipe) >= 3
    writer = BundleWriter(tmp_path / "b.bundle", "release")
    try:
        assert write_delta(writer, "P", "2", "p.zip", path, ref, base_list, lists, max_ops=len(plan.recipe) - 1) is None
        assert write_delta(writer, "P", "2", "p.zip", path, ref, base_list, lists,
                           max_bytes=recipe_bytes(plan.recipe) - 1) is None
        assert writer.blobs == []
        written = write_delta(writer, "P", "2", "p.zip", path, ref, base_list, lists,
                              max_ops=len(plan.recipe), max_bytes=recipe_bytes(plan.recipe))
        assert written is not None and written.delta is not None and tuple(written.delta.recipe) == plan.recipe
        assert written.to_dict()["delta"]["recipe"] == written.delta.recipe.text()  # packed (format 1.3)
        assert [b.digest for b in writer.blobs] == [written.delta.data]
    finally:
        writer.abort()
