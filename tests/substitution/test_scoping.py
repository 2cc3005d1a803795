"""Scoped variable selection: the precedence table, OR within / AND across dimensions,
ties refused, and Hypothesis properties of select()."""

from __future__ import annotations

from itertools import combinations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bundlekit.substitution import SubstitutionError
from bundlekit.substitution.scoping import (
    DIMENSIONS,
    ScopeContext,
    ScopedValue,
    ambiguities,
    matches,
    resolve,
    select,
    specificity,
)
from tests.conftest import raises_code

# A context where every dimension has a value, so any single-dimension scope below matches.
FULL = ScopeContext(environment="Production", roles=frozenset({"web", "api"}), machine="web-01", step="Deploy",
                    channel="Stable", tenant="Acme")
VALUE_IN_FULL = {"step": "Deploy", "machine": "web-01", "role": "web", "tenant": "Acme",
                 "environment": "Production", "channel": "Stable"}


def sv(value: str, **scope: set[str] | str) -> ScopedValue:
    clean = {dim: frozenset({v} if isinstance(v, str) else v) for dim, v in scope.items()}
    return ScopedValue("Conn", value, scope=clean)


@pytest.mark.parametrize("stronger,weaker", list(combinations(DIMENSIONS, 2)),
                         ids=[f"{a}-beats-{b}" for a, b in combinations(DIMENSIONS, 2)])
def test_each_dimension_beats_the_ones_after_it(stronger: str, weaker: str) -> None:
    a = sv("strong", **{stronger: VALUE_IN_FULL[stronger]})
    b = sv("weak", **{weaker: VALUE_IN_FULL[weaker]})
    assert select([b, a], FULL) is a
    assert select([a, b], FULL) is a


@pytest.mark.parametrize("dim", DIMENSIONS)
def test_every_dimension_beats_unscoped(dim: str) -> None:
    scoped = sv("scoped", **{dim: VALUE_IN_FULL[dim]})
    assert select([sv("fallback"), scoped], FULL) is scoped


def test_two_dimensions_beat_one_even_the_strongest() -> None:
    two = sv("two", environment="Production", channel="Stable")
    one = sv("one", step="Deploy")
    assert select([one, two], FULL) is two


def test_three_dimensions_beat_two() -> None:
    three = sv("three", environment="Production", channel="Stable", tenant="Acme")
    two = sv("two", step="Deploy", machine="web-01")
    assert select([two, three], FULL) is three


def test_with_equal_counts_the_precedence_order_decides() -> None:
    step_env = sv("a", step="Deploy", environment="Production")
    machine_role = sv("b", machine="web-01", role="web")
    assert select([machine_role, step_env], FULL) is step_env


def test_or_within_a_dimension() -> None:
    v = sv("x", environment={"Test", "Production"})
    assert matches(v, ScopeContext(environment="Production"))
    assert matches(v, ScopeContext(environment="Test"))
    assert not matches(v, ScopeContext(environment="Development"))


def test_and_across_dimensions() -> None:
    v = sv("x", environment="Production", role="web")
    assert matches(v, ScopeContext(environment="Production", roles=frozenset({"web"})))
    assert not matches(v, ScopeContext(environment="Production", roles=frozenset({"db"})))
    assert not matches(v, ScopeContext(environment="Development", roles=frozenset({"web"})))


def test_role_matches_any_of_the_machines_roles() -> None:
    v = sv("x", role={"worker", "web"})
    assert matches(v, ScopeContext(roles=frozenset({"db", "web"})))
    assert not matches(v, ScopeContext(roles=frozenset({"db"})))
    assert not matches(v, ScopeContext())


def test_matching_is_case_insensitive() -> None:
    v = sv("x", environment="production", machine="WEB-01", role="Web")
    assert matches(v, ScopeContext(environment="PRODUCTION", machine="web-01", roles=frozenset({"WEB"})))


def test_scoped_value_never_matches_a_context_without_that_dimension() -> None:
    assert not matches(sv("x", tenant="Acme"), ScopeContext(environment="Production"))
    assert matches(sv("x"), ScopeContext())


def test_nothing_matching_gives_none() -> None:
    assert select([sv("x", environment="Test")], ScopeContext(environment="Production")) is None
    assert select([], FULL) is None


def test_tie_between_different_values_is_refused() -> None:
    a = sv("a", environment="Production")
    b = sv("b", environment={"Production", "Test"})
    with raises_code("ambiguous_variable") as info:
        select([a, b], FULL)
    assert "Conn" in info.value.message


def test_tie_between_identical_values_is_harmless() -> None:
    a = sv("same", environment="Production")
    b = sv("same", environment="Production")
    assert select([a, b], FULL) is a


def test_tie_only_in_a_context_with_both_roles() -> None:
    web, api = sv("w", role="web"), sv("a", role="api")
    assert select([web, api], ScopeContext(roles=frozenset({"web"}))) is web
    with raises_code("ambiguous_variable"):
        select([web, api], ScopeContext(roles=frozenset({"web", "api"})))


def test_specificity_orders_as_documented() -> None:
    keys = [specificity({d: frozenset({"x"})}) for d in DIMENSIONS]
    assert keys == sorted(keys, reverse=True)
    assert specificity({}) < min(keys)
    assert specificity({"channel": frozenset({"x"}), "tenant": frozenset({"y"})}) > specificity({"step": frozenset({"x"})})


def test_resolve_picks_a_winner_per_lowercased_name() -> None:
    variables = [
        ScopedValue("Db.Host", "default"),
        ScopedValue("DB.HOST", "prod", scope={"environment": frozenset({"Production"})}),
        ScopedValue("Only.Test", "t", scope={"environment": frozenset({"Test"})}),
        ScopedValue("Port", "80"),
    ]
    won = resolve(variables, ScopeContext(environment="Production"))
    assert set(won) == {"db.host", "port"}
    assert won["db.host"].value == "prod"


# -- ambiguity detection (an export-time error for the caller) -----------------------------------------
def test_ambiguity_same_dimensions_overlapping_values() -> None:
    a = sv("a", environment={"Test", "Production"}, role="web")
    b = sv("b", environment="Production", role={"web", "db"})
    assert ambiguities([a, b]) == [(a, b)]


def test_no_ambiguity_when_one_dimension_is_disjoint() -> None:
    a = sv("a", environment="Production", role="web")
    b = sv("b", environment="Production", role="db")
    assert ambiguities([a, b]) == []


def test_no_ambiguity_between_different_dimension_sets() -> None:
    assert ambiguities([sv("a", environment="Production"), sv("b", role="web")]) == []
    assert ambiguities([sv("a", environment="Production"), sv("b")]) == []


def test_two_unscoped_values_are_ambiguous() -> None:
    a, b = sv("a"), sv("b")
    assert ambiguities([a, b]) == [(a, b)]


def test_ambiguity_ignores_identical_values_and_other_names() -> None:
    assert ambiguities([sv("same", environment="P"), sv("same", environment="P")]) == []
    other = ScopedValue("Other", "b", scope={"environment": frozenset({"P"})})
    assert ambiguities([sv("a", environment="P"), other]) == []


def test_ambiguity_groups_names_case_insensitively_and_compares_values_case_insensitively() -> None:
    a = ScopedValue("conn", "a", scope={"environment": frozenset({"prod"})})
    b = ScopedValue("CONN", "b", scope={"environment": frozenset({"PROD"})})
    assert ambiguities([a, b]) == [(a, b)]


def test_sensitivity_difference_counts_as_a_different_value() -> None:
    a = ScopedValue("K", "x", sensitive=True)
    b = ScopedValue("K", "x", sensitive=False)
    assert ambiguities([a, b]) == [(a, b)]


@pytest.mark.parametrize("scope", [{"region": frozenset({"eu"})}, {"environment": frozenset()},
                                   {"environment": "Production"}, {"role": frozenset({""})}])
def test_invalid_scopes_are_refused(scope: dict[str, object]) -> None:
    with raises_code("invalid_variable"):
        ScopedValue("X", "v", scope=scope)  # type: ignore[arg-type]


def test_scoped_value_is_hashable_and_its_scope_read_only() -> None:
    v = sv("x", environment="P")
    assert v in {v}
    with pytest.raises(TypeError, match="does not support item assignment"):
        v.scope["role"] = frozenset({"web"})  # type: ignore[index]


# -- properties ----------------------------------------------------------------------------------------
NAMES = st.sampled_from(["a", "b", "c"])
SCOPES = st.dictionaries(st.sampled_from(DIMENSIONS), st.frozensets(NAMES, min_size=1, max_size=2), max_size=3)
CANDIDATE = st.builds(lambda value, scope: ScopedValue("V", value, scope=scope), st.sampled_from(["1", "2", "3"]), SCOPES)
CONTEXT = st.builds(ScopeContext, environment=st.none() | NAMES, roles=st.frozensets(NAMES, max_size=2),
                    machine=st.none() | NAMES, step=st.none() | NAMES, channel=st.none() | NAMES,
                    tenant=st.none() | NAMES)


@settings(max_examples=300, deadline=None)
@given(st.lists(CANDIDATE, max_size=6), CONTEXT)
def test_select_never_returns_a_non_matching_or_less_specific_value(candidates: list[ScopedValue],
                                                                    ctx: ScopeContext) -> None:
    # Every example is checked against an oracle: a refusal must be a real tie, a winner the
    # most specific match, and no winner only when nothing matches.
    matching = [v for v in candidates if matches(v, ctx)]
    top = max((specificity(v.scope) for v in matching), default=None)
    payloads = {(v.value, v.sensitive) for v in matching if specificity(v.scope) == top}
    if len(payloads) > 1:
        with raises_code("ambiguous_variable") as info:
            select(candidates, ctx)
        assert info.value.code == "ambiguous_variable"
    else:
        winner = select(candidates, ctx)
        assert (winner is None) == (matching == [])
        assert winner is None or (matches(winner, ctx) and specificity(winner.scope) == top)


@settings(max_examples=300, deadline=None)
@given(st.lists(CANDIDATE, max_size=6), CONTEXT, st.sampled_from(["1", "2", "x"]))
def test_adding_an_unscoped_value_never_changes_a_scoped_winner(candidates: list[ScopedValue], ctx: ScopeContext,
                                                                 value: str) -> None:
    scoped = [v for v in candidates if v.scope]
    fallback = ScopedValue("V", value)
    try:
        before = select(scoped, ctx)
    except SubstitutionError:
        # A tie among scoped values stays a tie: an unscoped value is never more specific.
        with raises_code("ambiguous_variable"):
            select([*scoped, fallback], ctx)
    else:
        after = select([*scoped, fallback], ctx)
        assert after is (before if before is not None else fallback)


@settings(max_examples=200, deadline=None)
@given(st.lists(CANDIDATE, max_size=5), CONTEXT)
def test_a_tie_found_by_select_is_always_reported_by_ambiguities(candidates: list[ScopedValue],
                                                                  ctx: ScopeContext) -> None:
    # The export-time check is complete for every dimension but role (a machine carries several roles).
    assume_no_role = all("role" not in v.scope for v in candidates)
    try:
        select(candidates, ctx)
    except SubstitutionError:
        if assume_no_role:
            assert ambiguities(candidates)
