"""What prune may take from one target's folder, judged per target (decision 910).

A target's version folders and package copies are judged by what that target got (the
deployments' records: which target each step ran on, :func:`bundlekit.zone.retention.deliveries`),
as a Tentacle keeps what was deployed to its own machine, never only by what its environment's
last releases were (those may have gone to other targets, or the target may have been in another
environment then). A folder keeps its release when any of these holds:

* the release is current or previous successful in any environment, for any tenant, or being
  deployed (``Keep.protected``);
* its environment's policy keeps it (``Keep.by_environment``, what :mod:`bundlekit.retention.rules`
  decides per environment);
* per project (and tenant) on the target: it is the release last deployed successfully there, or
  the distinct one deployed successfully before it, or a deployment there since those did not
  succeed (or still runs);
* the policy of the target's environment (its project's space's) keeps it on that target: under
  keep-all every release deployed to it, else the last N deployed to it, or those deployed to it
  in the last N days.

And prune removes nothing it has no record of: a folder of a release no deployment recorded on
the target (:meth:`History.got`) is left, and the plan says so. Pure: no I/O.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bundlekit.core.clock import EpochSeconds
from bundlekit.retention.rules import DAY, Keep, ReleaseKey
from bundlekit.zone.retention import Policy

__all__ = ["Keeper", "History", "kept_on"]


@dataclass(frozen=True, slots=True)
class Keeper:
    """A target whose keeps protect a folder: ``name`` (None: the zone's worker), its
    ``environment`` (``""`` for the worker), and ``full``: False when only what it runs protects
    (the last two successful releases and what was tried since), for a target prune did not ask
    (``plan_prune``'s ``environments``), which may reach the same folder."""

    name: str | None
    environment: str
    full: bool = True

    @property
    def label(self) -> str:
        return "the zone's worker" if self.name is None else f"target {self.name}"


class History:
    """The rows of :func:`bundlekit.zone.retention.deliveries`, by target (lowercased name; None:
    the zone's worker), in the zone's order of deployments."""

    def __init__(self, deliveries: Iterable[Mapping[str, Any]]) -> None:
        self.by_target: dict[str | None, list[Mapping[str, Any]]] = defaultdict(list)
        for d in deliveries:
            self.by_target[d["target"]].append(d)

    def of(self, name: str | None) -> list[Mapping[str, Any]]:
        return self.by_target.get(None if name is None else name.lower(), [])

    def got(self, names: Iterable[str | None]) -> set[ReleaseKey]:
        """The releases a deployment ran a step of on any of the targets ``names``, whatever its outcome."""
        return {(str(d["project_slug"]).lower(), str(d["release"]).lower()) for n in names for d in self.of(n)}


def _policy(policies: Mapping[str, Mapping[str, Policy]], space: str, environment: str) -> Policy:
    mine = policies.get(space.casefold(), {"": Policy()})
    return mine.get(environment.lower(), mine.get("", Policy()))


def _on_target(keeper: Keeper, rows: list[Mapping[str, Any]], policies: Mapping[str, Mapping[str, Policy]],
               now: EpochSeconds) -> list[tuple[ReleaseKey, str]]:
    """What ``keeper``'s own deployments keep there: (release, why)."""
    groups: dict[tuple[str, ...], list[Mapping[str, Any]]] = defaultdict(list)
    for d in rows:  # the worker serves every environment: each keeps by its own policy there
        env = str(d["environment"]) if keeper.name is None else keeper.environment
        groups[(str(d["project_slug"]).lower(), str(d.get("tenant") or ""), env, str(d["in_space"]))].append(d)
    out: list[tuple[ReleaseKey, str]] = []
    for (slug, tenant, env, space), deps in groups.items():
        where = keeper.label + (f" for tenant {tenant}" if tenant else "")
        successes: list[str] = []
        for d in reversed(deps):  # newest first
            if len(successes) == 2:
                break
            version = str(d["release"]).lower()
            if d["outcome"] == "Success":
                if version not in successes:
                    successes.append(version)
                    out.append(((slug, version), f"the release last deployed successfully to {where}"
                                if len(successes) == 1 else f"the one deployed successfully to {where} before it"))
            elif d["outcome"] == "Running":
                out.append(((slug, version), f"being deployed to {where}"))
            else:
                out.append(((slug, version), f"deployed to {where} since, without success"))
        if not keeper.full:
            continue
        policy = _policy(policies, space, env)
        ranked: list[str] = []
        started: dict[str, float] = {}
        for d in reversed(deps):
            version = str(d["release"]).lower()
            if version not in ranked:
                ranked.append(version)
                started[version] = float(d["started"])
        if policy.keeps_all:
            out += [((slug, v), f"policy for {env}: keep every release deployed to {where}") for v in ranked]
        elif policy.keep_releases is not None:
            out += [((slug, v), f"one of the last {policy.keep_releases} deployed to {where}")
                    for v in ranked[:policy.keep_releases]]
        elif policy.keep_days is not None:
            out += [((slug, v), f"deployed to {where} in the last {policy.keep_days} day(s)")
                    for v in ranked if started[v] >= now - policy.keep_days * DAY]
    return out


def kept_on(keepers: Iterable[Keeper], history: History, keep: Keep,
            policies: Mapping[str, Mapping[str, Policy]], now: EpochSeconds) -> dict[ReleaseKey, list[str]]:
    """The releases a folder ``keepers`` reach keeps, each with why: the protected ones, what the
    full keepers' environments keep, and what each keeper's own deployments and its environment's
    policy keep there (module docstring). ``policies``: casefolded space -> lowercased
    environment -> policy (``zone.retention.space_policies``); ``now``: Unix seconds."""
    out: dict[ReleaseKey, list[str]] = defaultdict(list)

    def add(key: ReleaseKey, reasons: Iterable[str]) -> None:
        out[key] += [r for r in reasons if r not in out[key]]

    for key in keep.protected:
        add(key, keep.reasons[key])
    for keeper in keepers:
        if keeper.full and keeper.name is not None:
            for key in keep.by_environment.get(keeper.environment.lower(), set()):
                add(key, keep.reasons[key])
        for key, reason in _on_target(keeper, history.of(keeper.name), policies, now):
            add(key, [reason])
    return out
