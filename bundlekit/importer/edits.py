"""The local edits a zone makes to a project, and refreshing a release's variables.

The project's *local* snapshot (``zone/projects.py``) is the zone's working copy: imports
merge into it, and ``variables set|unset`` and ``steps enable|disable`` edit it, each in one
transaction. Entries are keyed as the merge keys them (``importer/merge.py``), so a later
import sees a local edit as one. A sensitive value set here is sealed at rest
(``zone/secrets.py``) and never printed.

Safety (decision 157): ``set`` of a name the project has nowhere (no release value, no
placeholder, no value set here) needs ``--new`` and suggests the closest names (a typo would
otherwise add a variable nothing reads), and so does a scope value that no release, target or
deployment of the zone knows (``--environment Prodution`` would never apply); ``unset`` removes only what this zone set: it unbinds
a placeholder, drops an override (the release's value applies again) or a value added here,
and refuses to delete a release's value (``not_local``: override it instead).

``releases update-variables`` (decision 156) replaces the variables of one release's snapshot
by the project's current ones (those of the newest release), plan first; the zone's own values
keep applying on top.
"""

from __future__ import annotations

import difflib
from typing import Any, Mapping

from bundlekit.core.clock import EpochSeconds
from bundlekit.core.names import check_label, check_one_name
from bundlekit.core.text import MASK, closest, shell_word
from bundlekit.core.hints import cut, in_space, shown, here_flags
from bundlekit.errors import InputError, StateError, UsageError
from bundlekit.importer.merge_model import variable_key
from bundlekit.zone import projects as project_store
from bundlekit.zone import secrets
from bundlekit.zone import targets as zone_targets
from bundlekit.zone.deployments import deployed_scopes
from bundlekit.zone.db import Reader
from bundlekit.zone.home import Zone
from bundlekit.zone.projects import ProjectRecord, find_project, save_local

__all__ = ["set_variable", "check_settable", "unset_variable", "set_step_enabled", "variable_rows", "release_variable_rows", "SCOPE_OPTIONS", "known_scope_values",
           "plan_update_variables", "update_variables"]

#: The scope dimensions ``variables set|unset`` take, as command-line options.
SCOPE_OPTIONS = ("environment", "role", "machine", "tenant", "channel", "step")


def _scope(scope: Mapping[str, tuple[str, ...]]) -> dict[str, list[str]]:
    out = {}
    for dim in SCOPE_OPTIONS:
        vals = scope.get(dim, ())
        for value in vals:
            check_label(value, what=f"--{dim} scope value", error=InputError, code="invalid_label")
        if vals:
            out[dim] = sorted(set(vals))
    return out


def _releases(db: Reader, project: ProjectRecord) -> list[dict[str, Any]]:
    return [project_store.get_release(db, project, r["version"])
            for r in project_store.list_releases(db) if r["slug"] == project.slug]


def _known_names(db: Reader, project: ProjectRecord) -> list[str]:
    """Every variable and placeholder name the project has: in its local copy and in any release."""
    names: dict[str, str] = {}
    for snap in [project.local] + [r["snapshot"] for r in _releases(db, project)]:
        for v in snap["variables"].values():
            names.setdefault(v["name"].casefold(), v["name"])
    return sorted(names.values(), key=str.casefold)


def known_scope_values(db: Reader, project: ProjectRecord) -> dict[str, dict[str, str]]:
    """What each scope dimension can name for ``project`` in this zone: dimension -> {casefolded:
    spelling}. Environments: the releases' lifecycles, the zone's targets, the project's
    deployments; roles: the steps' and targets' roles; machines: the targets; steps: the
    releases' steps; channels: the releases' channels; tenants: the project's deployments;
    and, for every dimension, the values any scope of the project already names."""
    known: dict[str, dict[str, str]] = {dim: {} for dim in SCOPE_OPTIONS}

    def add(dim: str, value: object) -> None:
        if isinstance(value, str) and value:
            known[dim].setdefault(value.casefold(), value)

    releases = _releases(db, project)
    for snap in [project.local, project.base] + [r["snapshot"] for r in releases]:
        for v in snap["variables"].values():
            for dim, values in (v.get("scope") or {}).items():
                for value in values if dim in known else ():
                    add(dim, value)
        for step in snap["steps"].values():
            add("step", step.get("name"))
            for role in step.get("roles") or ():
                add("role", role)
    for r in releases:
        add("channel", r.get("channel"))
        for phase in (r.get("lifecycle") or {}).get("phases", ()):
            for env in phase.get("environments", ()):
                add("environment", env)
    for t in zone_targets.list_targets(db, space=project.in_space):  # another space's targets are not its
        add("environment", t.environment)
        add("machine", t.name)
        for role in t.roles:
            add("role", role)
    for environment, tenant in deployed_scopes(db, project.slug):
        add("environment", environment)
        add("tenant", tenant)
    return known


def _spelled(db: Reader, project: ProjectRecord, scope: dict[str, list[str]]) -> dict[str, list[str]]:
    """``scope`` with each value the zone knows in another case in the zone's spelling (one name,
    one thing: ``production`` is ``Production``; decision 394)."""
    known = known_scope_values(db, project)
    return {dim: [known[dim].get(v.casefold(), v) for v in values] for dim, values in scope.items()}


def _refuse_joined(db: Reader, project: ProjectRecord, scope: Mapping[str, list[str]]) -> None:
    """Refuse (``UsageError`` ``joined_names``) a scope value holding a comma that no name known
    for the project spells so (a step named "Migrate, then seed" is one): most likely a list typed
    where the option is repeated (newuser36 finding 9, decision 976); ``--new`` does not allow it."""
    if not any("," in v for values in scope.values() for v in values):
        return
    known = known_scope_values(db, project)
    for dim, values in scope.items():
        for value in values:
            if value.casefold() not in known[dim]:
                check_one_name(value, option=f"--{dim}", error=UsageError)


def _check_scope(db: Reader, project: ProjectRecord, scope: Mapping[str, list[str]]) -> None:
    """Refuse a scope value nothing in this zone knows (a typo would never apply): ``StateError``
    ``unknown_scope_value`` naming the closest known values; ``--new`` allows it."""
    if not scope:
        return
    known = known_scope_values(db, project)
    for dim in SCOPE_OPTIONS:
        for value in scope.get(dim, ()):
            if value.casefold() in known[dim]:
                continue
            spelled = known[dim]
            similar = closest(value, spelled.values())
            hint = f" Did you mean {', '.join(repr(k) for k in similar)}?" if similar else ""
            listed = ", ".join(sorted(spelled.values(), key=str.casefold)) or "none yet"
            raise StateError(
                f"--{dim} {value!r}: no {dim} of that name is known for project {project.name!r} in this zone "
                f"(known: {listed}).{hint} A value nothing knows never applies; if it is one still to come, "
                "repeat the command with --new", code="unknown_scope_value",
                details={"dimension": dim, "value": value, "suggestions": similar})


def check_settable(zone: Zone, project_ref: str, name: str, *, scope: Mapping[str, tuple[str, ...]] | None = None,
                   new: bool = False, space: str | None = None) -> None:
    """Refuse, as :func:`set_variable` would, a variable it cannot set, before its value is read
    (``variables set`` asks for a secret only then, so it is never entered twice): the
    refusals of :func:`set_variable` but for the value's. Reads only."""
    with zone.db.read() as r:
        _settable(r, zone, project_ref, name, scope, new, space)


def _settable(db: Reader, zone: Zone, project_ref: str, name: str, scope: Mapping[str, tuple[str, ...]] | None,
              new: bool, space: str | None) -> tuple[ProjectRecord, dict[str, list[str]]]:
    """The project and the scope (in the zone's spelling) of a variable :func:`set_variable` may set."""
    check_label(name, what="variable name", error=InputError, code="invalid_label")
    project = find_project(db, project_ref, zone.name, space=space)
    scope_d = _spelled(db, project, _scope(scope or {}))
    _refuse_joined(db, project, scope_d)
    known = _known_names(db, project)
    if not new and name.casefold() not in {k.casefold() for k in known}:
        spelled = {k.casefold(): k for k in known}
        similar = [spelled[c] for c in difflib.get_close_matches(name.casefold(), list(spelled), n=3, cutoff=0.75)]
        hint = f" Did you mean {', '.join(repr(k) for k in similar)}?" if similar else ""
        raise StateError(f"project {project.name!r}{in_space(project.in_space)} has no variable or placeholder "
                         f"{shown(name)}.{hint} To add a new variable in this zone, repeat the command with --new",
                         code="unknown_variable", details={"name": cut(name), "suggestions": similar})
    if not new:
        _check_scope(db, project, scope_d)
    return project, scope_d


def set_variable(zone: Zone, project_ref: str, name: str, value: str, *, sensitive: bool = False,
                 scope: Mapping[str, tuple[str, ...]] | None = None, new: bool = False,
                 now: EpochSeconds, space: str | None = None) -> dict[str, Any]:
    """Set (or bind a placeholder's) value in the project's local copy, with ``scope``
    (dimension -> values, :data:`SCOPE_OPTIONS`). A name the project does not have, or a scope
    value nothing in the zone knows (:func:`known_scope_values`), needs ``new`` (``StateError``
    ``unknown_variable`` / ``unknown_scope_value`` suggesting the closest names). The name and
    the scope values are labels (spec/names.md; ``InputError`` ``invalid_label``). The project
    is looked up among ``space``'s (None: every space's; decision 660)."""
    with zone.db.transaction() as tx:
        project, scope_d = _settable(tx, zone, project_ref, name, scope, new, space)
        key = variable_key(name, scope_d)
        local = project.local
        entry = dict(local["variables"].get(key) or {"name": name, "scope": scope_d, "placeholder": False})
        # A value of a name that is sensitive anywhere in the project is sensitive here too.
        is_sensitive = sensitive or bool(entry.get("sensitive")) or any(
            v.get("sensitive") and v["name"].casefold() == name.casefold()
            for snap in (project.local, project.base) for v in snap["variables"].values())
        entry["sensitive"] = is_sensitive
        entry["value"] = secrets.store(zone, tx, value) if is_sensitive else value
        local["variables"][key] = entry
        save_local(zone, tx, project.slug, local, now)
    return {"project": project.name, "name": entry["name"], "scope": scope_d, "sensitive": is_sensitive,
            "placeholder": bool(entry.get("placeholder")), "value": MASK if is_sensitive else value}


def _scope_text(scope: Mapping[str, list[str]]) -> str:
    return " ".join(f"--{k} {','.join(v)}" for k, v in scope.items()) or "no scope"


def _no_such_value(project: ProjectRecord, name: str, scope: Mapping[str, list[str]]) -> StateError:
    """``unknown_variable`` for `variables unset`: the scopes the name has, else the closest names."""
    values = list(project.local["variables"].values())
    scopes = [_scope_text(v.get("scope") or {}) for v in values if v["name"].casefold() == name.casefold()]
    spelled = {v["name"].casefold(): v["name"] for v in values}
    similar = [spelled[c] for c in difflib.get_close_matches(name.casefold(), list(spelled), n=3, cutoff=0.75)]
    if scopes:
        hint = f" It has values of that name with {'; '.join(scopes)}: give the same scope options."
    else:
        hint = f" Did you mean {', '.join(repr(k) for k in similar)}?" if similar else ""
    return StateError(f"project {project.name!r}{in_space(project.in_space)} has no value of {shown(name)} with "
                      f"{_scope_text(scope)}.{hint} See `bundlekit variables list {shell_word(project.slug)}"
                      f"{here_flags(project.in_space)}`", code="unknown_variable",
                      details={"name": cut(name), "scopes": scopes, "suggestions": similar})


def unset_variable(zone: Zone, project_ref: str, name: str, *, scope: Mapping[str, tuple[str, ...]] | None = None,
                   now: EpochSeconds, space: str | None = None) -> dict[str, Any]:
    """Remove a value this zone set: a bound placeholder becomes unbound again, an override of a
    release value is dropped (the release's value applies again), a value added here is removed.

    Returns {project, name, scope, unbound, restored}. Raises ``StateError``
    ``unknown_variable``, or ``not_local`` for a release's own value (override it instead).
    """
    with zone.db.transaction() as tx:
        project = find_project(tx, project_ref, zone.name, space=space)
        scope_d = _spelled(tx, project, _scope(scope or {}))
        key = variable_key(name, scope_d)
        local = project.local
        entry = local["variables"].get(key)
        release_value = project.base["variables"].get(key)
        if entry is None:
            raise _no_such_value(project, name, scope_d)
        restored = False
        if entry.get("placeholder"):
            if entry.get("value") is None:
                raise StateError(f"placeholder {name!r} of {project.name!r} has no value set in zone {zone.name}; "
                                 "nothing to unset", code="not_local")
            local["variables"][key] = dict(entry, value=None)
        elif release_value is not None and release_value == entry:
            # the values of that name this zone did set, with their scopes (review r1015u F4)
            mine = [_scope_text(v.get("scope") or {}) for k, v in local["variables"].items()
                    if v["name"].casefold() == name.casefold() and project.base["variables"].get(k) != v
                    and not (v.get("placeholder") and v.get("value") is None)]
            also = (f" Zone {zone.name} set {name} with {'; '.join(mine)}: give those scope options to remove it."
                    if mine else "")
            raise StateError(
                f"{name!r} ({scope_d or 'unscoped'}) of {project.name!r} is the release's value, not one set in zone "
                f"{zone.name}{in_space(project.in_space)}: a release value can be overridden (`bundlekit variables set "
                f"{shell_word(project.slug)} {shell_word(name)} VALUE{here_flags(project.in_space)}` with the same scope), not deleted."
                f"{also}", code="not_local", details={"set_here": mine})
        elif release_value is not None:
            local["variables"][key] = dict(release_value)
            restored = True
        else:
            del local["variables"][key]
        save_local(zone, tx, project.slug, local, now)
    return {"project": project.name, "name": name, "scope": scope_d, "unbound": bool(entry.get("placeholder")),
            "restored": restored}


def set_step_enabled(zone: Zone, project_ref: str, step: str, enabled: bool, now: EpochSeconds, *,
                     space: str | None = None) -> dict[str, Any]:
    """Enable or disable ``step`` in the project's local copy (the project looked up among
    ``space``'s; None: every space's)."""
    with zone.db.transaction() as tx:
        project = find_project(tx, project_ref, zone.name, space=space)
        local = project.local
        key = step.lower()
        if key not in local["steps"]:
            names = ", ".join(s["name"] for s in local["steps"].values())
            raise StateError(f"project {project.name!r}{in_space(project.in_space)} has no step {shown(step)} "
                             f"(steps: {names})", code="unknown_step")
        local["steps"][key] = dict(local["steps"][key], enabled=enabled)
        save_local(zone, tx, project.slug, local, now)
    return {"project": project.name, "step": local["steps"][key]["name"], "enabled": enabled}


def variable_rows(project: ProjectRecord) -> list[dict[str, Any]]:
    """The project's variables for display: sensitive values masked, origin (release/local) shown."""
    out = []
    for key, v in sorted(project.local["variables"].items(), key=lambda kv: (kv[1]["name"].lower(), kv[0])):
        base = project.base["variables"].get(key)
        origin = "release" if base is not None and base == v else "local" if base is None else "local edit"
        if v.get("placeholder"):
            origin = "placeholder (bound)" if v.get("value") is not None else "placeholder (unbound)"
        value = v.get("value")
        out.append({"name": v["name"], "scope": v.get("scope", {}), "sensitive": bool(v.get("sensitive")),
                    "value": (MASK if value is not None else None) if v.get("sensitive") else value,
                    "origin": origin})
    return out


def release_variable_rows(project: ProjectRecord, release: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The variables a deployment of ``release`` (a release row, ``projects.get_release``) would
    use, for display: that release's own snapshot with the zone's values on top, exactly as
    ``deploy/service.py`` composes them (decision 156). Rows as :func:`variable_rows`; ``origin``
    is ``release`` (the release's snapshot value), ``placeholder (unbound)``, or the zone's:
    ``local`` (a name the zone added), ``local edit`` (the zone overrides the release's value),
    ``placeholder (bound)``. A value of the newest release that this release does not carry is
    not listed: a deployment of this release does not use it."""
    snapshot = release["snapshot"]["variables"]
    newest = project.base["variables"]
    chosen: dict[str, tuple[Mapping[str, Any], str]] = {}
    for key, v in snapshot.items():
        unbound = v.get("placeholder") and v.get("value") is None
        chosen[key] = (v, "placeholder (unbound)" if unbound else "release")
    for key, v in project.local["variables"].items():
        if newest.get(key) == v or (v.get("placeholder") and v.get("value") is None):
            continue  # the newest release's own value, or an unbound placeholder: not the zone's
        origin = "placeholder (bound)" if v.get("placeholder") else "local" if key not in newest else "local edit"
        chosen[key] = (v, origin)
    out = []
    for key, (v, origin) in sorted(chosen.items(), key=lambda kv: (kv[1][0]["name"].lower(), kv[0])):
        value = v.get("value")
        out.append({"name": v["name"], "scope": v.get("scope", {}), "sensitive": bool(v.get("sensitive")),
                    "value": (MASK if value is not None else None) if v.get("sensitive") else value,
                    "origin": origin})
    return out


def _masked(v: Mapping[str, Any] | None) -> Any:
    if v is None:
        return None
    value = v.get("value")
    return MASK if v.get("sensitive") and value is not None else value


def plan_update_variables(zone: Zone, project_ref: str, version: str, *, space: str | None = None) -> dict[str, Any]:
    """What ``releases update-variables`` would change: {project, release, from_release, changes};
    the project is looked up among ``space``'s (None: every space's).

    ``changes`` lists ``add``/``remove``/``update`` of variables and placeholders (sensitive
    values masked); ``from_release`` is the newest release, whose variables become the release's.
    """
    with zone.db.read() as db:
        project = find_project(db, project_ref, zone.name, space=space)
        release = project_store.get_release(db, project, version)
        newest = project_store.get_release(db, project, None)
    old, new = release["snapshot"]["variables"], project.base["variables"]
    changes = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        v = b if b is not None else a
        assert v is not None
        action = "add" if a is None else "remove" if b is None else "update"
        changes.append({"action": action, "name": v["name"], "scope": v.get("scope", {}),
                        "sensitive": bool(v.get("sensitive")), "placeholder": bool(v.get("placeholder")),
                        "old": _masked(a), "new": _masked(b)})
    return {"project": project.name, "slug": project.slug, "release": release["version"],
            "from_release": newest["version"], "changes": changes, "variables": new}


def update_variables(zone: Zone, project_ref: str, version: str, *, now: EpochSeconds,
                     space: str | None = None) -> dict[str, Any]:
    """Apply :func:`plan_update_variables` in one transaction; returns the plan (without values)."""
    plan = plan_update_variables(zone, project_ref, version, space=space)
    if plan["changes"]:
        with zone.db.transaction() as tx:
            project_store.update_release_variables(zone, tx, plan["slug"], plan["release"], plan["variables"], now)
    return {k: v for k, v in plan.items() if k != "variables"}
