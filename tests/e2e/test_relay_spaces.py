"""A relay sends a release on only to a zone that answers for the space the release entered in
(decisions 915 and 941), through the real CLI.

Review relayatk F8: staging's team S2 trusted rogue (`trust add rogue.card --space S2`); dev's
release of space Default, relayed by staging `--to rogue`, was opened in staging and its secret
sealed again to rogue's key, exit 0, while dev's own `export --to rogue` in the same set-up is
refused `space_denied`. Now the relay is refused the same way, writes nothing and leaves staging's
home byte-identical; a zone trusted in the release's space, or in Default, still receives it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import run_cli, snapshot
from tests.e2e.test_relay import Chain
from tests.e2e.world import json_of


def build(root: Path) -> Chain:
    c = Chain(root)
    for name in ("dev", "staging", "prod", "rogue", "pay", "ops"):
        c.zone(name)
    c.trust("dev", "staging")
    c.trust("staging", "dev", "prod")
    for space in ("S2", "S3"):
        c.setup("spaces", "add", space, home="staging")
    for name, space in (("rogue", "S2"), ("pay", "S2"), ("ops", "S3")):
        c.setup("trust", "add", c.card(name), "--space", space, home="staging")
    # pay's release of its own space S2 enters staging in S2 (pay's trust rule there)
    c.setup("spaces", "add", "S2", home="pay")
    c.trust("pay", "staging")
    return c


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Chain:
    c = build(tmp_path_factory.mktemp("relay-spaces"))
    c.export("staging", "acme.bundle")
    s2 = c.root / "release-s2"
    shutil.copytree(c.release, s2)
    text = (s2 / "release.toml").read_text()
    assert 'name = "Acme Web"\nspace = "Default"' in text
    (s2 / "release.toml").write_text(text.replace('name = "Acme Web"\nspace = "Default"',
                                                  'name = "Bravo Web"\nspace = "S2"', 1))
    c.cli("export", s2 / "release.toml", "--to", "staging", "-o", c.media / "bravo.bundle", home="pay")
    return c


def _relay(c: Chain, bundle: str, to: str, out: Path) -> tuple[int, dict]:  # type: ignore[type-arg]
    r = run_cli("relay", c.media / bundle, "--to", to, "-o", out, "--json", home=c.home("staging"))
    return r.returncode, json_of(r.stdout)


def test_a_default_release_is_not_relayed_to_a_zone_trusted_only_in_another_space(net: Chain, tmp_path: Path) -> None:
    """The review's example: its secret would be sealed to rogue's key by S2's trust rule alone."""
    out = tmp_path / "out"
    out.mkdir()
    before = snapshot(net.home("staging"), out)
    code, doc = _relay(net, "acme.bundle", "rogue", out / "r.bundle")
    err = doc["error"]
    assert code == 3 and err["code"] == "space_denied", doc
    assert err["details"] == {"space": "Default", "trusted_in": "S2", "zone": "rogue"}, err
    assert "entered this zone in space Default" in err["message"] and "trusted here in space S2" in err["message"]
    assert "Nothing was written" in err["message"] and "trust set rogue --space Default" in err["message"], err
    assert snapshot(net.home("staging"), out) == before


def test_the_same_release_is_relayed_to_a_zone_trusted_in_default(net: Chain, tmp_path: Path) -> None:
    code, doc = _relay(net, "acme.bundle", "prod", tmp_path / "p.bundle")
    assert code == 0 and doc["to"] == "prod" and doc["sealed_values"] == 1, doc


@pytest.mark.parametrize("to, allowed", [("rogue", True), ("prod", True), ("ops", False)])
def test_a_release_that_entered_in_s2_goes_only_to_zones_trusted_in_s2_or_default(net: Chain, tmp_path: Path,
                                                                                   to: str, allowed: bool) -> None:
    out = tmp_path / f"{to}.bundle"
    before = snapshot(net.home("staging"))
    code, doc = _relay(net, "bravo.bundle", to, out)
    if allowed:
        assert code == 0 and doc["to"] == to, doc
    else:
        assert code == 3 and doc["error"]["code"] == "space_denied", doc
        assert doc["error"]["details"] == {"space": "S2", "trusted_in": "S3", "zone": "ops"}, doc
        assert "trust it in space S2 or Default instead" in doc["error"]["message"], doc
        assert not out.exists()
    assert snapshot(net.home("staging")) == before
