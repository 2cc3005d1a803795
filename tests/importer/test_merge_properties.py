"""Hypothesis properties of the three-way merge (spec/merge.md): identities, fast-forward,
symmetry, strategies that always resolve, and no sensitive value in any rendered output.

Where a property names a side's snapshot as the result, the result is that snapshot with every
variable any side marks sensitive marked sensitive (sticky sensitivity, spec/merge.md 3.1)."""

from __future__ import annotations

import copy
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from bundlekit.importer.merge import Snapshot, three_way_merge
from bundlekit.importer.merge_model import mark_sensitive, sensitive_keys

from .strategies import CANARY, edited, histories, snapshots

# no deadline: a timing threshold would make the suite flaky on a busy machine
MERGE = settings(deadline=None, max_examples=200)


def _sticky(snap: Snapshot, *sides: Snapshot) -> Snapshot:
    """``snap`` as the merge returns it: variables sensitive on any of ``sides`` marked sensitive."""
    return mark_sensitive(snap, sensitive_keys(*sides))


def _keys(snap: Snapshot) -> set[tuple[str, str]]:
    return {(section, k) for section in ("variables", "steps", "packages") for k in snap[section]}


@MERGE
@given(snapshots())
def test_merging_a_snapshot_with_itself_changes_nothing(x: Snapshot) -> None:
    plan = three_way_merge(x, copy.deepcopy(x), copy.deepcopy(x))
    assert plan.result == x
    assert plan.changes == () and plan.conflicts == () and plan.resolved == ()


@MERGE
@given(st.data())
def test_untouched_local_fast_forwards_to_incoming_without_conflict(data: st.DataObject) -> None:
    base = data.draw(snapshots())
    incoming = data.draw(edited(base))
    plan = three_way_merge(base, copy.deepcopy(base), incoming)
    assert plan.result == _sticky(incoming, base)
    assert plan.conflicts == ()
    assert all(c.origin == "incoming" for c in plan.changes)


@MERGE
@given(st.data())
def test_incoming_equal_to_base_keeps_local_edits_as_they_are(data: st.DataObject) -> None:
    base = data.draw(snapshots())
    local = data.draw(edited(base))
    plan = three_way_merge(base, local, copy.deepcopy(base))
    assert plan.result == _sticky(local, base)
    assert plan.conflicts == ()
    # the only lines: a local plain entry of a variable the release marks sensitive, kept sensitive
    assert all(c.kept_sensitive and c.origin == "local" for c in plan.changes)


@MERGE
@given(histories())
def test_conflict_free_merges_are_symmetric_in_local_and_incoming(h: tuple[Snapshot, Snapshot, Snapshot]) -> None:
    base, local, incoming = h
    forward, backward = three_way_merge(base, local, incoming), three_way_merge(base, incoming, local)
    if forward.ok and backward.ok:
        assert forward.result == backward.result


@MERGE
@given(histories(placeholders=False))
def test_without_placeholders_conflicts_do_not_depend_on_which_side_is_local(
        h: tuple[Snapshot, Snapshot, Snapshot]) -> None:
    base, local, incoming = h
    forward, backward = three_way_merge(base, local, incoming), three_way_merge(base, incoming, local)
    assert [(c.kind, c.key, c.prop) for c in forward.conflicts] == \
        [(c.kind, c.key, c.prop) for c in backward.conflicts]
    if forward.ok:
        assert forward.result == backward.result


@MERGE
@given(histories(), st.sampled_from(["keep-local", "take-incoming"]))
def test_resolving_strategies_never_leave_conflicts(h: tuple[Snapshot, Snapshot, Snapshot], strategy: str) -> None:
    plan = three_way_merge(*h, strategy=strategy)
    assert plan.conflicts == ()
    assert all(c.resolution == strategy for c in plan.resolved)


@MERGE
@given(histories())
def test_take_incoming_and_keep_local_agree_wherever_there_is_no_conflict(
        h: tuple[Snapshot, Snapshot, Snapshot]) -> None:
    failing = three_way_merge(*h)
    if failing.ok:
        for strategy in ("keep-local", "take-incoming"):
            assert three_way_merge(*h, strategy=strategy).result == failing.result


@MERGE
@given(histories(), st.sampled_from(["fail", "keep-local", "take-incoming"]))
def test_result_only_holds_keys_that_some_side_had(h: tuple[Snapshot, Snapshot, Snapshot], strategy: str) -> None:
    plan = three_way_merge(*h, strategy=strategy)
    assert _keys(plan.result) <= set().union(*(_keys(s) for s in h))
    assert plan.result["step_order"] == list(plan.result["steps"])
    assert sorted(plan.result["step_order"]) == sorted(plan.result["steps"])


@MERGE
@given(histories(), st.sampled_from(["fail", "keep-local", "take-incoming"]))
def test_unresolved_conflicts_keep_local_in_the_result(h: tuple[Snapshot, Snapshot, Snapshot], strategy: str) -> None:
    base, local, incoming = h
    plan = three_way_merge(base, local, incoming, strategy=strategy)
    section = {"variable": "variables", "package": "packages", "step": "steps"}
    kept = _sticky(local, *h)
    for c in plan.conflicts + tuple(r for r in plan.resolved if r.resolution == "keep-local"):
        if c.kind in section:
            assert plan.result[section[c.kind]].get(c.key) == kept[section[c.kind]].get(c.key)


@MERGE
@given(histories(), st.sampled_from(["fail", "keep-local", "take-incoming"]))
def test_sensitive_values_never_appear_in_masked_plans_or_messages(
        h: tuple[Snapshot, Snapshot, Snapshot], strategy: str) -> None:
    plan = three_way_merge(*h, strategy=strategy)
    rendered = json.dumps(plan.to_dict(mask=True))
    rendered += "".join(c.describe() for c in plan.conflicts + plan.resolved)
    assert CANARY not in rendered
    # the check above must be able to fail: unmasked output does show the secrets it holds
    secrets_in_result = [v["value"] for v in plan.result["variables"].values()
                         if v.get("sensitive") and v.get("value")]
    for secret in secrets_in_result:
        assert secret in json.dumps(plan.to_dict(mask=False))


@MERGE
@given(snapshots())
def test_first_import_adds_everything_from_incoming(incoming: Snapshot) -> None:
    plan = three_way_merge(None, None, incoming)
    assert plan.result == incoming and plan.conflicts == ()
    assert {c.action for c in plan.changes} <= {"add"}
    added = {(c.kind, c.key) for c in plan.changes}
    assert added >= {("variable", k) for k in incoming["variables"]} | {("step", k) for k in incoming["steps"]}
