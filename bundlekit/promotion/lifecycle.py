"""Lifecycle progression (pure): which phases a release has passed, and which environments are open.

Rules (Octopus's, ``spec/deploy.md`` §10; decision 150):

* A phase is **passed** by a release when at least ``minimum_successful`` of its environments
  saw a successful deployment of it (environment names compared case-insensitively).
* An environment of the first phase is always open. An environment of a later phase is open
  when the nearest earlier phase that is neither ``optional`` nor waived by the zone is passed;
  the waived phases stepped over on the way are named in the deployment (with only optional or
  waived phases before it, it is open). So redeploying to an earlier phase is always allowed,
  the release never waits for an optional phase, and a waiver skips exactly the phase waived.
* An environment that no phase lists is never open to a release that has a lifecycle.
* Tenants (decision 155, kept by 395): a deployment for tenant T counts successes for T and
  untenanted successes (an untenanted deployment tested the release for every tenant); an
  untenanted deployment counts only untenanted ones. Each proof says which it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from bundlekit.format.lifecycle import Lifecycle, Phase

__all__ = ["Success", "PhaseStatus", "Progress", "counts_for", "progress", "Decision", "decide"]


@dataclass(frozen=True, slots=True)
class Success:
    """One successful deployment of the release, wherever it ran (``where``: for people)."""

    environment: str
    tenant: str | None
    where: str
    ended: float | None = None  # Unix seconds by the clock of the zone that ran it; None: not known


@dataclass(frozen=True, slots=True)
class PhaseStatus:
    phase: Phase
    succeeded: tuple[str, ...]  # environments of the phase with a success, in the lifecycle's spelling
    proofs: tuple[str, ...]  # the successes counted, for people
    waived: bool
    last_proof: float | None = None  # when the latest counted success ended (Unix seconds), if known

    @property
    def passed(self) -> bool:
        return len(self.succeeded) >= self.phase.minimum_successful

    def to_dict(self) -> dict[str, Any]:
        return {**self.phase.to_dict(), "succeeded": list(self.succeeded), "evidence": list(self.proofs),
                "waived": self.waived, "passed": self.passed, "last_proof_ended": self.last_proof}


@dataclass(frozen=True, slots=True)
class Progress:
    """Every phase's status for one release (and tenant)."""

    lifecycle: Lifecycle
    phases: tuple[PhaseStatus, ...]
    tenant: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"tenant": self.tenant, "phases": [p.to_dict() for p in self.phases]}


def counts_for(s: Success, tenant: str | None) -> bool:
    """Whether ``s`` counts for a deployment for ``tenant`` (None: untenanted), by the rule above."""
    if s.tenant is None:
        return True
    return tenant is not None and s.tenant.casefold() == tenant.casefold()


def progress(lifecycle: Lifecycle, successes: Iterable[Success], *, waived: Iterable[str] = (),
             tenant: str | None = None) -> Progress:
    """The status of every phase, counting the ``successes`` that apply to ``tenant``."""
    waived_names = {w.casefold() for w in waived}
    counted = [s for s in successes if counts_for(s, tenant)]
    statuses = []
    for phase in lifecycle.phases:
        envs = [e for e in phase.environments if any(s.environment.casefold() == e.casefold() for s in counted)]
        proofs = tuple(s.where + (" (untenanted: counts for every tenant)" if tenant and s.tenant is None else
                                  f" (tenant {s.tenant})" if s.tenant else "")
                       for s in counted if phase.has(s.environment))
        ends = [s.ended for s in counted if phase.has(s.environment) and s.ended is not None]
        statuses.append(PhaseStatus(phase, tuple(envs), proofs, phase.name.casefold() in waived_names,
                                    max(ends) if ends else None))
    return Progress(lifecycle, tuple(statuses), tenant)


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether ``environment`` is open. ``blocking``: the phase still to pass (when not open);
    ``waived``: the phases a waiver had to stand in for (recorded with the deployment)."""

    environment: str
    phase: Phase | None
    allowed: bool
    blocking: PhaseStatus | None = None
    waived: tuple[str, ...] = ()


def decide(prog: Progress, environment: str) -> Decision:
    """Is ``environment`` open to the release whose progression is ``prog``?"""
    index = prog.lifecycle.index_of(environment)
    if index is None:
        return Decision(environment, None, False)
    phase = prog.lifecycle.phases[index]
    relied: list[str] = []
    for status in reversed(prog.phases[:index]):
        if status.phase.optional:
            continue
        if status.passed:
            break
        if not status.waived:
            return Decision(environment, phase, False, status)
        relied.append(status.phase.name)
    return Decision(environment, phase, True, waived=tuple(reversed(relied)))


def updated_after_proof(last_proof: float | None, updated: int | None) -> bool:
    """Whether a release's variables were refreshed (``releases update-variables`` at ``updated``,
    whole Unix seconds) after the phase's latest proof ended (``last_proof``, Unix seconds with a
    fraction; None: unknown). Decision 682.

    The refresh is recorded in whole seconds and the proof to the millisecond, so a proof that ended
    in the same second as the refresh cannot be ordered; it counts as "updated after" (the warning
    is shown), because saying nothing when the proof may have run the old values is the worse error."""
    return updated is not None and last_proof is not None and last_proof < updated + 1
