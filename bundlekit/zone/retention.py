"""Retention in a zone's state: the policies, what prune reads, and the record of what it removed.

A policy says how many releases to keep per project and environment (``keep_releases``), or
for how many days (``keep_days``); neither means keep everything. The row for environment
``""`` is the zone's default; a row per environment overrides it there (as Octopus sets
retention per lifecycle phase). ``auto_prune`` on the default row runs prune after each
successful deployment. The rules themselves are in ``bundlekit/retention/``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable

from bundlekit.core.clock import EpochSeconds
from bundlekit.zone.db import Database, Reader, Writer
from bundlekit.zone.deployments import BY_NUMBER

__all__ = ["PRUNE_CLAIM", "MAX_KEEP", "Policy", "policies", "set_policy", "change_policy", "releases", "deployments", "packages",
           "delete_packages", "held_elsewhere", "record_prune", "pruned_at", "last_prune"]

#: The claim (``Database.claim``) a prune holds while it removes files: no deployment starts
#: meanwhile, and a second prune is refused (decision 197).
PRUNE_CLAIM = "prune"


#: The largest count of releases or days a policy keeps: the command line refuses more (a
#: number SQLite could not store would end in a traceback, and no zone keeps a million).
MAX_KEEP = 1_000_000


@dataclass(frozen=True, slots=True)
class Policy:
    """``environment`` ``""`` is the zone default; ``keep_releases``/``keep_days`` None: no limit."""

    environment: str = ""
    keep_releases: int | None = None
    keep_days: int | None = None
    auto_prune: bool = False

    @property
    def keeps_all(self) -> bool:
        return self.keep_releases is None and self.keep_days is None

    def describe(self) -> str:
        if self.keep_releases is not None:
            rule = f"keep the last {self.keep_releases} release(s)"
        elif self.keep_days is not None:
            rule = f"keep releases deployed in the last {self.keep_days} day(s)"
        else:
            rule = "keep every release"
        return rule + (" per project" + (f" in {self.environment}" if self.environment else " and environment"))

    def to_dict(self) -> dict[str, Any]:
        return {"environment": self.environment or None, "keep_releases": self.keep_releases,
                "keep_days": self.keep_days, "auto_prune": self.auto_prune}


def policies(db: Reader) -> dict[str, Policy]:
    """Lowercased environment (``""`` for the default) -> policy; the default is always there."""
    out = {"": Policy()}
    for r in db.all("SELECT environment, keep_releases, keep_days, auto_prune FROM retention"):
        out[str(r["environment"]).lower()] = Policy(str(r["environment"]), r["keep_releases"], r["keep_days"],
                                                    bool(r["auto_prune"]))
    return out


def set_policy(tx: Writer, policy: Policy, now: EpochSeconds) -> None:
    """Record ``policy`` (replacing the one of its environment)."""
    tx.run("INSERT INTO retention(environment, keep_releases, keep_days, auto_prune, updated) VALUES (?,?,?,?,?) "
           "ON CONFLICT(environment) DO UPDATE SET keep_releases = excluded.keep_releases, "
           "keep_days = excluded.keep_days, auto_prune = excluded.auto_prune, updated = excluded.updated",
           (policy.environment, policy.keep_releases, policy.keep_days, int(policy.auto_prune), now))


def change_policy(db: Database, environment: str, *, keep_releases: int | None, keep_days: int | None,
                  keep_all: bool, auto_prune: bool | None, now: EpochSeconds) -> Policy:
    """Change the policy of ``environment`` (``""``: the zone default) and return it. Without
    ``keep_releases``, ``keep_days`` or ``keep_all`` the policy keeps what it kept (only
    ``auto_prune`` changes); ``auto_prune`` None keeps that setting. Read and written in one
    transaction, so two changes made at once (one of what to keep, one of ``auto_prune``) both hold."""
    with db.transaction() as tx:
        old = policies(tx).get(environment.lower(), Policy(environment))
        if keep_releases is None and keep_days is None and not keep_all:
            keep_releases, keep_days = old.keep_releases, old.keep_days
        policy = Policy(environment, keep_releases, keep_days, old.auto_prune if auto_prune is None else auto_prune)
        set_policy(tx, policy, now)
    return policy


def releases(db: Reader) -> list[dict[str, Any]]:
    """Every release, imported or created here: project_slug, project (name), version,
    imported_at (when imported or created), sequence, source_zone_id (the zone's own id for a
    release created here) and its packages (``[{id, version, sha256}]``), oldest first."""
    rows = db.all("SELECT r.project_slug, p.name AS project, r.version, r.imported_at, r.sequence, r.source_zone_id, "
                  "r.snapshot "
                  "FROM releases r LEFT JOIN projects p ON p.slug = r.project_slug ORDER BY r.imported_at, r.sequence")
    out = []
    for r in rows:
        snap = json.loads(r.pop("snapshot"))
        r["packages"] = [{"id": p["id"], "version": p["version"], "sha256": p["sha256"]}
                         for p in snap.get("packages", {}).values()]
        r["project"] = r["project"] or r["project_slug"]
        out.append(r)
    return out


def deployments(db: Reader) -> list[dict[str, Any]]:
    """Every deployment: id, project_slug, release, environment, tenant, state, started; oldest
    first by the zone's own numbering, never by the recorded times (decision 680)."""
    return db.all("SELECT id, project_slug, release, environment, tenant, state, started FROM deployments "
                  "ORDER BY " + BY_NUMBER)


def packages(db: Reader) -> list[dict[str, Any]]:
    """Every package record: id, version, sha256, size."""
    return db.all("SELECT id, version, sha256, size FROM packages ORDER BY id, version")


def held_elsewhere(db: Reader) -> dict[str, tuple[str, str, str]]:
    """Packages other zones hold by their latest receipt (the ``inventory`` table): sha256 ->
    (package id, version, zone id). What a delta export may use as a base (decision 201)."""
    return {r["sha256"]: (r["id"], r["version"], r["zone_id"])
            for r in db.all("SELECT zone_id, id, version, sha256 FROM inventory ORDER BY zone_id, id, version")}


def delete_packages(tx: Writer, items: Iterable[tuple[str, str, str]], now: EpochSeconds) -> None:
    """Forget package records ``(id, version, sha256)`` and remember that prune removed them."""
    for package_id, version, sha256 in items:
        tx.run("DELETE FROM packages WHERE id = ? AND version = ?", (package_id, version))
        tx.run("INSERT INTO pruned_packages(id, version, sha256, pruned_at) VALUES (?,?,?,?) "
               "ON CONFLICT(id, version) DO UPDATE SET sha256 = excluded.sha256, pruned_at = excluded.pruned_at",
               (package_id, version, sha256, now))


def record_prune(tx: Writer, now: EpochSeconds, freed_bytes: int, removed: dict[str, Any]) -> None:
    """Keep what one prune removed (the plan's ``remove`` part), for audit and for `retention show`."""
    tx.run("INSERT INTO prune_runs(at, freed_bytes, removed) VALUES (?,?,?)",
           (now, freed_bytes, json.dumps(removed, sort_keys=True)))


def pruned_at(db: Reader, package_id: str, version: str) -> int | None:
    """When prune removed package ``package_id`` ``version`` (and it was not imported again), or None."""
    held = db.scalar("SELECT 1 FROM packages WHERE id = ? AND version = ?", (package_id, version))
    if held is not None:
        return None
    value = db.scalar("SELECT pruned_at FROM pruned_packages WHERE id = ? AND version = ?", (package_id, version))
    return None if value is None else int(value)


def last_prune(db: Reader) -> dict[str, Any] | None:
    """The latest prune: at, freed_bytes, and what it removed (``remove``: the plan's items it
    removed, ``not_removed``: with why; empty lists for a run recorded without them); or None."""
    row = db.one("SELECT at, freed_bytes, removed FROM prune_runs ORDER BY at DESC LIMIT 1")
    if row is None:
        return None
    removed = json.loads(row.pop("removed") or "{}")
    row["remove"] = removed.get("remove", []) if isinstance(removed, dict) else []
    row["not_removed"] = removed.get("not_removed", []) if isinstance(removed, dict) else []
    return row
