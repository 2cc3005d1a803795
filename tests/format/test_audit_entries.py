"""Audit entries as bytes (format/audit.py, spec/audit.md): the body is canonical and exact, and the
entries a receipt carries are each checked against the deploying zone's keys (decision 591)."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bundlekit.format import codec
from bundlekit.format.audit import (GENESIS, Entry, StoredEntry, carried, check_carried, check_chain, decode_body,
                                    encode_entry, entry_hash)
from bundlekit.format.crypto import key_id, raw_public
from tests.conftest import raises_code

KEY = Ed25519PrivateKey.generate()
KID = key_id("ed25519", raw_public(KEY))
ZONE = "a" * 32


def _entry(seq: int = 1, prev: str = GENESIS, **changed: object) -> Entry:
    fields: dict[str, object] = dict(seq=seq, prev=prev, zone_id=ZONE, at_ms=1796130000123, user="ops", host="vm",
                                     command="variables set", object={"project": "acme-web", "name": "Db.Password",
                                                                      "sensitive": True},
                                     changes={"projects": 1, "secrets": 1}, before="1" * 64, after="2" * 64,
                                     result="ok", code=None, key=KID)
    fields.update(changed)
    return Entry(**fields)  # type: ignore[arg-type]


def test_a_body_decodes_to_the_entry_it_encodes_and_is_canonical() -> None:
    body, signature = encode_entry(_entry(), KEY)
    assert decode_body(body, 1) == _entry()
    assert codec.encode(codec.decode(body)) == body
    assert check_chain([StoredEntry(1, body, signature)], ZONE, {KID: raw_public(KEY)}, None) == [_entry()]


@pytest.mark.parametrize("changed", [{"result": "ok", "code": "rollback"}, {"result": "refused", "code": None},
                                     {"before": "XYZ"}, {"seq": 0}, {"object": {"value": 3}}, {"key": "k"}])
def test_an_entry_that_breaks_the_format_is_refused_on_construction(changed: dict[str, object]) -> None:
    with raises_code("invalid_audit_chain"):
        _entry(**changed)


def test_a_body_with_an_extra_field_is_malformed() -> None:
    body, _ = encode_entry(_entry(), KEY)
    fields = codec.decode(body)
    fields["value"] = "s3cret"
    with raises_code("invalid_audit_chain") as info:
        decode_body(codec.encode(fields), 7)
    assert info.value.details == {"seq": 7, "reason": "malformed"}


def test_carried_entries_verify_and_an_altered_or_foreign_one_is_refused() -> None:
    first, second = encode_entry(_entry(), KEY), encode_entry(_entry(2, "3" * 64), KEY)
    items = carried([StoredEntry(1, *first), StoredEntry(2, *second)])
    keys = {KID: raw_public(KEY)}
    assert [e.seq for e in check_carried(items, ZONE, keys, "r.bundle")] == [1, 2]
    fields = codec.decode(second[0])
    fields["user"] = "root"
    altered = carried([StoredEntry(1, *first), StoredEntry(2, codec.encode(fields), second[1])])
    with raises_code("invalid_audit_chain") as info:
        check_carried(altered, ZONE, keys, "r.bundle")
    assert info.value.details == {"seq": 2, "reason": "signature"}
    with raises_code("invalid_audit_chain") as info:
        check_carried(items, "b" * 32, keys, "r.bundle")  # another zone's receipt carrying them
    assert info.value.details == {"seq": 1, "reason": "zone"}
    other = Ed25519PrivateKey.generate()
    with raises_code("invalid_audit_chain") as info:
        check_carried(items, ZONE, {key_id("ed25519", raw_public(other)): raw_public(other)}, "r.bundle")
    assert info.value.details == {"seq": 1, "reason": "zone"}
    with raises_code("invalid_audit_chain") as info:
        check_carried([{"body": "!!", "signature": ""}], ZONE, keys, "r.bundle")
    assert info.value.details == {"seq": 1, "reason": "malformed"}


def test_a_carried_entry_in_base64_that_is_not_canonical_is_refused() -> None:
    """Spec §7.3: body and signature are canonical base64. A signature of 64 bytes ends in
    ``==`` with 4 unused bits; setting one decodes to the same bytes but is another spelling."""
    body, signature = encode_entry(_entry(), KEY)
    item = carried([StoredEntry(1, body, signature)])[0]
    keys = {KID: raw_public(KEY)}
    assert len(check_carried([item], ZONE, keys, "r.bundle")) == 1
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    text = item["signature"]
    loose = text[:-3] + alphabet[alphabet.index(text[-3]) ^ 1] + "=="
    assert base64.b64decode(loose) == signature and loose != text
    with raises_code("invalid_audit_chain") as info:
        check_carried([{**item, "signature": loose}], ZONE, keys, "r.bundle")
    assert info.value.details == {"seq": 1, "reason": "malformed"}


def test_the_chain_link_is_the_previous_body_hash() -> None:
    first = encode_entry(_entry(), KEY)
    linked = encode_entry(_entry(2, entry_hash(first[0])), KEY)
    unlinked = encode_entry(_entry(2, "4" * 64), KEY)
    keys = {KID: raw_public(KEY)}
    assert len(check_chain([StoredEntry(1, *first), StoredEntry(2, *linked)], ZONE, keys, None)) == 2
    with raises_code("invalid_audit_chain") as info:
        check_chain([StoredEntry(1, *first), StoredEntry(2, *unlinked)], ZONE, keys, None)
    assert info.value.details == {"seq": 2, "reason": "chain"}
