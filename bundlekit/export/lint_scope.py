"""Lint of the names a release scopes by: environments, roles, and placeholders nobody uses.

Environments (decision 500): with a lifecycle, an environment a step filter or variable scope
names that no phase lists is an error (a deploy refuses environments outside the lifecycle, so
the step or value can never apply), with the closest phase environments as the suggestion.
With a target inventory (``--targets``) an environment the deploying zone does not know is a
warning. With neither, an environment mentioned once that is a near-miss of another one
mentioned more often is a warning ("Prodution" next to "Production"). Names compare
case-insensitively, as a deploy compares them.

A variable scoped to a step the release does not have is an error (it can never apply).

Roles, with an inventory: a step role no target has (in the step's environments, when it
has a filter) is an error: the deploy would find no target to run it on. A role scope that
no step and no target has is a warning. Suggestions for roles are the known roles fewest
edits away (case-insensitive, :func:`bundlekit.core.distance.nearest`): ``wbe`` -> ``web``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from bundlekit.core.distance import nearest
from bundlekit.core.text import closest
from bundlekit.export.inventory import Inventory
from bundlekit.export.lint_model import ERROR, WARNING, Finding, NameSet, entries, line_column, locate, names_of, \
    value_offset

__all__ = ["check_scopes", "check_placeholders"]


def _values(v: Any) -> list[str]:
    return [v] if isinstance(v, str) else list(v)


def _did_you_mean(near: list[str]) -> str | None:
    return "did you mean " + " or ".join(repr(n) for n in near) + "?" if near else None


class _Where:
    def __init__(self, text: str, file: str) -> None:
        self.text = text
        self.file = file

    def finding(self, severity: str, code: str, message: str, parts: list[str | int], path: str,
                suggestion: str | None, value: str | None = None) -> Finding:
        at = locate(self.text, parts)
        if value is not None:  # the value itself, in the key's list
            at = value_offset(self.text, at, value) or at
        line, column = line_column(self.text, at) if at is not None else (None, None)
        return Finding(severity, code, message, self.file, path, line, column, suggestion)


def _mentions(doc: dict[str, Any], dim: str) -> list[tuple[str, list[str | int], str]]:
    """(value, key parts, key path) of every environment/role a step or variable names."""
    out: list[tuple[str, list[str | int], str]] = []
    step_key = "environments" if dim == "environment" else "roles"
    for i, s in entries(doc, "steps"):
        for k, e in enumerate(s.get(step_key, [])):
            out.append((e, ["steps", i, step_key], f"steps[{i}].{step_key}[{k}]"))
    for i, v in entries(doc, "variables"):
        for e in _values(v.get("scope", {}).get(dim, [])):
            out.append((e, ["variables", i, "scope", dim], f"variables[{i}].scope.{dim}"))
    return out


def _environments(doc: dict[str, Any], where: _Where, inventory: Inventory | None) -> list[Finding]:
    phases = doc.get("lifecycle", {}).get("phases", [])
    lifecycle = [e for p in phases for e in p["environments"]]
    mentions = _mentions(doc, "environment")
    out: list[Finding] = []
    if lifecycle:
        known = {e.casefold() for e in lifecycle}
        for env, parts, path in mentions:
            if env.casefold() not in known:
                out.append(where.finding(ERROR, "unknown_environment", f"environment {env!r} is in no phase of the "
                                         "release's lifecycle, so this can never apply (a deploy refuses "
                                         "environments outside the lifecycle)", parts, path,
                                         _did_you_mean(closest(env, lifecycle)) or
                                         "add it to a [[lifecycle.phases]] or remove it", env))
    if inventory is not None:
        zone_envs = inventory.all_environments()
        known = {e.casefold() for e in zone_envs}
        lifecycle_mentions = [(e, ["lifecycle", "phases", i, "environments"], f"lifecycle.phases[{i}].environments")
                              for i, p in enumerate(phases) for e in p["environments"]]
        for env, parts, path in mentions + lifecycle_mentions:
            if env.casefold() not in known:
                out.append(where.finding(WARNING, "unknown_environment",
                                         f"zone {inventory.zone!r} has no environment {env!r} in its target "
                                         "inventory", parts, path,
                                         _did_you_mean(closest(env, zone_envs)) or
                                         "add targets in that environment in the deploying zone", env))
    if not lifecycle and inventory is None:
        counts = Counter(e.casefold() for e, _, _ in mentions)
        spelled = {e.casefold(): e for e, _, _ in mentions}
        for env, parts, path in mentions:
            others = [spelled[c] for c in counts if c != env.casefold() and counts[c] > counts[env.casefold()]]
            near = closest(env, others, cutoff=0.8)
            if near:
                out.append(where.finding(WARNING, "unknown_environment",
                                         f"environment {env!r} is named once here, and looks like a misspelling",
                                         parts, path, _did_you_mean(near), env))
    return out


def _targeted(inventory: Inventory, environments: list[str | None]) -> list[str]:
    """The inventory's roles some target has in each of ``environments`` (None: any)."""
    return [r for r in inventory.roles() if all(inventory.has_role(r, e) for e in environments)]


def _roles(doc: dict[str, Any], where: _Where, inventory: Inventory | None) -> list[Finding]:
    out: list[Finding] = []
    step_roles = {r.casefold() for _, s in entries(doc, "steps") for r in s.get("roles", [])}
    if inventory is not None:
        for i, s in entries(doc, "steps"):
            if not s.get("enabled", True):
                continue
            for k, role in enumerate(s.get("roles", [])):
                envs = s.get("environments") or [None]
                missing = [e for e in envs if not inventory.has_role(role, e)]
                if not missing:
                    continue
                scope = "" if missing == [None] else " in " + ", ".join(repr(e) for e in missing)
                out.append(where.finding(ERROR, "role_without_targets",
                                         f"step {s['name']!r} runs on role {role!r}, and zone {inventory.zone!r} "
                                         f"has no target with that role{scope}", ["steps", i, "roles"],
                                         f"steps[{i}].roles[{k}]",
                                         _did_you_mean(nearest(role, _targeted(inventory, envs))) or
                                         "add a target with this role in the deploying zone "
                                         "(bundlekit targets add with --role)", role))
    known_roles = set(step_roles) | ({r.casefold() for r in inventory.roles()} if inventory else set())
    # With an inventory, only roles some target has are worth suggesting: a step's role with no
    # target is itself an error (role_without_targets), no fix for this one.
    every = inventory.roles() if inventory else list(dict.fromkeys(
        r for _, s in entries(doc, "steps") for r in s.get("roles", [])))
    for role, parts, path in _mentions(doc, "role"):
        if not path.startswith("variables") or role.casefold() in known_roles:
            continue
        near = nearest(role, every)
        if inventory is None and not near:
            continue  # a target may have the role besides a step's: only a near-miss is suspicious
        listed = ", ".join(repr(r) for r in every[:5]) + (", ..." if len(every) > 5 else "")
        out.append(where.finding(WARNING, "unknown_role", f"role {role!r} is no step's role"
                                 + (f" and no target's in zone {inventory.zone!r}" if inventory else ""),
                                 parts, path, _did_you_mean(near) or
                                 (f"scope it to a role {'a target' if inventory else 'a step'} has ({listed}), or add a target with this "
                                  "role in the deploying zone" if every else
                                  "no step or target has a role: remove the role scope"), role))
    return out


def _steps(doc: dict[str, Any], where: _Where) -> list[Finding]:
    """A value scoped to a step the release does not have can never apply."""
    steps = [s for s in names_of(doc, "steps") if s is not None]
    known = {s.casefold() for s in steps}
    out = []
    for i, v in entries(doc, "variables"):
        for step in _values(v.get("scope", {}).get("step", [])):
            if step.casefold() not in known:
                out.append(where.finding(ERROR, "unknown_step", f"step {step!r} is not in [[steps]], so this value "
                                         "can never apply", ["variables", i, "scope", "step"],
                                         f"variables[{i}].scope.step", _did_you_mean(closest(step, steps)) or
                                         "scope it to a step of this release", step))
    return out


def check_scopes(doc: dict[str, Any], text: str, file: str, inventory: Inventory | None) -> list[Finding]:
    """Environment, role and step-scope findings for ``doc`` (a release file that passed its schema)."""
    where = _Where(text, file)
    return _environments(doc, where, inventory) + _roles(doc, where, inventory) + _steps(doc, where)


def check_placeholders(doc: dict[str, Any], text: str, file: str, used: set[str]) -> list[Finding]:
    """A warning per placeholder whose name (or a member of it) no template uses; ``used`` are
    the casefolded names the release's templates refer to."""
    where = _Where(text, file)
    out = []
    uses = NameSet(used)
    for i, v in entries(doc, "variables"):
        if not v.get("placeholder"):
            continue
        if uses.covers(v["name"]):
            continue
        out.append(where.finding(WARNING, "unused_placeholder",
                                 f"placeholder {v['name']!r} is used by no step's script, variable value or "
                                 "substituted file", ["variables", i, "name"], f"variables[{i}].name",
                                 "use it as #{" + v["name"] + "} or remove it"))
    return out
