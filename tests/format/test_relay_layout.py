"""The relay layer's pure parts (spec/relay.md): hop framing, records, and the path a policy demands."""

from __future__ import annotations

import pytest

from bundlekit.format import codec
from bundlekit.format.container import SignatureRecord
from bundlekit.format.manifest import ZoneRef
from bundlekit.format.relay import Hop, encode_hop, frame_hop, parse_hop, split_hops
from bundlekit.trust.policy import SourcePolicy, TrustedSource
from bundlekit.trust.relay import RelayPath, check_path
from tests.conftest import raises_code

A, B, C, DEV = "a" * 32, "b" * 32, "c" * 32, "d" * 32
SIG = SignatureRecord(b"\x01" * 32, b"\x02" * 64)


def _hop(n: int, zone: str, to: str) -> Hop:
    return Hop(n, {"bundle_id": "e" * 32, "digest": "f" * 64, "kind": "release"},
               {"zone_id": zone, "name": f"z{zone[0]}", "key_id": "1" * 32},
               {"zone_id": to, "name": f"z{to[0]}", "key_id": "2" * 32}, 0, ("verified",), (),
               {"name": "bundlekit", "version": "0.1.0"})


def test_hops_split_where_their_lengths_say_and_each_signature_covers_the_section_up_to_its_record() -> None:
    one, two = encode_hop(_hop(0, A, B)), encode_hop(_hop(1, B, C))
    raw = frame_hop(one, SIG) + frame_hop(two, SIG)
    hops = split_hops(raw, "x")
    assert [h.record for h in hops] == [one, two]
    assert hops[0].signed == frame_hop(one) and hops[1].signed == frame_hop(one, SIG) + frame_hop(two)
    assert parse_hop(two, "x") == _hop(1, B, C)


@pytest.mark.parametrize("cut", [1, 4, 97])
def test_a_hop_cut_short_is_truncated(cut: int) -> None:
    raw = frame_hop(encode_hop(_hop(0, A, B)), SIG)
    with raises_code("truncated"):
        split_hops(raw[:-cut], "x")


def test_an_empty_record_or_no_hop_at_all_is_refused() -> None:
    with raises_code("limit_exceeded"):
        split_hops(b"\0\0\0\0" + bytes(96), "x")
    with raises_code("truncated"):
        split_hops(b"", "x")


def test_a_record_with_a_field_too_many_or_an_unsorted_check_list_is_invalid_relay() -> None:
    good = _hop(0, A, B).to_dict()
    for bad in ({**good, "extra": 1}, {**good, "checks": ["verified", "opened"]}, {**good, "hop": -1},
                {**good, "hop": 2**53}, {**good, "relayed": 2**63}, {**good, "relayed": True},
                {**good, "to": {**good["to"], "name": "../x"}}, {**good, "checks": ["trusted"]}):
        with raises_code("invalid_relay"):
            parse_hop(codec.encode(bad), "x")


def _path(*zones: str) -> RelayPath:
    hops = tuple(_hop(i, z, zones[i + 1] if i + 1 < len(zones) else "9" * 32) for i, z in enumerate(zones))
    return RelayPath(hops, tuple(TrustedSource(z, f"z{z[0]}", frozenset()) for z in zones))


class _Manifest:
    kind = "release"
    project = {"name": "Acme Web", "slug": "acme-web", "space": "Default"}
    destination = ZoneRef(A, "za", "3" * 32)
    packages = ()


def test_the_path_must_hold_every_required_relay_in_order_others_may_join() -> None:
    dev = TrustedSource(DEV, "dev", frozenset(), policy=SourcePolicy(via=(A, C)))
    m = _Manifest()
    check_path(dev, _path(A, C), m, {}, "x")  # type: ignore[arg-type]
    check_path(dev, _path(A, B, C), m, {}, "x")  # type: ignore[arg-type]
    for path in (None, _path(A), _path(C, A), _path(B, C)):
        with raises_code("relay_required"):
            check_path(dev, path, m, {}, "x")  # type: ignore[arg-type]
    free = TrustedSource(DEV, "dev", frozenset())
    check_path(free, None, m, {}, "x")  # type: ignore[arg-type]


@pytest.mark.parametrize("path, problem", [
    (None, "came directly from dev: it skipped za and zc."),
    ((A,), "came dev -> za -> prod: it did not go through zc."),
    ((B, C), "came dev -> zb -> zc -> prod: it did not go through za."),
    ((C, A), "came dev -> zc -> za -> prod: za and zc relayed it, but not in the order required."),
])
def test_a_refused_path_names_what_is_wrong_and_the_new_export_that_takes_the_required_one(
        path: tuple[str, ...] | None, problem: str) -> None:
    dev = TrustedSource(DEV, "dev", frozenset(), policy=SourcePolicy(via=(A, C)))
    with raises_code("relay_required") as info:
        check_path(dev, _path(*path) if path else None, _Manifest(), {A: "za", B: "zb", C: "zc"}, "x",  # type: ignore[arg-type]
                   zone_name="prod")
    assert problem in info.value.message
    # the bundle is addressed to prod: no relay can take it back, a new export along the path can
    assert ("in zone dev, `bundlekit export RELEASE_FILE --to za -o OUT`; then in za, `bundlekit relay BUNDLE --to zc -o OUT`; "
            "then in zc, `bundlekit relay BUNDLE --to prod -o OUT`") in info.value.message


def test_relayed_vectors_say_format_1_6_and_kind_3_and_keep_their_origins_minor() -> None:
    from pathlib import Path

    from bundlekit.format.relay import RELAY_MINOR

    data = (Path(__file__).resolve().parents[2] / "fixtures" / "vectors" / "valid-relayed-release.bundle").read_bytes()
    assert RELAY_MINOR == 6 and data[8:13] == b"\x00\x01\x00\x06\x03"
    assert data[32 + 8:32 + 13] == b"\x00\x01\x00\x01\x01"  # the origin: a release its source wrote as 1.1
