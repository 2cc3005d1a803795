"""Identity cards: a card loads only exactly as its zone signed it."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from bundlekit.format.card import IdentityCard, parse_card
from bundlekit.format.crypto import b64, raw_public, sign
from tests.conftest import raises_code


def _card() -> tuple[IdentityCard, bytes]:
    sk = Ed25519PrivateKey.generate()
    card = IdentityCard("prod", "ab" * 16, raw_public(sk), raw_public(X25519PrivateKey.generate()), 1700000000)
    return card, card.render(sk)


def test_card_round_trip() -> None:
    card, data = _card()
    assert parse_card(data, "prod.card") == card


def test_altered_card_refused_at_every_byte() -> None:
    _, data = _card()
    for i in range(len(data)):
        altered = bytearray(data)
        altered[i] ^= 0x01
        with raises_code("invalid_card"):
            parse_card(bytes(altered), "prod.card")


def test_card_with_swapped_sealing_key_refused_as_altered() -> None:
    card, data = _card()
    other = IdentityCard(card.name, card.zone_id, card.signing_key, raw_public(X25519PrivateKey.generate()),
                         card.created)
    forged = other.body() + data[data.rindex(b"signature: "):]
    with raises_code("invalid_card"):
        parse_card(forged, "prod.card")


def test_card_naming_a_zones_key_but_signed_by_another_key_refused() -> None:
    card, genuine = _card()
    impostor = Ed25519PrivateKey.generate()
    # The impostor copies the zone's card, keeps the zone's signing key on it (the key a verifier
    # will trust), and signs it with the only key it has.
    body = card.body()
    forged = body + f"signature: {b64(sign(impostor, 'identity', body))}\n".encode()
    assert forged != genuine and forged[:len(body)] == genuine[:len(body)]
    with raises_code("invalid_card") as info:
        parse_card(forged, "prod.card")
    assert info.value.code == "invalid_card" and "altered" in info.value.message


def test_card_for_the_same_zone_with_the_impostors_own_keys_is_another_identity() -> None:
    card, _ = _card()
    impostor = Ed25519PrivateKey.generate()
    claimed = IdentityCard(card.name, card.zone_id, raw_public(impostor), card.sealing_key, card.created)
    parsed = parse_card(claimed.render(impostor), "prod.card")
    # Self-consistent, so it loads, but under another key: nothing signed by the zone's real key
    # verifies with it, and a zone that trusts the real card refuses it (tests/importer/test_import_trust.py).
    assert parsed.zone_id == card.zone_id and parsed.signing_key_id != card.signing_key_id


def test_truncated_and_extended_cards_refused() -> None:
    _, data = _card()
    for bad in (data[:-1], data + b"\n", data + b"extra: 1\n", b"", b"\xff\xfe"):
        with raises_code("invalid_card"):
            parse_card(bad, "prod.card")


def test_not_a_card_message_says_how_to_make_one() -> None:
    with raises_code("invalid_card") as info:
        parse_card(b"hello\n", "x.card")
    assert "bundlekit identity" in info.value.message
