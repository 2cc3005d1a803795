"""Sensitivity survives the three-way merge (spec/merge.md 3.1, decision 250): a variable that
any side marks sensitive is sensitive in the result, whichever side's entry the merge keeps,
so no merge, strategy or policy rule turns a secret into a plain value.

Two proofs: every combination of one variable's entry on the three sides (absent, plain,
sensitive, placeholders bound and unbound) under every strategy, and Hypothesis over whole
snapshots edited independently on both sides."""

from __future__ import annotations

import itertools
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bundlekit.importer.merge import ABSENT, MergePlan, Snapshot, three_way_merge

from .strategies import CANARY, histories, snap, var

KEY = "acme.token"
#: One variable's possible entries on a side: plain values never contain CANARY, sensitive
#: ones always do (a zone holds them as references; here the canary stands for the secret).
ENTRIES: dict[str, Any] = {
    "absent": ABSENT,
    "plain v1": var("Acme.Token", "v1"),
    "plain v2": var("Acme.Token", "v2"),
    "sensitive s1": var("Acme.Token", CANARY + "s1", sensitive=True),
    "sensitive s2": var("Acme.Token", CANARY + "s2", sensitive=True),
    "placeholder plain": var("Acme.Token", None, placeholder=True),
    "placeholder sensitive": var("Acme.Token", None, placeholder=True, sensitive=True),
    "placeholder plain bound": var("Acme.Token", "v1", placeholder=True),
    "placeholder sensitive bound": var("Acme.Token", CANARY + "s1", placeholder=True, sensitive=True),
    "sensitive, described": var("Acme.Token", CANARY + "s1", sensitive=True, description="rotated monthly"),
}
STRATEGY_NAMES = ("fail", "keep-local", "take-incoming")


def _side(entry: Any) -> Snapshot:
    return snap([] if entry is ABSENT else [entry])


def _rendered(plan: MergePlan) -> str:
    return json.dumps(plan.to_dict(mask=True)) + "".join(c.describe() for c in plan.conflicts + plan.resolved)


def _sensitive_somewhere(*sides: Snapshot) -> set[str]:
    return {k for s in sides for k, v in s["variables"].items() if v.get("sensitive") is True}


def test_every_combination_of_sides_keeps_a_variable_sensitive_that_any_side_marks_sensitive() -> None:
    checked = 0
    for (nb, b), (nl, l), (ni, i) in itertools.product(ENTRIES.items(), repeat=3):  # noqa: E741
        sides = [e for e in (b, l, i) if e is not ABSENT]
        any_sensitive = any(e["sensitive"] for e in sides)
        for strategy in STRATEGY_NAMES:
            plan = three_way_merge(_side(b), _side(l), _side(i), strategy=strategy)
            case = f"base {nb}, local {nl}, incoming {ni}, {strategy}"
            entry = plan.result["variables"].get(KEY)
            if entry is not None:
                assert entry["sensitive"] is any_sensitive, case
                # a secret (the canary) never sits in a plain entry
                assert entry["sensitive"] or CANARY not in str(entry.get("value")), case
            assert CANARY not in _rendered(plan), case
            # the plan says what applying it does to LOCAL: a result that differs from LOCAL has a line
            result = plan.result["variables"].get(KEY, ABSENT)
            if plan.ok and result != l:
                lines = [c for c in plan.changes if c.key == KEY]
                assert lines and lines[0].action != "keep" and lines[0].result == result, case
            checked += 1
    assert checked == len(ENTRIES) ** 3 * len(STRATEGY_NAMES)


def test_keep_local_of_a_plain_local_value_that_the_source_now_marks_sensitive_is_sensitive() -> None:
    base = snap([var("Acme.Token", "v1")])
    local = snap([var("Acme.Token", "zone-value")])
    incoming = snap([var("Acme.Token", CANARY + "s1", sensitive=True)])
    plan = three_way_merge(base, local, incoming, strategy="keep-local")
    assert plan.result["variables"][KEY] == var("Acme.Token", "zone-value", sensitive=True)
    (line,) = plan.changes
    assert (line.action, line.origin, line.kept_sensitive) == ("update", "resolved:keep-local", True)
    assert "zone-value" not in _rendered(plan)
    assert plan.to_dict(mask=True)["changes"][0]["kept_sensitive"] is True


def test_a_source_declassifying_a_variable_does_not_declassify_it_in_the_zone() -> None:
    base = snap([var("Acme.Token", CANARY + "s1", sensitive=True)])
    plan = three_way_merge(base, base, snap([var("Acme.Token", "now-public")]))
    assert plan.result["variables"][KEY] == var("Acme.Token", "now-public", sensitive=True)
    assert [(c.action, c.origin, c.kept_sensitive) for c in plan.changes] == [("update", "incoming", True)]


def test_a_placeholder_the_source_makes_plain_keeps_the_zones_sealed_binding_sensitive() -> None:
    base = snap([var("Acme.Token", None, placeholder=True, sensitive=True)])
    local = snap([var("Acme.Token", CANARY + "bound", placeholder=True, sensitive=True)])
    incoming = snap([var("Acme.Token", None, placeholder=True)])
    plan = three_way_merge(base, local, incoming)
    assert plan.ok
    assert plan.result["variables"][KEY] == var("Acme.Token", CANARY + "bound", placeholder=True, sensitive=True)
    assert CANARY not in _rendered(plan)


def test_a_local_plain_value_kept_against_a_sensitive_base_gets_a_line_saying_so() -> None:
    # nothing changed in incoming, but the zone's copy is plain where the source's is sensitive
    base = snap([var("Acme.Token", CANARY + "s1", sensitive=True)])
    plan = three_way_merge(base, snap([var("Acme.Token", "plain-here")]), base)
    assert plan.result["variables"][KEY]["sensitive"] is True
    assert [(c.action, c.origin, c.kept_sensitive) for c in plan.changes] == [("update", "local", True)]


@settings(deadline=None, max_examples=300)
@given(histories(), st.sampled_from(list(STRATEGY_NAMES)))
def test_no_merge_of_whole_snapshots_turns_a_sensitive_variable_plain(
        h: tuple[Snapshot, Snapshot, Snapshot], strategy: str) -> None:
    plan = three_way_merge(*h, strategy=strategy)
    secret_keys = _sensitive_somewhere(*h)
    for key, entry in plan.result["variables"].items():
        assert (entry.get("sensitive") is True) == (key in secret_keys), key
        assert entry.get("sensitive") is True or CANARY not in str(entry.get("value")), key
    assert CANARY not in _rendered(plan)
