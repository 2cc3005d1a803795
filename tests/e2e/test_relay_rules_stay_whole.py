"""A relay a `--via` rule needs, and the rule itself, through the real CLI (review atk35 #5, #6,
#9, #10; decision 961).

dev's releases reach prod only through staging (prod trusts dev `--via staging --evidence-for
Development`). The refusals of a release or receipt whose source's rule is in another space name
`trust set SOURCE --space SPACE`, which keeps the rule's settings, and that command works;
trusting staging again in a space that could relay none of dev's releases is refused as moving
it there is; narrowing staging's policy so it no longer admits a project of dev that prod holds
warns as removing it does; and `--via` naming this zone itself says so.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FIXTURES, cli_in_process, snapshot
from tests.reported import unchanged_or_reported
from tests.e2e.test_spaces import ok, refused, zones


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """dev -> staging -> prod, Acme Web 1.4.0 relayed to prod (not imported there yet)."""
    root = tmp_path_factory.mktemp("relay-rules")
    w = zones(root, "dev", "staging", "prod")
    ok("trust", "add", root / "staging.card", home=w["dev"])
    ok("trust", "add", root / "dev.card", home=w["staging"])
    ok("trust", "add", root / "prod.card", home=w["staging"])
    ok("trust", "add", root / "staging.card", "--projects", "acme-*", home=w["prod"])
    ok("trust", "add", root / "dev.card", "--via", "staging", "--evidence-for", "Development", "--new", home=w["prod"])
    ok("export", FIXTURES / "acme" / "release.toml", "--to", "staging", "-o", root / "a.bundle", "--full", home=w["dev"])
    ok("import", root / "a.bundle", home=w["staging"])
    ok("relay", root / "a.bundle", "--to", "prod", "-o", root / "ap.bundle", home=w["staging"])
    w["root"] = root
    return w


def _prod(chain: dict[str, Path], tmp_path: Path) -> Path:
    prod = tmp_path / "prod"
    shutil.copytree(chain["prod"], prod)
    return prod


def _rule(home: Path, name: str) -> dict[str, Any]:
    return next(r for r in json.loads(ok("trust", "list", "--json", home=home))["zones"] if r["name"] == name)


def _suggested(message: str) -> list[str]:
    found = re.search(r"`bundlekit (trust set [^`]*)`", message)
    assert found is not None, message
    return shlex.split(found.group(1))


def test_a_release_refused_for_its_source_s_space_names_the_trust_set_that_keeps_the_rule_and_it_works(
        chain: dict[str, Path], tmp_path: Path) -> None:
    """Finding 5: after `trust set dev --space Payments`, the release (project.space Default) can
    enter only Default; the refusal names `trust set dev --space Default`, not remove + add."""
    prod = _prod(chain, tmp_path)
    ok("spaces", "add", "Payments", home=prod)
    ok("trust", "set", "dev", "--space", "Payments", home=prod)
    before = snapshot(prod)
    for space in ((), ("--space", "Payments")):
        error = refused("import", chain["root"] / "ap.bundle", *space, home=prod)
        assert error["code"] == "space_denied", error
        assert "trust remove" not in error["message"] and "trust add" not in error["message"], error["message"]
        assert _suggested(error["message"]) == ["trust", "set", "dev", "--space", "Default", "--home", str(prod)], \
            error["message"]
    unchanged_or_reported(prod, before, "space_denied")  # the refusal goes back to dev (decision 968)
    ok(*_suggested(error["message"]), home=prod)
    assert "relayed by staging into space Default" in ok("import", chain["root"] / "ap.bundle", home=prod)
    rule = _rule(prod, "dev")
    assert (rule["space"], rule["via"], rule["policy"]["evidence_for"]) == ("Default", ["staging"], ["Development"])


def test_a_receipt_refused_for_its_signer_s_space_names_the_trust_set_that_keeps_the_rule(tmp_path: Path) -> None:
    """Finding 5's receipt half, on the words every such refusal ends with (decision 915)."""
    from bundlekit.zone.spaces import move_trust

    hint = move_trust("prod", "Default")
    assert [shlex.split(c) for i, c in enumerate(hint.split("`")) if i % 2] == \
        [["bundlekit", "trust", "set", "prod", "--space", "Default"]]
    assert "keeps the rule's other settings" in hint


def test_trusting_a_relay_again_in_a_space_that_cannot_relay_for_its_via_rule_is_refused(
        tmp_path: Path) -> None:
    """Finding 9, the reviewer's steps: staging moved to Ops is refused while dev's rule of
    Payments needs it; removing it and adding it in Ops must be refused alike (decision 961)."""
    w = zones(tmp_path, "dev", "staging", "p2")
    p2 = w["p2"]
    for space in ("Payments", "Ops"):
        ok("spaces", "add", space, home=p2)
    ok("trust", "add", tmp_path / "staging.card", home=p2)
    ok("trust", "add", tmp_path / "dev.card", "--space", "Payments", "--via", "staging", home=p2)
    assert refused("trust", "set", "staging", "--space", "Ops", home=p2)["code"] == "invalid_policy"
    ok("trust", "remove", "staging", home=p2)
    before = snapshot(p2)
    error = refused("trust", "add", tmp_path / "staging.card", "--space", "Ops", home=p2)
    assert error["code"] == "invalid_policy" and error["details"]["relied_on_by"] == ["dev"], error
    assert "relays the releases of zone(s) dev" in error["message"] and "Nothing was changed" in error["message"]
    assert f"`bundlekit trust add CARD --space Payments --home {shlex.quote(str(p2))}`" in error["message"], error["message"]
    assert snapshot(p2) == before
    assert "no longer trusted here" in ok("trust", "list", home=p2)  # the note that the rule accepts nothing stays
    ok("trust", "add", tmp_path / "staging.card", "--space", "Payments", home=p2)  # what the refusal names works
    assert _rule(p2, "dev")["via_untrusted"] == []


def test_narrowing_a_relay_so_it_no_longer_admits_a_project_of_its_via_rule_warns(chain: dict[str, Path],
                                                                                  tmp_path: Path) -> None:
    """Finding 6: `trust set staging --projects/--environments` that leave out Acme Web (held here,
    from dev, which needs staging) is accepted with a warning naming the command that undoes it."""
    prod = _prod(chain, tmp_path)
    ok("import", chain["root"] / "ap.bundle", home=prod)
    for option, value, denied in (("--projects", "nothing-*", "project 'Acme Web'"),
                                  ("--environments", "Nope", "releases for environment"),
                                  ("--spaces", "Payments", "space 'Default'")):
        done = cli_in_process("trust", "set", "staging", option, value, home=prod)
        assert done.returncode == 0, done.stderr
        warning = next((line for line in done.stderr.splitlines() if "relays the releases of zone dev" in line), "")
        assert denied in warning and "project Acme Web" in warning and "untrusted_relay" in warning, done.stderr
        assert f"`bundlekit trust set dev --no-via --home {prod}`" in warning, warning
        widen = re.search(r"`bundlekit (trust set staging [^`]*)`", warning)
        assert widen is not None, warning
        ok(*shlex.split(widen.group(1)), home=prod)  # what it names admits the project again: no warning then
    done = cli_in_process("trust", "set", "staging", "--projects", "acme-*", home=prod)
    assert done.returncode == 0 and "relays the releases" not in done.stderr, done.stderr


def test_via_naming_this_zone_itself_says_it_is_this_zone_s_own_name(chain: dict[str, Path], tmp_path: Path) -> None:
    """Finding 10 (trust half): not "trust its card", which `trust add` would refuse (self_trust)."""
    prod = _prod(chain, tmp_path)
    before = snapshot(prod)
    for args in (("trust", "set", "dev", "--via", "prod"), ("trust", "set", "dev", "--via", "PROD"),
                 ("trust", "add", chain["root"] / "staging.card", "--via", "prod")):
        error = refused(*args, home=prod)
        assert error["code"] == "invalid_policy", error
        assert "this zone's own name" in error["message"] and "trust add" not in error["message"], error["message"]
    assert snapshot(prod) == before


def test_trusting_a_removed_relay_again_with_a_policy_that_leaves_out_a_project_of_its_via_rule_warns(
        chain: dict[str, Path], tmp_path: Path) -> None:
    """Finding 6's kind through `trust add`: staging removed, then trusted again for other projects."""
    prod = _prod(chain, tmp_path)
    ok("import", chain["root"] / "ap.bundle", home=prod)
    ok("trust", "remove", "staging", home=prod)
    done = cli_in_process("trust", "add", chain["root"] / "staging.card", "--projects", "nothing-*", home=prod)
    assert done.returncode == 0, done.stderr
    assert "relays the releases of zone dev" in done.stderr and "project Acme Web" in done.stderr, done.stderr
    assert f"`bundlekit trust set staging --projects 'nothing-*,acme-web' --home {prod}`" in done.stderr, done.stderr
