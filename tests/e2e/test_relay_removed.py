"""A relay named by a trust rule's --via that is no longer trusted, through the real CLI
(review relayatk #7, decision 944).

prod trusts staging, and dev only through staging. `trust remove staging` goes through (trusting
less is never refused) but says which rule needs staging and how to change it; `trust list` and
the `relay_required` refusal keep calling the relay staging, say it is no longer trusted, and
tell a new zone that took the name staging apart from it.
"""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

import pytest

from tests.conftest import run_cli, snapshot
from tests.e2e.test_relay import Chain
from tests.e2e.world import json_of
from tests.reported import unchanged_or_reported


@pytest.fixture(scope="module")
def removed(tmp_path_factory: pytest.TempPathFactory) -> Chain:
    """The review's steps: prod stops trusting staging; a new zone also named staging (fake) is
    trusted by prod and by dev, and relays dev's release to prod."""
    c = Chain(tmp_path_factory.mktemp("relay-removed"))
    for name in ("dev", "staging", "prod"):
        c.zone(name)
    c.trust("dev", "staging", "prod")
    c.trust("staging", "dev", "prod")
    c.trust("prod", "staging")
    c.trust("prod", "dev", via=("staging",))
    c.targets("prod", c.root / "targets")
    c.staging_id = next(z["zone_id"] for z in json_of(c.cli("trust", "list", "--json", home="prod"))["zones"]  # type: ignore[attr-defined]
                        if z["name"] == "staging")
    c.removal = run_cli("trust", "remove", "staging", home=c.home("prod"))  # type: ignore[attr-defined]
    c.setup("init", "--zone", "staging", home="fake")
    c.setup("identity", "-o", c.card("fake"), home="fake")
    c.trust("fake", "dev", "prod")
    c.trust("prod", "fake")
    c.setup("trust", "remove", "staging", home="dev")
    c.trust("dev", "fake")
    c.relay(c.export("staging", "to-fake.bundle"), "fake", "prod", "fake-via.bundle")
    return c


def test_removing_a_relay_a_via_rule_needs_succeeds_and_names_the_rule_and_how_to_change_it(removed: Chain) -> None:
    r = removed.removal  # type: ignore[attr-defined]
    assert r.returncode == 0, r.stderr
    assert "no longer trusting zone staging" in r.stdout
    assert "warning: the trust rule of zone dev" in r.stderr and "staging" in r.stderr, r.stderr
    at = f"--home {shlex.quote(str(removed.home('prod')))}"  # the home the command was given (decision 964)
    assert f"`bundlekit trust set dev --via ZONE {at}`" in r.stderr and f"`bundlekit trust set dev --no-via {at}`" in r.stderr


def test_trust_list_names_a_removed_relay_by_the_name_it_had_and_says_it_is_no_longer_trusted(removed: Chain) -> None:
    text = run_cli("trust", "list", home=removed.home("prod")).stdout
    staging_id = removed.staging_id  # type: ignore[attr-defined]
    assert f"relayed through staging (no longer trusted here; zone id {staging_id})" in text, text
    assert "so none of its releases is accepted" in text and "trust set dev --no-via" in text, text
    dev = next(z for z in json_of(run_cli("trust", "list", "--json", home=removed.home("prod")).stdout)["zones"]
               if z["name"] == "dev")
    assert dev["via"] == ["staging"] and dev["via_untrusted"] == [staging_id], dev


def test_a_release_through_a_new_zone_of_the_same_name_is_refused_saying_it_is_another_zone(removed: Chain) -> None:
    prod = removed.home("prod")
    before = snapshot(prod)
    r = run_cli("import", removed.media / "fake-via.bundle", "--json", home=prod)
    error = json_of(r.stdout)["error"]
    staging_id = removed.staging_id  # type: ignore[attr-defined]
    assert r.returncode == 3 and error["code"] == "relay_required", r.stdout
    message = error["message"]
    assert f"relayed through staging (zone id {staging_id}, no longer trusted here)" in message, message
    assert "the zone now named staging it came through is another zone" in message, message
    assert "no longer trusted" in message and "trust set dev --via ZONE" in message, message
    assert f"carry the release through {staging_id}" not in message and "`bundlekit relay` there" not in message
    assert error["details"]["via"] == ["staging"] and error["details"]["via_untrusted"] == [staging_id]
    unchanged_or_reported(prod, before, "relay_required")  # reported to dev (decision 968)


def test_following_the_advice_lets_the_release_in(removed: Chain, tmp_path: Path) -> None:
    prod = tmp_path / "prod"
    shutil.copytree(removed.home("prod"), prod)
    done = run_cli("trust", "set", "dev", "--via", "staging", home=prod)  # the staging prod trusts now
    assert done.returncode == 0, done.stderr
    assert run_cli("import", removed.media / "fake-via.bundle", home=prod).returncode == 0


def test_a_via_given_with_a_move_to_another_space_keeps_the_relay_s_name_after_it_is_removed(tmp_path: Path) -> None:
    """A rule moved with its relays (`trust set dev --space Payments --via staging`, decision 946)
    still names staging after `trust remove staging`, as a rule made by `trust add --via` does."""
    c = Chain(tmp_path)
    for name in ("dev", "staging", "prod"):
        c.zone(name)
    c.trust("prod", "staging")
    c.trust("prod", "dev")
    assert run_cli("spaces", "add", "Payments", home=c.home("prod")).returncode == 0
    moved = run_cli("trust", "set", "dev", "--space", "Payments", "--via", "staging", home=c.home("prod"))
    assert moved.returncode == 0, moved.stderr
    assert run_cli("trust", "remove", "staging", home=c.home("prod")).returncode == 0
    text = run_cli("trust", "list", home=c.home("prod")).stdout
    assert "relayed through staging (no longer trusted here; zone id" in text, text
