"""The 512-byte volume header: round trip, and every kind of damage is caught before use."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bundlekit.transport.volume import HEADER_SIZE, MAGIC, VolumeHeader, parse_header
from tests.conftest import raises_code


def _header(**kw: object) -> VolumeHeader:
    base: dict[str, object] = dict(index=1, data_count=3, parity_count=1, chunk_size=4096, bundle_size=2500,
                                   bundle_sha256=hashlib.sha256(b"b").digest(), nominal_payload=1000,
                                   payload_length=1000, payload_sha256=hashlib.sha256(b"p").digest(),
                                   name="acme-1.4.0.bundle", code=1)
    base.update(kw)
    return VolumeHeader(**base)  # type: ignore[arg-type]


def test_header_round_trips_and_is_exactly_512_bytes() -> None:
    h = _header()
    raw = h.encode()
    assert len(raw) == HEADER_SIZE and raw.startswith(MAGIC)
    assert parse_header(raw) == h


def test_every_single_byte_flip_in_the_header_is_detected() -> None:
    raw = bytearray(_header().encode())
    for i in range(HEADER_SIZE):
        damaged = bytearray(raw)
        damaged[i] ^= 0x01
        with raises_code(("volume_damaged", "volume_unsupported")):
            parse_header(bytes(damaged))


def test_unknown_version_is_refused_as_unsupported_not_guessed() -> None:
    raw = bytearray(_header().encode())
    raw[8:10] = (2).to_bytes(2, "big")
    raw[480:] = hashlib.sha256(bytes(raw[:480])).digest()
    with raises_code("volume_unsupported"):
        parse_header(bytes(raw))


@pytest.mark.parametrize("name", ["../evil", "a/b", "a\\b", ".hidden", "", "x" * 256, "nul\x00", "C:evil"])
def test_unsafe_bundle_names_cannot_be_put_in_a_header(name: str) -> None:
    with raises_code("volume_damaged"):
        _header(name=name)


def test_header_whose_counts_contradict_the_size_is_refused() -> None:
    with raises_code("volume_damaged"):
        _header(bundle_size=5000)  # 5000 bytes in 1000-byte payloads is 5 volumes, not 3
    with raises_code("volume_damaged"):
        _header(payload_length=999)
    with raises_code("volume_damaged"):
        _header(index=4)


def test_short_input_is_not_a_header() -> None:
    with raises_code("volume_damaged"):
        parse_header(_header().encode()[:100])


@settings(max_examples=60, deadline=None)
@given(size=st.integers(0, 10**7), nominal=st.integers(1, 10**6), parity=st.integers(0, 3), data=st.data())
def test_any_consistent_layout_round_trips(size: int, nominal: int, parity: int, data: st.DataObject) -> None:
    k = max(1, -(-size // nominal))
    assume(k + parity <= 255)  # a layout the format cannot hold is refused elsewhere
    index = data.draw(st.integers(0, k + parity - 1))
    span = nominal if k > 1 else size
    plen = span if index >= k else (nominal if index < k - 1 else size - (k - 1) * nominal)
    h = _header(index=index, data_count=k, parity_count=parity, chunk_size=512 if parity else 0, bundle_size=size,
                nominal_payload=nominal, payload_length=plen, code=1 if parity else 0)
    assert parse_header(h.encode()) == h
