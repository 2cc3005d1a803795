"""The decoder weighs a manifest before building it: too many values or too much memory is refused."""

from __future__ import annotations

import struct

import pytest

from bundlekit.format import budget, codec
from bundlekit.format.budget import MAX_DECODED_SIZE, MAX_VALUES, check_budget, measure
from bundlekit.format.delta import MAX_RECIPE_OPS
from tests.conftest import raises_code
from tests.memory import peak_of
from tests.refusals.forge import tiny_maps

MIB = 1 << 20


def _array32(items: bytes, count: int) -> bytes:
    return b"\xdd" + struct.pack(">I", count) + items


def test_weights_follow_the_spec_table() -> None:
    assert measure(codec.encode([])) == (1, 56)
    assert measure(codec.encode({})) == (1, 160)
    assert measure(codec.encode([1, None, True, False])) == (5, 56 + 4 * 8)
    assert measure(codec.encode([-1, 200, 70000, 1 << 40])) == (5, 56 + 32 + 8 + 32 + 8 + 32 + 8 + 40 + 8)
    assert measure(codec.encode({"ab": "x" * 40})) == (3, 160 + 96 + 64 + 4 + 48 + 40)
    assert measure(codec.encode(["é" * 100_000])) == (2, 56 + 8 + 80 + 2 * 200_000)
    assert measure(codec.encode(["é" * 10])) == (2, 56 + 8 + 64 + 2 * 20)


def test_million_tiny_maps_in_16_mib_refused_without_building_them() -> None:
    bomb = tiny_maps({"a": 1})
    assert 15 * MIB < len(bomb) < 16 * MIB
    with raises_code("limit_exceeded") as info:
        codec.decode(bomb)
    assert "decoded-size limit" in info.value.message and str(MAX_DECODED_SIZE) in info.value.message


def test_too_many_cheap_values_refused_by_the_value_count() -> None:
    # Positive fixints weigh nothing but their slot: 6 arrays of 2^20 of them are under the size
    # limit (48 MiB of slots) and over the value limit.
    bomb = b"\x96" + _array32(b"\x01" * (1 << 20), 1 << 20) * 6
    values, size = measure(bomb)
    assert size < MAX_DECODED_SIZE and values > MAX_VALUES
    with raises_code("limit_exceeded") as info:
        check_budget(bomb, "bomb.bin")
    assert info.value.message.startswith("bomb.bin:") and str(MAX_VALUES) in info.value.message


def test_maximal_recipe_with_wide_integers_still_decodes() -> None:
    # The largest legitimate manifest: 2^20 copy operations [0, offset, length] with offsets in
    # the 8-byte form (a base above 4 GiB) and lengths in the 4-byte form, written canonically.
    op = b"\x93\x00\xcf" + struct.pack(">Q", 5 << 32) + b"\xce" + struct.pack(">I", 1 << 20)
    data = b"\x81" + codec.encode("recipe") + _array32(op * MAX_RECIPE_OPS, MAX_RECIPE_OPS)
    values, size = measure(data)
    assert values == 3 + 4 * MAX_RECIPE_OPS <= MAX_VALUES
    assert size == 160 + 96 + 76 + 56 + 8 * MAX_RECIPE_OPS + (56 + 24 + 40 + 32) * MAX_RECIPE_OPS <= MAX_DECODED_SIZE
    recipe = codec.decode(data)["recipe"]
    assert len(recipe) == MAX_RECIPE_OPS and recipe[-1] == [0, 5 << 32, 1 << 20]


def test_one_map_past_the_size_limit_is_refused_and_one_below_is_not() -> None:
    # [[{}, ...], [{}, ...]]: 56 + 16 for the outer array, 56 for each inner one, 8 + 160 per map.
    count = (MAX_DECODED_SIZE - 184) // 168
    half = count // 2

    def maps(n: int) -> bytes:
        return b"\x92" + _array32(b"\x80" * half, half) + _array32(b"\x80" * (n - half), n - half)

    assert measure(maps(count)) == (3 + count, 184 + 168 * count)
    check_budget(maps(count))
    with raises_code("limit_exceeded"):
        check_budget(maps(count + 1))


@pytest.mark.parametrize("tail", [b"\xc4\x01x", b"\xc1", b"\xdd\xff\xff\xff\xff"])
def test_weighing_stops_where_the_decoder_refuses_anyway(tail: bytes) -> None:
    # A huge declared array (past the per-array limit) is the decoder's "malformed", not a budget
    # refusal: weighing stops there, and the first refusal stays the decoder's.
    data = b"\x92" + _array32(b"\x01" * (1 << 20), 1 << 20) + tail
    assert measure(data)[0] == 2 + (1 << 20)
    with raises_code("malformed"):
        codec.decode(data)


def test_small_inputs_are_within_both_limits_without_a_walk() -> None:
    # The shortcut's bound: no byte weighs more than a one-byte map that is a map key.
    worst = b"\x81" * 8 + b"\x80" * 9  # nested single-entry maps whose keys are maps
    values, size = measure(worst)
    assert size <= len(worst) * budget._PER_BYTE
    assert MAX_DECODED_SIZE // budget._PER_BYTE == 720_896  # the figure spec/bundle-format.md §4 gives


def test_tiny_maps_manifest_refused_within_the_memory_cap_in_a_fresh_process() -> None:
    # Measured in a new interpreter: decoding the same bytes used to take about 2.3 GB.
    peak = peak_of(setup="""
        from bundlekit.format.manifest import parse_manifest
        from tests.refusals.forge import tiny_maps
        bomb = tiny_maps({"format": "bundlekit/1", "kind": "release"})
        assert len(bomb) > 15 << 20
    """, work="""
        parse_manifest(bomb, "bomb.bundle")
    """)
    assert peak.outcome == "FormatError:limit_exceeded", peak
    assert peak.grown_kib < MAX_DECODED_SIZE // 1024, peak
    assert peak.grown_kib < 32 * 1024, peak  # refused from the bytes, before any map is built


def test_many_broken_entries_refused_with_a_bounded_report_in_a_fresh_process() -> None:
    # 300,000 empty variable entries: 300 KB, far below every decoding limit, each entry one
    # schema violation. Reporting every violation cost one error object per entry (about 1 GB
    # for 100,000 entries); the report stops at MAX_ERRORS problems and says so.
    peak = peak_of(setup="""
        from bundlekit.format import codec
        from bundlekit.format.manifest import parse_manifest
        from bundlekit.format.schemacheck import MAX_ERRORS
        data = codec.encode({"format": "bundlekit/1", "kind": "release", "variables": [{}] * 300_000})
        assert len(data) < 400_000
    """, work="""
        try:
            parse_manifest(data, "broken.bundle")
        except Exception as err:
            assert len(err.details) == MAX_ERRORS + 1, len(err.details)
            assert err.details[-1] == f"... (validation stopped at {MAX_ERRORS} problems)"
            assert err.message.startswith("broken.bundle: invalid manifest: ")
            assert err.message.endswith(f"(and more: validation stopped at {MAX_ERRORS} problems)"), err.message
            raise
    """)
    assert peak.outcome == "FormatError:invalid_manifest", peak
    assert peak.grown_kib < 32 * 1024, peak
