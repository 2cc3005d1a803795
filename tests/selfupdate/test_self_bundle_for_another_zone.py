"""bundlekit's own bundle addressed to another zone gets advice that works for it (newuser36
finding 7, decision 978): ``import``, which the old advice named, refuses bundlekit's own release
(decision 972). When the zone it is addressed to is a relay this zone's rule names, the advice is
that relay's ``bundlekit relay`` and, here, ``self-update``, and following it works; otherwise the
other zone installs it with ``self-update``, and this zone needs its own ``export-self``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.conftest import run_cli, snapshot
from tests.selfupdate.conftest import small_self_bundle


def _zones(tmp_path: Path, names: tuple[str, ...]) -> dict[str, Path]:
    homes = {z: tmp_path / z for z in names}
    for zone, home in homes.items():
        assert run_cli("init", "--zone", zone, home=home).returncode == 0
        assert run_cli("identity", "-o", tmp_path / f"{zone}.card", home=home).returncode == 0
    return homes


def _trust(tmp_path: Path, home: Path, *cards: str) -> None:
    for card in cards:
        assert run_cli("trust", "add", tmp_path / f"{card}.card", home=home).returncode == 0


def test_self_bundle_for_this_zones_relay_names_relay_then_self_update_and_that_way_works(tmp_path: Path) -> None:
    homes = _zones(tmp_path, ("dev", "staging", "prod", "qa"))
    _trust(tmp_path, homes["dev"], "staging")
    _trust(tmp_path, homes["staging"], "dev", "prod", "qa")
    _trust(tmp_path, homes["prod"], "staging")
    assert run_cli("trust", "add", tmp_path / "dev.card", "--via", "staging", home=homes["prod"]).returncode == 0
    bundle = small_self_bundle(tmp_path, homes["dev"], to="staging")
    prod = homes["prod"]
    before = snapshot(prod)
    done = run_cli("self-update", bundle, "--dry-run", "--json", home=prod)
    err = json.loads(done.stdout)["error"]
    assert err["code"] == "wrong_destination", done.stdout + done.stderr
    message = err["message"]
    assert "import it there" not in message
    commands = re.findall(r"`(bundlekit [^`]+)`", message)
    assert commands == ["bundlekit relay BUNDLE --to prod -o OUT", f"bundlekit self-update OUT --home {prod}"], message
    assert snapshot(prod) == before
    # The way it names, followed: staging relays it, prod takes it.
    relayed = tmp_path / "self.prod.bundle"
    assert run_cli("relay", bundle, "--to", "prod", "-o", relayed, home=homes["staging"]).returncode == 0
    done = run_cli("self-update", relayed, "--dry-run", home=prod)
    assert done.returncode == 0, done.stdout + done.stderr
    # Relayed on to another zone than this one: that zone installs it, it never imports it.
    to_qa = tmp_path / "self.qa.bundle"
    assert run_cli("relay", bundle, "--to", "qa", "-o", to_qa, home=homes["staging"]).returncode == 0
    done = run_cli("self-update", to_qa, "--dry-run", "--json", home=prod)
    err = json.loads(done.stdout)["error"]
    assert err["code"] == "wrong_destination", done.stdout + done.stderr
    assert "import it there" not in err["message"]
    assert "carry it to zone 'qa', which relays it on or installs it with bundlekit self-update" in err["message"]


def test_self_bundle_for_another_zone_names_self_update_there_and_export_self_for_this_zone(tmp_path: Path) -> None:
    homes = _zones(tmp_path, ("dev", "prod", "qa"))
    _trust(tmp_path, homes["dev"], "prod", "qa")
    _trust(tmp_path, homes["prod"], "dev")
    bundle = small_self_bundle(tmp_path, homes["dev"], to="qa")
    for command in (("self-update", bundle, "--dry-run"), ("import", bundle)):
        done = run_cli(*command, "--json", home=homes["prod"])
        err = json.loads(done.stdout)["error"]
        assert err["code"] == "wrong_destination", done.stdout + done.stderr
        message = err["message"]
        assert "import it there" not in message
        assert "zone 'qa' installs it with bundlekit self-update" in message
        assert re.findall(r"`(bundlekit [^`]+)`", message) == [
            "bundlekit export-self --to prod -o OUT --wheelhouse DIR", f"bundlekit self-update OUT --home {homes['prod']}"]
