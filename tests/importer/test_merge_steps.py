"""Table tests for merging deployment steps property by property, and their order."""

from __future__ import annotations

import copy

import pytest

from bundlekit.importer.merge import ABSENT, three_way_merge

from .strategies import snap, step, var

BASE = snap(steps=[step("Deploy web"), step("Migrate DB"), step("Smoke test")])


def order(*names: str) -> list[str]:
    return [n.lower() for n in names]


def reordered(base: dict, *names: str) -> dict:
    out = copy.deepcopy(base)
    out["step_order"] = order(*names)
    out["steps"] = {k: out["steps"][k] for k in out["step_order"]}
    return out


def with_steps(*steps: dict) -> dict:
    return snap(steps=list(steps))


# ---------------------------------------------------------------- properties


def test_local_disable_and_incoming_script_change_both_apply_without_conflict() -> None:
    local, incoming = copy.deepcopy(BASE), copy.deepcopy(BASE)
    local["steps"]["deploy web"]["enabled"] = False
    incoming["steps"]["deploy web"]["script"] = "echo 2"
    plan = three_way_merge(BASE, local, incoming)
    assert plan.ok
    assert plan.result["steps"]["deploy web"] == step("Deploy web", enabled=False, script="echo 2")
    [change] = plan.changes
    assert (change.kind, change.key, change.prop, change.action) == ("step_property", "deploy web", "script", "update")


def test_same_property_changed_differently_conflicts_on_that_property_only() -> None:
    local, incoming = copy.deepcopy(BASE), copy.deepcopy(BASE)
    local["steps"]["deploy web"].update(script="echo local", enabled=False)
    incoming["steps"]["deploy web"].update(script="echo dev", roles=["web", "api"])
    plan = three_way_merge(BASE, local, incoming)
    assert [(c.kind, c.key, c.prop) for c in plan.conflicts] == [("step_property", "deploy web", "script")]
    merged = plan.result["steps"]["deploy web"]
    assert (merged["script"], merged["enabled"], merged["roles"]) == ("echo local", False, ["web", "api"])
    assert "'Deploy web' property 'script'" in plan.conflicts[0].describe()


def test_property_removed_by_incoming_is_removed() -> None:
    incoming = copy.deepcopy(BASE)
    del incoming["steps"]["smoke test"]["roles"]
    plan = three_way_merge(BASE, copy.deepcopy(BASE), incoming)
    assert "roles" not in plan.result["steps"]["smoke test"]
    assert [(c.prop, c.action) for c in plan.changes] == [("roles", "remove")]


def test_property_added_by_incoming_is_added() -> None:
    incoming = copy.deepcopy(BASE)
    incoming["steps"]["smoke test"]["timeout"] = 60
    plan = three_way_merge(BASE, copy.deepcopy(BASE), incoming)
    assert plan.result["steps"]["smoke test"]["timeout"] == 60


def test_null_property_is_not_the_same_as_a_missing_one() -> None:
    incoming = copy.deepcopy(BASE)
    incoming["steps"]["smoke test"]["script"] = None
    plan = three_way_merge(BASE, copy.deepcopy(BASE), incoming)
    assert plan.result["steps"]["smoke test"]["script"] is None
    [change] = plan.changes
    assert change.action == "update" and change.to_dict()["result"] is None


# ---------------------------------------------------------------- whole steps


def test_step_removed_in_incoming_and_unchanged_locally_is_removed() -> None:
    incoming = with_steps(step("Deploy web"), step("Smoke test"))
    plan = three_way_merge(BASE, copy.deepcopy(BASE), incoming)
    assert plan.result == incoming
    assert ("step", "migrate db", "remove") in [(c.kind, c.key, c.action) for c in plan.changes]


def test_step_removed_in_incoming_but_disabled_locally_conflicts() -> None:
    local = copy.deepcopy(BASE)
    local["steps"]["migrate db"]["enabled"] = False
    incoming = with_steps(step("Deploy web"), step("Smoke test"))
    plan = three_way_merge(BASE, local, incoming)
    [conflict] = plan.conflicts
    assert (conflict.kind, conflict.key, conflict.incoming) == ("step", "migrate db", ABSENT)
    assert plan.result["step_order"] == order("Deploy web", "Migrate DB", "Smoke test")
    removed = three_way_merge(BASE, local, incoming, strategy="take-incoming")
    assert removed.result["step_order"] == order("Deploy web", "Smoke test")


def test_step_removed_locally_but_changed_in_incoming_conflicts_and_take_incoming_puts_it_back_in_place() -> None:
    local = with_steps(step("Deploy web"), step("Smoke test"))
    incoming = copy.deepcopy(BASE)
    incoming["steps"]["migrate db"]["script"] = "echo migrate"
    assert [c.kind for c in three_way_merge(BASE, local, incoming).conflicts] == ["step"]
    plan = three_way_merge(BASE, local, incoming, strategy="take-incoming")
    assert plan.result["step_order"] == order("Deploy web", "Migrate DB", "Smoke test")
    assert plan.result["steps"]["migrate db"]["script"] == "echo migrate"


def test_step_added_on_both_sides_conflicts_only_on_differing_properties() -> None:
    local = with_steps(*BASE["steps"].values(), step("Notify", script="mail ops", timeout=30))
    incoming = with_steps(*BASE["steps"].values(), step("Notify", script="mail dev", roles=["ops"]))
    plan = three_way_merge(BASE, local, incoming)
    assert sorted(str(c.prop) for c in plan.conflicts) == ["roles", "script"]
    notify = plan.result["steps"]["notify"]
    assert (notify["script"], notify["timeout"], notify["roles"]) == ("mail ops", 30, ["web"])


def test_step_added_on_both_sides_identically_is_no_conflict() -> None:
    local = with_steps(*BASE["steps"].values(), step("Notify"))
    plan = three_way_merge(BASE, local, copy.deepcopy(local))
    assert plan.ok and plan.result == local
    assert [(c.kind, c.action, c.origin) for c in plan.changes] == [("step", "keep", "both")]


def test_step_name_is_case_insensitive_and_a_case_change_is_a_property_change() -> None:
    incoming = copy.deepcopy(BASE)
    incoming["steps"]["deploy web"]["name"] = "Deploy Web"
    plan = three_way_merge(BASE, copy.deepcopy(BASE), incoming)
    assert plan.result["steps"]["deploy web"]["name"] == "Deploy Web"
    assert [(c.key, c.prop) for c in plan.changes] == [("deploy web", "name")]


# ---------------------------------------------------------------- order


def test_incoming_reorder_is_taken_when_local_kept_the_order() -> None:
    incoming = reordered(BASE, "Migrate DB", "Deploy web", "Smoke test")
    plan = three_way_merge(BASE, copy.deepcopy(BASE), incoming)
    assert plan.result["step_order"] == incoming["step_order"]
    assert [(c.kind, c.action, c.origin) for c in plan.changes] == [("step_order", "update", "incoming")]


def test_local_reorder_is_kept_when_incoming_kept_the_order() -> None:
    local = reordered(BASE, "Smoke test", "Deploy web", "Migrate DB")
    incoming = copy.deepcopy(BASE)
    incoming["steps"]["smoke test"]["enabled"] = False
    plan = three_way_merge(BASE, local, incoming)
    assert plan.result["step_order"] == local["step_order"] and plan.ok


def test_same_reorder_on_both_sides_is_no_conflict() -> None:
    local = reordered(BASE, "Migrate DB", "Deploy web", "Smoke test")
    plan = three_way_merge(BASE, local, copy.deepcopy(local))
    assert plan.ok and plan.result["step_order"] == local["step_order"]


def test_different_reorders_conflict_on_step_order() -> None:
    local = reordered(BASE, "Migrate DB", "Deploy web", "Smoke test")
    incoming = reordered(BASE, "Deploy web", "Smoke test", "Migrate DB")
    plan = three_way_merge(BASE, local, incoming)
    [conflict] = plan.conflicts
    assert (conflict.kind, conflict.prop) == ("step_order", None)
    assert "reordered differently on both sides" in conflict.describe()
    assert plan.result["step_order"] == local["step_order"]
    taken = three_way_merge(BASE, local, incoming, strategy="take-incoming")
    assert taken.result["step_order"] == incoming["step_order"]
    kept = three_way_merge(BASE, local, incoming, strategy="keep-local")
    assert kept.result["step_order"] == local["step_order"]
    assert [(c.action, c.origin) for c in kept.changes] == [("keep", "resolved:keep-local")]


def test_reorders_of_different_shapes_with_the_same_shared_order_do_not_conflict() -> None:
    # local reorders and adds a step; incoming makes the same reorder and removes a step
    local = with_steps(step("Migrate DB"), step("Deploy web"), step("Zone check"), step("Smoke test"))
    incoming = with_steps(step("Migrate DB"), step("Deploy web"))
    plan = three_way_merge(BASE, local, incoming)
    assert plan.ok
    assert plan.result["step_order"] == order("Migrate DB", "Deploy web", "Zone check")


def test_incoming_step_is_inserted_where_incoming_put_it_even_after_a_local_reorder() -> None:
    local = reordered(BASE, "Smoke test", "Deploy web", "Migrate DB")
    incoming = with_steps(step("Deploy web"), step("Warm cache"), step("Migrate DB"), step("Smoke test"))
    plan = three_way_merge(BASE, local, incoming)
    assert plan.ok
    assert plan.result["step_order"] == order("Smoke test", "Deploy web", "Warm cache", "Migrate DB")


def test_local_step_and_incoming_step_at_the_same_place_both_stay_in_a_symmetric_order() -> None:
    local = with_steps(*BASE["steps"].values(), step("Zone notify"))
    incoming = with_steps(*BASE["steps"].values(), step("Archive"), step("Backup"))
    forward = three_way_merge(BASE, local, incoming)
    backward = three_way_merge(BASE, incoming, local)
    expected = order("Deploy web", "Migrate DB", "Smoke test", "Archive", "Backup", "Zone notify")
    assert forward.ok and forward.result["step_order"] == expected
    assert backward.result["step_order"] == expected


def test_step_at_the_start_of_the_process_stays_at_the_start() -> None:
    incoming = with_steps(step("Backup"), *BASE["steps"].values())
    plan = three_way_merge(BASE, copy.deepcopy(BASE), incoming)
    assert plan.result["step_order"][0] == "backup"


@pytest.mark.parametrize("strategy", ["fail", "keep-local", "take-incoming"])
def test_result_steps_follow_the_result_order(strategy: str) -> None:
    local = reordered(BASE, "Migrate DB", "Deploy web", "Smoke test")
    incoming = reordered(BASE, "Smoke test", "Migrate DB", "Deploy web")
    plan = three_way_merge(BASE, local, incoming, strategy=strategy)
    assert list(plan.result["steps"]) == plan.result["step_order"]


def test_worked_example_of_the_spec_merges_as_described() -> None:
    key = var("Api.Key", None, sensitive=True, placeholder=True, description="d1")
    base = snap([key], [step("Deploy web"), step("Smoke test")])
    local = snap([{**key, "value": "S3CR3T-bound", "placeholder": False}],
                 [step("Deploy web", enabled=False), step("Smoke test"), step("Zone notify")])
    incoming = snap([{**key, "description": "d2"}],
                    [step("Deploy web", script="echo 2"), step("Smoke test"), step("Archive")])
    plan = three_way_merge(base, local, incoming)
    assert plan.ok
    assert plan.result["variables"]["api.key"]["value"] == "S3CR3T-bound"
    assert plan.result["variables"]["api.key"]["description"] == "d2"
    assert plan.result["steps"]["deploy web"] == step("Deploy web", enabled=False, script="echo 2")
    assert plan.result["step_order"] == order("Deploy web", "Smoke test", "Archive", "Zone notify")
    assert [(c.kind, c.key, c.prop, c.action, c.origin) for c in plan.changes] == [
        ("variable", "api.key", None, "update", "incoming"),
        ("step", "archive", None, "add", "incoming"),
        ("step_property", "deploy web", "script", "update", "incoming"),
        ("step_order", "step_order", None, "update", "incoming"),
    ]
    assert plan.to_dict()["changes"][0]["result"]["value"] == "********"
