"""Refusing to deploy a release whose packages ``bundlekit prune`` removed, with how to bring
them back (``deploy`` asks before it plans)."""

from __future__ import annotations

from bundlekit.core.hints import home_flag
from bundlekit.core.clock import utc_text
from bundlekit.errors import StateError
from bundlekit.zone import projects
from bundlekit.zone import retention as state
from bundlekit.zone.home import Zone

__all__ = ["refuse_pruned", "pruned_releases"]


def pruned_releases(zone: Zone) -> set[tuple[str, str]]:
    """The releases (lowercased project slug, version) a package of which `bundlekit prune`
    removed and the store does not hold again: what `releases list` marks (review r1015u F7)."""
    with zone.db.read() as db:
        return {(str(x["project_slug"]).lower(), str(x["version"]).lower()) for x in state.releases(db)
                if any(state.pruned_at(db, p["id"], p["version"]) is not None and not zone.store.has(p["sha256"])
                       for p in x["packages"])}


def refuse_pruned(zone: Zone, project_ref: str, version: str) -> None:
    """Refuse (``StateError`` ``release_pruned``) to deploy a release whose packages prune removed,
    saying how to bring them back; a release whose packages are all held passes."""
    project = projects.find_project(zone.db, project_ref, zone.name)
    release = projects.get_release(zone.db, project, version)
    for p in release["snapshot"]["packages"].values():
        when = state.pruned_at(zone.db, p["id"], p["version"])
        if when is not None and not zone.store.has(p["sha256"]):  # bytes brought back (created again) count
            again = (f"run `bundlekit releases create RELEASE_FILE{home_flag()}` on its release file again (it copies the package files back)"
                     if project.source_zone_id == zone.zone_id else
                     "import the bundle that delivered it again if you still have it (an identical bundle "
                     "puts its packages back), or export it once more in its source zone with --full and import "
                     "that bundle here")
            raise StateError(
                f"{project.name} {release['version']}: package {p['id']} {p['version']} was removed by bundlekit "
                f"prune on {utc_text(when)} (retention policy); to deploy this release again, {again}",
                code="release_pruned",
                details={"package": p["id"], "version": p["version"], "pruned_at": when})
