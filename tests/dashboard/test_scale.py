"""The dashboard of a zone with long histories (decision 741): superseded attempts are counted,
not listed; the page details at most DETAIL_LIMIT deployments, failures first; the terminal and
the grid read no steps."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from bundlekit.dashboard.html import DETAIL_LIMIT, detailed, render_html
from bundlekit.dashboard.model import build_view
from bundlekit.dashboard.text import render_text
from bundlekit.dashboard.view import CellView, DashboardView, DeploymentView, HopView, ProjectRow, StepView
from bundlekit.zone import remote
from bundlekit.zone.home import init_zone

from tests.conftest import raises_code

from .dom import grid_cells, parse, release
from .sample import NOW

ZONE_ID = "ab" * 16


def _entry(n: int, state: str, env: str = "Production") -> dict:  # type: ignore[type-arg]
    ms = int((NOW - 86400 + n * 60) * 1000)
    return {"deployment_id": f"Deployments-{n}", "project": {"name": "Acme", "slug": "acme", "space": "Default"},
            "release_bundle": {"bundle_id": f"{n:032x}", "digest": hashlib.sha256(b"%d" % n).hexdigest(),
                               "sequence": n},
            "release": f"1.{n}.0", "environment": env, "state": state, "started_ms": ms, "ended_ms": ms + 5000,
            "runs": [{"step": "Deploy", "state": state, "started_ms": ms, "ended_ms": ms + 5000, "exit_code": 0,
                      "outputs": []}]}


def test_a_cell_lists_its_latest_last_success_and_failures_and_counts_the_superseded(tmp_path: Path) -> None:
    zone = init_zone(tmp_path / "dev", "dev", int(time.time()))
    states = ["Success", "Success", "Failed", "Success", "Success"]  # 1 .. 5; 5 is the latest
    with zone.db.transaction() as tx:
        for n, state in enumerate(states, 1):
            remote.record_remote(tx, ZONE_ID, "r" * 32, _entry(n, state), int(NOW))
    view = build_view(zone, NOW)
    (row,) = view.projects
    (cell,) = row.cells
    assert cell is not None and cell.latest is not None and cell.previous_success is not None
    assert (cell.latest.deployment_id, cell.previous_success.deployment_id) == ("Deployments-5", "Deployments-4")
    assert [f.deployment_id for f in cell.failures] == ["Deployments-3"]
    assert sorted(d.deployment_id for d in view.deployments) == ["Deployments-3", "Deployments-4", "Deployments-5"]
    assert view.older == {"succeeded": 2}
    assert all(d.steps for d in view.deployments)
    assert "5 deployment(s): 4 succeeded, 1 failed" in render_text(view, NOW)
    chips = [li.text().strip() for li in parse(render_html(view, NOW)).by_class("chip")]
    assert chips == ["\u2716 1 failed", "\u2714 4 succeeded"]
    # The terminal reads no steps; the page only those it details.
    assert not any(d.steps for d in build_view(zone, NOW, steps=False).deployments)
    picked = build_view(zone, NOW, steps=lambda ds: {d.key for d in ds if d.state == "failed"}).deployments
    assert {d.deployment_id: bool(d.steps) for d in picked} == {"Deployments-3": True, "Deployments-4": False,
                                                                "Deployments-5": False}


def _dep(n: int, state: str) -> DeploymentView:
    step = StepView("Deploy", None, "Failed" if state == "failed" else "Success", NOW, NOW + 1, 0, f"log {n}\n", (),
                    None)
    return DeploymentView(f"Deployments-{n}", "Acme", "acme", "1.0", "prod", f"Env{n:03d}", state,
                          NOW - 10_000 + n, NOW - 9_000 + n, (step,), NOW)


def test_the_page_details_the_failures_then_the_newest_and_counts_every_other() -> None:
    deps = [_dep(n, "failed" if n % 10 == 0 else "succeeded") for n in range(1, DETAIL_LIMIT + 21)]
    columns = tuple(("prod", d.environment) for d in deps)
    row = ProjectRow("Acme", "acme", tuple(CellView("prod", d.environment, d, None, None) for d in deps))
    view = DashboardView("dev", "z", NOW, columns, (row,), tuple(deps))
    keys = detailed(deps)
    failed = {d.key for d in deps if d.state == "failed"}
    assert len(keys) == DETAIL_LIMIT and failed <= keys
    newest = sorted((d for d in deps if d.state == "succeeded"), key=lambda d: d.started or 0)[-(DETAIL_LIMIT - 7):]
    assert keys == failed | {d.key for d in newest}
    doc = parse(render_html(view, NOW))
    sections = [s for s in doc.by_tag("section") if "deployment" in (s.attrs.get("class") or "").split()]
    assert len(sections) == DETAIL_LIMIT
    assert "20 more deployment(s)" in doc.by_class("omitted-deps")[0].text()
    cells = grid_cells(doc)
    for d in deps:
        cell = cells[("acme", "prod", d.environment)]
        links = cell.by_tag("a")
        if d.key in keys:  # a detailed deployment's card links to its section
            assert links and doc.by_id((links[0].attrs["href"] or "")[1:]) is not None
        else:
            assert not links and release(cell) == "1.0" and cell.attrs["data-state"] == d.state
    failures = doc.by_id("failures")
    assert failures is not None and len(failures.by_tag("li")) == len(failed) == len(failures.by_tag("a"))
    assert f"{len(deps)} deployment(s)" in render_text(view, NOW)


def test_the_path_and_the_superseded_counts_survive_the_json_and_a_wrong_hop_is_refused() -> None:
    path = (HopView("dev", "exported", int(NOW) - 600), HopView("staging", "relayed", int(NOW) - 60),
            HopView("prod", "deployed", NOW - 300.25))
    d = _dep(1, "succeeded")
    d = DeploymentView(d.deployment_id, d.project, d.project_slug, d.release, d.zone, d.environment, d.state,
                       d.started, d.ended, d.steps, d.receipt_received, path=path)
    row = ProjectRow("Acme", "acme", (CellView("prod", d.environment, d, None, None),))
    view = DashboardView("dev", "z", NOW, (("prod", d.environment),), (row,), (d,), {"succeeded": 3})
    data = json.loads(json.dumps(view.to_dict()))
    assert data["deployments"][0]["path"] == [{"zone": "dev", "event": "exported", "at": int(NOW) - 600},
                                              {"zone": "staging", "event": "relayed", "at": int(NOW) - 60},
                                              {"zone": "prod", "event": "deployed", "at": NOW - 300.25}]
    assert data["older"] == {"succeeded": 3} and data["spaces"] == ["Default"]
    back = DashboardView.from_dict(data)
    assert back.deployments[0].path == path and back.older == {"succeeded": 3}
    assert isinstance(back.deployments[0].path[0].at, int)
    data["deployments"][0]["path"][1]["event"] = "teleported"
    with raises_code("invalid_dashboard_view", match=r"dashboard\.deployments\[0\]\.path\[1\]\.event"):
        DashboardView.from_dict(data)
    data["deployments"][0]["path"][1]["event"] = "relayed"
    data["older"] = {"succeeded": -1}
    with raises_code("invalid_dashboard_view", match=r"dashboard\.older"):
        DashboardView.from_dict(data)


def test_a_refusal_relayed_back_answers_the_export_to_the_relay(tmp_path: Path) -> None:
    """dev sent a release to staging, which relayed it to prod; prod refused it, and its receipt
    came back relayed by staging: nothing awaits in staging, the refusal shows as prod's."""
    from bundlekit.zone import exports, refusals, sequences

    zone = init_zone(tmp_path / "dev", "dev", int(time.time()))
    staging_id, prod_id, bundle, receipt = "5" * 32, "7" * 32, "b" * 32, "r" * 32
    with zone.db.transaction() as tx:
        exports.record_export(tx, exports.ExportRecord(
            bundle_id=bundle, digest="d" * 64, dest_zone_id=staging_id, dest_name="staging", sequence=1,
            project="Acme", project_slug="acme", space="Default", release="1.4.0", channel="Default",
            created=int(NOW) - 900, expires=int(NOW) + 86400, exported_at=int(NOW) - 900, path="/media/a.bundle"))
        refusals.record_remote(tx, prod_id, receipt, {
            "refusal_id": "Refusals-1", "release_bundle": {"bundle_id": bundle, "digest": "d" * 64, "sequence": 1},
            "project": {"name": "Acme", "slug": "acme", "space": "Default"}, "release": "1.4.0",
            "code": "rollback", "message": "older than the last imported", "refused_ms": int(NOW - 600) * 1000},
            int(NOW))
        sequences.record_incoming(tx, sequences.receipt_key(prod_id), 1, "e" * 64, bundle_id=receipt,
                                  source_zone_id=prod_id, project_slug="", release="", now=int(NOW),
                                  plan=remote.receipt_plan([], [{"zone_id": staging_id, "name": "staging",
                                                                 "relayed": int(NOW) - 300, "known": True}]))
    view = build_view(zone, NOW)
    assert view.columns == ((prod_id, "(awaiting)"),)  # prod is not trusted here: named by its id
    (row,) = view.projects
    (cell,) = row.cells
    assert cell is not None and [(f.state, f.reason) for f in cell.failures] == [
        ("refused", "[rollback] older than the last imported")]
    assert not any(d.state == "exported" for d in view.deployments)
