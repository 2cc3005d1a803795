"""A release refused for the path it took says what is wrong with the path and the way forward that
works (new-user review, finding 1), through the real CLI.

A bundle is relayed only by the zone it is addressed to, so a release that skipped its required
relay (addressed to the refusing zone) can never be relayed onto the path: the refusal says to
export it again from the source to the first required relay and to relay it on from there; a
relay given a bundle addressed to another zone says that only that zone can relay it. Following
each refusal's advice, to the letter, gets the release imported.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import snapshot
from tests.e2e.relayzones import WIDGET, Zones
from tests.reported import unchanged_or_reported


@pytest.fixture(scope="module")
def zones(tmp_path_factory: pytest.TempPathFactory) -> Zones:
    """dev, staging, dmz and prod, each trusting the others; prod takes dev's releases only through
    staging (the README's Relays section)."""
    names = ("dev", "staging", "dmz", "prod")
    z = Zones(tmp_path_factory.mktemp("way"), *names)
    for zone in names:
        z.trust(zone, *(o for o in names if o != zone and (zone, o) != ("prod", "dev")))
    z.trust("prod", "dev", extra=("--via", "staging"))
    return z


def refused(z: Zones, code: str, *args: str | Path, at: str, unwritten: Path | None = None) -> str:
    """The command exits 3 with ``code``, leaves zone ``at`` byte-identical and writes no
    ``unwritten``; its message."""
    before = snapshot(z.home(at))
    r = z.run(*args, "--json", at=at)
    assert r.returncode == 3, r.stdout + r.stderr
    error = json.loads(r.stdout)["error"]
    assert error["code"] == code, error
    unchanged_or_reported(z.home(at), before, code)  # but for the refusal entry queued for the source (decision 968)
    assert unwritten is None or not unwritten.exists()
    return str(error["message"])


def test_a_release_that_skipped_its_relay_is_refused_with_a_new_export_through_it_and_that_works(
        zones: Zones) -> None:
    z, release = zones, zones.release(WIDGET)
    z.ok("trust", "set", "dev", "--via", "staging", at="prod")
    direct = z.path("direct.bundle")
    z.ok("export", release, "--to", "prod", "-o", direct, at="dev")
    message = refused(z, "relay_required", "import", direct, at="prod")
    assert "only when relayed through staging; this one came directly from dev: it skipped staging." in message
    assert ("ask zone dev for a new export along it (in zone dev, `bundlekit export RELEASE_FILE --to staging -o OUT`; "
            "then in staging, `bundlekit relay BUNDLE --to prod -o OUT`)") in message
    # the relay the old message sent the user to: refused, saying why no relay of this bundle can work
    message = refused(z, "wrong_destination", "relay", direct, "--to", "prod", "-o", z.path("x.bundle"),
                      at="staging", unwritten=z.path("x.bundle"))
    assert "addressed to zone 'prod'" in message and "this is zone 'staging'" in message
    assert "only the zone a bundle is addressed to can relay it" in message
    assert "ask zone 'dev' to export it again `--to staging`" in message
    # the advice, followed
    to_staging, to_prod = z.path("s.bundle"), z.path("s.prod.bundle")
    z.ok("export", release, "--to", "staging", "-o", to_staging, at="dev")
    z.ok("relay", to_staging, "--to", "prod", "-o", to_prod, at="staging")
    assert "imported Widget API 1.0.0 from dev, relayed by staging" in z.ok("import", to_prod, at="prod")


def test_two_required_relays_in_the_wrong_order_or_one_skipped_are_named_and_the_new_export_works(
        zones: Zones) -> None:
    z, release = zones, zones.release(WIDGET, "1.1.0")
    z.ok("trust", "set", "dev", "--via", "staging", "--via", "dmz", at="prod")
    # dev -> dmz -> staging -> prod: both relays, the wrong order
    z.ok("export", release, "--to", "dmz", "-o", z.path("a.bundle"), at="dev")
    z.ok("relay", z.path("a.bundle"), "--to", "staging", "-o", z.path("a2.bundle"), at="dmz")
    z.ok("relay", z.path("a2.bundle"), "--to", "prod", "-o", z.path("a3.bundle"), at="staging")
    message = refused(z, "relay_required", "import", z.path("a3.bundle"), at="prod")
    assert ("relayed through staging -> dmz, in that order; this one came dev -> dmz -> staging -> prod: "
            "staging and dmz relayed it, but not in the order required.") in message
    advice = ("in zone dev, `bundlekit export RELEASE_FILE --to staging -o OUT`; then in staging, `bundlekit relay BUNDLE "
              "--to dmz -o OUT`; then in dmz, `bundlekit relay BUNDLE --to prod -o OUT`")
    assert advice in message
    # dev -> staging -> prod: dmz skipped
    z.ok("export", release, "--to", "staging", "-o", z.path("b.bundle"), at="dev")
    z.ok("relay", z.path("b.bundle"), "--to", "prod", "-o", z.path("b2.bundle"), at="staging")
    message = refused(z, "relay_required", "import", z.path("b2.bundle"), at="prod")
    assert "this one came dev -> staging -> prod: it did not go through dmz." in message and advice in message
    # dmz cannot relay a bundle staging relayed to prod, and says so
    message = refused(z, "wrong_destination", "relay", z.path("b2.bundle"), "--to", "prod", "-o",
                      z.path("b3.bundle"), at="dmz", unwritten=z.path("b3.bundle"))
    assert "relayed by zone 'staging' to zone 'prod'" in message
    assert "only the zone a bundle is addressed to can relay it on" in message
    # the advice, followed
    z.ok("export", release, "--to", "staging", "-o", z.path("c.bundle"), at="dev")
    z.ok("relay", z.path("c.bundle"), "--to", "dmz", "-o", z.path("c2.bundle"), at="staging")
    z.ok("relay", z.path("c2.bundle"), "--to", "prod", "-o", z.path("c3.bundle"), at="dmz")
    assert "imported Widget API 1.1.0 from dev, relayed by staging -> dmz" in z.ok("import", z.path("c3.bundle"),
                                                                                    at="prod")
