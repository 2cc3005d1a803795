"""The terminal grid: readable cells, fits the terminal, safe against hostile names."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bundlekit.dashboard.text import render_text
from bundlekit.dashboard.view import CellView, DashboardView, DeploymentView, ProjectRow

from .sample import NOW, sample_view


def _row(text: str, project: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(project))


def test_empty_dashboard_prints_a_helpful_line() -> None:
    view = DashboardView("dev", "z-1", NOW, (), (), ())
    out = render_text(view, NOW)
    assert "Nothing to show yet" in out
    assert "bundlekit export" in out
    assert out.endswith("\n")


def test_one_row_per_project_and_one_column_per_zone_environment() -> None:
    out = render_text(sample_view(), NOW)
    header = next(line for line in out.splitlines() if line.startswith("Project"))
    assert header.split() == ["Project", "dev/Development", "prod/Staging", "prod/Production"]
    for project in ("Acme Web", "Billing API", "Reports"):
        assert sum(line.startswith(project) for line in out.splitlines()) == 1


def test_cells_line_up_under_their_column_headers() -> None:
    out = render_text(sample_view(), NOW)
    header = next(line for line in out.splitlines() if line.startswith("Project"))
    billing = _row(out, "Billing API")
    assert billing.index("2.1.0 failed") == header.index("prod/Staging")
    assert billing.index("2.0.3 partial") == header.index("prod/Production")


def test_exported_cell_shows_its_age_since_export() -> None:
    out = render_text(sample_view(), NOW)
    assert "1.4.0 exported 3h ago" in _row(out, "Acme Web")


def test_succeeded_and_failed_cells_show_state_and_age() -> None:
    out = render_text(sample_view(), NOW)
    assert "2.1.0 succeeded 5h ago" in _row(out, "Billing API")
    assert "2.1.0 failed 3h ago" in _row(out, "Billing API")
    assert "0.9.0 running, started 4m ago" in _row(out, "Reports")


def test_previous_success_is_shown_under_the_cell_it_belongs_to() -> None:
    lines = render_text(sample_view(), NOW).splitlines()
    header = next(line for line in lines if line.startswith("Project"))
    i = lines.index(_row("\n".join(lines), "Billing API"))
    below = lines[i + 1]
    assert below.index("prev ok 2.0.3") == header.index("prod/Staging")
    assert below.index("prev ok 2.0.2") == header.index("prod/Production")


def test_previous_success_that_is_the_latest_itself_is_not_repeated() -> None:
    view = sample_view()
    acme = view.projects[0]
    dev = acme.cells[0]
    assert dev is not None and dev.latest == dev.previous_success
    only_dev = replace(view, columns=view.columns[:1], projects=(replace(acme, cells=(dev,)),))
    assert "prev ok" not in render_text(only_dev, NOW)


def test_missing_cells_show_a_dash() -> None:
    row = _row(render_text(sample_view(), NOW), "Reports")
    assert row.split()[-2:] == ["-", "-"]


@pytest.mark.parametrize("width", [120, 80, 60, 44, 30, 12, 3])
def test_no_line_is_wider_than_the_terminal(width: int) -> None:
    out = render_text(sample_view(), NOW, width=width)
    assert all(len(line) <= width for line in out.splitlines()), out


def test_narrow_terminal_truncates_cells_with_an_ellipsis_and_keeps_the_grid() -> None:
    out = render_text(sample_view(), NOW, width=60)
    assert "…" in out
    assert "Billing API" in out and "2.1.0" in out


def test_columns_that_cannot_fit_are_named_instead_of_cut_in_half() -> None:
    out = render_text(sample_view(), NOW, width=34)
    assert "1 more column(s) not shown" in out or "2 more column(s) not shown" in out
    header = next(line for line in out.splitlines() if line.startswith("Project"))
    assert "prod/Production" not in header


def test_wide_terminal_changes_nothing() -> None:
    assert render_text(sample_view(), NOW, width=500) == render_text(sample_view(), NOW)


def test_no_colour_codes_unless_asked() -> None:
    assert "\x1b" not in render_text(sample_view(), NOW)
    coloured = render_text(sample_view(), NOW, color=True)
    assert "\x1b[31m2.1.0 failed" in coloured
    assert "\x1b[32m" in coloured


def test_escape_sequences_in_names_cannot_reach_the_terminal() -> None:
    hostile = "evil\x1b]0;pwned\x07\x1b[2J\u202enoisrev"
    dep = DeploymentView("d1", hostile, "evil", "1.0\x1b[31m", "prod", "Production", "failed",
                         NOW - 60, NOW - 30, (), None)
    view = DashboardView(hostile, "z\r\n", NOW, (("prod", "Production\x1b[1m"),),
                         (ProjectRow(hostile, "evil", (CellView("prod", "Production", dep, None, None),)),), ())
    out = render_text(view, NOW)
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out and "\r" not in out
    assert "evil\\x1b]0;pwned\\x07\\x1b[2J\\u202enoisrev" in out


def test_wide_characters_keep_columns_aligned() -> None:
    view = sample_view()
    renamed = replace(view, projects=(replace(view.projects[0], name="配置サービス"),) + view.projects[1:])
    lines = render_text(renamed, NOW).splitlines()
    header = next(line for line in lines if line.startswith("Project"))
    row = next(line for line in lines if line.startswith("配置サービス"))
    # 6 wide characters take 12 terminal columns: the cell starts 6 characters earlier.
    assert row.index("1.4.0 succeeded") == header.index("dev/Development") - 6


def test_header_counts_every_attempt_and_cells_say_how_many_failed_before() -> None:
    view = sample_view()
    billing = view.projects[1]
    staging = billing.cells[1]
    assert staging is not None and staging.latest is not None
    earlier = replace(staging.latest, deployment_id="dep-0099", started=NOW - 10 * 3600)
    cells = (billing.cells[0], replace(staging, failures=(earlier,)), billing.cells[2])
    changed = replace(view, projects=(view.projects[0], replace(billing, cells=cells), view.projects[2]),
                      deployments=view.deployments + (earlier,))
    out = render_text(changed, NOW)
    assert ("11 deployment(s): 7 succeeded, 2 failed, 1 partial, 1 running; 1 export(s) awaiting a receipt; "
            "to look at: 3 (2 failed, 1 partial)") in out
    assert "+1 failed before" in out


def test_an_earlier_refused_import_reads_refused_in_its_zone_with_its_code_not_failed() -> None:
    """Finding: a cell awaiting 1.3.0 whose 1.2.0 import was refused read "+1 failed before"."""
    view = sample_view()
    billing = view.projects[1]
    staging = billing.cells[1]
    assert staging is not None and staging.latest is not None
    refused = replace(staging.latest, deployment_id="ref-0001", release="1.2.0", state="refused",
                      reason="[rollback] a newer release was imported", zone="staging", steps=())
    cells = (billing.cells[0], replace(staging, failures=(refused,)), billing.cells[2])
    changed = replace(view, projects=(view.projects[0], replace(billing, cells=cells), view.projects[2]),
                      deployments=view.deployments + (refused,))
    out = render_text(changed, NOW, width=400)
    assert "1.2.0 refused in staging: rollback" in out
    assert "failed before" not in out
    assert "1 import(s) refused" in out
