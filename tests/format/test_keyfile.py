"""Approver key files: anything but a well-formed file of a 32-byte key is invalid_key_file."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bundlekit.format.crypto import raw_public
from bundlekit.format.keyfile import MAX_KEY_FILE_BYTES, parse_private, parse_public, render_private, render_public
from tests.conftest import raises_code


def test_a_key_pair_round_trips() -> None:
    key = Ed25519PrivateKey.generate()
    name, parsed = parse_private(render_private("alice", key), "alice.key")
    assert name == "alice" and raw_public(parsed) == raw_public(key)
    assert parse_public(render_public("alice", key), "alice.pub").public == raw_public(key)


@pytest.mark.parametrize("key_line", ["AAAA", "not base64!", "A" * 42 + "==", ""])
def test_a_damaged_key_line_is_invalid_key_file_not_a_bundle_format_error(key_line: str) -> None:
    # `malformed` is the bundle format's code (exit 3); a key file is the user's input (exit 1).
    for header, parse in (("bundlekit signing key v1", parse_private), ("bundlekit public key v1", parse_public)):
        data = f"{header}\nname: alice\nkey: ed25519:{key_line}\n".encode()
        with raises_code("invalid_key_file", match="bad.key: the 'key:' line is damaged"):
            parse(data, "bad.key")  # type: ignore[operator]


def test_a_file_larger_than_any_key_file_is_refused_before_it_is_decoded() -> None:
    key = Ed25519PrivateKey.generate()
    data = render_private("alice", key) + b"#" * MAX_KEY_FILE_BYTES
    with raises_code("invalid_key_file"):
        parse_private(data, "big.key")
