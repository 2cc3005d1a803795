"""Prune: plan what retention lets go, print it, then remove it (``bundlekit prune``).

What a plan can remove, each with its size and why:

* ``package``: a package of the zone's store that no kept release uses (its file, when no
  kept release shares the bytes, and its record: the next receipt's inventory drops it, so
  the source zone sends it again with a later release that needs it);
* ``store_file``: a file of the package store no package record names, older than an hour
  (what an interrupted import left; younger ones may belong to an import under way);
* ``staging``: an import's staging folder untouched for an hour;
* ``target_folder``: ``<root>/<package id>/<version>`` on a local target whose release is not
  kept for the target's environment (never the current or previous successful one);
* ``work_folder``: ``<root>/.bundlekit-work/<deployment id>`` of a finished deployment, on
  a target or the zone's own work folder.

Only folders bundlekit made are candidates (a package id and version of a release this zone
holds); links are never followed or removed. :func:`plan_prune` writes nothing;
:func:`apply_prune` forgets the package records and records the prune in one transaction,
then deletes the files. Decision 194.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bundlekit.core.clock import EpochSeconds, utc_text
from bundlekit.errors import StateError
from bundlekit.deploy.targets import WORK_FOLDER
from bundlekit.retention.rules import Keep, ReleaseKey, decide
from bundlekit.zone import projects
from bundlekit.zone import retention as state
from bundlekit.zone.home import Zone
from bundlekit.zone.store import PackageStore
from bundlekit.zone.targets import list_targets

__all__ = ["Removal", "PrunePlan", "plan_prune", "apply_prune", "refuse_pruned", "LEFTOVER_AGE"]

#: Staging folders and unreferenced store files younger than this may belong to an import under way.
LEFTOVER_AGE = 3600


@dataclass(frozen=True, slots=True)
class Removal:
    """One thing prune removes: ``kind`` (see the module docstring), what it is, where, how big, why."""

    kind: str
    what: str
    path: str
    size: int
    reason: str
    record: tuple[str, str, str] | None = None  # a package record (id, version, sha256) to forget

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "what": self.what, "path": self.path, "bytes": self.size, "reason": self.reason}


@dataclass
class PrunePlan:
    """What :func:`apply_prune` would remove and which releases stay (with why)."""

    removals: list[Removal] = field(default_factory=list)
    kept: list[dict[str, Any]] = field(default_factory=list)
    policies: list[state.Policy] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def freed_bytes(self) -> int:
        return sum(r.size for r in self.removals)

    def to_dict(self) -> dict[str, Any]:
        return {"policies": [p.to_dict() for p in self.policies], "remove": [r.to_dict() for r in self.removals],
                "freed_bytes": self.freed_bytes, "kept": self.kept, "skipped": self.skipped}


def _tree_size(path: Path) -> int:
    total = 0
    for folder, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                pass
    return total


def _plain_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()


def _old(path: Path, now: float) -> bool:
    try:
        return now - path.stat().st_mtime >= LEFTOVER_AGE
    except OSError:
        return False


def plan_prune(zone: Zone, *, now: EpochSeconds) -> PrunePlan:
    """Plan a prune of ``zone`` under its retention policies (``now``: Unix seconds). Writes nothing."""
    db = zone.db
    with db.read() as r:
        policies = state.policies(r)
        releases = state.releases(r)
        deployments = state.deployments(r)
        records = state.packages(r)
        targets = list_targets(r)
    keep = decide(releases, deployments, policies, now)
    plan = PrunePlan(policies=sorted(policies.values(), key=lambda p: p.environment.lower()))
    by_key = {(x["project_slug"].lower(), x["version"].lower()): x for x in releases}
    for key, x in sorted(by_key.items()):
        if keep.kept(key):
            plan.kept.append({"project": x["project"], "version": x["version"], "reasons": keep.reasons[key]})
    _plan_store(zone, plan, keep, releases, records, now)
    _plan_staging(zone, plan, now)
    _plan_targets(zone, plan, keep, by_key, targets, deployments)
    return plan


def _plan_store(zone: Zone, plan: PrunePlan, keep: Keep, releases: list[dict[str, Any]],
                records: list[dict[str, Any]], now: float) -> None:
    store = PackageStore(zone.home)
    kept_pairs: set[tuple[str, str]] = set()
    kept_digests: set[str] = set()
    used_by: dict[tuple[str, str], list[str]] = {}
    for x in releases:
        key: ReleaseKey = (x["project_slug"].lower(), x["version"].lower())
        for p in x["packages"]:
            pair = (p["id"].lower(), p["version"].lower())
            used_by.setdefault(pair, []).append(f"{x['project']} {x['version']}")
            if keep.kept(key):
                kept_pairs.add(pair)
                kept_digests.add(p["sha256"])
    removed_digests: set[str] = set()
    for rec in records:
        pair = (rec["id"].lower(), rec["version"].lower())
        if pair in kept_pairs:
            continue
        sha = rec["sha256"]
        path = store.path(sha)
        shared = sha in kept_digests or sha in removed_digests
        size = 0 if shared or not path.is_file() else path.stat().st_size
        removed_digests.add(sha)
        users = used_by.get(pair)
        reason = ("used only by releases retention lets go: " + ", ".join(users)) if users else "used by no release"
        plan.removals.append(Removal("package", f"{rec['id']} {rec['version']}", "" if shared else str(path), size,
                                     reason, (rec["id"], rec["version"], sha)))
    referenced = {rec["sha256"] for rec in records}
    if store.root.is_dir():
        for sub in sorted(store.root.iterdir()):
            if not _plain_dir(sub):
                continue
            for f in sorted(sub.iterdir()):
                if f.is_file() and not f.is_symlink() and f.name not in referenced and _old(f, now):
                    plan.removals.append(Removal("store_file", f.name[:16] + "...", str(f), f.stat().st_size,
                                                 "no package record names it (left by an interrupted import)"))


def _plan_staging(zone: Zone, plan: PrunePlan, now: float) -> None:
    base = zone.home / "staging"
    if not _plain_dir(base):
        return
    for d in sorted(base.iterdir()):
        if _plain_dir(d) and _old(d, now):
            plan.removals.append(Removal("staging", d.name, str(d), _tree_size(d),
                                         "an import's staging folder, untouched for an hour"))


def _plan_targets(zone: Zone, plan: PrunePlan, keep: Keep, by_key: dict[ReleaseKey, dict[str, Any]],
                  targets: list[Any], deployments: list[dict[str, Any]]) -> None:
    ours: dict[tuple[str, str], set[ReleaseKey]] = {}
    for key, x in by_key.items():
        for p in x["packages"]:
            ours.setdefault((p["id"].lower(), p["version"].lower()), set()).add(key)
    running = {d["id"] for d in deployments if d["state"] == "Executing"}
    finished = {d["id"] for d in deployments if d["state"] != "Executing"}
    roots: list[tuple[str, Path]] = [("the zone", zone.home / "zone-target")]
    for t in targets:
        if t.kind != "local":
            plan.skipped.append(f"target {t.name} ({t.kind}): its folders are not pruned from this zone")
            continue
        root = Path(t.root)
        roots.append((f"target {t.name}", root))
        kept_here = keep.by_environment.get(t.environment.lower(), set())
        if not _plain_dir(root):
            continue
        for pkg_dir in sorted(root.iterdir()):
            if not _plain_dir(pkg_dir) or pkg_dir.name == WORK_FOLDER:
                continue
            for ver_dir in sorted(pkg_dir.iterdir()):
                releases = ours.get((pkg_dir.name.lower(), ver_dir.name.lower()))
                if not releases or not _plain_dir(ver_dir) or releases & kept_here:
                    continue
                plan.removals.append(Removal(
                    "target_folder", f"{t.name}: {pkg_dir.name} {ver_dir.name}", str(ver_dir), _tree_size(ver_dir),
                    f"no release kept for {t.environment} installs it here"))
    for label, root in roots:
        work = root / WORK_FOLDER
        if not _plain_dir(work):
            continue
        for d in sorted(work.iterdir()):
            if _plain_dir(d) and d.name in finished and d.name not in running:
                plan.removals.append(Removal("work_folder", f"{label}: {d.name}", str(d), _tree_size(d),
                                             f"working folder of {d.name}, which has ended"))


def apply_prune(zone: Zone, plan: PrunePlan, *, now: EpochSeconds) -> None:
    """Remove what ``plan`` lists: package records forgotten and the prune recorded in one
    transaction, then the files and folders (a crash in between leaves unreferenced files,
    which the next prune removes)."""
    records = [r.record for r in plan.removals if r.record is not None]
    with zone.db.transaction() as tx:
        state.delete_packages(tx, records, now)
        state.record_prune(tx, now, plan.freed_bytes, {"remove": [r.to_dict() for r in plan.removals]})
    for r in plan.removals:
        if not r.path:
            continue
        path = Path(r.path)
        if path.is_symlink():
            continue
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)




def refuse_pruned(zone: Zone, project_ref: str, version: str) -> None:
    """Refuse (``StateError`` ``release_pruned``) to deploy a release whose packages prune removed,
    saying how to bring them back; a release whose packages are all held passes."""
    project = projects.find_project(zone.db, project_ref, zone.name)
    release = projects.get_release(zone.db, project, version)
    for p in release["snapshot"]["packages"].values():
        when = state.pruned_at(zone.db, p["id"], p["version"])
        if when is not None:
            raise StateError(
                f"{project.name} {release['version']}: package {p['id']} {p['version']} was removed by `bundlekit "
                f"prune` on {utc_text(when)} (retention policy); to deploy this release again, export it once more "
                "in its source zone with --full and import that bundle here", code="release_pruned",
                details={"package": p["id"], "version": p["version"], "pruned_at": when})
