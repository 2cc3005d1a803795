"""The manifest codec: canonical msgpack, and every lenient-parser trick refused."""

from __future__ import annotations

import msgpack
from hypothesis import given, settings

from bundlekit.format import codec
from tests.strategies import json_like
from tests.conftest import raises_code


# No deadline: on shared, loaded cores one example now and then waits hundreds of milliseconds for
# a core, and a timing limit would fail the property for that, not for anything the codec did.
@settings(deadline=None)
@given(json_like)
def test_round_trip_is_identity(value: object) -> None:
    assert codec.decode(codec.encode(value)) == value


@settings(deadline=None)
@given(json_like)
def test_encoding_is_canonical_and_unique(value: object) -> None:
    data = codec.encode(value)
    assert codec.encode(codec.decode(data)) == data


def _raises(data: bytes, code: str) -> None:
    with raises_code(code):
        codec.decode(data)


def test_duplicate_map_key_refused() -> None:
    _raises(b"\x82\xa1a\x01\xa1a\x02", "duplicate_key")


def test_trailing_byte_refused() -> None:
    _raises(codec.encode({"a": 1}) + b"\x00", "trailing_bytes")


def test_truncated_value_refused() -> None:
    _raises(codec.encode({"a": "hello"})[:-2], "truncated")


def test_huge_array_header_refused_without_allocating() -> None:
    _raises(b"\xdd\xff\xff\xff\xff", "malformed")


def test_huge_string_header_refused() -> None:
    _raises(b"\xdb\xff\xff\xff\xf0abc", "truncated")


def test_deep_nesting_refused() -> None:
    data = b"\x91" * 200 + b"\x00"
    with raises_code("malformed"):
        codec.decode(data)


def test_widened_integer_is_non_canonical() -> None:
    _raises(b"\xcd\x00\x01", "non_canonical")  # 1 as uint16


def test_unsorted_keys_are_non_canonical() -> None:
    _raises(msgpack.packb({"b": 1, "a": 2}), "non_canonical")


def test_binary_and_float_types_refused() -> None:
    with raises_code("malformed"):
        codec.decode(msgpack.packb(b"raw", use_bin_type=True))
    with raises_code("malformed"):
        codec.decode(msgpack.packb(1.5))


def test_non_string_map_key_refused() -> None:
    with raises_code("malformed"):
        codec.decode(b"\x81\x01\x02")


def test_nesting_is_limited_at_exactly_max_depth_for_arrays_and_maps() -> None:
    deepest_list: object = 1
    deepest_map: object = 1
    for _ in range(codec.MAX_DEPTH):
        deepest_list = [deepest_list]
        deepest_map = {"k": deepest_map}
    assert codec.decode(codec.encode(deepest_list)) == deepest_list
    assert codec.decode(msgpack.packb(deepest_map)) == deepest_map
    for too_deep in ([deepest_list], {"k": deepest_map}, [[deepest_map]]):
        with raises_code("malformed"):
            codec.decode(msgpack.packb(too_deep))
        with raises_code("malformed"):
            codec.encode(too_deep)


def test_a_float_inside_short_arrays_is_refused_wherever_it_sits() -> None:
    for value in ([[0, 1, 2], [1, 1.5]], [[1, 2], [3, [4.0]]], {"a": [[1, 2]], "b": [[0.5]]}):
        with raises_code("malformed"):
            codec.decode(msgpack.packb(value))


def test_keys_out_of_order_in_a_nested_map_are_non_canonical_and_a_repeat_is_a_duplicate() -> None:
    _raises(msgpack.packb({"a": [{"y": 1, "x": 2}]}), "non_canonical")
    _raises(b"\x81\xa1a\x83\xa1y\x01\xa1x\x02\xa1y\x03", "duplicate_key")  # {"a": {"y", "x", "y"}}


def test_an_integer_msgpack_cannot_hold_is_a_format_error_not_an_overflow() -> None:
    for value in (2**64, -(2**63) - 1, {"a": [2**70]}):
        with raises_code("malformed"):
            codec.encode(value)
    assert codec.decode(codec.encode(2**64 - 1)) == 2**64 - 1
