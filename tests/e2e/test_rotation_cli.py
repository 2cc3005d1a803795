"""A zone that rotates its signing key keeps working with the zones that trust it, through the CLI (its entry point, in process).

After `bundlekit rotate-key`, everything the zone signs (release bundles and receipts alike)
carries the rotation statement and is co-signed by the retired key, and the receiving zone
learns the new key from it (spec/bundle-format.md §6.4).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from bundlekit.format.card import parse_card
from bundlekit.trust.policy import SourcePolicy
from bundlekit.zone import truststore
from bundlekit.zone.home import init_zone
from tests.conftest import FIXTURES, cli_in_process


def _ok(*args: object, home: Path) -> dict:  # type: ignore[type-arg]
    r = cli_in_process(*map(str, args), "--json", home=home)
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(r.stdout) if r.stdout.strip() else {}


def _trusted_key(home: Path, zone: str) -> str:
    return next(z["signing_key_id"] for z in _ok("trust", "list", home=home)["zones"] if z["name"] == zone)


def test_receipts_after_a_key_rotation_are_accepted_at_the_source_both_ways(tmp_path: Path) -> None:
    now = int(time.time())
    dev_zone, prod_zone = init_zone(tmp_path / "dev", "dev", now), init_zone(tmp_path / "prod", "prod", now)
    truststore.add_zone(dev_zone, parse_card(prod_zone.card_bytes(), "prod.card"), SourcePolicy(), now)
    truststore.add_zone(prod_zone, parse_card(dev_zone.card_bytes(), "dev.card"), SourcePolicy(), now)
    dev, prod = dev_zone.home, prod_zone.home
    dev_zone.close(), prod_zone.close()
    _ok("export", FIXTURES / "acme" / "release.toml", "--to", "prod", "-o", tmp_path / "1.bundle", home=dev)
    _ok("import", tmp_path / "1.bundle", home=prod)
    _ok("variables", "set", "acme-web", "Acme.ApiKey", "k-1", "--sensitive", home=prod)
    for name, role in (("db-01", "db"), ("web-01", "web")):
        _ok("targets", "add", name, "--environment", "Production", "--role", role, "--root", tmp_path / name,
            home=prod)

    # The example: one SQLite zone rotates, deploys, packs its outbox; the source imports the receipt.
    rotated = _ok("rotate-key", home=prod)
    assert _ok("deploy", "acme-web", "1.4.0", "--environment", "Production", home=prod)["state"] == "Success"
    cli_in_process("outbox", "pack", "-o", tmp_path / "rr.bundle", home=prod).check_returncode()
    imported = _ok("import", tmp_path / "rr.bundle", home=dev)
    assert imported["recorded"] == ["Deployments-1"]
    assert imported["new_keys"] == [rotated["new_key_id"]]
    assert _trusted_key(dev, "prod") == rotated["new_key_id"]

    # The other way round too: the source rotates; its next release and the receipt for it both pass.
    dev_rotated = _ok("rotate-key", home=dev)
    _ok("export", FIXTURES / "acme" / "release-1.5.0.toml", "--to", "prod", "-o", tmp_path / "2.bundle", home=dev)
    _ok("import", tmp_path / "2.bundle", home=prod)
    assert _trusted_key(prod, "dev") == dev_rotated["new_key_id"]
    _ok("deploy", "acme-web", "1.4.0", "--environment", "Production", home=prod)
    cli_in_process("outbox", "pack", "-o", tmp_path / "rr2.bundle", home=prod).check_returncode()
    again = _ok("import", tmp_path / "rr2.bundle", home=dev)
    assert again["recorded"] == ["Deployments-2"] and again["new_keys"] == []
