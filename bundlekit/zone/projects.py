"""Projects and releases a zone imported, as stored in its state.

A project row holds two snapshots (the plain-data shape of ``spec/merge.md``): *base*, the
release content as last imported (or created, in the zone that authored it), and *local*, the
zone's working copy that imports merge into and local edits change (``importer/edits.py``).
A release row keeps the snapshot, lifecycle, release digest and provenance of one version:
what a deployment of that version uses. Only ``releases update-variables`` changes it, and
only its variables.

Every snapshot is sealed on its way in (``secrets.seal_snapshot``): a variable marked
sensitive never reaches the state with its value in clear, whoever built the snapshot
(decision 250).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping

from bundlekit.core.clock import EpochSeconds
from bundlekit.core.names import version_order
from bundlekit.core.text import closest, shell_word
from bundlekit.core.hints import cut, in_space, shown, here_flags
from bundlekit.errors import StateError
from bundlekit.zone import secrets
from bundlekit.zone.db import Reader, Row, Writer
from bundlekit.zone.home import Zone

__all__ = ["Snapshot", "ProjectRecord", "NewRelease", "find_project", "project_for_import", "project_names",
           "project_labels",
           "list_releases", "get_release", "authored_packages", "release_content_digest", "save_local", "record_release",
           "update_release_variables", "lifecycles", "last_lifecycle", "step_roles"]

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
    #: The space of this zone the project belongs to (``space`` is what its source wrote; decision 660).
    in_space: str = "Default"


def _project(row: Row) -> ProjectRecord:
    return ProjectRecord(row["slug"], row["name"], row["space"], row["source_zone_id"], json.loads(row["local"]),
                         json.loads(row["base"]), row["in_space"])


def step_roles(db: Reader, space: str) -> set[str]:
    """Every role a step of a project of ``space`` names (its latest release's and this zone's copy),
    casefolded: the roles a target there can be given though they hold a comma (decision 976)."""
    roles: set[str] = set()
    for row in db.all("SELECT * FROM projects WHERE in_space = ?", (space,)):
        p = _project(row)
        for snap in (p.base, p.local):
            roles.update(r.casefold() for step in snap.get("steps", {}).values() for r in step.get("roles") or ()
                         if isinstance(r, str))
    return roles


def find_project(db: Reader, ref: str, zone_name: str, *, space: str | None = None) -> ProjectRecord:
    """A project by name or slug, case-insensitively, among the projects of ``space`` (None: of
    every space); ``StateError`` ``unknown_project`` naming the known ones of that space only (a
    project of another space is unknown there, decision 660), or, for a project of another space,
    naming that space and its ``--space`` (review newuser finding 3)."""
    where, args = ("", ()) if space is None else (" AND in_space = ?", (space,))
    row = db.one(f"SELECT * FROM projects WHERE (slug = ? OR name = ?){where}", (ref, ref, *args))
    elsewhere = db.one("SELECT slug, in_space FROM projects WHERE slug = ? OR name = ?", (ref, ref)) \
        if row is None and space is not None else None
    if elsewhere is not None:  # slugs are the zone's (decision 660): it can only be that one
        raise StateError(f"no project {ref!r} in space {space} of zone {zone_name}: project {elsewhere['slug']} "
                         f"is in space {elsewhere['in_space']}; add `--space {shell_word(elsewhere['in_space'])}` "
                         "to the command", code="unknown_project",
                         details={"project": ref, "suggestions": [], "space": elsewhere["in_space"]})
    if row is None:
        rows = db.all(f"SELECT slug, name FROM projects WHERE 1 = 1{where} ORDER BY name", args)
        by_key = {k.casefold(): r["slug"] for r in rows for k in (r["name"], r["slug"])}
        similar = list(dict.fromkeys(by_key[k] for k in closest(ref.casefold(), by_key)))
        known = [f"{r['slug']} ({r['name']})" if r["slug"] != r["name"] else r["slug"] for r in rows]
        hint = (f" Did you mean {', '.join(repr(k) for k in similar)}?" if similar else "") + (
            f" Known projects: {', '.join(known)}." if known else
            f" No project has been imported or created yet (`bundlekit import BUNDLE{here_flags(space)}`, "
            f"`bundlekit releases create RELEASE_FILE{here_flags(space)}`).")
        inside = "" if space is None else f" space {space} of"
        raise StateError(f"no project {shown(ref)} in{inside} zone {zone_name}.{hint}", code="unknown_project",
                         details={"project": cut(ref), "suggestions": similar})
    return _project(row)


def project_for_import(db: Reader, slug: str) -> ProjectRecord | None:
    # Slugs are the zone's, whatever the space: the caller refuses one of another space (decision 660).
    """The project an incoming release of ``slug`` would merge into, or ``None`` for a new one."""
    row = db.one("SELECT * FROM projects WHERE slug = ?", (slug,))
    return None if row is None else _project(row)


def project_names(db: Reader) -> dict[str, str]:
    """slug -> name of every project."""
    return {r["slug"]: r["name"] for r in db.all("SELECT slug, name FROM projects")}


def project_labels(db: Reader) -> dict[str, tuple[str, str]]:
    """slug -> (name, space of this zone it belongs to) of every project (decision 660)."""
    return {r["slug"]: (r["name"], r["in_space"]) for r in db.all("SELECT slug, name, in_space FROM projects")}


def list_releases(db: Reader, *, space: str | None = None) -> list[dict[str, Any]]:
    """Every release with its project and source zone names, by project then version (the order
    versions compare in, not import order; ``source`` None and ``local`` true: created in this zone);
    only those of ``space``'s projects when it is given. ``space`` is what the source wrote,
    ``in_space`` the space of this zone the project belongs to (decision 660)."""
    where, args = ("", ()) if space is None else ("WHERE p.in_space = ? ", (space,))
    rows = db.all(
        "SELECT r.project_slug, r.version, r.channel, r.sequence, r.bundle_digest, r.imported_at, "
        "r.release_digest, r.lifecycle, r.variables_updated, r.bundle_id, p.space, p.in_space, "
        "p.name AS project_name, z.name AS source_name FROM releases r "
        "JOIN projects p ON p.slug = r.project_slug LEFT JOIN trusted_zones z ON z.zone_id = r.source_zone_id "
        f"{where}ORDER BY p.name, r.imported_at, r.version", args)
    return [{"project": r["project_name"], "slug": r["project_slug"], "space": r["space"],
             "in_space": r["in_space"], "version": r["version"],
             "channel": r["channel"], "source": r["source_name"], "local": r["bundle_id"] == "",
             "sequence": r["sequence"], "bundle_digest": r["bundle_digest"],
             "release_digest": r["release_digest"], "imported_at": r["imported_at"],
             "variables_updated": r["variables_updated"],
             "lifecycle": json.loads(r["lifecycle"]) if r["lifecycle"] else None}
            for r in sorted(rows, key=lambda r: (r["project_name"].casefold(), version_order(r["version"])))]


def step_count(db: Reader, project_slug: str, version: str, release_digest: str | None) -> int | None:
    """How many steps release ``version`` of ``project_slug`` has in this zone, when this zone holds
    it with that very ``release_digest``; None otherwise (another content, or none known)."""
    row = db.one("SELECT snapshot, release_digest FROM releases WHERE project_slug = ? AND version = ?",
                 (project_slug, version))
    if row is None or not release_digest or row["release_digest"] != release_digest:
        return None
    return len(json.loads(row["snapshot"]).get("steps") or {})


def get_release(db: Reader, project: ProjectRecord, version: str | None) -> dict[str, Any]:
    """One release of ``project`` (the latest imported when ``version`` is None).

    Returns {version, channel, notes, sequence, bundle_digest, bundle_id, imported_at,
    snapshot, output_refs, release_digest, lifecycle (a dict or None), variables_updated,
    source_zone_id}; raises ``StateError`` ``unknown_release`` naming the versions there are.
    """
    if version is None:
        row = db.one("SELECT * FROM releases WHERE project_slug = ? ORDER BY imported_at DESC, sequence DESC LIMIT 1",
                     (project.slug,))
    else:
        row = db.one("SELECT * FROM releases WHERE project_slug = ? AND version = ?", (project.slug, version))
    if row is None:
        known = sorted((r["version"] for r in db.all("SELECT version FROM releases WHERE project_slug = ?",
                                                     (project.slug,))), key=version_order)
        similar = closest(version, known) if version else []
        hint = ((f". Did you mean {', '.join(repr(k) for k in similar)}?" if similar else ".")
                + f" Its releases here: {', '.join(known)}" if known else
                f"; import a release bundle first (or create one: `bundlekit releases create RELEASE_FILE"
                f"{here_flags(project.in_space)}`)")
        raise StateError(f"project {project.name!r}{in_space(project.in_space)} has no release "
                         f"{cut(version) if version else '(none yet)'}{hint}", code="unknown_release",
                         details={"release": None if version is None else cut(version), "known": known,
                                  "suggestions": similar})
    return {"version": row["version"], "channel": row["channel"], "notes": row["notes"],
            "sequence": row["sequence"], "bundle_digest": row["bundle_digest"], "bundle_id": row["bundle_id"],
            "imported_at": row["imported_at"], "snapshot": json.loads(row["snapshot"]),
            "output_refs": json.loads(row["output_refs"]), "release_digest": row["release_digest"],
            "lifecycle": json.loads(row["lifecycle"]) if row["lifecycle"] else None,
            "variables_updated": row["variables_updated"], "source_zone_id": row["source_zone_id"]}


def authored_packages(db: Reader, slug: str, source_zone_id: str,
                      version: str) -> dict[tuple[str, str], tuple[str, int]]:
    """(id, version), both lower case -> (SHA-256, size in bytes) of the packages two releases of
    project ``slug`` that zone ``source_zone_id`` created name (their snapshots): release
    ``version`` (the one being sent again) and the latest one (a new release reusing packages);
    release ``version``'s entry wins when both name one id and version. What export asks before it
    writes a copy into the store (decision 881): these bytes went into the store when the release
    was created here, unless the store lost them since (the caller checks). Two rows at most,
    however many releases the project has."""
    rows = db.all("SELECT snapshot FROM releases WHERE project_slug = ? AND source_zone_id = ? "
                  "ORDER BY imported_at DESC LIMIT 1", (slug, source_zone_id))
    rows += db.all("SELECT snapshot FROM releases WHERE project_slug = ? AND source_zone_id = ? AND version = ?",
                   (slug, source_zone_id, version))
    out: dict[tuple[str, str], tuple[str, int]] = {}
    for row in rows:
        for entry in (json.loads(row["snapshot"]).get("packages") or {}).values():
            try:
                out[(str(entry["id"]).lower(), str(entry["version"]).lower())] = (str(entry["sha256"]),
                                                                                  int(entry["size"]))
            except (KeyError, TypeError, ValueError):
                continue  # a package by reference with no size: nothing to compare a file with
    return out


def release_content_digest(db: Reader, slug: str, version: str) -> str | None:
    """The content digest of an imported release, or ``None`` if that version was never imported."""
    value = db.scalar("SELECT content_digest FROM releases WHERE project_slug = ? AND version = ?", (slug, version))
    return None if value is None else str(value)


def save_local(zone: Zone, tx: Writer, slug: str, local: Snapshot, now: EpochSeconds) -> None:
    """Replace the project's local copy (inside the caller's transaction), sensitive values sealed."""
    local = secrets.seal_snapshot(zone, tx, local)
    tx.run("UPDATE projects SET local = ?, updated = ? WHERE slug = ?", (json.dumps(local), now, slug))


@dataclass(frozen=True, slots=True)
class NewRelease:
    """A release to record: imported (bundle fields set) or created here (``bundle_id`` "", sequence 0)."""

    project: Mapping[str, str]  # name, slug, space
    version: str
    channel: str
    notes: str
    source_zone_id: str
    content_digest: str
    release_digest: str
    snapshot: Snapshot
    output_refs: list[dict[str, Any]] = field(default_factory=list)
    lifecycle: dict[str, Any] | None = None
    bundle_id: str = ""
    bundle_digest: str = ""
    sequence: int = 0
    #: The space of this zone a new project is created in (an existing one keeps its own; decision 660).
    in_space: str = "Default"


def record_release(zone: Zone, tx: Writer, rel: NewRelease, *, local: Snapshot, base: Snapshot,
                   now: EpochSeconds) -> None:
    """A release imported or created (inside the caller's transaction): the project's new local
    copy and base, and the release row (replacing an earlier one of the same version); every
    snapshot's sensitive values sealed."""
    slug = rel.project["slug"]
    local, base = secrets.seal_snapshot(zone, tx, local), secrets.seal_snapshot(zone, tx, base)
    snapshot = secrets.seal_snapshot(zone, tx, rel.snapshot)
    tx.run("INSERT INTO projects(slug, name, space, source_zone_id, local, base, updated, in_space) "
           "VALUES (?,?,?,?,?,?,?,?) "
           "ON CONFLICT(slug) DO UPDATE SET name = excluded.name, space = excluded.space, local = excluded.local, "
           "base = excluded.base, updated = excluded.updated",
           (slug, rel.project["name"], rel.project["space"], rel.source_zone_id, json.dumps(local), json.dumps(base),
            now, rel.in_space))
    tx.run("INSERT INTO releases(project_slug, version, channel, notes, source_zone_id, bundle_id, bundle_digest, "
           "sequence, content_digest, snapshot, output_refs, imported_at, release_digest, lifecycle, "
           "variables_updated) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
           "ON CONFLICT(project_slug, version) DO UPDATE SET version = excluded.version, channel = excluded.channel, "
           "notes = excluded.notes, source_zone_id = excluded.source_zone_id, bundle_id = excluded.bundle_id, "
           "bundle_digest = excluded.bundle_digest, sequence = excluded.sequence, "
           "content_digest = excluded.content_digest, snapshot = excluded.snapshot, "
           "output_refs = excluded.output_refs, imported_at = excluded.imported_at, "
           "release_digest = excluded.release_digest, lifecycle = excluded.lifecycle, "
           "variables_updated = excluded.variables_updated",
           (slug, rel.version, rel.channel, rel.notes, rel.source_zone_id, rel.bundle_id, rel.bundle_digest,
            rel.sequence, rel.content_digest, json.dumps(snapshot), json.dumps(rel.output_refs), now,
            rel.release_digest, json.dumps(rel.lifecycle) if rel.lifecycle is not None else None, None))


def update_release_variables(zone: Zone, tx: Writer, slug: str, version: str, variables: dict[str, Any],
                             now: EpochSeconds) -> None:
    """Replace the variables of one release's snapshot (``releases update-variables``)."""
    row = tx.one("SELECT snapshot FROM releases WHERE project_slug = ? AND version = ?", (slug, version))
    if row is None:
        raise StateError(f"project {slug!r} has no release {version}", code="unknown_release")
    snapshot = json.loads(row["snapshot"])
    snapshot["variables"] = variables
    snapshot = secrets.seal_snapshot(zone, tx, snapshot)
    tx.run("UPDATE releases SET snapshot = ?, variables_updated = ? WHERE project_slug = ? AND version = ?",
           (json.dumps(snapshot), now, slug, version))


def lifecycles(db: Reader) -> list[dict[str, Any]]:
    """The lifecycle of every release that has one, newest release first ({"phases": [...]} each)."""
    rows = db.all("SELECT lifecycle FROM releases WHERE lifecycle IS NOT NULL ORDER BY imported_at DESC")
    return [json.loads(r["lifecycle"]) for r in rows]


def last_lifecycle(db: Reader, project_slug: str) -> dict[str, Any] | None:
    """The lifecycle of the project's newest release that has one (by the source's sequence, then
    when imported), with ``kept_from``: the version whose release file carried it (a lifecycle a
    release kept from an earlier one keeps naming that one; decision 681); None when no release
    of the project has a lifecycle."""
    row = db.one("SELECT version, lifecycle FROM releases WHERE project_slug = ? AND lifecycle IS NOT NULL "
                 "ORDER BY sequence DESC, imported_at DESC LIMIT 1", (project_slug,))
    if row is None:
        return None
    lifecycle: dict[str, Any] = json.loads(row["lifecycle"])
    lifecycle.setdefault("kept_from", row["version"])
    return lifecycle
