"""A release refused for the way it came or the space it would enter is reported back to its source
like any refusal of an authentic release (new-user review 35, finding 17; decision 968), through the
real CLI. Only a release its trusted source signed gets an entry; the ``--space`` typed wrongly in
the refusing zone is that zone's own affair.

Zones: dev, staging, dmz, prod and paydev. prod trusts staging, dev only through staging, and
paydev in space Payments; it does not trust dmz.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.relayzones import PAY, WIDGET, Zones


def _zones(root: Path) -> Zones:
    z = Zones(root, "dev", "staging", "dmz", "prod", "paydev")
    z.trust("dev", "staging", "dmz", "prod")
    z.trust("staging", "dev", "prod")
    z.trust("dmz", "dev", "prod", "paydev")
    z.trust("paydev", "prod", "dmz")
    z.trust("prod", "staging")
    z.trust("prod", "dev", extra=("--via", "staging"))
    for zone in ("prod", "paydev", "dmz"):
        z.setup("spaces", "add", "Payments", home=z.home(zone))
    z.trust("prod", "paydev", extra=("--space", "Payments"))
    return z


def _queued(z: Zones) -> list[tuple[str, str]]:
    listed = json.loads(z.ok("outbox", "list", "--json", at="prod"))["refusals"]
    return [(r["code"], r["destination"]) for r in listed]


def _refused(z: Zones, bundle: Path, code: str, *extra: str) -> str:
    done = z.run("import", bundle, *extra, at="prod")
    assert done.returncode == 3 and f"error [{code}]" in done.stderr, done.stderr
    return done.stderr


def test_a_skipped_relay_and_an_untrusted_relay_are_reported_to_the_source_which_stops_waiting(
        tmp_path: Path) -> None:
    z = _zones(tmp_path)
    direct, to_dmz, via_dmz = z.path("direct.bundle"), z.path("to-dmz.bundle"), z.path("via-dmz.bundle")
    z.ok("export", z.release(WIDGET, "1.0.0"), "--to", "prod", "-o", direct, at="dev")
    said = _refused(z, direct, "relay_required")
    # new-user reviews 38 (F1): the one row written is named, and "nothing was changed" is not said
    assert "The release was not imported." in said and "othing was changed" not in said, said
    assert "This zone queued the refusal as Refusals-1 for zone dev" in said, said
    assert "`bundlekit outbox pack --to dev -o FILE --home " in said, said
    as_json = json.loads(z.run("import", direct, "--json", at="prod").stdout)["error"]
    assert "refusal_queued" not in as_json["details"]  # already queued: nothing new to name
    z.ok("export", z.release(WIDGET, "1.0.1"), "--to", "dmz", "-o", to_dmz, at="dev")
    z.ok("relay", to_dmz, "--to", "prod", "-o", via_dmz, at="dmz")
    done = z.run("import", via_dmz, "--json", at="prod")
    error = json.loads(done.stdout)["error"]
    assert error["details"]["refusal_queued"] == "Refusals-2", done.stdout
    # new-user review 38 (F5): the zone the hop names, not a key id alone
    assert error["details"]["claimed_zone"] == "dmz" and "its record names zone 'dmz', unverified" in error["message"]
    again = _refused(z, via_dmz, "untrusted_relay")  # the same refusal again queues nothing new
    assert "queued the refusal" not in again, again
    assert _queued(z) == [("relay_required", "dev"), ("untrusted_relay", "dev")]

    receipt = z.path("receipt.bundle")
    z.ok("outbox", "pack", "--to", "dev", "-o", receipt, at="prod")
    recorded = z.ok("import", receipt, at="dev")
    assert "Widget API 1.0.0 refused in prod: relay_required" in recorded
    assert "Widget API 1.0.1 refused in prod: untrusted_relay" in recorded
    board = z.ok("dashboard", at="dev")
    assert "refused in prod: relay_required" in board and "refused in prod: untrusted_relay" in board
    assert "awaiting a receipt" not in board


def test_a_release_no_trusted_source_signed_gets_no_entry_whatever_its_path(tmp_path: Path) -> None:
    """paydev is trusted by prod in Payments only; dmz, which prod does not trust, relays paydev's
    release, and dmz sends one of its own: the first is refused for its relay and reported (its
    origin is paydev's), the second is not signed by a zone prod trusts and changes nothing."""
    z = _zones(tmp_path)
    own = z.path("dmz-own.bundle")
    z.ok("export", z.release(WIDGET, "2.0.0"), "--to", "prod", "-o", own, at="dmz")
    done = z.run("import", own, at="prod")
    assert done.returncode == 3 and "error [untrusted]" in done.stderr, done.stderr
    to_dmz, relayed = z.path("pay-to-dmz.bundle"), z.path("pay.prod.bundle")
    z.ok("export", z.release(PAY, "1.0.0"), "--to", "dmz", "-o", to_dmz, at="paydev")
    z.ok("relay", to_dmz, "--to", "prod", "-o", relayed, at="dmz")
    _refused(z, relayed, "untrusted_relay", "--space", "Payments")
    assert _queued(z) == [("untrusted_relay", "paydev")]


def test_space_denied_is_reported_when_the_release_cannot_enter_its_sources_space_only(tmp_path: Path) -> None:
    """paydev's release naming space Default is refused in Payments whatever is typed: reported.
    Its release for Payments imported without --space is refused too, but enters Payments when
    the operator types it: nothing is reported for that one."""
    z = _zones(tmp_path)
    wrong, right = z.path("widget.bundle"), z.path("pay.bundle")
    z.ok("export", z.release(WIDGET.replace('[project]\n', '[project]\nspace = "Default"\n'), "9.9.9"), "--to", "prod",
         "-o", wrong, at="paydev")
    _refused(z, wrong, "space_denied", "--space", "Payments")
    z.ok("export", z.release(PAY, "1.0.0"), "--to", "prod", "-o", right, at="paydev")
    _refused(z, right, "space_denied")  # into Default: only the --space typed is wrong
    assert _queued(z) == [("space_denied", "paydev")]
    z.ok("import", right, "--space", "Payments", at="prod")

    receipt = z.path("receipt.bundle")
    z.ok("outbox", "pack", "--to", "paydev", "-o", receipt, at="prod")
    assert "Widget API 9.9.9 refused in prod: space_denied" in z.ok("import", receipt, at="paydev")
