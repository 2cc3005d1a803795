"""One transfer zone relays for every space of prod when it is trusted there in Default (decision
945; new-user review, finding 17), through the real CLI.

prod has a Default team (dev) and a Payments team (paydev), both reachable only through staging,
which prod trusts in Default. A zone trusted in another space (xfer, in Accounting) still relays
only for that space, and the refusals name what can be done: trust it in the release's space or
in Default, or carry the release through another relay. No refusal advises trusting a relay in a
second space, which a zone cannot be.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import snapshot
from tests.e2e.relayzones import PAY, Zones
from tests.reported import unchanged_or_reported


@pytest.fixture(scope="module")
def zones(tmp_path_factory: pytest.TempPathFactory) -> Zones:
    """Finding 17's zones, xfer, a transfer zone prod trusts in its space Accounting, and payops,
    another Payments source."""
    z = Zones(tmp_path_factory.mktemp("spaces"), "dev", "paydev", "payops", "staging", "xfer", "prod")
    z.setup("spaces", "add", "Payments", home=z.home("prod"))
    z.setup("spaces", "add", "Accounting", home=z.home("prod"))
    z.setup("spaces", "add", "Payments", home=z.home("paydev"))
    z.setup("spaces", "add", "Payments", home=z.home("payops"))
    z.trust("dev", "staging")
    z.trust("paydev", "staging")
    z.trust("staging", "dev", "paydev", "prod")
    z.trust("payops", "xfer")
    z.trust("xfer", "payops", "prod")
    z.trust("prod", "staging")  # the transfer zone, trusted in Default
    z.trust("prod", "xfer", extra=("--space", "Accounting"))
    z.trust("prod", "dev", extra=("--via", "staging"))
    return z


def test_a_relay_trusted_in_default_relays_for_a_source_of_space_payments(zones: Zones) -> None:
    z = zones
    added = z.ok("trust", "add", z.card("paydev"), "--space", "Payments", "--via", "staging", at="prod")
    assert "in space Payments" in added and "relayed through staging" in added
    z.ok("export", z.release(PAY), "--to", "staging", "-o", z.path("p.bundle"), at="paydev")
    z.ok("relay", z.path("p.bundle"), "--to", "prod", "-o", z.path("p2.bundle"), at="staging")
    imported = z.ok("import", z.path("p2.bundle"), "--space", "Payments", at="prod")
    assert "imported Pay Web 1.0.0 from paydev, relayed by staging into space Payments" in imported
    # a relay trusted in Accounting may not be required for Payments: the refusal names what works
    before = snapshot(z.home("prod"))
    r = z.run("trust", "set", "paydev", "--via", "xfer", "--json", at="prod")
    assert r.returncode == 2, r.stdout + r.stderr
    error = json.loads(r.stdout)["error"]
    assert error["code"] == "invalid_policy"
    assert "which only a zone trusted in Payments or in Default may relay" in error["message"]
    assert f"`bundlekit trust set xfer --space Default --home {z.home('prod')}`" in error["message"]  # keeps xfer's rule (atk35 #5)
    assert "trust xfer in space Payments first" not in error["message"]
    assert snapshot(z.home("prod")) == before


def test_a_release_relayed_by_a_zone_trusted_in_a_third_space_is_refused_naming_payments_or_default(
        zones: Zones) -> None:
    z = zones
    z.trust("prod", "payops", extra=("--space", "Payments"))  # no required relay: any trusted one may carry
    z.ok("export", z.release(PAY, "1.1.0"), "--to", "xfer", "-o", z.path("x.bundle"), at="payops")
    z.ok("relay", z.path("x.bundle"), "--to", "prod", "-o", z.path("x2.bundle"), at="xfer")
    before = snapshot(z.home("prod"))
    r = z.run("import", z.path("x2.bundle"), "--space", "Payments", "--json", at="prod")
    assert r.returncode == 3, r.stdout + r.stderr
    error = json.loads(r.stdout)["error"]
    assert error["code"] == "untrusted_relay"
    assert "zone 'xfer' is trusted here in space Accounting" in error["message"]
    assert "a relay must be trusted in that space or in Default" in error["message"]
    assert "trust the relay in space Payments or Default" in error["message"]
    unchanged_or_reported(z.home("prod"), before, "untrusted_relay")  # reported to payops (decision 968)

