"""Which value of a scoped variable a run sees, observed through the preflight.

Every candidate value refers to a distinct undefined name (``#{Won.<label>}``), so the
preflight's list of unresolved names says exactly which candidate won for each target.
"""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import pytest

from bundlekit.deploy.model import VariableInput
from bundlekit.deploy.targets import LocalFolderTarget
from bundlekit.substitution.scoping import DIMENSIONS
from tests.deploy.test_plan import refusal, request_for, script, var

IN_CONTEXT = {"step": "Deploy", "machine": "web-01", "role": "web", "tenant": "Acme",
              "environment": "Production", "channel": "Stable"}


def candidate(label: str, source: str = "release", **scope: str | set[str]) -> VariableInput:
    return var("Conn", f"#{{Won.{label}}}", False, source, **scope)


def winners(tmp_path: Path, candidates: list[VariableInput],
            targets: tuple[str, ...] = ("web-01",)) -> dict[str, str]:
    """Target name -> label of the winning candidate ('(none)' if nothing applies)."""
    machines = tuple(LocalFolderTarget(name, "Production", frozenset({"web"}), tmp_path / name) for name in targets)
    request = request_for([script("Deploy", "echo #{Conn}")], candidates, targets=machines, tenant="Acme",
                          channel="Stable")
    error = refusal(request, "preflight_unresolved_variables")
    found: dict[str, str] = {}
    for item in error.details:
        name = item["name"]
        found[item["target"]] = name.split(".", 1)[1] if name.startswith("Won.") else "(none)"
    return found


@pytest.mark.parametrize("stronger,weaker", list(combinations(DIMENSIONS, 2)),
                         ids=[f"{a}-beats-{b}" for a, b in combinations(DIMENSIONS, 2)])
def test_each_dimension_beats_every_dimension_after_it(tmp_path: Path, stronger: str, weaker: str) -> None:
    for order in (1, -1):
        pair = [candidate("strong", **{stronger: IN_CONTEXT[stronger]}),
                candidate("weak", **{weaker: IN_CONTEXT[weaker]})][::order]
        assert winners(tmp_path, pair) == {"web-01": "strong"}


@pytest.mark.parametrize("dimension", DIMENSIONS)
def test_every_dimension_beats_unscoped(tmp_path: Path, dimension: str) -> None:
    pair = [candidate("unscoped"), candidate("scoped", **{dimension: IN_CONTEXT[dimension]})]
    assert winners(tmp_path, pair) == {"web-01": "scoped"}


def test_two_dimensions_beat_one_even_the_strongest(tmp_path: Path) -> None:
    pair = [candidate("step", step="Deploy"), candidate("env-channel", environment="Production", channel="Stable")]
    assert winners(tmp_path, pair) == {"web-01": "env-channel"}


def test_a_value_scoped_elsewhere_does_not_apply(tmp_path: Path) -> None:
    values = [candidate("unscoped"), candidate("test", environment="Test"), candidate("other-step", step="Other")]
    assert winners(tmp_path, values) == {"web-01": "unscoped"}


def test_machine_scope_gives_each_target_its_own_value(tmp_path: Path) -> None:
    values = [candidate("web-01", machine="web-01"), candidate("web-02", machine="WEB-02"), candidate("rest")]
    assert winners(tmp_path, values, ("web-01", "web-02", "web-03")) == {
        "web-01": "web-01", "web-02": "web-02", "web-03": "rest"}


@pytest.mark.parametrize("scope", [{}, {"environment": "Production"}, {"machine": "web-01", "role": "web"}],
                         ids=["unscoped", "environment", "machine-and-role"])
def test_a_local_value_beats_a_release_value_of_identical_name_and_scope(tmp_path: Path,
                                                                         scope: dict[str, str]) -> None:
    for order in (1, -1):
        pair = [candidate("release", "release", **scope), candidate("local", "local", **scope)][::order]
        assert winners(tmp_path, pair) == {"web-01": "local"}


def test_a_local_value_also_wins_a_tie_of_equal_specificity_with_another_scope(tmp_path: Path) -> None:
    pair = [candidate("release", "release", environment={"Production", "Test"}),
            candidate("local", "local", environment="production")]
    assert winners(tmp_path, pair) == {"web-01": "local"}


def test_a_more_specific_release_value_still_beats_a_less_specific_local_one(tmp_path: Path) -> None:
    pair = [candidate("local", "local", environment="Production"), candidate("release", "release", machine="web-01")]
    assert winners(tmp_path, pair) == {"web-01": "release"}


def test_an_unbound_placeholder_hides_a_release_value_at_the_same_scope_until_bound(tmp_path: Path) -> None:
    placeholder = var("Conn", None, True, "placeholder")
    assert winners(tmp_path, [candidate("release"), placeholder]) == {"web-01": "(none)"}
    assert winners(tmp_path, [candidate("release"), placeholder, candidate("bound", "local")]) == {"web-01": "bound"}


def test_names_and_scope_values_are_case_insensitive(tmp_path: Path) -> None:
    values = [var("CONN", "#{Won.upper}", environment="PRODUCTION"), var("conn", "#{Won.lower}")]
    assert winners(tmp_path, values) == {"web-01": "upper"}


def test_two_local_values_that_tie_are_refused_not_a_coin_toss(tmp_path: Path) -> None:
    request = request_for([script("Deploy", "echo #{Conn}")],
                          [candidate("a", "local", role="web"), candidate("b", "local", role={"web", "db"})],
                          targets=(LocalFolderTarget("web-01", "Production", frozenset({"web"}), tmp_path),))
    refusal(request, "preflight_ambiguous_variable")
