"""What an imported release inherits from, or takes away from, the project's earlier releases.

* a lifecycle: a release without ``[lifecycle]`` of a project an earlier release of which had
  one keeps that lifecycle unless the operator accepts its removal (decision 681);
* waivers: ``import --replace`` withdraws the waivers made for the version it replaces, since
  they approved other content (decision 683); waivers for every release stay.
"""

from __future__ import annotations

from typing import Any

from bundlekit.format.manifest import Manifest
from bundlekit.zone import projects
from bundlekit.zone.db import Reader, Row
from bundlekit.zone.evidence import ALL_RELEASES, waivers_for

__all__ = ["kept_lifecycle", "waivers_withdrawn"]


def kept_lifecycle(db: Reader, manifest: Manifest, accept: bool) -> tuple[str | None, dict[str, Any] | None]:
    """``(removed_from, kept)`` for a release ``manifest`` that carries no lifecycle:
    ``removed_from`` is the version whose release file last carried one (None: no earlier
    release had one), ``kept`` that lifecycle (marked ``kept_from``), or None when the operator
    ``accept``-ed the removal or there is none to keep."""
    last = projects.last_lifecycle(db, manifest.project["slug"])
    if last is None:
        return None, None
    return str(last["kept_from"]), None if accept else last


def waivers_withdrawn(db: Reader, manifest: Manifest) -> list[Row]:
    """The waivers made for the very version ``manifest`` replaces (not those for every release)."""
    return [w for w in waivers_for(db, manifest.project["space"], manifest.project["slug"],
                                   manifest.release["version"]) if w["release"] != ALL_RELEASES]
