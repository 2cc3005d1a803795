"""The view model: valid by construction, lossless JSON round trip, secrets cannot enter it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bundlekit.dashboard.view import (
    MASK,
    CellView,
    DashboardView,
    DeploymentView,
    OutputView,
    ProjectRow,
    StepView,
    cell_time,
    format_duration,
    relative_age,
)

from .sample import NOW, SECRET, sample_view
from tests.conftest import raises_code


def test_sample_view_round_trips_through_json_unchanged() -> None:
    view = sample_view()
    again = DashboardView.from_dict(json.loads(json.dumps(view.to_dict())))
    assert again == view


texts = st.text(max_size=12)
times = st.none() | st.floats(min_value=0, max_value=4e9, allow_nan=False)
outputs = st.builds(OutputView, texts, texts, st.booleans(), st.booleans())
steps = st.builds(StepView, texts, st.none() | texts, st.sampled_from(["Success", "Failed", "Skipped", "Pending"]),
                  times, times, st.none() | st.integers(-255, 255), texts, st.tuples(outputs) | st.just(()),
                  st.none() | texts)
deployments = st.builds(DeploymentView, texts, texts, texts, texts, texts, texts,
                        st.sampled_from(["exported", "succeeded", "failed", "partial", "running"]), times, times,
                        st.lists(steps, max_size=3).map(tuple), times)


@st.composite
def dashboards(draw: Any) -> DashboardView:
    columns = tuple(draw(st.lists(st.tuples(texts, texts), max_size=3)))
    cell = st.none() | st.builds(CellView, texts, texts, st.none() | deployments, st.none() | deployments, times)
    rows = draw(st.lists(st.builds(ProjectRow, texts, texts, st.tuples(*[cell] * len(columns))), max_size=3))
    return DashboardView(draw(texts), draw(texts), NOW, columns, tuple(rows),
                         tuple(draw(st.lists(deployments, max_size=2))))


@settings(max_examples=60, deadline=None)
@given(dashboards())
def test_any_view_round_trips_through_json(view: DashboardView) -> None:
    assert DashboardView.from_dict(json.loads(json.dumps(view.to_dict()))) == view


def test_sensitive_output_never_holds_the_secret_even_if_the_builder_forgets_to_mask() -> None:
    out = OutputView("DbPassword", SECRET, True)
    assert out.value == MASK
    assert SECRET not in json.dumps(out.to_dict())
    assert OutputView.from_dict({"name": "x", "value": SECRET, "sensitive": True}).value == MASK
    assert OutputView("Port", "8080", False).value == "8080"


def test_a_withheld_output_carries_no_value_even_if_the_builder_gives_one() -> None:
    """Withheld by the deploying zone's egress policy: a name, the word withheld, nothing else."""
    out = OutputView("ApiToken", SECRET, True, withheld=True)
    assert (out.value, out.sensitive) == ("", False)
    assert out.to_dict() == {"name": "ApiToken", "value": None, "sensitive": False, "withheld": True}
    assert OutputView.from_dict(out.to_dict()) == out
    with raises_code("invalid_dashboard_view"):
        OutputView.from_dict({"name": "x", "value": SECRET, "sensitive": False, "withheld": True})
    assert OutputView.from_dict({"name": "Port", "value": "8080", "sensitive": False}).withheld is False


def test_unknown_deployment_state_is_refused_with_a_stable_code() -> None:
    with raises_code("invalid_dashboard_view") as e:
        DeploymentView("d1", "P", "p", "1.0", "prod", "Production", "done", None, None, (), None)
    assert "exported" in e.value.message  # names what is allowed


def test_unknown_step_state_is_refused() -> None:
    with raises_code("invalid_dashboard_view"):
        StepView("Deploy", None, "Executing", None, None, None, "", (), None)


def test_row_with_a_cell_count_other_than_the_columns_is_refused() -> None:
    with raises_code("invalid_dashboard_view") as e:
        DashboardView("dev", "z", NOW, (("prod", "Production"),), (ProjectRow("P", "p", (None, None)),), ())
    assert "project 'p'.cells" in e.value.message


@pytest.mark.parametrize("mutate, path", [
    (lambda d: d.pop("zone_name"), "dashboard.zone_name"),
    (lambda d: d.__setitem__("generated", "yesterday"), "dashboard.generated"),
    (lambda d: d["columns"].__setitem__(0, ["prod"]), "dashboard.columns[0]"),
    (lambda d: d["projects"][1]["cells"][1]["latest"].__setitem__("state", "exploded"),
     "dashboard.projects[1].cells[1].latest.state"),
    (lambda d: d["deployments"][1]["steps"][0].__setitem__("exit_code", "1"),
     "dashboard.deployments[1].steps[0].exit_code"),
    (lambda d: d["deployments"][0].__setitem__("started", float("nan")), "dashboard.deployments[0].started"),
    (lambda d: d.__setitem__("projects", {}), "dashboard.projects"),
])
def test_malformed_json_view_names_the_key_path(mutate: Any, path: str) -> None:
    d = sample_view().to_dict()
    mutate(d)
    with raises_code("invalid_dashboard_view") as e:
        DashboardView.from_dict(d)
    assert path in e.value.message


def test_relative_age_reads_like_a_person_and_tolerates_clock_skew() -> None:
    assert relative_age(NOW - 20, NOW) == "just now"
    assert relative_age(NOW - 5 * 60, NOW) == "5m ago"
    assert relative_age(NOW - 3 * 3600, NOW) == "3h ago"
    assert relative_age(NOW - 59.7 * 60, NOW) == "1h ago"
    assert relative_age(NOW - 2 * 86400 + 30, NOW) == "2d ago"
    assert relative_age(NOW - 400 * 86400, NOW) == "13mo ago"
    assert relative_age(NOW - 700 * 86400, NOW) == "23mo ago"
    assert relative_age(NOW - 740 * 86400, NOW) == "2y ago"  # from 24 months on, years
    assert relative_age(NOW + 35_000 * 86400, NOW) == "in 96y"  # an expiry a century away (v1015 F9)
    assert relative_age(NOW + 2 * 3600, NOW) == "in 2h"  # the other zone's clock runs ahead


def test_duration_formats_and_unknown_ends() -> None:
    assert format_duration(0, 0.25) == "250ms"
    assert format_duration(0, 42.9) == "42s"
    assert format_duration(0, 185) == "3m 05s"
    assert format_duration(0, 3720) == "1h 02m"
    assert format_duration(None, 5) == ""
    assert format_duration(10, 5) == ""


def test_cell_age_counts_from_export_while_awaiting_receipt() -> None:
    view = sample_view()
    exported = view.projects[0].cells[2]
    assert exported is not None and exported.latest is not None and exported.latest.state == "exported"
    assert cell_time(exported) == exported.exported_at
    failed = view.projects[1].cells[1]
    assert failed is not None and failed.latest is not None
    assert cell_time(failed) == failed.latest.ended
