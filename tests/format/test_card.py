"""Identity cards: a card loads only exactly as its zone signed it."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from bundlekit.format.card import IdentityCard, parse_card
from bundlekit.format.crypto import b64, raw_public, seal, sealable, sign
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


# The u-coordinates of X25519's points of low order (RFC 7748 §6.1 lists them; the last two are
# the same points above 2^255 - 19, as X25519 reads u modulo p).
LOW_ORDER = [0, 1, 325606250916557431795983626356110631294008115727848805560023387167927233504,
             39382357235489614581723060781553021112529911719440698176882885853963445705823,
             2 ** 255 - 19 - 1, 2 ** 255 - 19, 2 ** 255 - 19 + 1]


@pytest.mark.parametrize("u", LOW_ORDER)
def test_a_card_whose_sealing_key_is_of_low_order_is_refused_and_nothing_seals_to_it(u: int) -> None:
    """Attack review 38, B5: such a card was trusted, then every export or relay to its zone ended
    in a traceback. It is refused where it is read, and sealing to such a key is a coded refusal."""
    sk = Ed25519PrivateKey.generate()
    low = u.to_bytes(32, "little")
    data = IdentityCard("prod", "ab" * 16, raw_public(sk), low, 1700000000).render(sk)
    with raises_code("invalid_card", match="prod.card: its sealing key is a low-order X25519 point"):
        parse_card(data, "prod.card")
    assert not sealable(low)
    with raises_code("invalid_card", match="is a low-order X25519 point: nothing sealed to it would be secret"):
        seal(low, b"secret", b"ad")


def test_every_generated_sealing_key_is_sealable() -> None:
    assert all(sealable(raw_public(X25519PrivateKey.generate())) for _ in range(50))
