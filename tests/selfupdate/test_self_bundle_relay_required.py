"""bundlekit's own bundle that skipped a required relay gets advice that works for it (review
atk35 F15): `export-self`, not `export RELEASE_FILE`, which cannot make it."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

from tests.conftest import run_cli, snapshot


def test_a_self_bundle_that_skipped_the_required_relay_names_export_self_and_that_way_works(
        tmp_path: Path, wheelhouse: Path) -> None:
    homes = {z: tmp_path / z for z in ("dev", "staging", "prod")}
    for zone, home in homes.items():
        assert run_cli("init", "--zone", zone, home=home).returncode == 0
        assert run_cli("identity", "-o", tmp_path / f"{zone}.card", home=home).returncode == 0
    for at, cards in (("dev", ("staging", "prod")), ("staging", ("dev", "prod")), ("prod", ("staging",))):
        for card in cards:
            assert run_cli("trust", "add", tmp_path / f"{card}.card", home=homes[at]).returncode == 0
    assert run_cli("trust", "add", tmp_path / "dev.card", "--via", "staging", home=homes["prod"]).returncode == 0
    direct = tmp_path / "self-direct.bundle"
    made = run_cli("export-self", "--to", "prod", "-o", direct, "--wheelhouse", wheelhouse, home=homes["dev"])
    assert made.returncode == 0, made.stderr
    before = snapshot(homes["prod"])
    done = run_cli("self-update", direct, "--dry-run", "--json", home=homes["prod"])
    err = json.loads(done.stdout)["error"]
    assert done.returncode == 3 and err["code"] == "relay_required", done.stdout + done.stderr
    message = err["message"]
    assert "RELEASE_FILE" not in message, message
    commands = re.findall(r"`(bundlekit [^`]+)`", message)
    assert "bundlekit export-self --to staging -o OUT --wheelhouse DIR --full" in commands, message
    assert "bundlekit relay BUNDLE --to prod -o OUT" in commands, message
    assert snapshot(homes["prod"]) == before
    # The way it names, followed: export-self to staging, staging relays it to prod.
    to_staging, relayed = tmp_path / "self.staging.bundle", tmp_path / "self.prod.bundle"
    args = [a.replace("OUT", str(to_staging)).replace("DIR", str(wheelhouse)) for a in shlex.split(
        "bundlekit export-self --to staging -o OUT --wheelhouse DIR --full")[1:]]
    assert run_cli(*args, home=homes["dev"]).returncode == 0
    done = run_cli("relay", to_staging, "--to", "prod", "-o", relayed, home=homes["staging"])
    assert done.returncode == 0, done.stderr
    done = run_cli("self-update", relayed, "--dry-run", home=homes["prod"])
    assert done.returncode == 0, done.stdout + done.stderr
