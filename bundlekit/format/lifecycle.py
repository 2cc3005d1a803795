"""Lifecycles and the release digest: what a release says about where it may go, and what names it.

A :class:`Lifecycle` (Octopus's term) is an ordered list of :class:`Phase` objects; each phase
lists environments and how many of them must see a successful deployment of a release before
the next required phase opens (``spec/bundle-format.md`` §4.2, ``spec/deploy.md`` §10). A
lifecycle that exists is valid: names non-empty, no environment in two phases (compared
case-insensitively, as Octopus compares environment names), ``1 <= minimum_successful <=
len(environments)``. Invalid input raises ``ValueError`` with a message naming the field; the
caller turns it into its own refusal (a release file's ``invalid_release``, a manifest's
``invalid_manifest``).

:func:`release_digest` names a release independently of the bundle that carried it: the same
release exported to two zones gets two bundles (other destination, other sealed values, other
sequence) but one release digest, so a receipt from a staging zone can prove to a production
zone that *this* release succeeded there. Sensitive values are left out of it (they are sealed
per destination and must not be hashed in clear). Pure: no I/O.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from bundlekit.format import codec

__all__ = ["Phase", "Lifecycle", "release_digest", "RELEASE_DIGEST_DOMAIN", "weakened"]

RELEASE_DIGEST_DOMAIN = b"bundlekit release digest\n"


def _label(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.strip() or any(ord(c) < 32 for c in value) or len(value) > 200:
        raise ValueError(f"{where}: expected a name of 1-200 characters without control characters")
    return value


@dataclass(frozen=True, slots=True)
class Phase:
    """One phase: its environments (in the release's spelling) and what completes it."""

    name: str
    environments: tuple[str, ...]
    minimum_successful: int = 1
    optional: bool = False

    def __post_init__(self) -> None:
        _label(self.name, "phase name")
        if not self.environments:
            raise ValueError(f"phase {self.name!r}: list at least one environment")
        seen: set[str] = set()
        for env in self.environments:
            _label(env, f"phase {self.name!r}: environment")
            if env.casefold() in seen:
                raise ValueError(f"phase {self.name!r}: environment {env!r} is listed twice")
            seen.add(env.casefold())
        m = self.minimum_successful
        if isinstance(m, bool) or not isinstance(m, int) or not 1 <= m <= len(self.environments):
            raise ValueError(f"phase {self.name!r}: minimum_successful must be 1..{len(self.environments)} "
                             f"(its number of environments), not {m!r}")
        if not isinstance(self.optional, bool):
            raise ValueError(f"phase {self.name!r}: optional must be true or false")

    def has(self, environment: str) -> bool:
        return environment.casefold() in {e.casefold() for e in self.environments}

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "environments": list(self.environments),
                "minimum_successful": self.minimum_successful, "optional": self.optional}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "phase") -> "Phase":
        if not isinstance(d, Mapping):
            raise ValueError(f"{where}: expected a table")
        envs = d.get("environments")
        if isinstance(envs, str) or not isinstance(envs, Sequence):
            raise ValueError(f"{where}.environments: expected a list of environment names")
        return cls(d.get("name"), tuple(envs), d.get("minimum_successful", 1),  # type: ignore[arg-type]
                   d.get("optional", False))


@dataclass(frozen=True, slots=True)
class Lifecycle:
    """Ordered phases; an environment belongs to at most one phase."""

    phases: tuple[Phase, ...]

    def __post_init__(self) -> None:
        if not self.phases:
            raise ValueError("lifecycle: list at least one phase")
        names: set[str] = set()
        owner: dict[str, str] = {}
        for p in self.phases:
            if p.name.casefold() in names:
                raise ValueError(f"lifecycle: two phases are named {p.name!r}")
            names.add(p.name.casefold())
            for env in p.environments:
                if env.casefold() in owner:
                    raise ValueError(f"lifecycle: environment {env!r} is in phase {owner[env.casefold()]!r} and in "
                                     f"phase {p.name!r}; an environment belongs to one phase")
                owner[env.casefold()] = p.name

    def index_of(self, environment: str) -> int | None:
        """The 0-based phase of ``environment`` (case-insensitive), or None if no phase lists it."""
        for i, p in enumerate(self.phases):
            if p.has(environment):
                return i
        return None

    def phase(self, name: str) -> Phase | None:
        return next((p for p in self.phases if p.name.casefold() == name.casefold()), None)

    def environments(self) -> list[str]:
        """Every environment in promotion order, in the release's spelling."""
        return [e for p in self.phases for e in p.environments]

    def spelling(self, environment: str) -> str | None:
        """The lifecycle's spelling of ``environment``, or None when it is not listed."""
        return next((e for e in self.environments() if e.casefold() == environment.casefold()), None)

    def to_dict(self) -> dict[str, Any]:
        return {"phases": [p.to_dict() for p in self.phases]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "lifecycle") -> "Lifecycle":
        """Build from ``{"phases": [...]}``; raises ``ValueError`` naming ``where`` and the key path."""
        if not isinstance(d, Mapping):
            raise ValueError(f"{where}: expected a table with 'phases'")
        phases = d.get("phases")
        if isinstance(phases, str) or not isinstance(phases, Sequence):
            raise ValueError(f"{where}.phases: expected a list of phases")
        return cls(tuple(Phase.from_dict(p, f"{where}.phases[{i}]") for i, p in enumerate(phases)))


def _demands(lifecycle: Lifecycle, environment: str) -> list[Phase]:
    """The phases passed before a deployment to ``environment`` can happen: every earlier phase
    that is not optional (the gate opens an environment on the nearest one, and that phase on
    its own nearest one, ``promotion/lifecycle.py``)."""
    index = lifecycle.index_of(environment)
    return [p for p in lifecycle.phases[:index or 0] if not p.optional]


def _implies(later: Phase, earlier: Phase) -> bool:
    """Whether any set of successes that passes ``later`` passes ``earlier``: m1 - |E1 minus E0| >= m0
    (the successes can fall on ``later``'s other environments first)."""
    old = {e.casefold() for e in earlier.environments}
    return later.minimum_successful - sum(e.casefold() not in old for e in later.environments) \
        >= earlier.minimum_successful


def weakened(earlier: Lifecycle, later: Lifecycle) -> list[str]:
    """What ``later`` no longer demands that ``earlier`` did, one sentence per environment and phase
    (empty: nothing; decision 720). For each environment both list, every phase ``earlier``
    requires before it must be implied by a phase ``later`` requires before it (see
    :func:`_implies`): adding a phase, an environment to a phase's count or a higher
    ``minimum_successful`` is no weakening; dropping a phase, making it optional, moving an
    environment ahead of it or counting other environments for it is. An environment ``later``
    drops is closed by ``later`` itself; waivers are the zone's and are not compared. Pure."""
    out = []
    for env in later.environments():
        if earlier.index_of(env) is None:
            continue
        now = _demands(later, env)
        for before in _demands(earlier, env):
            if not any(_implies(p, before) for p in now):
                out.append(f"{env} needed phase {before.name} ({before.minimum_successful} of "
                           f"{', '.join(before.environments)}) passed first")
    return out


def release_digest(*, source_zone_id: str, project: Mapping[str, str], release: Mapping[str, str],
                   steps: Iterable[Mapping[str, Any]], packages: Iterable[Mapping[str, Any]],
                   variables: Iterable[Mapping[str, Any]], placeholders: Iterable[Mapping[str, Any]],
                   output_refs: Iterable[Mapping[str, Any]], lifecycle: Lifecycle | None) -> str:
    """The release digest (64 hex) of ``spec/bundle-format.md`` §4.3.

    Inputs are the manifest's dictionary forms. Packages keep only ``id, version, sha256,
    size`` (whether a package travelled or was referenced does not change the release);
    variables keep ``name, scope, sensitive`` and, when not sensitive, ``value``.
    """
    doc: dict[str, Any] = {
        "source": source_zone_id,
        "project": {k: project[k] for k in ("name", "slug", "space")},
        "release": {k: release[k] for k in ("version", "channel", "notes")},
        "steps": [dict(s) for s in steps],
        "packages": [{k: p[k] for k in ("id", "version", "sha256", "size")} for p in packages],
        "variables": [{"name": v["name"], "scope": dict(v["scope"]), "sensitive": bool(v["sensitive"]),
                       **({} if v["sensitive"] else {"value": v["value"]})} for v in variables],
        "placeholders": [dict(p) for p in placeholders],
        "output_refs": [dict(o) for o in output_refs],
    }
    if lifecycle is not None:
        doc["lifecycle"] = lifecycle.to_dict()
    return hashlib.sha256(RELEASE_DIGEST_DOMAIN + codec.encode(doc)).hexdigest()
