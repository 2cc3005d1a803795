"""The local edits production makes to an imported project.

The project's *local* snapshot (``zone/projects.py``) is the zone's working copy: imports
merge into it, and ``variables set|unset`` and ``steps enable|disable`` edit it, each in one
transaction. Entries are keyed as the merge keys them (``importer/merge.py``), so a later
import sees a local edit as one. A sensitive value set here is sealed at rest
(``zone/secrets.py``) and never printed.
"""

from __future__ import annotations

from typing import Any

from bundlekit.core.clock import EpochSeconds
from bundlekit.core.text import MASK
from bundlekit.errors import InputError, StateError
from bundlekit.importer.merge_model import variable_key
from bundlekit.zone import secrets
from bundlekit.zone.home import Zone
from bundlekit.zone.projects import ProjectRecord, find_project, save_local

__all__ = ["set_variable", "unset_variable", "set_step_enabled", "variable_rows"]


def _scope(environment: tuple[str, ...], role: tuple[str, ...], machine: tuple[str, ...]) -> dict[str, list[str]]:
    out = {}
    for dim, vals in (("environment", environment), ("role", role), ("machine", machine)):
        if vals:
            out[dim] = sorted(set(vals))
    return out


def set_variable(zone: Zone, project_ref: str, name: str, value: str, *, sensitive: bool = False,
                 environment: tuple[str, ...] = (), role: tuple[str, ...] = (), machine: tuple[str, ...] = (),
                 now: EpochSeconds) -> dict[str, Any]:
    """Set (or bind a placeholder's) value in the project's local copy."""
    if not name.strip():
        raise InputError("variable name must not be empty", code="invalid_input")
    with zone.db.transaction() as tx:
        project = find_project(tx, project_ref, zone.name)
        scope = _scope(environment, role, machine)
        key = variable_key(name, scope)
        local = project.local
        entry = dict(local["variables"].get(key) or {"name": name, "scope": scope, "placeholder": False})
        is_sensitive = sensitive or bool(entry.get("sensitive"))
        entry["sensitive"] = is_sensitive
        entry["value"] = secrets.store(zone, tx, value) if is_sensitive else value
        local["variables"][key] = entry
        save_local(tx, project.slug, local, now)
    return {"project": project.name, "name": entry["name"], "scope": scope, "sensitive": is_sensitive,
            "placeholder": bool(entry.get("placeholder")), "value": MASK if is_sensitive else value}


def unset_variable(zone: Zone, project_ref: str, name: str, *, environment: tuple[str, ...] = (),
                   role: tuple[str, ...] = (), machine: tuple[str, ...] = (), now: EpochSeconds) -> dict[str, Any]:
    """Remove a local value: a bound placeholder becomes unbound again; another variable is removed."""
    with zone.db.transaction() as tx:
        project = find_project(tx, project_ref, zone.name)
        scope = _scope(environment, role, machine)
        key = variable_key(name, scope)
        local = project.local
        entry = local["variables"].get(key)
        if entry is None:
            raise StateError(f"project {project.name!r} has no variable {name!r} with scope {scope or 'unscoped'}; "
                             "see `bundlekit variables list`", code="unknown_variable")
        if entry.get("placeholder"):
            entry = dict(entry, value=None)
            local["variables"][key] = entry
        else:
            del local["variables"][key]
        save_local(tx, project.slug, local, now)
    return {"project": project.name, "name": name, "scope": scope, "unbound": bool(entry.get("placeholder"))}


def set_step_enabled(zone: Zone, project_ref: str, step: str, enabled: bool, now: EpochSeconds) -> dict[str, Any]:
    with zone.db.transaction() as tx:
        project = find_project(tx, project_ref, zone.name)
        local = project.local
        key = step.lower()
        if key not in local["steps"]:
            names = ", ".join(s["name"] for s in local["steps"].values())
            raise StateError(f"project {project.name!r} has no step {step!r} (steps: {names})", code="unknown_step")
        local["steps"][key] = dict(local["steps"][key], enabled=enabled)
        save_local(tx, project.slug, local, now)
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
