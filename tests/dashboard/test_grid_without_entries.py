"""The grid reads a reported deployment's columns, never its receipt entry (decision 870): in a
copy of a home whose entries were damaged after they were recorded, the terminal dashboard is
the same as the original's, while what shows a deployment with its steps (``--json``, a page
that details it) refuses with ``state_damaged`` naming it, and leaves the home as it was."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from bundlekit.dashboard.model import build_view
from bundlekit.zone import remote
from bundlekit.zone.home import init_zone, open_zone
from tests.conftest import Zones, run_cli, snapshot

NOW = 1_800_000_000


def _entry(n: int, release: str, env: str, state: str, **more: Any) -> dict[str, Any]:
    ms = (NOW - 86400 + n * 600) * 1000
    runs = [{"step": "Deploy", "target": "web-01", "state": "Success", "outputs": []},
            {"step": "Deploy", "target": "web-02", "state": state, "outputs": []}]
    return {"deployment_id": f"Deployments-{n}", "project": {"name": "Acme Web", "slug": "acme-web", "space": "Default"},
            "release_bundle": {"bundle_id": f"bundle-{release}", "digest": "0" * 64, "sequence": n},
            "release": release, "environment": env, "state": state, "started_ms": ms, "ended_ms": ms + 9000,
            "runs": runs, **more}


def _home(tmp_path: Path) -> Path:
    home = tmp_path / "dev"
    zone = init_zone(home, "dev", int(time.time()))
    try:
        with zone.db.transaction() as tx:
            for entry in (_entry(1, "1.0.0", "Staging", "Success"),
                          _entry(2, "1.1.0", "Staging", "Failed"),  # partial: web-01 succeeded
                          _entry(3, "1.0.0", "Production", "Success", waived=["Staging"]),
                          _entry(4, "1.1.0", "Production", "Success", tenant="Globex")):
                remote.record_remote(tx, "prod", "receipt-1", entry, NOW - 3600)
    finally:
        zone.close()
    return home


def _damage(home: Path, *deployment_ids: str) -> None:
    with open_zone(home) as zone, zone.db.transaction() as tx:
        for deployment_id in deployment_ids:
            tx.run("UPDATE remote_deployments SET entry = ? WHERE deployment_id = ?", ('{"deployment_id": "Dep',
                                                                                       deployment_id))


def _terminal(home: Path) -> str:
    r = run_cli("dashboard", home=home, env={"COLUMNS": "1000"})
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_the_grid_of_a_home_with_damaged_entries_is_unchanged_and_the_details_refuse(tmp_path: Path) -> None:
    home = _home(tmp_path)
    damaged = tmp_path / "copy"
    shutil.copytree(home, damaged)
    _damage(damaged, "Deployments-2", "Deployments-4")
    shown = _terminal(home)
    # what the grid shows of the damaged ones: the partial attempt, the tenant's row
    assert "1.1.0 partial" in shown and "Globex" in shown and "1.0.0 succeeded" in shown
    assert _terminal(damaged) == shown
    before = snapshot(damaged)
    r = run_cli("dashboard", "--json", home=damaged)
    error = json.loads(r.stdout)["error"]
    assert (r.returncode, error["code"]) == (1, "state_damaged") and "Traceback" not in r.stderr
    assert "Deployments-2" in error["message"] and "prod" in error["message"] and "backup" in error["message"]
    r = run_cli("dashboard", "--html", tmp_path / "page.html", home=damaged)
    assert r.returncode == 1 and "state_damaged" in r.stdout + r.stderr and not (tmp_path / "page.html").exists()
    assert snapshot(damaged) == before
    # the original, whose entries read, details them
    view = json.loads(run_cli("dashboard", "--json", home=home).stdout)
    assert {d["deployment_id"]: len(d["steps"]) for d in view["deployments"]} == {
        f"Deployments-{n}": 2 for n in (1, 2, 3, 4)}


def _without_steps(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: [] if k == "steps" else _without_steps(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_steps(v) for v in value]
    return value


def test_the_grid_from_columns_is_the_view_from_entries_less_their_steps_on_both_engines(any_zones: Zones) -> None:
    dev = any_zones.dev
    with dev.db.transaction() as tx:
        for entry in (_entry(1, "1.0.0", "Staging", "Success", variables_updated_ms=(NOW - 90000) * 1000),
                      _entry(2, "1.1.0", "Staging", "Failed"),
                      _entry(3, "1.0.0", "Production", "Success", waived=["Staging"]),
                      _entry(4, "1.1.0", "Production", "Success", tenant="Globex"),
                      _entry(5, "1.2.0", "Production", "Failed", waivers=[
                          {"phase": "Staging", "release": "1.2.0", "reason": "CAB-9", "author": "bo",
                           "created_ms": (NOW - 7200) * 1000}])):
            remote.record_remote(tx, "prod", "receipt-1", entry, NOW - 3600)
    grid = build_view(dev, NOW, steps=False).to_dict()
    full = build_view(dev, NOW).to_dict()
    assert sum(len(d["steps"]) for d in full["deployments"]) == 10  # the full view read every entry's runs
    assert {d["deployment_id"]: d["state"] for d in grid["deployments"]} == {
        "Deployments-1": "succeeded", "Deployments-2": "partial", "Deployments-3": "succeeded",
        "Deployments-4": "succeeded", "Deployments-5": "partial"}
    assert grid == _without_steps(full)
