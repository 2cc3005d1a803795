"""What prune plans and what it did: the removals, the plan (with the releases kept and why) and
the result (what was removed, what was not and why). Data only; :mod:`bundlekit.retention.prune`
makes and applies them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bundlekit.deploy.targets import Target
from bundlekit.zone import retention as state

__all__ = ["Removal", "PrunePlan", "PruneResult"]


@dataclass(frozen=True, slots=True)
class Removal:
    """One thing prune removes: ``kind`` (see the module docstring), what it is, where, how big, why."""

    kind: str
    what: str
    path: str
    size: int
    reason: str
    record: tuple[str, str, str] | None = None  # a package (id, version, sha256) prune forgets
    #: For what a target's runner removes: the target's name, and the item as the runner's
    #: ``prune`` request names it (``("package", id, version)``, ``("archive", sha256, file)``,
    #: ``("work", deployment id)``).
    target: str | None = None
    item: tuple[str, ...] = ()
    #: What the apply step checks again under the prune claim: the bytes it removes (the store's,
    #: or a runner's archive copy), the package (id, version) a target folder installs, the
    #: targets whose keeps protect a target's item (``per_target.Keeper``'s name, environment and
    #: full, decision 910), the deployment a work folder is of.
    digest: str | None = None
    package: tuple[str, str] | None = None
    keepers: tuple[tuple[str | None, str, bool], ...] = ()
    deployment: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The removal as ``prune --json`` lists it."""
        return {"kind": self.kind, "what": self.what, "path": self.path, "bytes": self.size, "reason": self.reason,
                "target": self.target}


@dataclass
class PrunePlan:
    """What :func:`apply_prune` would remove and which releases stay (with why); ``skipped``:
    targets that could not be asked what they hold; ``left``: what a target holds that prune has
    no record of installing there, so leaves (target, what, path, reason); ``kept_on_targets``:
    version folders a target keeps for itself (what it runs, its policy; target, what, reasons)
    that no kept release explains (decision 910); ``targets``: how to reach the targets the
    removals name."""

    removals: list[Removal] = field(default_factory=list)
    kept: list[dict[str, Any]] = field(default_factory=list)
    policies: list[state.Policy] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    left: list[dict[str, Any]] = field(default_factory=list)
    kept_on_targets: list[dict[str, Any]] = field(default_factory=list)
    targets: dict[str, Target] = field(default_factory=dict)

    @property
    def freed_bytes(self) -> int:
        return sum(r.size for r in self.removals)

    def to_dict(self) -> dict[str, Any]:
        return {"policies": [p.to_dict() for p in self.policies], "remove": [r.to_dict() for r in self.removals],
                "freed_bytes": self.freed_bytes, "kept": self.kept, "skipped": self.skipped, "left": self.left,
                "kept_on_targets": self.kept_on_targets}


@dataclass
class PruneResult:
    """What :func:`apply_prune` did: ``removed`` (sizes as measured when removed) and
    ``not_removed`` (each with why: in use, the target unreachable, a file system error)."""

    removed: list[Removal] = field(default_factory=list)
    not_removed: list[tuple[Removal, str]] = field(default_factory=list)

    @property
    def freed_bytes(self) -> int:
        return sum(r.size for r in self.removed)

    def to_dict(self) -> dict[str, Any]:
        return {"removed": [r.to_dict() for r in self.removed], "freed_bytes": self.freed_bytes,
                "not_removed": [dict(r.to_dict(), why=why) for r, why in self.not_removed]}
