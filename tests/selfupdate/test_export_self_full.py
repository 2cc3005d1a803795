"""export-self sends wheels by reference once the destination reported holding them, so it has
`--full`, and every refusal that asks for every package's bytes names it for bundlekit's own
release (newuser35 finding 16): relay_by_reference, package_missing and package_not_shared said
`bundlekit export RELEASE_FILE --full` / `bundlekit export --full`, which cannot make it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bundlekit.core import clock
from bundlekit.zone import exports, truststore
from bundlekit.zone.home import open_zone
from tests.conftest import run_cli, snapshot
from tests.selfupdate.conftest import NEWER, accepted, small_self_bundle, two_zones

FULL = "bundlekit export-self --to prod -o OUT --wheelhouse DIR --full"


def _packages(bundle: Path) -> list[dict[str, object]]:
    return json.loads(run_cli("inspect", bundle, "--json").stdout)["packages"]


def _reported_holding(dev: Path, zone: str, bundle: Path) -> None:
    """What a receipt of ``zone`` listing the wheels of ``bundle`` in its inventory leaves in dev."""
    with open_zone(dev) as z, z.db.transaction() as tx:
        exports.replace_inventory(tx, truststore.get_zone(z, zone).zone_id,
                                  [{k: p[k] for k in ("id", "version", "sha256")} for p in _packages(bundle)],
                                  clock.now())


def test_export_self_full_sends_every_wheel_that_the_default_sends_by_reference(tmp_path: Path) -> None:
    dev, _ = two_zones(tmp_path)
    first = small_self_bundle(tmp_path, dev)
    _reported_holding(dev, "prod", first)
    house = tmp_path / f"small-house-{NEWER}"
    lean, whole = tmp_path / "lean.bundle", tmp_path / "whole.bundle"
    done = run_cli("export-self", "--to", "prod", "-o", lean, "--wheelhouse", house, home=dev)
    assert done.returncode == 0, done.stderr
    assert "2 of 2 wheels by reference or as changes (zone prod reported holding them); `--full`" in done.stdout
    assert not any(p["included"] for p in _packages(lean))
    done = run_cli("export-self", "--to", "prod", "-o", whole, "--wheelhouse", house, "--full", "--json", home=dev)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["not_included"] == []
    assert all(p["included"] for p in _packages(whole))


@pytest.mark.parametrize(("held_before", "code"), [(False, "package_not_shared"), (True, "package_missing")])
def test_a_zone_that_lacks_the_wheels_of_a_lean_bundle_is_told_to_ask_for_export_self_full(
        tmp_path: Path, held_before: bool, code: str) -> None:
    dev, prod = two_zones(tmp_path)
    first = small_self_bundle(tmp_path, dev)
    _reported_holding(dev, "prod", first)
    if held_before:  # prod accepted the wheels from dev, then its store lost them (pruned)
        accepted(prod, first)
        with open_zone(prod) as z:
            for p in _packages(first):
                z.store.path(str(p["sha256"])).unlink()
    lean = tmp_path / "lean.bundle"
    assert run_cli("export-self", "--to", "prod", "-o", lean, "--wheelhouse", tmp_path / f"small-house-{NEWER}",
                   home=dev).returncode == 0
    before = snapshot(prod)
    done = run_cli("self-update", lean, "--dry-run", "--json", home=prod)
    assert done.returncode == 3, done.stdout
    err = json.loads(done.stdout)["error"]
    assert err["code"] == code
    assert f"`{FULL}`" in err["message"] and "RELEASE_FILE" not in err["message"]
    assert snapshot(prod) == before


def test_relay_by_reference_of_a_lean_bundlekit_bundle_names_export_self_full(tmp_path: Path) -> None:
    dev, prod = two_zones(tmp_path)
    edge = tmp_path / "edge"
    assert run_cli("init", "--zone", "edge", home=edge).returncode == 0
    assert run_cli("identity", "-o", tmp_path / "edge.card", home=edge).returncode == 0
    assert run_cli("trust", "add", tmp_path / "edge.card", home=prod).returncode == 0
    first = small_self_bundle(tmp_path, dev)
    _reported_holding(dev, "prod", first)
    lean = tmp_path / "lean.bundle"
    assert run_cli("export-self", "--to", "prod", "-o", lean, "--wheelhouse", tmp_path / f"small-house-{NEWER}",
                   home=dev).returncode == 0
    done = run_cli("relay", lean, "--to", "edge", "-o", tmp_path / "edge.bundle", "--json", home=prod)
    assert done.returncode == 2, done.stdout
    err = json.loads(done.stdout)["error"]
    assert err["code"] == "relay_by_reference"
    assert f"`{FULL}`" in err["message"] and "RELEASE_FILE" not in err["message"]
