"""Projects and releases a zone imported, and the local edits production makes to them.

The project's *local* snapshot is the zone's working copy: imports merge into it, and
``variables set|unset`` and ``steps enable|disable`` edit it, each in one transaction. A
sensitive value set here is sealed at rest (``zone/secrets.py``) and never printed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bundlekit.errors import InputError, StateError
from bundlekit.importer.merge import MASK, Snapshot, variable_key
from bundlekit.zone import secrets, state
from bundlekit.zone.home import Zone

__all__ = ["ProjectRecord", "find_project", "list_releases", "get_release", "set_variable", "unset_variable",
           "set_step_enabled", "variable_rows"]


@dataclass(frozen=True, slots=True)
class ProjectRecord:
    slug: str
    name: str
    space: str
    source_zone_id: str
    local: Snapshot
    base: Snapshot


def find_project(zone: Zone, ref: str) -> ProjectRecord:
    """A project by name or slug, case-insensitively."""
    row = zone.db.execute("SELECT * FROM projects WHERE slug = ? OR name = ?", (ref, ref)).fetchone()
    if row is None:
        known = [r[0] for r in zone.db.execute("SELECT name FROM projects ORDER BY name")]
        hint = f" Known projects: {', '.join(known)}." if known else " No project has been imported yet."
        raise StateError(f"no project {ref!r} in zone {zone.name}.{hint}", code="unknown_project")
    return ProjectRecord(row["slug"], row["name"], row["space"], row["source_zone_id"], json.loads(row["local"]),
                         json.loads(row["base"]))


def list_releases(zone: Zone) -> list[dict[str, Any]]:
    rows = zone.db.execute(
        "SELECT r.*, p.name AS project_name, z.name AS source_name FROM releases r "
        "JOIN projects p ON p.slug = r.project_slug LEFT JOIN trusted_zones z ON z.zone_id = r.source_zone_id "
        "ORDER BY p.name, r.imported_at, r.version").fetchall()
    return [{"project": r["project_name"], "slug": r["project_slug"], "version": r["version"], "channel": r["channel"],
             "source": r["source_name"], "sequence": r["sequence"], "bundle_digest": r["bundle_digest"],
             "imported_at": r["imported_at"]} for r in rows]


def get_release(zone: Zone, project: ProjectRecord, version: str | None) -> dict[str, Any]:
    if version is None:
        row = zone.db.execute("SELECT * FROM releases WHERE project_slug = ? ORDER BY imported_at DESC, sequence DESC "
                              "LIMIT 1", (project.slug,)).fetchone()
    else:
        row = zone.db.execute("SELECT * FROM releases WHERE project_slug = ? AND version = ?",
                              (project.slug, version)).fetchone()
    if row is None:
        known = [r[0] for r in zone.db.execute("SELECT version FROM releases WHERE project_slug = ? "
                                               "ORDER BY imported_at", (project.slug,))]
        hint = f"; imported: {', '.join(known)}" if known else "; import a release bundle first"
        raise StateError(f"project {project.name!r} has no release {version or '(none imported)'}{hint}",
                         code="unknown_release")
    return {"version": row["version"], "channel": row["channel"], "notes": row["notes"],
            "sequence": row["sequence"], "bundle_digest": row["bundle_digest"], "bundle_id": row["bundle_id"],
            "imported_at": row["imported_at"], "snapshot": json.loads(row["snapshot"]),
            "output_refs": json.loads(row["output_refs"])}


def _scope(environment: tuple[str, ...], role: tuple[str, ...], machine: tuple[str, ...]) -> dict[str, list[str]]:
    out = {}
    for dim, vals in (("environment", environment), ("role", role), ("machine", machine)):
        if vals:
            out[dim] = sorted(set(vals))
    return out


def _save_local(zone: Zone, project: ProjectRecord, local: Snapshot, now: int) -> None:
    zone.db.execute("UPDATE projects SET local = ?, updated = ? WHERE slug = ?", (json.dumps(local), now, project.slug))


def set_variable(zone: Zone, project_ref: str, name: str, value: str, *, sensitive: bool = False,
                 environment: tuple[str, ...] = (), role: tuple[str, ...] = (), machine: tuple[str, ...] = (),
                 now: int) -> dict[str, Any]:
    """Set (or bind a placeholder's) value in the project's local copy."""
    if not name.strip():
        raise InputError("variable name must not be empty", code="invalid_input")
    with state.transaction(zone.db):
        project = find_project(zone, project_ref)
        scope = _scope(environment, role, machine)
        key = variable_key(name, scope)
        local = project.local
        entry = dict(local["variables"].get(key) or {"name": name, "scope": scope, "placeholder": False})
        is_sensitive = sensitive or bool(entry.get("sensitive"))
        entry["sensitive"] = is_sensitive
        entry["value"] = secrets.store(zone, value) if is_sensitive else value
        local["variables"][key] = entry
        _save_local(zone, project, local, now)
    return {"project": project.name, "name": entry["name"], "scope": scope, "sensitive": is_sensitive,
            "placeholder": bool(entry.get("placeholder")), "value": MASK if is_sensitive else value}


def unset_variable(zone: Zone, project_ref: str, name: str, *, environment: tuple[str, ...] = (),
                   role: tuple[str, ...] = (), machine: tuple[str, ...] = (), now: int) -> dict[str, Any]:
    """Remove a local value: a bound placeholder becomes unbound again; another variable is removed."""
    with state.transaction(zone.db):
        project = find_project(zone, project_ref)
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
        _save_local(zone, project, local, now)
    return {"project": project.name, "name": name, "scope": scope, "unbound": bool(entry.get("placeholder"))}


def set_step_enabled(zone: Zone, project_ref: str, step: str, enabled: bool, now: int) -> dict[str, Any]:
    with state.transaction(zone.db):
        project = find_project(zone, project_ref)
        local = project.local
        key = step.lower()
        if key not in local["steps"]:
            names = ", ".join(s["name"] for s in local["steps"].values())
            raise StateError(f"project {project.name!r} has no step {step!r} (steps: {names})", code="unknown_step")
        local["steps"][key] = dict(local["steps"][key], enabled=enabled)
        _save_local(zone, project, local, now)
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
