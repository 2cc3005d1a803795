"""Packed recipes (format 1.3): one canonical encoding, every operation checked by name, and the
same rebuild as the list form of 1.2."""

from __future__ import annotations

import base64
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bundlekit.format.delta import BaseRef, DeltaRef, Rebuilder
from bundlekit.format.recipe import DATA_MARK, MAX_BYTES, RECORD, Recipe
from tests.conftest import raises_code
from tests.refusals.forge import pack_recipe

BASE = bytes(range(256)) * 8  # 2048 bytes
OPS = [[0, 0, 1000], [1, 5], [0, 1005, 1043]]


def _delta(recipe: object, base_size: int = len(BASE)) -> DeltaRef:
    return DeltaRef.from_dict({"base": {"id": "P", "version": "1", "sha256": "ab" * 32, "size": base_size},
                               "data": "cd" * 32, "recipe": recipe}, "manifest: packages[0].delta")


ops_strategy = st.lists(st.one_of(
    st.tuples(st.just(0), st.integers(0, len(BASE) - 1)).flatmap(
        lambda t: st.tuples(st.just(0), st.just(t[1]), st.integers(1, len(BASE) - t[1]))),
    st.tuples(st.just(1), st.integers(1, MAX_BYTES))), min_size=1, max_size=40)


@settings(deadline=None)
@given(ops_strategy)
def test_packed_and_list_forms_read_as_the_same_operations(ops: list[tuple[int, ...]]) -> None:
    listed, packed = _delta([list(op) for op in ops]), _delta(pack_recipe([list(op) for op in ops]))
    assert list(listed.recipe) == list(packed.recipe) == ops
    assert listed.recipe == packed.recipe and (listed.size, listed.data_size) == (packed.size, packed.data_size)
    assert packed.to_dict()["recipe"] == listed.recipe.text() == pack_recipe([list(op) for op in ops])
    assert not listed.packed and listed.to_dict()["recipe"] == [list(op) for op in ops]  # shown as it came


def test_records_are_two_little_endian_words_and_data_is_marked_by_all_ones() -> None:
    raw = base64.b64decode(_delta(OPS).recipe.text())
    assert len(raw) == RECORD * len(OPS)
    assert struct.unpack("<6Q", raw) == (0, 1000, DATA_MARK, 5, 1005, 1043)


@pytest.mark.parametrize(("records", "named"), [
    ([(1 << 63, 10)], "recipe operation 0 (offset): 9223372036854775808 is neither an offset"),
    ([(0, 10), (DATA_MARK - 1, 5)], "recipe operation 1 (offset)"),
    ([(0, 10), (DATA_MARK, 0)], "recipe operation 1 (length): 0 is outside 1.."),
    ([(0, 10), (DATA_MARK, MAX_BYTES + 1)], "recipe operation 1 (length)"),
    ([(0, 0)], "recipe operation 0 (length): 0 is outside 1.."),
    ([(2000, 49)], "recipe operation 0: copies base bytes 2000..2049, but the base has 2048 bytes"),
    ([(MAX_BYTES, 1)], "recipe operation 0: copies base bytes"),
])
def test_packed_operation_a_reader_cannot_use_is_refused_by_index(records: list[tuple[int, int]],
                                                                   named: str) -> None:
    text = base64.b64encode(b"".join(struct.pack("<QQ", a, b) for a, b in records)).decode()
    with raises_code("invalid_delta") as info:
        _delta(text)
    assert info.value.message.startswith("manifest: packages[0].delta.")
    assert named in info.value.message, info.value.message


@pytest.mark.parametrize(("text", "why"), [
    (base64.b64encode(b"\0" * 24).decode(), "24 bytes"),  # a record and a half
    ("", "0 characters"),
    (pack_recipe(OPS)[:-4] + " " + pack_recipe(OPS)[-3:], "not base64"),
    (pack_recipe(OPS) + "\n", "not base64"),
    (pack_recipe([[0, 0, 1]]).rstrip("="), "Incorrect padding"),
    # 16 bytes: the last group "AA==" codes one zero byte in 12 bits; "AB==" sets an unused bit.
    (pack_recipe([[0, 0, 1]])[:-3] + "B==", "not canonical"),
])
def test_packed_text_other_than_the_one_encoding_is_refused(text: str, why: str) -> None:
    assert base64.b64decode(pack_recipe([[0, 0, 1]])[:-3] + "B==") == base64.b64decode(pack_recipe([[0, 0, 1]]))
    with raises_code("invalid_delta") as info:
        _delta(text)
    assert why in info.value.message, info.value.message


def test_a_recipe_written_by_the_writer_is_read_back_by_the_reader() -> None:
    written = DeltaRef(BaseRef("P", "1", "ab" * 32, len(BASE)), "cd" * 32, tuple(tuple(op) for op in OPS))
    read = _delta(written.to_dict()["recipe"])
    assert written.packed and read.packed and read == written and list(read.recipe) == [tuple(op) for op in OPS]
    with raises_code("invalid_delta"):  # a writer's recipe is held to the same checks
        DeltaRef(BaseRef("P", "1", "ab" * 32, 10), None, Recipe.from_ops(OPS, len(BASE)))


def test_packed_recipe_rebuilds_what_the_list_recipe_rebuilds() -> None:
    data = b"NEW!!"
    out: dict[str, bytearray] = {}
    for form, recipe in (("list", OPS), ("packed", pack_recipe(OPS))):
        delta = _delta(recipe)
        got = out.setdefault(form, bytearray())
        rebuilder = Rebuilder(delta, lambda offset, length: BASE[offset:offset + length], got.extend, "P 2")
        rebuilder.feed(data)
        rebuilder.finish()
    assert out["list"] == out["packed"] == BASE[:1000] + data + BASE[1005:]


def test_rebuild_into_recycled_buffers_reads_base_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    """With a pool of two buffers handed back after each piece, and base reads done into the
    piece being filled, the rebuilt bytes are the same as with fresh pieces, every piece but the
    last is full, and the base is never read through ``read_base``."""
    monkeypatch.setattr("bundlekit.format.delta.PIECE", 300)
    pool = [bytearray(300), bytearray(300)]
    got, sizes = bytearray(), []

    def emit(piece: memoryview) -> None:
        assert any(piece.obj is b for b in taken)
        got.extend(piece)
        sizes.append(len(piece))
        pool.append(piece.obj)

    def read_into(offset: int, view: memoryview) -> int:
        piece = BASE[offset:offset + len(view)]
        view[:len(piece)] = piece
        return len(piece)

    taken: list[bytearray] = []

    def take() -> bytearray:
        taken.append(pool.pop(0))
        return taken[-1]

    def no_read(offset: int, length: int) -> bytes:
        raise AssertionError("read_base used although read_into was given")

    rebuilder = Rebuilder(_delta(OPS), no_read, emit, "P 2", take=take, read_into=read_into)
    for byte in b"NEW!!":
        rebuilder.feed(bytes([byte]))
    rebuilder.finish()
    assert got == BASE[:1000] + b"NEW!!" + BASE[1005:]
    assert sizes[:-1] == [300] * (len(sizes) - 1) and 0 < sizes[-1] <= 300 and rebuilder.emitted == len(got)


def test_rebuild_stops_at_a_short_base_with_read_into() -> None:
    """A base that ends (``read_into`` gives 0) before the recipe's copy does is refused."""
    with raises_code("rebuilt_package_mismatch"):
        Rebuilder(_delta([[0, 0, 2048]]), lambda offset, length: b"", lambda piece: None, "P 2",
                  read_into=lambda offset, view: min(len(view), max(0, 1500 - offset)))
