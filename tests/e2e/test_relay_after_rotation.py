"""A relay zone that rotated its signing key: the next zone's refusal recognises the trusted zone
and names commands that really let the relayed release in (review atk35 F14, decision 959),
through the real CLI."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from tests.conftest import cli_in_process, run_cli, snapshot
from tests.reported import unchanged_or_reported
from tests.e2e.test_relay import build, ok
from tests.e2e.world import json_of


def test_a_release_relayed_after_the_relay_rotated_its_key_is_let_in_by_the_commands_its_refusal_names(
        tmp_path: Path) -> None:
    """The refusal said "Trust its card with `bundlekit trust add CARD`", which then said
    already_trusted: a dead end."""
    c = build(tmp_path)
    c.setup("trust", "set", "staging", "--projects", "acme-*", "--evidence-for", "Staging", home="prod")
    rule_before = json_of(ok("trust", "list", "--json", home=c.home("prod")))
    to_staging = c.export("staging", "acme.bundle")
    c.cli("import", to_staging, home="staging")
    c.setup("rotate-key", home="staging")
    c.relay(to_staging, "staging", "prod", "acme.prod.bundle")
    relayed = c.media / "acme.prod.bundle"
    before = snapshot(c.home("prod"))
    r = run_cli("import", relayed, "--json", home=c.home("prod"))
    err = json_of(r.stdout)["error"]
    assert r.returncode == 3 and err["code"] == "untrusted_relay", r.stdout + r.stderr
    unchanged_or_reported(c.home("prod"), before, "untrusted_relay")  # the refusal goes back to dev (decision 968)
    new_key = json_of(ok("identity", "-o", "-", "--json", home=c.home("staging")))["signing_key_id"]
    assert "names zone 'staging'" in err["message"] and "rotated its signing key" in err["message"], err
    assert err["details"]["rotated"] is True and err["details"]["key_id"] == new_key, err
    assert "trust add CARD` if it should" not in err["message"], err
    # Follow the advice to the letter: the commands it quotes, with the card written where we say.
    commands = re.findall(r"`(bundlekit [^`]+)`", err["message"])
    identity, remove, add = (next(x for x in commands if x.startswith(f"bundlekit {w}"))
                             for w in ("identity", "trust remove", "trust add"))
    assert add == f"bundlekit trust add staging.card --projects 'acme-*' --evidence-for Staging --home {c.home('prod')}", add
    card = tmp_path / "new" / "staging.card"
    card.parent.mkdir()
    for command, home in ((identity, "staging"), (remove, "prod"), (add, "prod")):
        args = [str(card) if a == "staging.card" else a for a in shlex.split(command)[1:]]
        assert cli_in_process(*args, home=c.home(home)).returncode == 0, command
    imported = json_of(ok("import", relayed, "--json", home=c.home("prod")))
    assert imported["source"] == "dev" and imported["relayed_by"] == ["staging"], imported
    rules = {z["name"]: z for z in json_of(ok("trust", "list", "--json", home=c.home("prod")))["zones"]}
    old = {z["name"]: z for z in rule_before["zones"]}
    for name in ("staging", "dev"):  # the rule kept, dev's --via staging too
        keep = {k: v for k, v in old[name].items() if k not in ("signing_key_id", "added")}
        assert {k: v for k, v in rules[name].items() if k in keep} == keep, (name, rules[name], old[name])
    assert rules["staging"]["signing_key_id"] == new_key
