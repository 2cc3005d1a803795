"""The pure three-way merge that secure-zone import uses (normative text: ``spec/merge.md``).

This module owns the merge rules and the plan (:class:`MergePlan`) that import shows before
it applies anything; the identity of merged entries and the snapshot shape live in
``importer/merge_model.py`` (re-exported here). It does no I/O: the caller converts its
models into plain-data snapshots (BASE = the incoming snapshot as last imported, LOCAL =
the zone's current copy, INCOMING = the new bundle) and converts ``MergePlan.result`` back.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from bundlekit.core.text import MASK
from bundlekit.errors import UsageError
from bundlekit.importer.merge_model import (
    ABSENT,
    KINDS,
    ORDER_KEY,
    STRATEGIES,
    Snapshot,
    make_snapshot,
    normalize_snapshot,
    parse_variable_key,
    snapshot_error,
    variable_key,
)

if TYPE_CHECKING:
    from bundlekit.importer.merge_policy import MergePolicy

__all__ = [
    "ABSENT",
    "KINDS",
    "STRATEGIES",
    "Change",
    "Conflict",
    "MergePlan",
    "Snapshot",
    "make_snapshot",
    "parse_variable_key",
    "three_way_merge",
    "variable_key",
]

# ---------------------------------------------------------------- plan model


def _same(a: Any, b: Any) -> bool:
    """JSON-value equality that, unlike ``==``, tells ``True`` from ``1`` and ``1`` from ``1.0``."""
    if a is b:
        return True
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and bool(a == b)


def _masked(value: Any, kind: str, sensitive: bool, mask: bool) -> Any:
    if mask and sensitive and kind == "variable" and isinstance(value, Mapping) \
            and value.get("value") is not None:
        return {**value, "value": MASK}
    return value


def _sides_dict(kind: str, sensitive: bool, mask: bool, **sides: Any) -> dict[str, Any]:
    # an absent side is left out, so that JSON can tell "absent" from a null value
    return {name: _masked(v, kind, sensitive, mask) for name, v in sides.items() if v is not ABSENT}


def entry_label(kind: str, key: str, prop: str | None, *entries: Any, step_name: str = "") -> str:
    """How a person wrote what a plan line is about: ``'Acme.ApiKey' (environment=Production)``,
    ``'Deploy web'``, ``'Acme.Web'``; keys are lowercased identities, labels keep the case
    of the first side that has the entry."""
    if kind == "step_order":
        return "order of steps"
    entry = next((e for e in entries if isinstance(e, Mapping)), {})
    if kind == "variable":
        name, scope = entry.get("name", key), entry.get("scope") or {}
        dims = "; ".join(f"{d}={','.join(v)}" for d, v in sorted(scope.items()) if v)
        return f"{name!r}" + (f" ({dims})" if dims else "")
    if kind == "step_property":
        return f"{step_name or key!r} property {prop!r}"
    return repr(entry.get("name" if kind == "step" else "id", key))


@dataclass(frozen=True, slots=True)
class Change:
    """One line of the plan: what applying it does to LOCAL (``keep`` lines change nothing)."""

    kind: str
    key: str
    prop: str | None
    action: str
    origin: str
    base: Any
    local: Any
    incoming: Any
    result: Any
    sensitive: bool
    step_name: str = ""  # a step_property line: the step's name as written
    kept_sensitive: bool = False  # the result is sensitive although the side it came from was not

    def label(self) -> str:
        """What the line is about, named as the release or the operator wrote it."""
        return entry_label(self.kind, self.key, self.prop, self.result, self.incoming, self.local, self.base,
                           step_name=self.step_name)

    def to_dict(self, mask: bool = True) -> dict[str, Any]:
        return {"kind": self.kind, "key": self.key, "label": self.label(), "prop": self.prop, "action": self.action,
                "origin": self.origin, "sensitive": self.sensitive, "kept_sensitive": self.kept_sensitive,
                **_sides_dict(self.kind, self.sensitive, mask, base=self.base, local=self.local,
                              incoming=self.incoming, result=self.result)}


def _fmt(value: Any, field: str | None, sensitive: bool, mask: bool) -> str:
    if value is ABSENT:
        return "(absent)"
    if mask and sensitive and field == "value" and value is not None:
        return MASK
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass(frozen=True, slots=True)
class Conflict:
    """Different changes to the same slot on the two sides.

    ``rule`` names what decided it (a policy rule, the policy default or the strategy);
    ``resolution`` is ``keep-local``/``take-incoming`` for resolved conflicts, else ``None``.
    """

    kind: str
    key: str
    prop: str | None
    base: Any
    local: Any
    incoming: Any
    sensitive: bool
    rule: str | None = None
    resolution: str | None = None
    step_name: str = ""  # a step_property conflict: the step's name as written

    def _label(self) -> str:
        return entry_label(self.kind, self.key, self.prop, self.local, self.incoming, self.base,
                           step_name=self.step_name)

    def describe(self, mask: bool = True) -> str:
        """One readable line; sensitive values appear as ``********`` unless ``mask`` is false."""
        if self.kind == "step_order":
            what = "reordered differently on both sides"
        elif self.base is ABSENT:
            what = "added on both sides with different content"
        elif self.local is ABSENT:
            what = "removed locally but changed in incoming"
        elif self.incoming is ABSENT:
            what = "removed in incoming but changed locally"
        else:
            what = "changed differently on both sides"
        sides = (("base", self.base), ("local", self.local), ("incoming", self.incoming))
        if self.kind in ("variable", "step", "package"):  # whole entries: show only the fields that differ
            fields = sorted({f for _, v in sides if v is not ABSENT for f in v})
            parts = []
            for f in fields:
                vals = [v.get(f, ABSENT) if v is not ABSENT else ABSENT for _, v in sides]
                if not all(_same(vals[0], x) for x in vals[1:]):
                    parts.append(f"{f}: " + ", ".join(
                        f"{n} {_fmt(x, f, self.sensitive, mask)}" for (n, _), x in zip(sides, vals)))
            detail = "; ".join(parts)
        else:
            detail = ", ".join(f"{n} {_fmt(v, None, False, mask)}" for n, v in sides)
        text = f"{self.kind} {self._label()}: {what} ({detail})"
        if self.resolution:
            return text + f"; resolved {self.resolution}" + (f" by {self.rule}" if self.rule else "")
        return text + (f"; {self.rule} says fail" if self.rule else "; unresolved")

    def to_dict(self, mask: bool = True) -> dict[str, Any]:
        return {"kind": self.kind, "key": self.key, "label": self._label(), "prop": self.prop,
                "sensitive": self.sensitive,
                "rule": self.rule, "resolution": self.resolution, "message": self.describe(mask),
                **_sides_dict(self.kind, self.sensitive, mask, base=self.base, local=self.local,
                              incoming=self.incoming)}


@dataclass(frozen=True, slots=True)
class MergePlan:
    """The merged snapshot plus every line a person needs to approve it.

    ``conflicts`` holds unresolved conflicts (the caller refuses to apply a plan that has
    any); ``result`` then keeps LOCAL's side of each of them.
    """

    result: Snapshot
    changes: tuple[Change, ...]
    conflicts: tuple[Conflict, ...]
    resolved: tuple[Conflict, ...]

    @property
    def ok(self) -> bool:
        return not self.conflicts

    def to_dict(self, mask: bool = True) -> dict[str, Any]:
        summary: dict[str, int] = {a: 0 for a in ("add", "remove", "update", "keep")}
        for c in self.changes:
            summary[c.action] += 1
        result = copy.deepcopy(self.result)
        # a value sensitive on any side stays masked, even where the merged entry lost the flag
        secret = {c.key for c in self.changes + self.conflicts + self.resolved
                  if c.kind == "variable" and c.sensitive}
        for key, var in result["variables"].items():
            if mask and (var.get("sensitive") is True or key in secret) and var.get("value") is not None:
                var["value"] = MASK
        return {"ok": self.ok, "summary": {**summary, "conflicts": len(self.conflicts),
                                           "resolved": len(self.resolved)},
                "changes": [c.to_dict(mask) for c in self.changes],
                "conflicts": [c.to_dict(mask) for c in self.conflicts],
                "resolved": [c.to_dict(mask) for c in self.resolved],
                "result": result}


# ---------------------------------------------------------------- the merge


def _action(before: Any, after: Any) -> str:
    return "add" if before is ABSENT else "remove" if after is ABSENT else "update"


def _outcome(b: Any, l: Any, i: Any) -> str:  # noqa: E741 - b/l/i mirror BASE/LOCAL/INCOMING
    if _same(l, i):
        return "unchanged" if _same(b, l) else "agreed"
    if _same(i, b):
        return "local"
    if _same(l, b):
        return "incoming"
    return "conflict"


def _with_binding(entry: Any, local: Mapping[str, Any]) -> Any:
    if entry is ABSENT:
        return ABSENT
    out = dict(entry)
    for field in ("value", "placeholder"):
        if field in local:
            out[field] = local[field]
        else:
            out.pop(field, None)
    return out


def _binding_applies(b: Any, l: Any, i: Any) -> bool:  # noqa: E741
    """Incoming is an unbound placeholder and the zone bound a value of its own (spec: Placeholders)."""
    if not (isinstance(l, Mapping) and isinstance(i, Mapping)):
        return False
    if i.get("placeholder") is not True or i.get("value") is not None or l.get("value") is None:
        return False
    from_dev = isinstance(b, Mapping) and b.get("placeholder") is not True and _same(b.get("value"), l["value"])
    return not from_dev


class _Merger:
    def __init__(self, strategy: str, strategy_label: str | None, policy: MergePolicy | None) -> None:
        self.strategy, self.strategy_label, self.policy = strategy, strategy_label, policy
        self.changes: list[Change] = []
        self.conflicts: list[Conflict] = []
        self.resolved: list[Conflict] = []
        self.step_names: dict[str, str] = {}  # lowercased step key -> the name as written

    def decide(self, conflict: Conflict) -> str:
        rule = self.policy.match(conflict) if self.policy is not None else None
        resolution, label = (rule.resolution, rule.label) if rule else (self.strategy, self.strategy_label)
        if resolution == "fail":
            self.conflicts.append(replace(conflict, rule=label))
        else:
            self.resolved.append(replace(conflict, rule=label, resolution=resolution))
        return resolution

    def line(self, kind: str, key: str, prop: str | None, action: str, origin: str,
             shown: tuple[Any, Any, Any], result: Any, sensitive: bool) -> None:
        self.changes.append(Change(kind, key, prop, action, origin, *shown, result, sensitive,
                                   step_name=self.step_names.get(key, "") if kind == "step_property" else ""))

    def slot(self, kind: str, key: str, prop: str | None, b: Any, l: Any, i: Any,  # noqa: E741
             sensitive: bool = False, shown: tuple[Any, Any, Any] | None = None,
             binding: bool = False) -> Any:
        """Merge one slot and record its line; returns the result (ABSENT = not present)."""
        shown = shown or (b, l, i)
        out = _outcome(b, l, i)
        if out == "agreed":
            self.line(kind, key, prop, "keep", "local" if binding else "both", shown, l, sensitive)
        elif out == "local" and binding and not _same(shown[2], shown[0]):
            # without the placeholder rule this would have been a conflict or an overwrite
            self.line(kind, key, prop, "keep", "local", shown, l, sensitive)
        elif out == "incoming":
            self.line(kind, key, prop, _action(l, i), "incoming", shown, i, sensitive)
            return i
        elif out == "conflict":
            resolution = self.decide(Conflict(kind, key, prop, *shown, sensitive,
                                              step_name=self.step_names.get(key, "") if kind == "step_property"
                                              else ""))
            if resolution == "take-incoming":
                self.line(kind, key, prop, _action(l, i), "resolved:take-incoming", shown, i, sensitive)
                return i
            if resolution == "keep-local":
                self.line(kind, key, prop, "keep", "resolved:keep-local", shown, l, sensitive)
        return l

    def variable(self, key: str, b: Any, l: Any, i: Any) -> Any:  # noqa: E741
        sensitive = any(isinstance(e, Mapping) and e.get("sensitive") is True for e in (b, l, i))
        lines, conflicts = len(self.changes), len(self.conflicts)
        if _binding_applies(b, l, i):
            result = self.slot("variable", key, None, _with_binding(b, l), l, _with_binding(i, l),
                               sensitive, shown=(b, l, i), binding=True)
        else:
            result = self.slot("variable", key, None, b, l, i, sensitive)
        if not sensitive or not isinstance(result, Mapping) or result.get("sensitive") is True:
            return result
        # Sensitivity is sticky (spec/merge.md 3.1, decision 250): the entry the result came from
        # is plain, but a side marks the variable sensitive, so the result is sensitive (the zone
        # seals its value when it applies the plan). The plan line shows the result as applied.
        kept = {**result, "sensitive": True}
        action = "keep" if _same(kept, l) else _action(l, kept)
        if len(self.changes) > lines:
            self.changes[lines] = replace(self.changes[lines], action=action, result=kept, kept_sensitive=True)
        elif len(self.conflicts) == conflicts:  # an unresolved conflict applies nothing: no line
            self.changes.append(Change("variable", key, None, action, "local", b, l, i, kept, True,
                                       kept_sensitive=True))
        return kept

    def package(self, key: str, b: Any, l: Any, i: Any) -> Any:  # noqa: E741
        return self.slot("package", key, None, b, l, i)

    def step(self, key: str, b: Any, l: Any, i: Any) -> Any:  # noqa: E741
        if l is ABSENT or i is ABSENT or (b is ABSENT and _same(l, i)):
            return self.slot("step", key, None, b, l, i)
        # both sides have the step: merge property by property; a step added on both sides
        # is merged against an empty base, so only properties that really differ conflict
        base = {} if b is ABSENT else b
        self.step_names[key] = str(i.get("name") or l.get("name") or key)
        result: dict[str, Any] = {}
        for prop in dict.fromkeys([*l, *i, *base]):
            value = self.slot("step_property", key, prop, base.get(prop, ABSENT), l.get(prop, ABSENT),
                              i.get(prop, ABSENT))
            if value is not ABSENT:
                result[prop] = value
        return result

    def order(self, bo: list[str], lo: list[str], io: list[str], kept: set[str]) -> list[str]:
        """Order the result's steps (spec/merge.md, 'Step order')."""
        shared = set(bo) & set(lo) & set(io)
        sb, sl, si = ([k for k in o if k in shared] for o in (bo, lo, io))
        out, resolution = _outcome(sb, sl, si), None
        spine = si if out == "incoming" else sl
        if out == "conflict":
            resolution = self.decide(Conflict("step_order", ORDER_KEY, None, bo, lo, io, False))
            spine = si if resolution == "take-incoming" else sl
        pos = {k: n for n, k in enumerate(spine)}
        gaps: dict[int, list[list[str]]] = {}
        for side in (lo, io):
            runs: dict[int, list[str]] = {}
            gap = 0
            for k in side:
                if k in shared:
                    gap = pos[k] + 1
                elif k in kept:
                    runs.setdefault(gap, []).append(k)
            for g, run in runs.items():
                gaps.setdefault(g, []).append(run)
        result: list[str] = []
        placed: set[str] = set()
        for g in range(len(spine) + 1):
            if g:
                result.append(spine[g - 1])
            # runs inserted at the same place by both sides go in key order, so the merge
            # is symmetric; a step both sides added goes where it first appears
            for run in sorted(gaps.get(g, [])):
                for k in run:
                    if k not in placed:
                        placed.add(k)
                        result.append(k)
        if not _same(result, lo):
            origin = f"resolved:{resolution}" if resolution in STRATEGIES[1:] else "incoming"
            self.line("step_order", ORDER_KEY, None, "update" if lo else "add", origin,
                      (bo, lo, io), result, False)
        elif resolution == "keep-local" or out == "agreed":
            origin = "resolved:keep-local" if resolution else "both"
            self.line("step_order", ORDER_KEY, None, "keep", origin, (bo, lo, io), result, False)
        return result


def three_way_merge(base: Snapshot | None, local: Snapshot | None, incoming: Snapshot, *,
                    strategy: str | None = None, policy: MergePolicy | None = None) -> MergePlan:
    """Merge INCOMING into LOCAL against BASE; pure, never raises for conflicts.

    ``None`` for base or local is the empty snapshot (first import: every entry is an add).
    Conflicts are decided by the first matching policy rule, else by ``strategy``, else by
    the policy's ``default``, else ``fail`` (unresolved: LOCAL's side is kept in ``result``).
    """
    label: str | None = f"strategy {strategy}"
    if strategy is None and policy is not None and policy.default is not None:
        strategy, label = policy.default, f"{policy.source} default"
    strategy = strategy or "fail"
    if strategy not in STRATEGIES:
        raise UsageError(f"unknown conflict strategy {strategy!r}; use one of {', '.join(STRATEGIES)}",
                         code="invalid_strategy")
    if incoming is None:
        raise snapshot_error("incoming", "(top level)", "a snapshot, not None")
    b, l, i = normalize_snapshot(base, "base"), normalize_snapshot(local, "local"), normalize_snapshot(incoming, "incoming")  # noqa: E741
    # an unresolved conflict is labelled only when a policy rule said "fail" explicitly
    m = _Merger(strategy, label if strategy != "fail" else None, policy)
    result: Snapshot = {"variables": {}, "steps": {}, "step_order": [], "packages": {}}
    for section, merge in (("variables", m.variable), ("packages", m.package), ("steps", m.step)):
        for key in sorted(set(b[section]) | set(l[section]) | set(i[section])):
            sides = (b[section].get(key, ABSENT), l[section].get(key, ABSENT), i[section].get(key, ABSENT))
            value = merge(key, *sides)
            if value is not ABSENT:
                result[section][key] = value
    result["step_order"] = m.order(b["step_order"], l["step_order"], i["step_order"], set(result["steps"]))
    result["steps"] = {k: result["steps"][k] for k in result["step_order"]}
    return MergePlan(copy.deepcopy(result), tuple(m.changes), tuple(m.conflicts), tuple(m.resolved))
