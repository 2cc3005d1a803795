"""Projects and releases a zone imported, as stored in its state.

A project row holds two snapshots (the plain-data shape of ``spec/merge.md``): *base*, the
release content as last imported, and *local*, the zone's working copy that imports merge
into and local edits change (``importer/edits.py``). A release row keeps the snapshot and
the provenance of one imported version; it is never edited.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bundlekit.core.clock import EpochSeconds
from bundlekit.errors import StateError
from bundlekit.format.manifest import Manifest
from bundlekit.zone.db import Reader, Row, Writer

__all__ = ["Snapshot", "ProjectRecord", "find_project", "project_for_import", "project_names", "list_releases",
           "get_release", "release_content_digest", "save_local", "record_release"]

#: A project snapshot: {"variables": {...}, "steps": {...}, "step_order": [...], "packages": {...}}.
Snapshot = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ProjectRecord:
    slug: str
    name: str
    space: str
    source_zone_id: str
    local: Snapshot
    base: Snapshot


def _project(row: Row) -> ProjectRecord:
    return ProjectRecord(row["slug"], row["name"], row["space"], row["source_zone_id"], json.loads(row["local"]),
                         json.loads(row["base"]))


def find_project(db: Reader, ref: str, zone_name: str) -> ProjectRecord:
    """A project by name or slug, case-insensitively; ``StateError`` ``unknown_project`` naming the known ones."""
    row = db.one("SELECT * FROM projects WHERE slug = ? OR name = ?", (ref, ref))
    if row is None:
        known = [r["name"] for r in db.all("SELECT name FROM projects ORDER BY name")]
        hint = f" Known projects: {', '.join(known)}." if known else " No project has been imported yet."
        raise StateError(f"no project {ref!r} in zone {zone_name}.{hint}", code="unknown_project")
    return _project(row)


def project_for_import(db: Reader, slug: str) -> ProjectRecord | None:
    """The project an incoming release of ``slug`` would merge into, or ``None`` for a new one."""
    row = db.one("SELECT * FROM projects WHERE slug = ?", (slug,))
    return None if row is None else _project(row)


def project_names(db: Reader) -> dict[str, str]:
    """slug -> name of every project."""
    return {r["slug"]: r["name"] for r in db.all("SELECT slug, name FROM projects")}


def list_releases(db: Reader) -> list[dict[str, Any]]:
    """Every imported release with its project and source zone names, by project then import time."""
    rows = db.all(
        "SELECT r.project_slug, r.version, r.channel, r.sequence, r.bundle_digest, r.imported_at, "
        "p.name AS project_name, z.name AS source_name FROM releases r "
        "JOIN projects p ON p.slug = r.project_slug LEFT JOIN trusted_zones z ON z.zone_id = r.source_zone_id "
        "ORDER BY p.name, r.imported_at, r.version")
    return [{"project": r["project_name"], "slug": r["project_slug"], "version": r["version"], "channel": r["channel"],
             "source": r["source_name"], "sequence": r["sequence"], "bundle_digest": r["bundle_digest"],
             "imported_at": r["imported_at"]} for r in rows]


def get_release(db: Reader, project: ProjectRecord, version: str | None) -> dict[str, Any]:
    """One release of ``project`` (the latest imported when ``version`` is None).

    Returns {version, channel, notes, sequence, bundle_digest, bundle_id, imported_at,
    snapshot, output_refs}; raises ``StateError`` ``unknown_release`` naming the imported versions.
    """
    if version is None:
        row = db.one("SELECT * FROM releases WHERE project_slug = ? ORDER BY imported_at DESC, sequence DESC LIMIT 1",
                     (project.slug,))
    else:
        row = db.one("SELECT * FROM releases WHERE project_slug = ? AND version = ?", (project.slug, version))
    if row is None:
        known = [r["version"] for r in db.all("SELECT version FROM releases WHERE project_slug = ? "
                                              "ORDER BY imported_at", (project.slug,))]
        hint = f"; imported: {', '.join(known)}" if known else "; import a release bundle first"
        raise StateError(f"project {project.name!r} has no release {version or '(none imported)'}{hint}",
                         code="unknown_release")
    return {"version": row["version"], "channel": row["channel"], "notes": row["notes"],
            "sequence": row["sequence"], "bundle_digest": row["bundle_digest"], "bundle_id": row["bundle_id"],
            "imported_at": row["imported_at"], "snapshot": json.loads(row["snapshot"]),
            "output_refs": json.loads(row["output_refs"])}


def release_content_digest(db: Reader, slug: str, version: str) -> str | None:
    """The content digest of an imported release, or ``None`` if that version was never imported."""
    value = db.scalar("SELECT content_digest FROM releases WHERE project_slug = ? AND version = ?", (slug, version))
    return None if value is None else str(value)


def save_local(tx: Writer, slug: str, local: Snapshot, now: EpochSeconds) -> None:
    """Replace the project's local copy (inside the caller's transaction)."""
    tx.run("UPDATE projects SET local = ?, updated = ? WHERE slug = ?", (json.dumps(local), now, slug))


def record_release(tx: Writer, m: Manifest, *, source_zone_id: str, bundle_digest: str, content_digest: str,
                   local: Snapshot, base: Snapshot, now: EpochSeconds) -> None:
    """An imported release (inside the import's transaction): the project's new local copy and base,
    and the release row (replacing an earlier import of the same version)."""
    slug = m.project["slug"]
    tx.run("INSERT INTO projects(slug, name, space, source_zone_id, local, base, updated) VALUES (?,?,?,?,?,?,?) "
           "ON CONFLICT(slug) DO UPDATE SET name = excluded.name, space = excluded.space, local = excluded.local, "
           "base = excluded.base, updated = excluded.updated",
           (slug, m.project["name"], m.project["space"], source_zone_id, json.dumps(local), json.dumps(base), now))
    tx.run("INSERT INTO releases(project_slug, version, channel, notes, source_zone_id, bundle_id, bundle_digest, "
           "sequence, content_digest, snapshot, output_refs, imported_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) "
           "ON CONFLICT(project_slug, version) DO UPDATE SET version = excluded.version, channel = excluded.channel, "
           "notes = excluded.notes, source_zone_id = excluded.source_zone_id, bundle_id = excluded.bundle_id, "
           "bundle_digest = excluded.bundle_digest, sequence = excluded.sequence, "
           "content_digest = excluded.content_digest, snapshot = excluded.snapshot, "
           "output_refs = excluded.output_refs, imported_at = excluded.imported_at",
           (slug, m.release["version"], m.release["channel"], m.release["notes"], source_zone_id, m.bundle_id,
            bundle_digest, m.sequence, content_digest, json.dumps(base),
            json.dumps([o.to_dict() for o in m.output_refs]), now))
