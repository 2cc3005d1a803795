"""A release relayed on carries no package bytes: `relay` refuses one whose packages stayed behind
unless told the next zone holds them (decision 950; new-user review, finding 16), through the
real CLI.

The usual "staging first, prod later" flow: staging deployed Foo App 1.0.0 and told dev so; dev's
1.0.1, the same package, lists it by reference. Relayed on, prod would refuse it
(`package_not_shared`) after two air gaps; staging refuses to relay it instead, with nothing
written, naming `export --full`, which works, and `--allow-by-reference` for a next zone that
does hold the packages.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import snapshot
from tests.e2e.relayzones import FOO, Zones


@pytest.fixture
def zones(tmp_path: Path) -> Zones:
    """Finding 16's zones: staging has deployed Foo App 1.0.0 and dev imported its receipt."""
    z = Zones(tmp_path, "dev", "staging", "prod")
    z.trust("dev", "staging", "prod")
    z.trust("staging", "dev", "prod")
    z.trust("prod", "staging")
    z.trust("prod", "dev", extra=("--via", "staging"))
    z.setup("targets", "add", "s1", "--environment", "Staging", "--role", "web", "--root", z.path("t-s"),
            home=z.home("staging"))
    z.setup("targets", "add", "p1", "--environment", "Production", "--role", "web", "--root", z.path("t-p"),
            home=z.home("prod"))
    z.setup("export", z.release(FOO), "--to", "staging", "-o", z.path("f1.bundle"), home=z.home("dev"))
    z.setup("import", z.path("f1.bundle"), home=z.home("staging"))
    z.setup("deploy", "foo-app", "1.0.0", "--environment", "Staging", "--receipt-out", z.path("f1r.bundle"),
            home=z.home("staging"))
    z.setup("import", z.path("f1r.bundle"), home=z.home("dev"))
    return z


def test_a_release_listing_its_package_by_reference_is_not_relayed_on_and_export_full_is_named(
        zones: Zones) -> None:
    z = zones
    exported = z.ok("export", z.release(FOO, "1.0.1"), "--to", "staging", "-o", z.path("f2.bundle"), at="dev")
    assert "Foo 1.0.0 by reference" in exported
    out = z.path("f2p.bundle")
    before = snapshot(z.home("staging"))
    r = z.run("relay", z.path("f2.bundle"), "--to", "prod", "-o", out, "--json", at="staging")
    assert r.returncode == 2, r.stdout + r.stderr
    error = json.loads(r.stdout)["error"]
    assert error["code"] == "relay_by_reference"
    assert "Foo App 1.0.1 lists 1 package(s) without their bytes: Foo 1.0.0." in error["message"]
    assert "`bundlekit export RELEASE_FILE --to staging --full -o OUT`" in error["message"]
    assert "relay with --allow-by-reference" in error["message"]
    assert not out.exists() and snapshot(z.home("staging")) == before
    # the advice: the release exported in full travels the chain and prod imports it
    full = z.ok("export", z.release(FOO, "1.0.1"), "--to", "staging", "--full", "-o", z.path("f3.bundle"), at="dev")
    assert "by reference" not in full
    z.ok("relay", z.path("f3.bundle"), "--to", "prod", "-o", z.path("f3p.bundle"), at="staging")
    assert "imported Foo App 1.0.1 from dev, relayed by staging" in z.ok("import", z.path("f3p.bundle"), at="prod")


def test_allow_by_reference_relays_it_for_a_next_zone_that_holds_the_package(zones: Zones) -> None:
    """prod holds Foo 1.0.0 from dev (1.0.0 relayed in full before): 1.0.2 by reference is usable there."""
    z = zones
    z.ok("relay", z.path("f1.bundle"), "--to", "prod", "-o", z.path("f1p.bundle"), at="staging")
    z.ok("import", z.path("f1p.bundle"), at="prod")
    z.ok("export", z.release(FOO, "1.0.2"), "--to", "staging", "-o", z.path("f4.bundle"), at="dev")
    relayed = z.ok("relay", z.path("f4.bundle"), "--to", "prod", "-o", z.path("f4p.bundle"), "--allow-by-reference",
                   at="staging")
    assert "relayed Foo App 1.0.2 (dev -> staging -> prod)" in relayed
    assert "imported Foo App 1.0.2 from dev, relayed by staging" in z.ok("import", z.path("f4p.bundle"), at="prod")
