"""The protected key file format (spec/keys.md): the spec's vector, and each way a file can lie."""

from __future__ import annotations

import re

import pytest

from bundlekit.format.passphrase import Kdf, ProtectedKey, derive, is_protected, open_key, protect_key
from tests.conftest import ROOT, raises_code

SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
PASSPHRASE = b"correct horse battery staple"


def spec_vector() -> bytes:
    text = (ROOT / "spec" / "keys.md").read_text()
    block = re.search(r"```\n(bundlekit protected key v1\nkind: ed25519\n.*?)```", text, re.S)
    assert block is not None
    return block.group(1).encode("ascii")


def test_the_spec_vector_opens_with_its_passphrase_to_the_rfc8032_seed() -> None:
    data = spec_vector()
    pk = ProtectedKey.parse(data, "vector")
    key = derive(PASSPHRASE, pk.kdf)
    assert key.hex() == "9a9f74cc441de571a18c4bf8580ad51f86745d14b39065ad24ad92fc05c99515"
    assert open_key(pk, key, "vector") == SEED
    assert is_protected(data) and not is_protected(SEED)


def test_a_wrong_passphrase_is_refused_as_wrong() -> None:
    pk = ProtectedKey.parse(spec_vector(), "vector")
    with raises_code("passphrase_wrong"):
        open_key(pk, derive(b"correct horse battery stapler", pk.kdf), "vector")


@pytest.mark.parametrize("old,new", [("kind: ed25519", "kind: x25519"), ("n: 1024", "n: 2048"), ("r: 8", "r: 4"),
                                     ("salt: AAECAwQFBgcICQoLDA0ODw==", "salt: AAECAwQFBgcICQoLDA0OEA==")])
def test_an_altered_header_line_makes_the_key_fail_to_open(old: str, new: str) -> None:
    data = spec_vector().decode().replace(old, new).encode()
    pk = ProtectedKey.parse(data, "altered")
    with raises_code("passphrase_wrong"):
        open_key(pk, derive(PASSPHRASE, pk.kdf), "altered")


def test_a_swapped_public_key_is_refused_even_with_the_right_passphrase() -> None:
    pk = ProtectedKey.parse(spec_vector(), "vector")
    key = derive(PASSPHRASE, pk.kdf)
    other = protect_key("ed25519", bytes(32), pk.kdf, key)
    forged = ProtectedKey(pk.kind, ProtectedKey.parse(other, "o").public, pk.kdf, pk.sealed)
    with raises_code("passphrase_wrong"):  # the public line is in the associated data
        open_key(forged, key, "forged")


@pytest.mark.parametrize("old,new", [("n: 1024", "n: 1000"), ("n: 1024", "n: 2097152"), ("p: 1", "p: 17"),
                                     ("n: 1024", "n: 01024"), ("kdf: scrypt", "kdf: argon2id"),
                                     ("\nsealed:", "\nextra: 1\nsealed:")])
def test_files_outside_the_grammar_or_the_cost_bounds_are_damaged(old: str, new: str) -> None:
    with raises_code("invalid_zone_key"):
        ProtectedKey.parse(spec_vector().decode().replace(old, new).encode(), "bad")


def test_writing_then_reading_round_trips_each_kind() -> None:
    kdf = Kdf(bytes(16), 1024, 8, 1)
    key = derive(b"pw", kdf)
    for kind in ("ed25519", "x25519"):
        data = protect_key(kind, SEED, kdf, key)
        assert SEED not in data
        assert open_key(ProtectedKey.parse(data, kind), key, kind) == SEED
