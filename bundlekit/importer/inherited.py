"""What an imported release inherits from, or takes away from, the project's earlier releases.

* a lifecycle: a release without ``[lifecycle]`` of a project an earlier release of which had
  one keeps that lifecycle unless the operator accepts its removal (decision 681); so does a
  release whose lifecycle demands less proof than that one did (decision 720);
* waivers: ``import --replace`` withdraws the waivers made for the version it replaces, since
  they approved other content (decision 683); waivers for every release stay.
"""

from __future__ import annotations

from typing import Any

from bundlekit.format.lifecycle import Lifecycle, weakened
from bundlekit.format.manifest import Manifest
from bundlekit.zone import projects
from bundlekit.zone.db import Reader, Row
from bundlekit.zone.evidence import ALL_RELEASES, waivers_for

__all__ = ["kept_lifecycle", "waivers_withdrawn"]


def kept_lifecycle(db: Reader, manifest: Manifest, accept: bool
                   ) -> tuple[str | None, dict[str, Any] | None, list[str]]:
    """``(removed_from, kept, skipped)`` for a release ``manifest``. For one that carries no
    lifecycle, ``removed_from`` is the version whose release file last carried one; for one
    whose lifecycle demands less than that one (``format.lifecycle.weakened``), that version
    too, and ``skipped`` says what the release's own lifecycle no longer demands. ``kept`` is
    that earlier lifecycle (marked ``kept_from``, and ``weakened``: ``skipped``), or None when
    the operator ``accept``-ed the release's own. ``(None, None, [])``: nothing earlier, or
    nothing less demanded."""
    last = projects.last_lifecycle(db, manifest.project["slug"])
    if last is None:
        return None, None, []
    skipped: list[str] = []
    if manifest.lifecycle is not None:
        skipped = weakened(Lifecycle.from_dict(last), manifest.lifecycle)
        if not skipped:
            return None, None, []
    kept = {"phases": last["phases"], "kept_from": last["kept_from"], **({"weakened": skipped} if skipped else {})}
    return str(last["kept_from"]), None if accept else kept, skipped


def waivers_withdrawn(db: Reader, manifest: Manifest) -> list[Row]:
    """The waivers made for the very version ``manifest`` replaces (not those for every release)."""
    return [w for w in waivers_for(db, manifest.project["space"], manifest.project["slug"],
                                   manifest.release["version"]) if w["release"] != ALL_RELEASES]
