"""The decoder weighs a manifest before building it: too many values or too much memory is refused."""

from __future__ import annotations

import base64
import struct
import textwrap

import pytest

from bundlekit.format import budget, codec
from bundlekit.format.budget import MAX_DECODED_SIZE, MAX_VALUES, check_budget, measure
from bundlekit.format.delta import MAX_RECIPE_OPS, DeltaRef
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


def test_maximal_list_recipe_is_refused_and_the_same_operations_packed_are_read() -> None:
    # A format 1.2 recipe of 2^20 copy operations [0, offset, length], offsets in the 8-byte form
    # and lengths in the 4-byte form: 160 bytes of weight each, twice the limit. Packed (format
    # 1.3) the same operations are one string of 16 bytes each.
    op = b"\x93\x00\xcf" + struct.pack(">Q", 5 << 32) + b"\xce" + struct.pack(">I", 1 << 20)
    data = b"\x81" + codec.encode("recipe") + _array32(op * MAX_RECIPE_OPS, MAX_RECIPE_OPS)
    assert 160 + 96 + 76 + 56 + 8 * MAX_RECIPE_OPS + (56 + 24 + 40 + 32) * MAX_RECIPE_OPS > 2 * MAX_DECODED_SIZE
    assert measure(data)[1] > MAX_DECODED_SIZE  # the walk stops once past a limit
    with raises_code("limit_exceeded"):
        codec.decode(data)
    packed = codec.encode({"recipe": base64.b64encode(struct.pack("<QQ", 5 << 32, 1 << 20) * MAX_RECIPE_OPS).decode()})
    assert measure(packed) == (3, 160 + 96 + 76 + 48 + len(packed) - 13)  # map, key, str32 of ASCII
    recipe = DeltaRef.from_dict({"base": {"id": "P", "version": "1", "sha256": "ab" * 32, "size": 6 << 32},
                                 "recipe": codec.decode(packed)["recipe"]}).recipe
    assert len(recipe) == MAX_RECIPE_OPS and recipe[-1] == (0, 5 << 32, 1 << 20)


def test_largest_manifests_are_read_within_150_mib_in_a_fresh_process() -> None:
    # The largest legitimate manifest (a packed recipe filling the 16 MiB manifest limit) and the
    # largest 1.2 list recipe the weight limit admits, each read as a reader does (decoded, then
    # the recipe's model built) in a new interpreter. A list recipe of 2^20 operations grew a
    # process by about 241 MiB before recipes were packed.
    setup = """
        import base64, struct
        from bundlekit.format import codec
        from bundlekit.format.budget import MAX_DECODED_SIZE
        from bundlekit.format.delta import DeltaRef
        big = struct.pack(">Q", 5 << 32)
        if FORM == "packed":
            count = ((16 << 20) - 16) * 3 // 4 // 16
            data = codec.encode({"recipe": base64.b64encode(struct.pack("<QQ", 5 << 32, 1 << 20) * count).decode()})
            assert (16 << 20) - 32 < len(data) <= 16 << 20
        else:
            count = (MAX_DECODED_SIZE - 400) // 168  # [0, 8-byte offset, 8-byte length]: 168 each
            op = b"\\x93\\x00\\xcf" + big + b"\\xcf" + big
            data = b"\\x81" + codec.encode("recipe") + b"\\xdd" + struct.pack(">I", count) + op * count
    """
    work = """
        recipe = DeltaRef.from_dict({"base": {"id": "P", "version": "1", "sha256": "ab" * 32, "size": 1 << 40},
                                     "recipe": codec.decode(data)["recipe"]}).recipe
        assert len(recipe) == count
    """
    for form in ("packed", "list"):
        peak = peak_of(setup=f"FORM = {form!r}\n" + textwrap.dedent(setup), work=work)
        assert peak.outcome == "ok", (form, peak)
        assert peak.grown_kib < 150 * 1024, (form, peak)


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
    assert MAX_DECODED_SIZE // budget._PER_BYTE == 327_680  # the figure spec/bundle-format.md §4 gives


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
