"""One signing key answers for one trusted zone (attack review 38): two cards of one key under two
zone names were both trusted, which leaves "the zone that signed" a bundle ambiguous."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from bundlekit.format.card import IdentityCard, parse_card
from bundlekit.format.crypto import raw_public
from bundlekit.trust.policy import SourcePolicy
from bundlekit.zone import truststore
from bundlekit.zone.home import init_zone
from tests.conftest import raises_code, run_cli, snapshot


def test_a_second_zone_with_a_trusted_zones_signing_key_is_refused_and_nothing_changes(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    cards = [parse_card(IdentityCard(name, os.urandom(16).hex(), raw_public(key),
                                     raw_public(X25519PrivateKey.generate()), 1_700_000_000).render(key), f"{name}.card")
             for name in ("dev", "shadow")]
    now = int(time.time())
    zone = init_zone(tmp_path / "prod", "prod", now)
    try:
        truststore.add_zone(zone, cards[0], SourcePolicy(), now)
        before = snapshot(tmp_path / "prod")
        with raises_code("already_trusted", match=f"card 'shadow': its signing key {cards[1].signing_key_id} already "
                                                  "counts for zone 'dev' here") as caught:
            truststore.add_zone(zone, cards[1], SourcePolicy(), now)
        assert caught.value.details == {"zone": "dev", "key_id": cards[0].signing_key_id}
        assert snapshot(tmp_path / "prod") == before
        assert [z.name for z in truststore.list_zones(zone)] == ["dev"]
    finally:
        zone.close()


def test_trust_add_of_a_card_with_a_low_order_sealing_key_is_refused_and_nothing_changes(tmp_path: Path) -> None:
    """Attack review 38, B5, through the real CLI: refused where the card is read, before the trust."""
    key = Ed25519PrivateKey.generate()
    card = tmp_path / "low.card"
    card.write_bytes(IdentityCard("low", os.urandom(16).hex(), raw_public(key), bytes(32), 1_700_000_000).render(key))
    init_zone(tmp_path / "prod", "prod", int(time.time())).close()
    before = snapshot(tmp_path / "prod")
    done = run_cli("trust", "add", card, "--json", home=tmp_path / "prod")
    assert done.returncode != 0 and json.loads(done.stdout)["error"]["code"] == "invalid_card", done.stdout
    assert "its sealing key is a low-order X25519 point" in json.loads(done.stdout)["error"]["message"]
    assert snapshot(tmp_path / "prod") == before
