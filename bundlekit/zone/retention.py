"""Retention in a zone's state: the policies, what prune reads, and the record of what it removed.

A policy says how many releases to keep per project and environment (``keep_releases``), or
for how many days (``keep_days``); neither means keep everything. Policies belong to a space
(decision 750) and judge only the releases of that space's projects. The row for environment
``""`` is the space's default; a row per environment overrides it there (as Octopus sets
retention per lifecycle phase). ``auto_prune`` on a space's default row runs prune after each
successful deployment of that space's projects. The rules themselves are in ``bundlekit/retention/``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable

from bundlekit.core.clock import EpochSeconds
from bundlekit.zone.db import Database, Reader, Writer
from bundlekit.zone.deployments import BY_NUMBER

__all__ = ["PRUNE_CLAIM", "MAX_KEEP", "Policy", "policies", "space_policies", "set_policy", "change_policy", "releases", "deployments", "deliveries", "packages",
           "delete_packages", "held_elsewhere", "record_prune", "pruned_at", "last_prune"]

#: The claim (``Database.claim``) a prune holds while it removes files: no deployment starts
#: meanwhile, and a second prune is refused (decision 197).
PRUNE_CLAIM = "prune"


#: The largest count of releases or days a policy keeps: the command line refuses more (a
#: number SQLite could not store would end in a traceback, and no zone keeps a million).
MAX_KEEP = 1_000_000


@dataclass(frozen=True, slots=True)
class Policy:
    """``environment`` ``""`` is the space's default; ``keep_releases``/``keep_days`` None: no
    limit; ``space``: the space of this zone whose releases it judges."""

    environment: str = ""
    keep_releases: int | None = None
    keep_days: int | None = None
    auto_prune: bool = False
    space: str = "Default"

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
        return {"space": self.space, "environment": self.environment or None, "keep_releases": self.keep_releases,
                "keep_days": self.keep_days, "auto_prune": self.auto_prune}


def space_policies(db: Reader) -> dict[str, dict[str, Policy]]:
    """Casefolded space -> lowercased environment (``""`` for the default) -> policy, for every
    space that has a policy; a space without one keeps everything (:class:`Policy` ``()``)."""
    out: dict[str, dict[str, Policy]] = {}
    for r in db.all("SELECT space, environment, keep_releases, keep_days, auto_prune FROM retention_rules"):
        mine = out.setdefault(str(r["space"]).casefold(), {"": Policy(space=str(r["space"]))})
        mine[str(r["environment"]).lower()] = Policy(str(r["environment"]), r["keep_releases"], r["keep_days"],
                                                     bool(r["auto_prune"]), str(r["space"]))
    return out


def policies(db: Reader, space: str = "Default") -> dict[str, Policy]:
    """Lowercased environment (``""`` for the default) -> policy of ``space`` (a space of this
    zone, in its spelling); the default is always there."""
    return space_policies(db).get(space.casefold(), {"": Policy(space=space)})


def set_policy(tx: Writer, policy: Policy, now: EpochSeconds) -> None:
    """Record ``policy`` (replacing the one of its space and environment)."""
    tx.run("INSERT INTO retention_rules(space, environment, keep_releases, keep_days, auto_prune, updated) "
           "VALUES (?,?,?,?,?,?) ON CONFLICT(space, environment) DO UPDATE SET keep_releases = excluded.keep_releases, "
           "keep_days = excluded.keep_days, auto_prune = excluded.auto_prune, updated = excluded.updated",
           (policy.space, policy.environment, policy.keep_releases, policy.keep_days, int(policy.auto_prune), now))


def change_policy(db: Database, environment: str, *, keep_releases: int | None, keep_days: int | None,
                  keep_all: bool, auto_prune: bool | None, now: EpochSeconds, space: str = "Default") -> Policy:
    """Change the policy of ``environment`` (``""``: the space's default) in ``space`` (a space of
    this zone, in its spelling) and return it. Without ``keep_releases``, ``keep_days`` or
    ``keep_all`` the policy keeps what it kept (only ``auto_prune`` changes); ``auto_prune`` None
    keeps that setting. Read and written in one transaction, so two changes made at once (one of
    what to keep, one of ``auto_prune``) both hold."""
    with db.transaction() as tx:
        old = policies(tx, space).get(environment.lower(), Policy(environment, space=space))
        if keep_releases is None and keep_days is None and not keep_all:
            keep_releases, keep_days = old.keep_releases, old.keep_days
        policy = Policy(environment, keep_releases, keep_days, old.auto_prune if auto_prune is None else auto_prune,
                        space)
        set_policy(tx, policy, now)
    return policy


def releases(db: Reader) -> list[dict[str, Any]]:
    """Every release, imported or created here: project_slug, project (name), in_space (the
    space of this zone its project belongs to), version, imported_at (when imported or created),
    sequence, source_zone_id (the zone's own id for a release created here) and its packages
    (``[{id, version, sha256}]``), oldest first."""
    rows = db.all("SELECT r.project_slug, p.name AS project, p.in_space, r.version, r.imported_at, r.sequence, "
                  "r.source_zone_id, r.snapshot "
                  "FROM releases r LEFT JOIN projects p ON p.slug = r.project_slug ORDER BY r.imported_at, r.sequence")
    out = []
    for r in rows:
        snap = json.loads(r.pop("snapshot"))
        r["packages"] = [{"id": p["id"], "version": p["version"], "sha256": p["sha256"]}
                         for p in snap.get("packages", {}).values()]
        r["project"] = r["project"] or r["project_slug"]
        r["in_space"] = r["in_space"] or "Default"
        out.append(r)
    return out


def deployments(db: Reader) -> list[dict[str, Any]]:
    """Every deployment: id, project_slug, release, environment, tenant, state, started and
    in_space (its project's space here); oldest first by the zone's own numbering, never by the
    recorded times (decision 680)."""
    rows = db.all("SELECT d.id, d.project_slug, d.release, d.environment, d.tenant, d.state, d.started, p.in_space "
                  "FROM deployments d LEFT JOIN projects p ON p.slug = d.project_slug "
                  "ORDER BY " + BY_NUMBER.replace("(id,", "(d.id,"))
    for r in rows:
        r["in_space"] = r["in_space"] or "Default"
    return rows


def _package_steps(db: Reader) -> dict[tuple[str, str], dict[str, dict[str, str]]]:
    """(lowercased project slug, version) -> casefolded step name -> the package that package
    step installs (id, version, sha256), from each release's snapshot."""
    out: dict[tuple[str, str], dict[str, dict[str, str]]] = {}
    for r in db.rows("SELECT project_slug, version, snapshot FROM releases"):
        snap = json.loads(r["snapshot"])
        carried = {str(p["id"]).casefold(): p for p in (snap.get("packages") or {}).values()}
        steps: dict[str, dict[str, str]] = {}
        for step in (snap.get("steps") or {}).values():
            p = carried.get(str(step.get("package") or "").casefold())
            if step.get("type") == "package" and p is not None:
                steps[str(step.get("name", "")).casefold()] = {"package": str(p["id"]), "version": str(p["version"]),
                                                               "sha256": str(p["sha256"])}
        out[(str(r["project_slug"]).lower(), str(r["version"]).lower())] = steps
    return out


def deliveries(db: Reader) -> list[dict[str, Any]]:
    """Which package each target got from which release: one row per deployment, target and
    package step that ran there (not skipped), in the zone's own order of deployments (decision
    680): deployment (its id), project_slug, release, environment, tenant, started, in_space,
    target (its name lowercased; None: the zone's worker), package, version and sha256 (what
    the step installs) and outcome: ``Success`` when every run of the deployment on that target
    succeeded or was skipped, ``Failed`` when one did not complete there (failed, timed out,
    canceled; the run an interrupted deployment had reached), ``Running`` for the step a
    deployment still executing has reached. Script steps install no package and give no row.
    Read from each deployment's record (its runs, and what its process did after another
    command closed it) and each release's steps, a batch of rows at a time."""
    steps = _package_steps(db)
    out: list[dict[str, Any]] = []
    for d in db.rows("SELECT d.id, d.project_slug, d.release, d.environment, d.tenant, d.state, d.started, d.record, "
                     "p.in_space FROM deployments d LEFT JOIN projects p ON p.slug = d.project_slug "
                     "ORDER BY " + BY_NUMBER.replace("(id,", "(d.id,")):
        try:
            record = json.loads(d.pop("record") or "{}")
        except ValueError:
            record = {}
        record = record if isinstance(record, dict) else {}
        after = record.get("after_closed")
        runs = [r for r in [*(record.get("runs") or []), *((after.get("runs") or []) if isinstance(after, dict)
                                                             else [])] if isinstance(r, dict)]
        reached = record.get("reached")
        if d["state"] == "Executing" and isinstance(reached, dict):
            runs.append({"step": reached.get("step"), "target": reached.get("target"), "state": "Running"})
        installs = steps.get((str(d["project_slug"]).lower(), str(d["release"]).lower()), {})
        states: dict[str | None, set[str]] = {}
        ran: dict[str | None, list[dict[str, str]]] = {}
        for run in runs:
            target = None if run.get("target") is None else str(run["target"]).lower()
            state = str(run.get("state"))
            states.setdefault(target, set()).add(state)
            package = installs.get(str(run.get("step") or "").casefold())
            if package is not None and state != "Skipped" and package not in ran.setdefault(target, []):
                ran[target].append(package)
        base = {k: d[k] for k in ("project_slug", "release", "environment", "tenant", "started")}
        for target, packages in ran.items():
            seen = states[target]
            outcome = ("Running" if "Running" in seen else
                       "Success" if seen <= {"Success", "Skipped"} else "Failed")
            out += [{"deployment": d["id"], **base, "in_space": d["in_space"] or "Default", "target": target,
                     **package, "outcome": outcome} for package in packages]
    return out


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
