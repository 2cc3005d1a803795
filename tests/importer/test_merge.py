"""Table tests for the three-way merge of variables and packages, identities, placeholders,
snapshot validation and plan rendering (spec/merge.md)."""

from __future__ import annotations

import copy
import json

import pytest

from bundlekit.core.text import MASK
from bundlekit.importer.merge import (
    ABSENT, make_snapshot, parse_variable_key, three_way_merge, variable_key,
)

from .strategies import pkg, snap, var
from tests.conftest import raises_code

SECRET = "S3CR3T-hunter2"


def by_key(plan, kind):  # type: ignore[no-untyped-def]
    return {(c.key, c.prop): c for c in plan.changes if c.kind == kind}


# ---------------------------------------------------------------- identity


def test_variable_key_ignores_case_and_scope_order() -> None:
    a = variable_key("Acme.Url", {"Environment": ["Test", "Production"], "role": ["web"]})
    b = variable_key("ACME.URL", {"role": ["WEB"], "environment": ["production", "test", "Test"]})
    assert a == b == "acme.url[environment=production,test;role=web]"


def test_variable_key_drops_empty_dimensions_so_they_mean_unscoped() -> None:
    assert variable_key("X", {"environment": []}) == variable_key("x", {}) == "x"


def test_variable_key_tells_a_scoped_variable_from_a_name_that_looks_scoped() -> None:
    scoped = variable_key("a", {"b": ["c"]})
    lookalike = variable_key("a[b=c]", {})
    assert scoped != lookalike
    assert parse_variable_key(lookalike) == ("a[b=c]", {})
    assert parse_variable_key(scoped) == ("a", {"b": ["c"]})


@pytest.mark.parametrize("name, scope", [
    ("Octopus.Action[Deploy].Output.X", {"step": ["Deploy; web", "a,b"]}),
    ("100%=done", {"machine": ["web=01"]}),
    ("plain", {}),
])
def test_variable_key_round_trips_names_and_values_with_separators(name: str, scope: dict) -> None:
    parsed_name, parsed_scope = parse_variable_key(variable_key(name, scope))
    assert parsed_name == name.lower()
    assert parsed_scope == {d: sorted(v.lower() for v in vals) for d, vals in scope.items()}


@pytest.mark.parametrize("name, scope", [("", {}), (None, {}), ("x", {"environment": "Production"}),
                                         ("x", {"environment": [1]}), ("x", ["environment"])])
def test_variable_key_refuses_malformed_names_and_scopes(name: object, scope: object) -> None:
    with raises_code("invalid_snapshot"):
        variable_key(name, scope)  # type: ignore[arg-type]


# ---------------------------------------------------------------- variables


BASE = snap([var("Url", "u1"), var("Port", "80"), var("Db.Password", SECRET + "0", sensitive=True)])


def test_change_on_one_side_only_is_applied_and_the_other_sides_edit_kept() -> None:
    local = copy.deepcopy(BASE)
    local["variables"]["port"]["value"] = "8080"
    incoming = copy.deepcopy(BASE)
    incoming["variables"]["url"]["value"] = "u2"
    plan = three_way_merge(BASE, local, incoming)
    assert plan.ok
    assert plan.result["variables"]["url"]["value"] == "u2"
    assert plan.result["variables"]["port"]["value"] == "8080"
    [change] = plan.changes
    assert (change.key, change.action, change.origin) == ("url", "update", "incoming")


def test_same_change_on_both_sides_is_no_conflict_and_shows_as_agreed() -> None:
    local, incoming = copy.deepcopy(BASE), copy.deepcopy(BASE)
    local["variables"]["url"]["value"] = incoming["variables"]["url"]["value"] = "u2"
    plan = three_way_merge(BASE, local, incoming)
    assert plan.ok and plan.result == local
    [change] = plan.changes
    assert (change.action, change.origin) == ("keep", "both")


def _diverged() -> tuple[dict, dict]:
    local, incoming = copy.deepcopy(BASE), copy.deepcopy(BASE)
    local["variables"]["url"]["value"] = "local-url"
    incoming["variables"]["url"]["value"] = "incoming-url"
    return local, incoming


def test_different_changes_conflict_and_the_result_keeps_local() -> None:
    local, incoming = _diverged()
    plan = three_way_merge(BASE, local, incoming)
    [conflict] = plan.conflicts
    assert (conflict.kind, conflict.key, conflict.rule, conflict.resolution) == ("variable", "url", None, None)
    assert plan.result["variables"]["url"]["value"] == "local-url"
    assert plan.changes == ()


@pytest.mark.parametrize("strategy, value, action", [("keep-local", "local-url", "keep"),
                                                     ("take-incoming", "incoming-url", "update")])
def test_strategy_resolves_a_conflict_and_says_so_in_the_plan(strategy: str, value: str, action: str) -> None:
    local, incoming = _diverged()
    plan = three_way_merge(BASE, local, incoming, strategy=strategy)
    assert plan.ok
    [resolved] = plan.resolved
    assert (resolved.resolution, resolved.rule) == (strategy, f"strategy {strategy}")
    assert plan.result["variables"]["url"]["value"] == value
    [change] = plan.changes
    assert (change.action, change.origin) == (action, f"resolved:{strategy}")


def test_unknown_strategy_is_a_usage_error() -> None:
    with raises_code("invalid_strategy"):
        three_way_merge(BASE, BASE, BASE, strategy="merge-harder")


def test_removal_on_one_side_of_an_unchanged_variable_removes_it() -> None:
    incoming = copy.deepcopy(BASE)
    del incoming["variables"]["port"]
    plan = three_way_merge(BASE, copy.deepcopy(BASE), incoming)
    assert "port" not in plan.result["variables"]
    [change] = plan.changes
    assert (change.action, change.result) == ("remove", ABSENT)


def test_local_removal_of_an_unchanged_variable_stays_removed() -> None:
    local = copy.deepcopy(BASE)
    del local["variables"]["port"]
    plan = three_way_merge(BASE, local, copy.deepcopy(BASE))
    assert "port" not in plan.result["variables"] and plan.changes == () and plan.ok


def test_incoming_removal_of_a_locally_changed_variable_conflicts() -> None:
    local, incoming = copy.deepcopy(BASE), copy.deepcopy(BASE)
    local["variables"]["port"]["value"] = "8080"
    del incoming["variables"]["port"]
    plan = three_way_merge(BASE, local, incoming)
    [conflict] = plan.conflicts
    assert conflict.incoming is ABSENT and "removed in incoming but changed locally" in conflict.describe()
    assert plan.result["variables"]["port"]["value"] == "8080"
    taken = three_way_merge(BASE, local, incoming, strategy="take-incoming")
    assert "port" not in taken.result["variables"]


def test_local_removal_of_a_variable_incoming_changed_conflicts_and_take_incoming_restores_it() -> None:
    local, incoming = copy.deepcopy(BASE), copy.deepcopy(BASE)
    del local["variables"]["port"]
    incoming["variables"]["port"]["value"] = "443"
    plan = three_way_merge(BASE, local, incoming)
    assert [c.local for c in plan.conflicts] == [ABSENT]
    assert "port" not in plan.result["variables"]
    restored = three_way_merge(BASE, local, incoming, strategy="take-incoming")
    assert restored.result["variables"]["port"]["value"] == "443"
    assert [(c.action, c.origin) for c in restored.changes] == [("add", "resolved:take-incoming")]


def test_adds_on_both_sides_with_equal_content_do_not_conflict() -> None:
    local = snap([*BASE["variables"].values(), var("New", "n")])
    incoming = snap([*BASE["variables"].values(), var("New", "n")])
    plan = three_way_merge(BASE, local, incoming)
    assert plan.ok and plan.result == local


def test_adds_on_both_sides_with_different_content_conflict() -> None:
    local = snap([*BASE["variables"].values(), var("New", "n1")])
    incoming = snap([*BASE["variables"].values(), var("New", "n2")])
    [conflict] = three_way_merge(BASE, local, incoming).conflicts
    assert conflict.base is ABSENT and "added on both sides" in conflict.describe()


def test_same_name_with_another_scope_is_another_variable() -> None:
    incoming = snap([*BASE["variables"].values(), var("Url", "prod-url", scope={"environment": ["Production"]})])
    plan = three_way_merge(BASE, copy.deepcopy(BASE), incoming)
    assert plan.result["variables"]["url"]["value"] == "u1"
    assert plan.result["variables"]["url[environment=production]"]["value"] == "prod-url"


def test_local_only_variables_are_kept() -> None:
    local = snap([*BASE["variables"].values(), var("Zone.Only", "z")])
    incoming = copy.deepcopy(BASE)
    incoming["variables"]["url"]["value"] = "u2"
    plan = three_way_merge(BASE, local, incoming)
    assert plan.result["variables"]["zone.only"]["value"] == "z" and plan.ok


def test_type_change_counts_as_a_change_even_when_python_calls_it_equal() -> None:
    base = snap([var("Count", "1", extra=1)])
    incoming = copy.deepcopy(base)
    incoming["variables"]["count"]["extra"] = True  # True == 1 in Python, not in JSON
    plan = three_way_merge(base, copy.deepcopy(base), incoming)
    assert plan.result["variables"]["count"]["extra"] is True
    assert len(plan.changes) == 1


# ---------------------------------------------------------------- placeholders


PH_BASE = snap([var("Api.Key", None, placeholder=True, sensitive=True, description="d1")])


def _bound(base: dict, value: str = SECRET) -> dict:
    local = copy.deepcopy(base)
    local["variables"]["api.key"].update(value=value, placeholder=False)
    return local


def test_zone_binding_of_a_placeholder_survives_an_incoming_change_to_it() -> None:
    incoming = copy.deepcopy(PH_BASE)
    incoming["variables"]["api.key"]["description"] = "d2"
    plan = three_way_merge(PH_BASE, _bound(PH_BASE), incoming)
    assert plan.ok
    result = plan.result["variables"]["api.key"]
    assert (result["value"], result["description"]) == (SECRET, "d2")
    [change] = plan.changes
    assert (change.action, change.origin) == ("update", "incoming")


def test_zone_binding_wins_when_both_sides_first_add_the_variable() -> None:
    local = snap([var("Api.Key", SECRET, sensitive=True, description="d1")])
    plan = three_way_merge(snap(), local, PH_BASE)
    assert plan.ok and plan.result == local
    [change] = plan.changes
    assert (change.action, change.origin) == ("keep", "local")


def test_binding_kept_when_dev_turns_its_value_into_a_placeholder_that_the_zone_had_changed() -> None:
    base = snap([var("Api.Key", "dev-value")])
    local = _bound(base, "zone-value")
    incoming = snap([var("Api.Key", None, placeholder=True)])
    plan = three_way_merge(base, local, incoming)
    assert plan.ok and plan.result["variables"]["api.key"]["value"] == "zone-value"


def test_dev_value_turned_placeholder_is_not_a_zone_binding_and_fast_forwards() -> None:
    base = snap([var("Api.Key", "dev-value")])
    incoming = snap([var("Api.Key", None, placeholder=True)])
    plan = three_way_merge(base, copy.deepcopy(base), incoming)
    assert plan.result == incoming


def test_incoming_value_for_a_bound_placeholder_conflicts() -> None:
    incoming = copy.deepcopy(PH_BASE)
    incoming["variables"]["api.key"].update(value=SECRET + "dev", placeholder=False)
    plan = three_way_merge(PH_BASE, _bound(PH_BASE), incoming)
    assert len(plan.conflicts) == 1


def test_incoming_removal_of_a_bound_placeholder_conflicts() -> None:
    plan = three_way_merge(PH_BASE, _bound(PH_BASE), snap())
    assert [c.incoming for c in plan.conflicts] == [ABSENT]


def test_take_incoming_on_a_placeholder_conflict_keeps_the_zone_binding() -> None:
    local = _bound(PH_BASE)
    local["variables"]["api.key"]["description"] = "zone"
    incoming = copy.deepcopy(PH_BASE)
    incoming["variables"]["api.key"]["description"] = "dev"
    plan = three_way_merge(PH_BASE, local, incoming, strategy="take-incoming")
    result = plan.result["variables"]["api.key"]
    assert (result["value"], result["description"]) == (SECRET, "dev")


# ---------------------------------------------------------------- packages


PKG_BASE = snap(packages=[pkg("Acme.Web", "1.0.0"), pkg("Acme.Db", "1.0.0")])


def test_package_version_and_hash_change_is_applied() -> None:
    incoming = snap(packages=[pkg("Acme.Web", "2.0.0"), pkg("Acme.Db", "1.0.0")])
    plan = three_way_merge(PKG_BASE, copy.deepcopy(PKG_BASE), incoming)
    assert plan.result["packages"]["acme.web"] == pkg("Acme.Web", "2.0.0")
    assert [(c.kind, c.key, c.action) for c in plan.changes] == [("package", "acme.web", "update")]


def test_package_id_is_case_insensitive() -> None:
    incoming = snap(packages=[pkg("ACME.WEB", "1.0.0"), pkg("Acme.Db", "1.0.0")])
    plan = three_way_merge(PKG_BASE, copy.deepcopy(PKG_BASE), incoming)
    assert list(plan.result["packages"]) == ["acme.db", "acme.web"]
    assert plan.result["packages"]["acme.web"]["id"] == "ACME.WEB"


def test_different_package_versions_on_both_sides_conflict() -> None:
    local = snap(packages=[pkg("Acme.Web", "1.0.1-hotfix"), pkg("Acme.Db", "1.0.0")])
    incoming = snap(packages=[pkg("Acme.Web", "2.0.0"), pkg("Acme.Db", "1.0.0")])
    [conflict] = three_way_merge(PKG_BASE, local, incoming).conflicts
    assert (conflict.kind, conflict.key) == ("package", "acme.web")
    assert '"1.0.1-hotfix"' in conflict.describe() and '"2.0.0"' in conflict.describe()


# ---------------------------------------------------------------- first import, validation, rendering


def test_first_import_is_incoming_with_every_entry_an_add() -> None:
    incoming = snap([var("A", "1")], packages=[pkg("p", "1")])
    plan = three_way_merge(None, None, incoming)
    assert plan.result == incoming
    assert sorted((c.kind, c.key, c.action, c.origin) for c in plan.changes) == [
        ("package", "p", "add", "incoming"), ("variable", "a", "add", "incoming")]


@pytest.mark.parametrize("mutate, path", [
    (lambda s: s["variables"].__setitem__("wrong", var("Url", "x")), "variables['wrong']"),
    (lambda s: s["variables"]["url"].__setitem__("sensitive", "yes"), "variables['url'].sensitive"),
    (lambda s: s["variables"]["url"].__setitem__("scope", {"environment": "Production"}), "variables['url']"),
    (lambda s: s.__setitem__("release", "1.0"), "'release'"),
    (lambda s: s["steps"].__setitem__("a", {"name": "A"}), "step_order"),
    (lambda s: s["packages"].__setitem__("Acme.Web", pkg("Acme.Web", "1")), "packages['Acme.Web']"),
    (lambda s: s.__setitem__("variables", ["not", "a", "map"]), "variables"),
])
def test_malformed_snapshot_is_refused_naming_side_and_path(mutate, path: str) -> None:  # type: ignore[no-untyped-def]
    local = copy.deepcopy(BASE)
    mutate(local)
    with raises_code("invalid_snapshot") as err:
        three_way_merge(BASE, local, BASE)
    assert err.value.details == {"side": "local", "path": path}
    assert err.value.message.startswith("local snapshot: ")


def test_make_snapshot_refuses_two_entries_with_one_identity() -> None:
    with raises_code("duplicate_identity"):
        make_snapshot([var("Url", "a", scope={"environment": ["Test", "Prod"]}),
                       var("URL", "b", scope={"Environment": ["prod", "test"]})])


def test_plan_result_is_independent_of_the_inputs() -> None:
    local = copy.deepcopy(BASE)
    plan = three_way_merge(BASE, local, BASE)
    plan.result["variables"]["url"]["value"] = "mutated"
    assert local["variables"]["url"]["value"] == "u1" and BASE["variables"]["url"]["value"] == "u1"


def test_sensitive_conflict_is_masked_in_describe_and_to_dict_unless_asked() -> None:
    local, incoming = copy.deepcopy(BASE), copy.deepcopy(BASE)
    local["variables"]["db.password"]["value"] = SECRET + "local"
    incoming["variables"]["db.password"]["value"] = SECRET + "incoming"
    plan = three_way_merge(BASE, local, incoming)
    [conflict] = plan.conflicts
    assert conflict.sensitive
    masked = conflict.describe() + json.dumps(plan.to_dict())
    assert SECRET not in masked and MASK in conflict.describe()
    assert plan.to_dict()["result"]["variables"]["db.password"]["value"] == MASK
    assert SECRET + "incoming" in conflict.describe(mask=False)
    assert SECRET + "local" in json.dumps(plan.to_dict(mask=False))


def test_to_dict_leaves_out_absent_sides_and_counts_actions() -> None:
    incoming = snap([*BASE["variables"].values(), var("New", "n")])
    out = three_way_merge(BASE, copy.deepcopy(BASE), incoming).to_dict()
    [change] = out["changes"]
    assert "base" not in change and "local" not in change and change["incoming"]["value"] == "n"
    assert out["summary"] == {"add": 1, "remove": 0, "update": 0, "keep": 0, "conflicts": 0, "resolved": 0}
    json.dumps(out)  # JSON-ready: no sentinel objects left
