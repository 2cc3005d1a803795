"""What prune may take from one target's folder, judged per target (decision 910).

A target's version folders and package copies are judged by what that target got (the
deployments' records: which package step ran on which target, and how the deployment ended
there, :func:`bundlekit.zone.retention.deliveries`), as a Tentacle keeps what was deployed to
its own machine, never only by what its environment's last releases were (those may have gone
to other targets, or the target may have been in another environment then). A version folder
(or package copy) stays when any of these holds:

* a release that installs it is current or previous successful in any environment, for any
  tenant, or being deployed (``Keep.protected``);
* a release that installs it is kept by the target's environment (``Keep.by_environment``);
* per project, tenant and package on the target: it is the version last installed there by a
  deployment that succeeded there, or the distinct one before it, or one a deployment tried
  there since those, without success (or still running);
* the policy of the target's environment (its project's space's) keeps it on that target: under
  keep-all every version installed there, else the last N installed there, or those installed
  there in the last N days.

And prune removes nothing it has no record of: a folder or copy no deployment recorded
installing on the target (:meth:`History.got`) is left, and the plan says so. Pure: no I/O.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bundlekit.core.clock import EpochSeconds
from bundlekit.retention.rules import DAY, Keep, ReleaseKey
from bundlekit.zone.retention import Policy

__all__ = ["Keeper", "History", "Kept", "kept_on"]

#: A package as a target's folder names it: (lowercased id, lowercased version).
PackageKey = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Keeper:
    """A target whose keeps protect a folder: ``name`` (None: the zone's worker), its
    ``environment`` (``""`` for the worker), and ``full``: False when only what it runs protects
    (the last two versions installed successfully and what was tried since), for a target prune
    did not ask (``plan_prune``'s ``environments``), which may reach the same folder."""

    name: str | None
    environment: str
    full: bool = True

    @property
    def label(self) -> str:
        return "the zone's worker" if self.name is None else f"target {self.name}"


def _package(d: Mapping[str, Any]) -> PackageKey:
    return str(d["package"]).lower(), str(d["version"]).lower()


class History:
    """The rows of :func:`bundlekit.zone.retention.deliveries`, by target (lowercased name; None:
    the zone's worker), in the zone's order of deployments."""

    def __init__(self, deliveries: Iterable[Mapping[str, Any]]) -> None:
        self.by_target: dict[str | None, list[Mapping[str, Any]]] = defaultdict(list)
        for d in deliveries:
            self.by_target[d["target"]].append(d)

    def of(self, name: str | None) -> list[Mapping[str, Any]]:
        return self.by_target.get(None if name is None else name.lower(), [])

    def got(self, names: Iterable[str | None]) -> tuple[set[PackageKey], set[str]]:
        """The packages (id, version) and the SHA-256s a deployment installed, or tried to, on
        any of the targets ``names``."""
        rows = [d for n in names for d in self.of(n)]
        return {_package(d) for d in rows}, {str(d["sha256"]) for d in rows}


@dataclass
class Kept:
    """What a folder keeps, each with why: ``releases`` (protected, or kept by an environment of
    the targets reaching it) and, per target, ``packages`` (id, version) and their ``digests``."""

    releases: dict[ReleaseKey, list[str]] = field(default_factory=lambda: defaultdict(list))
    packages: dict[PackageKey, list[str]] = field(default_factory=lambda: defaultdict(list))
    digests: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def why(self, releases: Iterable[ReleaseKey], package: PackageKey | None = None,
            digest: str | None = None) -> list[str]:
        """Why an item installed by ``releases`` (the folder of ``package``, or the copy of
        ``digest``) stays: empty when it may go."""
        out: list[str] = []
        for key in sorted(set(releases) & set(self.releases)):
            out += [r for r in self.releases[key] if r not in out]
        mine = self.packages.get(package, []) if package is not None else self.digests.get(digest or "", [])
        return out + [r for r in mine if r not in out]


def _policy(policies: Mapping[str, Mapping[str, Policy]], space: str, environment: str) -> Policy:
    mine = policies.get(space.casefold(), {"": Policy()})
    return mine.get(environment.lower(), mine.get("", Policy()))


def _on_target(keeper: Keeper, rows: list[Mapping[str, Any]], policies: Mapping[str, Mapping[str, Policy]],
               now: EpochSeconds) -> list[tuple[Mapping[str, Any], str]]:
    """What ``keeper``'s own deployments keep there: (the delivery, why)."""
    groups: dict[tuple[str, ...], list[Mapping[str, Any]]] = defaultdict(list)
    for d in rows:  # the worker serves every environment: each keeps by its own policy there
        env = str(d["environment"]) if keeper.name is None else keeper.environment
        groups[(str(d["project_slug"]).lower(), str(d.get("tenant") or ""), str(d["package"]).lower(), env,
                str(d["in_space"]))].append(d)
    out: list[tuple[Mapping[str, Any], str]] = []
    for (_, tenant, _, env, space), deps in groups.items():
        where = keeper.label + (f" for tenant {tenant}" if tenant else "")
        successes: list[PackageKey] = []
        for d in reversed(deps):  # newest first
            if len(successes) == 2:
                break
            if d["outcome"] == "Success":
                if _package(d) not in successes:
                    successes.append(_package(d))
                    out.append((d, f"the version last installed successfully on {where}" if len(successes) == 1
                                else f"the one installed successfully on {where} before it"))
            elif d["outcome"] == "Running":
                out.append((d, f"being deployed to {where}"))
            else:
                out.append((d, f"installed on {where} since, by a deployment that did not succeed there"))
        if not keeper.full:
            continue
        policy = _policy(policies, space, env)
        ranked: dict[PackageKey, Mapping[str, Any]] = {}
        for d in reversed(deps):
            ranked.setdefault(_package(d), d)
        newest = list(ranked.values())
        if policy.keeps_all:
            out += [(d, f"policy for {env}: keep every release installed on {where}") for d in newest]
        elif policy.keep_releases is not None:
            out += [(d, f"one of the last {policy.keep_releases} installed on {where}")
                    for d in newest[:policy.keep_releases]]
        elif policy.keep_days is not None:
            out += [(d, f"installed on {where} in the last {policy.keep_days} day(s)")
                    for d in newest if float(d["started"]) >= now - policy.keep_days * DAY]
    return out


def kept_on(keepers: Iterable[Keeper], history: History, keep: Keep,
            policies: Mapping[str, Mapping[str, Policy]], now: EpochSeconds) -> Kept:
    """What a folder ``keepers`` reach keeps, each with why: the protected releases, what the
    full keepers' environments keep, and what each keeper's own deployments and its
    environment's policy keep there (module docstring). ``policies``: casefolded space ->
    lowercased environment -> policy (``zone.retention.space_policies``); ``now``: Unix seconds."""
    out = Kept()

    def add(reasons: list[str], more: Iterable[str]) -> None:
        reasons += [r for r in more if r not in reasons]

    for key in keep.protected:
        add(out.releases[key], keep.reasons[key])
    for keeper in keepers:
        if keeper.full and keeper.name is not None:
            for key in keep.by_environment.get(keeper.environment.lower(), set()):
                add(out.releases[key], keep.reasons[key])
        for d, reason in _on_target(keeper, history.of(keeper.name), policies, now):
            add(out.packages[_package(d)], [reason])
            add(out.digests[str(d["sha256"])], [reason])
    return out
