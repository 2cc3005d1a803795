"""Deploy failures through the real CLI: caught in preflight, or failed and reported as failed.

Each scenario has its own world (zones, targets, imported release), so every test passes alone
and in any order: the unbound placeholder needs a zone where nobody bound it, the dry run one
where it is bound, and the failed deployment (with the dashboard and browser tests that read
its result) one that has deployed a failing release.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import run_cli, snapshot
from tests.dashboard.dom import grid_cells, parse, release
from tests.dashboard.test_browser import ARTIFACTS, run_chromium
from tests.e2e.world import World, json_of, make_world


def _imported(tmp_path_factory: pytest.TempPathFactory, name: str) -> World:
    w = make_world(tmp_path_factory.mktemp(name))
    w.cli("import", w.export("acme-1.4.0.bundle"), home=w.prod)
    return w


@pytest.fixture(scope="module")
def unbound(tmp_path_factory: pytest.TempPathFactory) -> World:
    """Release 1.4.0 imported; its placeholder Acme.ApiKey bound by nobody."""
    return _imported(tmp_path_factory, "unbound")


@pytest.fixture(scope="module")
def bound(tmp_path_factory: pytest.TempPathFactory) -> World:
    """Release 1.4.0 imported and its placeholder bound; nothing deployed."""
    w = _imported(tmp_path_factory, "bound")
    w.cli("variables", "set", "acme-web", "Acme.ApiKey", "k-dry-run", "--sensitive", home=w.prod)
    return w


@dataclass
class FailedDeploy:
    world: World
    deploy: subprocess.CompletedProcess[str]
    receipt: Path


@pytest.fixture(scope="module")
def failed(tmp_path_factory: pytest.TempPathFactory) -> FailedDeploy:
    """Release 1.5.0, whose smoke test fails, deployed in prod and its receipt imported in dev."""
    w = _imported(tmp_path_factory, "failed")
    w.cli("variables", "set", "acme-web", "Acme.ApiKey", "k-failing", "--sensitive", home=w.prod)
    w.set_version("1.4.0", "1.5.0")
    rel = w.release_dir / "release.toml"
    rel.write_text(rel.read_text().replace('assert schema == "42", schema', 'assert schema == "43", schema'))
    w.cli("import", w.export("acme-1.5.0.bundle"), home=w.prod)
    receipt = w.root / "media" / "receipt-fail.bundle"
    r = run_cli("deploy", "acme-web", "1.5.0", "--environment", "Production", "--receipt-out", receipt, home=w.prod)
    if receipt.exists():
        w.cli("import", receipt, home=w.dev)
    return FailedDeploy(w, r, receipt)


def test_unbound_placeholder_stops_deploy_before_anything_runs(unbound: World) -> None:
    targets = unbound.root / "targets"
    before = snapshot(targets)
    r = run_cli("deploy", "acme-web", "1.4.0", "--environment", "Production", "--json", home=unbound.prod)
    assert r.returncode == 5
    err = json_of(r.stdout)["error"]
    assert err["code"] == "preflight_unresolved_variables" and "Acme.ApiKey" in err["message"]
    assert any(d["name"] == "Acme.ApiKey" for d in err["details"])
    assert snapshot(targets) == before
    listed = json_of(run_cli("deployments", "list", "--json", home=unbound.prod).stdout)["deployments"]
    assert [d["state"] for d in listed] == ["Failed"]  # recorded, and reported back, although nothing ran
    shown = json_of(run_cli("deployments", "show", listed[0]["id"], "--json", home=unbound.prod).stdout)
    [run] = shown["record"]["runs"]
    assert run["step"] == "(preflight)" and "[preflight_unresolved_variables]" in run["reason"]
    assert "Acme.ApiKey" in run["reason"] and "Recorded as" not in run["reason"]
    # the refusal itself says it was recorded (new-user review 38, F4)
    assert (f"(Recorded as {listed[0]['id']}, Failed before any step ran; its receipt entry tells the source zone "
            "that this deployment did not happen; --dry-run checks without recording.)") in err["message"], err
    pending = json_of(run_cli("outbox", "list", "--json", home=unbound.prod).stdout)["pending"]
    assert [(e["deployment_id"], e["state"]) for e in pending] == [(listed[0]["id"], "Failed")]


def test_dry_run_prints_plan_and_runs_nothing(bound: World) -> None:
    before = snapshot(bound.root / "targets")
    home_before = snapshot(bound.prod)
    r = run_cli("deploy", "acme-web", "1.4.0", "--environment", "Production", "--dry-run", "--json", home=bound.prod)
    assert r.returncode == 0, r.stderr
    plan = json_of(r.stdout)["plan"]
    assert [(x["step"], x["target"]) for x in plan["runs"]] == [
        ("Run migrations", "db-01"), ("Deploy web", "web-01"), ("Smoke test", "web-01")]
    assert "k-dry-run" not in r.stdout
    assert snapshot(bound.root / "targets") == before and snapshot(bound.prod) == home_before


def test_failed_deploy_shows_failed_with_failing_step_on_source_dashboard(failed: FailedDeploy) -> None:
    w, r = failed.world, failed.deploy
    assert r.returncode == 5 and "deploy_failed" in r.stderr and failed.receipt.exists()
    view = json_of(run_cli("dashboard", "--json", home=w.dev).stdout)
    row = next(p for p in view["projects"] if p["slug"] == "acme-web")
    cell = row["cells"][view["columns"].index(["prod", "Production"])]
    assert cell["latest"]["state"] == "failed" and cell["latest"]["release"] == "1.5.0"
    steps = {s["step"]: s for s in cell["latest"]["steps"]}
    assert steps["Smoke test"]["state"] == "Failed" and "AssertionError" in steps["Smoke test"]["log"]
    text = run_cli("dashboard", home=w.dev).stdout
    assert "failed" in text and "1.5.0" in text


def test_browser_shows_the_real_round_trip_dashboard(failed: FailedDeploy, tmp_path: Path) -> None:
    w = failed.world
    page = w.root / "dashboard.html"
    assert run_cli("dashboard", "--html", page, home=w.dev).returncode == 0
    doc = parse(run_chromium(tmp_path, "--dump-dom", page.as_uri()))
    cells = grid_cells(doc)
    cell = cells[("acme-web", "prod", "Production")]
    assert cell.attrs["data-state"] == "failed"
    assert release(cell) == "1.5.0"
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "roundtrip-dashboard.png"
    run_chromium(tmp_path, f"--screenshot={shot}", "--window-size=1400,900", page.as_uri())
    assert shot.stat().st_size > 10_000
