"""A size budget for the dashboard page (decision 875): what one more grid cell adds to the page,
in bytes, stays under :data:`CELL_BUDGET`, so 200 projects x 20 environments x 5 zones (20,000
cells) stay under 2 MiB. Bytes are deterministic: no time is measured here (the benchmark,
``bench/bench_dashboard.py``, measures both)."""

from __future__ import annotations

from bundlekit.dashboard.html import detailed, render_html
from bundlekit.dashboard.view import CellView, DashboardView, DeploymentView, HopView, ProjectRow

from .dom import grid_cells, parse, release

NOW = 1_800_000_000.0
ZONES = ("staging", "prod", "dr", "pci", "eu")
ENVIRONMENTS = tuple(f"Env{e:02d}" for e in range(20))
#: Bytes of page a cell may add, its share of its row and of the relayed paths included:
#: 20,000 cells of 100 bytes are 1.91 MiB, and the rest of the page (style, header, the sections
#: of the 50 deployments it details) is about 0.12 MiB.
CELL_BUDGET = 100


def _view(projects: int) -> DashboardView:
    """A history shaped like the benchmark's: three releases deployed in every cell, one
    deployment in seven failed, the zones after the first reached through it."""
    columns = tuple((z, e) for z in ZONES for e in ENVIRONMENTS)
    rows, deployments, n = [], [], 0
    for p in range(projects):
        slug, cells = f"project-{p:03d}", []
        for zone, env in columns:
            attempts = []
            for k in range(3):
                n += 1
                t = NOW - (3 - k) * 86400 + p * 10
                path = () if zone == ZONES[0] else (HopView("dev", "exported", int(t) - 600),
                                                     HopView(ZONES[0], "relayed", int(t) + 1800),
                                                     HopView(zone, "deployed", t))
                attempts.append(DeploymentView(f"Deployments-{n}", f"Project {p:03d}", slug, f"1.{k}.0", zone, env,
                                               "failed" if n % 7 == 0 else "succeeded", t, t + 15, (), t + 3600,
                                               path=path))
            latest = attempts[-1]
            prev = next((d for d in reversed(attempts[:-1]) if d.state == "succeeded"), None)
            failures = tuple(d for d in reversed(attempts[:-1]) if d.state == "failed")
            cells.append(CellView(zone, env, latest, prev, latest.started, failures))
            deployments.extend(d for d in (latest, prev, *failures) if d is not None)
        rows.append(ProjectRow(f"Project {p:03d}", slug, tuple(cells)))
    return DashboardView("dev", "z-dev", NOW, columns, tuple(rows), tuple(deployments))


def _page(projects: int) -> str:
    view = _view(projects)
    keys = detailed(view.deployments)  # the page as `dashboard` writes it: steps of those it details only
    shown = DashboardView(view.zone_name, view.zone_id, view.generated, view.columns, view.projects,
                          tuple(d for d in view.deployments if d.key in keys))
    return render_html(shown, NOW)


def test_size_budget_each_grid_cell_adds_at_most_100_bytes_to_the_page() -> None:
    small, large = _page(4), _page(8)
    cells = 4 * len(ZONES) * len(ENVIRONMENTS)
    per_cell = (len(large.encode("utf-8")) - len(small.encode("utf-8"))) / cells
    assert per_cell <= CELL_BUDGET, f"a grid cell adds {per_cell:.1f} bytes to the page (size budget {CELL_BUDGET})"
    # What the budget keeps is still there: every cell, found by its row and column, with its state and release.
    found = grid_cells(parse(large))
    assert len(found) == 2 * cells
    cell = found[("project-007", "dr", "Env13")]
    assert cell.attrs["data-state"] in ("succeeded", "failed") and release(cell) == "1.2.0"
