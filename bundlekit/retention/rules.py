"""Which releases a zone keeps: the retention rules, pure (rows in, decisions out, ``now`` passed in).

For every project and environment, from the deployments recorded there (Octopus's release
retention, spec in ``docs/decisions/194-retention-and-prune.md``):

* the **current** release (the latest successful deployment) and the **previous** successful
  one are always kept, whatever the policy: they are what is running and what a rollback
  needs (per tenant, when deployments name one);
* a release being deployed right now (``Executing``) is kept;
* the policy of that environment (else the zone's default) keeps more: the last N releases
  deployed there (by their latest deployment), or those deployed there in the last N days,
  or every release.

The latest release imported or created for a project is always kept (it is what would be
deployed next). Other releases never deployed in this zone are judged by the zone's default
policy over the releases of their project that were never deployed, newest first (by count
or by age). Policies belong to a space (decision 750): :func:`decide_by_space` judges the
releases of each space's projects by that space's policies only. A release row with ``created`` true was created in this zone (``releases
create``, or ``export`` of a release file); the reasons say "created" for it, "imported"
otherwise.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from bundlekit.core.clock import EpochSeconds
from bundlekit.core.names import version_order
from bundlekit.zone.retention import Policy

__all__ = ["ReleaseKey", "Keep", "decide", "decide_by_space"]

#: (lowercased project slug, lowercased version)
ReleaseKey = tuple[str, str]

DAY = 86400


@dataclass
class Keep:
    """Why each release is kept: overall, per lowercased environment (for targets' folders), and
    ``protected``: the releases current or previous successful in some environment (or for some
    tenant) or being deployed, which no target's folder ever loses (``retention/per_target.py``)."""

    reasons: dict[ReleaseKey, list[str]] = field(default_factory=lambda: defaultdict(list))
    by_environment: dict[str, set[ReleaseKey]] = field(default_factory=lambda: defaultdict(set))
    protected: set[ReleaseKey] = field(default_factory=set)

    def add(self, key: ReleaseKey, reason: str, environment: str | None = None, *, protect: bool = False) -> None:
        if reason not in self.reasons[key]:
            self.reasons[key].append(reason)
        if environment is not None:
            self.by_environment[environment.lower()].add(key)
        if protect:
            self.protected.add(key)

    def kept(self, key: ReleaseKey) -> bool:
        return key in self.reasons


def _came(release: Mapping[str, Any]) -> str:
    """How the release came into the zone, as the reasons say it."""
    return "created" if release.get("created") else "imported"


def _age(release: Mapping[str, Any]) -> tuple[Any, ...]:
    """Newer sorts higher: by when it came (whole seconds), then the source's sequence, then the
    version (releases created in one second have no sequence)."""
    return float(release["imported_at"]), release.get("sequence", 0) or 0, version_order(str(release["version"]))


def _key(slug: str, version: str) -> ReleaseKey:
    return slug.lower(), version.lower()


def decide(releases: Iterable[Mapping[str, Any]], deployments: Iterable[Mapping[str, Any]],
           policies: Mapping[str, Policy], now: EpochSeconds) -> Keep:
    """Decide what to keep. ``releases``: rows with project_slug, version, imported_at (when
    imported or created) and optionally created (true for a release created in this zone);
    ``deployments``: rows with project_slug, release, environment, state, started, oldest first
    in the zone's own order (deployment numbers: "current" and "previous" come from that order,
    not from ``started``, decision 680); ``policies``: lowercased environment (``""`` the default) -> policy.
    A release never deployed that came after the current release of some environment (or
    tenant) of its project is kept whatever the policy: it is waiting to be deployed (decision 911)."""
    releases = list(releases)
    keep = Keep()
    default = policies.get("", Policy())
    per_env: dict[tuple[str, str], list[Mapping[str, Any]]] = defaultdict(list)
    per_tenant: dict[tuple[str, str, str], list[Mapping[str, Any]]] = defaultdict(list)
    currents: dict[str, list[tuple[str, str]]] = defaultdict(list)  # slug -> (where, its current version)
    deployed: set[ReleaseKey] = set()
    last_deploy: dict[str, float] = {}
    for d in deployments:
        slug = str(d["project_slug"]).lower()
        per_env[(slug, str(d["environment"]))].append(d)
        per_tenant[(slug, str(d["environment"]), str(d.get("tenant") or ""))].append(d)
        deployed.add(_key(slug, str(d["release"])))
        last_deploy[slug] = max(last_deploy.get(slug, 0.0), float(d["started"]))
    for (slug, env, tenant), deps in per_tenant.items():
        # What runs is per tenant when deployments name one (Octopus: each tenant has its own current release).
        ok = [d for d in deps if d["state"] == "Success"]
        successful: list[str] = []
        for d in reversed(ok):  # newest first, each release once
            if str(d["release"]).lower() not in successful:
                successful.append(str(d["release"]).lower())
        where = f"{env} for tenant {tenant}" if tenant else env
        for label, version in zip(("current", "previous successful"), successful[:2]):
            keep.add((slug, version), f"{label} release in {where}", env, protect=True)
        if successful:
            currents[slug].append((where, successful[0]))
    for (slug, env), deps in per_env.items():
        policy = policies.get(env.lower(), default)
        for d in deps:
            if d["state"] == "Executing":
                keep.add(_key(slug, str(d["release"])), f"being deployed to {env}", env, protect=True)
        # Deployments come in the zone's own order (their numbers, decision 680), never re-sorted by
        # their recorded start: one made while the clock ran ahead must not rank newest for ever.
        latest: dict[str, tuple[int, float]] = {}
        for n, d in enumerate(deps):
            latest[str(d["release"]).lower()] = (n, float(d["started"]))
        ranked = sorted(latest, key=lambda v: latest[v][0], reverse=True)
        if policy.keeps_all:
            for version in ranked:
                keep.add((slug, version), f"policy for {env}: keep every release", env)
        elif policy.keep_releases is not None:
            for version in ranked[:policy.keep_releases]:
                keep.add((slug, version), f"one of the last {policy.keep_releases} deployed to {env}", env)
        elif policy.keep_days is not None:
            for version in ranked:
                if latest[version][1] >= now - policy.keep_days * DAY:
                    keep.add((slug, version), f"deployed to {env} in the last {policy.keep_days} day(s)", env)
    newest: dict[str, Mapping[str, Any]] = {}
    undeployed: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for r in releases:
        slug = str(r["project_slug"]).lower()
        if slug not in newest or _age(r) > _age(newest[slug]):
            newest[slug] = r
        if _key(slug, str(r["version"])) not in deployed:
            undeployed[slug].append(r)
    for slug, r in newest.items():
        keep.add(_key(slug, str(r["version"])), f"the latest release {_came(r)} for the project")
    by_version = {_key(str(r["project_slug"]), str(r["version"])): r for r in releases}
    for slug, rows in undeployed.items():
        rows = sorted(rows, key=_age, reverse=True)
        for n, r in enumerate(rows, start=1):
            key = _key(slug, str(r["version"]))
            # Waiting to be deployed (decision 911): newer than what runs in some environment.
            behind = [where for where, version in currents.get(slug, [])
                      if (slug, version) in by_version and _age(r) > _age(by_version[(slug, version)])]
            if behind:
                keep.add(key, f"never deployed; newer than the current release in {' and '.join(behind)}")
            elif default.keeps_all:
                keep.add(key, "never deployed; the zone's policy keeps every release")
            elif default.keep_releases is not None and n <= default.keep_releases:
                keep.add(key, f"never deployed; one of the last {default.keep_releases} {_came(r)}")
            elif default.keep_days is not None and float(r["imported_at"]) >= now - default.keep_days * DAY:
                keep.add(key, f"never deployed; {_came(r)} in the last {default.keep_days} day(s)")
    return keep


def decide_by_space(releases: Iterable[Mapping[str, Any]], deployments: Iterable[Mapping[str, Any]],
                    policies: Mapping[str, Mapping[str, Policy]], now: EpochSeconds) -> Keep:
    """:func:`decide` for each space apart: the releases and deployments of the projects of a
    space (their rows' ``in_space``, ``Default`` when absent) judged by that space's policies
    only (``policies``: casefolded space -> the :func:`decide` mapping; a space without any
    keeps everything), so a policy of one space never lets another space's release go
    (decision 750). Deployments keep the zone's order within each space."""
    def space_of(row: Mapping[str, Any]) -> str:
        return str(row.get("in_space") or "Default").casefold()

    by_space: dict[str, tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]] = defaultdict(lambda: ([], []))
    for r in releases:
        by_space[space_of(r)][0].append(r)
    for d in deployments:
        by_space[space_of(d)][1].append(d)
    keep = Keep()
    for space, (rels, deps) in by_space.items():
        part = decide(rels, deps, policies.get(space, {"": Policy()}), now)
        for key, reasons in part.reasons.items():
            for reason in reasons:
                keep.add(key, reason)
        for env, keys in part.by_environment.items():
            keep.by_environment[env] |= keys
        keep.protected |= part.protected
    return keep
