"""A folder steps write to never shows another zone's home (v30-20 item 2, decision 801).

A local target's folder is bound read-write into the sandbox, the worker's folder is the
worker's own: a zone home below either (or one they lie in) would show that zone's keys to every
step. `targets add --root`, `worker set --folder` refuse such a folder, and the deploy preflight
looks again for a home made there since. Real folders and real homes made by `bundlekit init`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from bundlekit.deploy.service import deploy
from bundlekit.zone import homescan
from bundlekit.zone.home import init_zone
from bundlekit.zone.homescan import scan_for_homes
from tests.conftest import raises_code, run_cli, snapshot
from tests.e2e.promotion_world import ok
from tests.importer.helpers import deployable_prod

ADD = ("targets", "add", "web-02", "--environment", "Production", "--role", "web", "--root")


def _zones(root: Path) -> tuple[Path, Path]:
    """prod, and staging's home two levels below ``root / "shared"``."""
    ok("init", "--zone", "prod", home=root / "prod")
    ok("init", "--zone", "staging", home=root / "shared" / "apps" / "staging")
    return root / "prod", root / "shared" / "apps" / "staging"


def test_targets_add_refuses_a_folder_that_holds_another_zones_home_and_changes_nothing(tmp_path: Path) -> None:
    prod, staging = _zones(tmp_path)
    shared = tmp_path / "shared"
    before = snapshot(prod, shared)
    r = run_cli(*ADD, shared, "--json", home=prod)
    err = json.loads(r.stdout)["error"]
    assert (err["code"], r.returncode) == ("folder_holds_home", 1), r.stdout + r.stderr
    assert f"holds the zone home {staging}" in err["message"] and "see that zone's keys" in err["message"]
    assert err["details"]["homes"] == [str(staging)]
    assert snapshot(prod, shared) == before
    # inside the other home, and the home itself: refused too, each said as it is
    r = run_cli(*ADD, staging / "www", "--json", home=prod)
    assert json.loads(r.stdout)["error"]["code"] == "folder_holds_home"
    assert f"lies inside the zone home {staging}" in json.loads(r.stdout)["error"]["message"]
    r = run_cli(*ADD, staging, home=prod)
    assert r.returncode == 1 and f"is the zone home {staging}" in r.stderr, r.stderr
    assert snapshot(prod, shared) == before
    # a folder beside the home holds none: accepted
    ok(*ADD, shared / "www", home=prod)


def test_worker_set_refuses_a_folder_that_holds_another_zones_home(tmp_path: Path) -> None:
    prod, staging = _zones(tmp_path)
    before = snapshot(prod, tmp_path / "shared")
    r = run_cli("worker", "set", "--unconfined", "--folder", tmp_path / "shared", "--json", home=prod)
    err = json.loads(r.stdout)["error"]
    assert (err["code"], r.returncode) == ("folder_holds_home", 1), r.stdout + r.stderr
    assert str(staging) in err["message"] and "the worker folder" in err["message"]
    assert snapshot(prod, tmp_path / "shared") == before


def test_the_walk_stops_at_its_limit_and_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    big = tmp_path / "big"
    for i in range(12):
        (big / f"d{i:02}").mkdir(parents=True)
    init_zone(big / "d11" / "deep" / "zone", "hidden", int(time.time())).close()
    whole = scan_for_homes(big.resolve())
    assert whole.complete and whole.homes == ((big / "d11" / "deep" / "zone").resolve(),)
    cut = scan_for_homes(big.resolve(), limit=5)
    assert (cut.complete, cut.looked, cut.homes) == (False, 5, ())
    assert cut.note() is not None and "first 5 entries" in (cut.note() or "")
    # targets add: a folder too large to look through whole is accepted with that warning
    monkeypatch.setattr(homescan, "SCAN_LIMIT", 5)
    from click.testing import CliRunner

    from bundlekit.cli import cli
    ok("init", "--zone", "prod", home=tmp_path / "prod")
    done = CliRunner().invoke(cli, [*ADD, str(big), "--home", str(tmp_path / "prod")], catch_exceptions=False)
    assert done.exit_code == 0, done.output
    assert "warning:" in done.stderr and "first 5 entries" in done.stderr


def test_the_deploy_preflight_refuses_a_target_folder_a_home_was_made_in_since(tmp_path: Path) -> None:
    z = deployable_prod(tmp_path)
    try:
        stray = tmp_path / "t" / "web-01" / "backups" / "old-zone"
        init_zone(stray, "old", int(time.time())).close()
        before = snapshot(z.prod.home, tmp_path / "t")
        for dry_run in (True, False):
            with raises_code("target_holds_home") as caught:
                deploy(z.prod, "acme-web", "1.4.0", "Production", now=int(time.time()), dry_run=dry_run)
            assert "target 'web-01'" in caught.value.message and str(stray) in caught.value.message
            assert "Nothing was run" in caught.value.message
            assert snapshot(z.prod.home, tmp_path / "t") == before
    finally:
        z.close()
