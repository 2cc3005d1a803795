"""The deploy engine's inputs and results: what to deploy, and what happened.

This module owns the typed boundary of the deploy workflow. A :class:`DeployRequest` (built
from the zone's state by ``deploy/service.py``) says which release goes to which environment
with which variables, packages and targets; a :class:`DeployPlan` (made by
``deploy/plan.py``) says where each step runs; a :class:`DeploymentRecord` says what every
step did on every target. All are frozen; requests and records are validated on
construction, so a request that exists can be planned. Sensitive values arrive decrypted in
:class:`VariableInput` and leave, still clear, in a record's output variables; neither ever
shows them in a ``repr`` and :meth:`DeploymentRecord.to_dict` masks them unless told
otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from bundlekit.core.clock import Timestamp
from bundlekit.core.names import check_name
from bundlekit.core.text import MASK
from bundlekit.runtime.service_messages import OutputVariable
from bundlekit.deploy.targets import Target
from bundlekit.errors import DeployError
from bundlekit.format.manifest import Step
from bundlekit.substitution.scoping import DIMENSIONS

__all__ = [
    "PackageInput",
    "VariableInput",
    "DeployRequest",
    "StepRun",
    "DeploymentRecord",
    "PlannedRun",
    "DeployPlan",
    "SOURCES",
    "RUN_STATES",
    "DEPLOYMENT_STATES",
]

#: Where a variable value comes from; a later entry beats an earlier one at equal scope.
SOURCES = ("release", "placeholder", "local")
#: The states of one step on one target.
RUN_STATES = ("Success", "Failed", "Skipped", "Canceled", "TimedOut")
#: How a deployment ends: ``Canceled`` when it was stopped (a signal on the zone) and a run was canceled.
DEPLOYMENT_STATES = ("Success", "Failed", "Canceled")
#: Run states that make the deployment fail.
FAILED_STATES = frozenset({"Failed", "Canceled", "TimedOut"})

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_EMPTY_SCOPE: Mapping[str, frozenset[str]] = MappingProxyType({})


def _invalid(message: str) -> DeployError:
    return DeployError(message, code="invalid_deploy_request")


def _text(owner: str, label: str, value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        raise _invalid(f"{owner}: {label} must be non-empty text.")


@dataclass(frozen=True, slots=True)
class PackageInput:
    """A package archive in the zone's package store, with the hash the release pinned."""

    id: str
    version: str
    path: Path
    sha256: str
    file_name: str

    def __post_init__(self) -> None:
        for label in ("id", "version", "file_name"):
            _text("package", label, getattr(self, label))
        if not isinstance(self.sha256, str) or not _SHA256.match(self.sha256):
            raise _invalid(f"package {self.id!r}: sha256 must be 64 lower-case hex digits.")
        object.__setattr__(self, "path", Path(self.path))


@dataclass(frozen=True, slots=True)
class VariableInput:
    """One value of a variable with its scope. ``value`` None is a placeholder nobody bound;
    ``required`` (placeholders) says the deployment needs a value even if no step renders it."""

    name: str
    value: str | None
    sensitive: bool = False
    scope: Mapping[str, frozenset[str]] = field(default_factory=lambda: _EMPTY_SCOPE)
    source: str = "release"
    required: bool = True

    def __post_init__(self) -> None:
        _text("variable", "name", self.name)
        if self.value is not None and not isinstance(self.value, str):
            raise _invalid(f"variable {self.name!r}: the value must be text or None (unbound).")
        if self.source not in SOURCES:
            raise _invalid(f"variable {self.name!r}: source {self.source!r} is not one of {', '.join(SOURCES)}.")
        clean: dict[str, frozenset[str]] = {}
        for dim, values in dict(self.scope).items():
            if dim not in DIMENSIONS:
                raise _invalid(f"variable {self.name!r}: unknown scope dimension {dim!r} "
                               f"(expected one of {', '.join(DIMENSIONS)}).")
            if isinstance(values, str) or not values or not all(isinstance(v, str) and v for v in values):
                raise _invalid(f"variable {self.name!r}: scope {dim!r} must be a non-empty set of names.")
            clean[dim] = frozenset(values)
        object.__setattr__(self, "scope", MappingProxyType(clean))

    def __hash__(self) -> int:
        return hash((self.name, self.value, self.sensitive, frozenset(self.scope.items()), self.source,
                     self.required))

    def __repr__(self) -> str:
        shown = MASK if self.sensitive and self.value is not None else self.value
        scope = {dim: sorted(values) for dim, values in self.scope.items()}
        return (f"VariableInput(name={self.name!r}, value={shown!r}, sensitive={self.sensitive}, "
                f"scope={scope!r}, source={self.source!r})")


@dataclass(frozen=True, slots=True)
class DeployRequest:
    """Everything one deployment needs; ``targets`` are the environment's targets; ``space`` is
    the space of this zone the project belongs to (``Octopus.Space.Name``; decision 750).

    ``zone_target`` runs steps without roles ("run on the zone"); a plan with such a step
    and no zone target is refused in the preflight. ``protected`` is key material no log or
    output of the deployment may show.
    """

    deployment_id: str
    project_name: str
    project_slug: str
    space: str
    release_version: str
    channel: str
    environment: str
    steps: tuple[Step, ...]
    packages: tuple[PackageInput, ...]
    variables: tuple[VariableInput, ...]
    targets: tuple[Target, ...]
    now: datetime
    tenant: str | None = None
    script_timeout: float = 3600.0
    zone_target: Target | None = None
    warnings: tuple[str, ...] = ()
    #: The zone's own key material (``zone/key_material.py``): masked, in every encoding
    #: ``runtime.masking.encoded_forms`` lists, in every log, reason, event and output value the
    #: deployment produces (decision 380). Never shown.
    protected: tuple[bytes, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        check_name(self.deployment_id, what="deployment id", error=DeployError, code="invalid_deploy_request")
        for label in ("project_name", "project_slug", "space", "release_version", "channel", "environment"):
            _text("deployment", label, getattr(self, label))
        if self.tenant is not None:
            _text("deployment", "tenant", self.tenant)
        if not isinstance(self.now, datetime):
            raise _invalid("deployment: now must be a datetime (the reference time for date filters).")
        if not isinstance(self.script_timeout, (int, float)) or not self.script_timeout > 0:
            raise _invalid(f"deployment: script_timeout must be a positive number of seconds, "
                           f"not {self.script_timeout!r}.")
        for label in ("steps", "packages", "variables", "targets"):
            object.__setattr__(self, label, tuple(getattr(self, label)))
        _unique("step", [s.name for s in self.steps])
        _unique("target", [t.name for t in self.targets])
        _unique("package", [p.id for p in self.packages])
        for kind, items, cls in (("step", self.steps, Step), ("package", self.packages, PackageInput),
                                 ("variable", self.variables, VariableInput), ("target", self.targets, Target)):
            for item in items:
                if not isinstance(item, cls):
                    raise _invalid(f"deployment: every {kind} must be a {cls.__name__}, not {type(item).__name__}.")
        if self.zone_target is not None and not isinstance(self.zone_target, Target):
            raise _invalid("deployment: zone_target must be a Target.")


def _unique(kind: str, names: list[str]) -> None:
    seen: dict[str, str] = {}
    for name in names:
        _text(kind, "name", name)
        folded = name.casefold()
        if folded in seen:
            raise _invalid(f"deployment: two {kind}s are named {seen[folded]!r} and {name!r}; "
                           f"{kind} names must differ (case-insensitively).")
        seen[folded] = name


@dataclass(frozen=True, slots=True)
class StepRun:
    """What one step did on one target (``target`` None: on the zone). ``log`` is masked;
    ``started`` and ``ended`` are Unix seconds to the millisecond (None: the run never started;
    decision 430)."""

    step: str
    target: str | None
    state: str
    started: Timestamp | None
    ended: Timestamp | None
    exit_code: int | None
    log: str
    outputs: tuple[OutputVariable, ...]
    reason: str | None

    def __post_init__(self) -> None:
        if self.state not in RUN_STATES:
            raise ValueError(f"unknown run state {self.state!r}; expected one of {RUN_STATES}")

    @property
    def failed(self) -> bool:
        return self.state in FAILED_STATES

    def to_dict(self, mask: bool = True) -> dict[str, Any]:
        return {
            "step": self.step, "target": self.target, "state": self.state,
            "started": self.started, "ended": self.ended, "exit_code": self.exit_code,
            "reason": self.reason, "log": self.log,
            "outputs": [{"name": o.name, "value": MASK if (mask and o.sensitive) else o.value,
                         "sensitive": o.sensitive} for o in self.outputs],
        }


@dataclass(frozen=True, slots=True)
class DeploymentRecord:
    """The outcome of a deployment: ``Success`` only when no run failed, timed out or was canceled.

    Sensitive output values are kept (the caller seals them for the receipt);
    ``to_dict(mask=True)`` and ``repr`` never show them.
    """

    deployment_id: str
    project_slug: str
    release_version: str
    environment: str
    state: str
    started: Timestamp
    ended: Timestamp
    runs: tuple[StepRun, ...]
    warnings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.state not in DEPLOYMENT_STATES:
            raise ValueError(f"unknown deployment state {self.state!r}")

    def to_dict(self, mask: bool = True) -> dict[str, Any]:
        return {
            "deployment_id": self.deployment_id, "project_slug": self.project_slug,
            "release_version": self.release_version, "environment": self.environment,
            "state": self.state, "started": self.started, "ended": self.ended,
            "warnings": list(self.warnings), "runs": [run.to_dict(mask) for run in self.runs],
        }

    def outputs(self) -> list[tuple[str, str | None, OutputVariable]]:
        """Every output variable set, in the order set: (step, target, variable)."""
        return [(run.step, run.target, output) for run in self.runs for output in run.outputs]


@dataclass(frozen=True, slots=True)
class PlannedRun:
    """One step on one target (``target`` None: on the zone), to run or skipped with a reason."""

    step: str
    target: str | None
    action: str  # "run" | "skip"
    reason: str | None
    step_type: str
    condition: str
    variables: tuple[str, ...] = ()
    sensitive: tuple[str, ...] = ()
    output_refs: tuple[str, ...] = ()
    substitute_files: tuple[str, ...] = ()
    structured_config: tuple[tuple[str, str, tuple[str, ...]], ...] = ()  # (file, format, variable names)
    package_scripts: tuple[str, ...] = ()
    #: Structured configuration warnings the preflight found (``FILE: warning``): written to the
    #: run's log before the step runs, as the target's own warnings are while it runs.
    config_warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        extra = {"config_warnings": list(self.config_warnings)} if self.config_warnings else {}
        return {
            "step": self.step, "target": self.target, "action": self.action, "reason": self.reason,
            "type": self.step_type, "condition": self.condition, "variables": list(self.variables),
            "sensitive_variables": list(self.sensitive), "output_refs": list(self.output_refs),
            "substitute_files": list(self.substitute_files),
            "structured_config": [{"file": file, "format": fmt, "variables": list(keys)}
                                  for file, fmt, keys in self.structured_config],
            "package_scripts": list(self.package_scripts),
        } | extra


@dataclass(frozen=True, slots=True)
class DeployPlan:
    """The preflight's result: every run in execution order. Names only, never values."""

    deployment_id: str
    project_slug: str
    release_version: str
    channel: str
    environment: str
    tenant: str | None
    runs: tuple[PlannedRun, ...]
    packages: tuple[tuple[str, str, str], ...] = field(default=())  # (id, version, sha256) verified

    def to_dict(self) -> dict[str, Any]:
        return {
            "deployment_id": self.deployment_id, "project_slug": self.project_slug,
            "release_version": self.release_version, "channel": self.channel,
            "environment": self.environment, "tenant": self.tenant,
            "packages": [{"id": i, "version": v, "sha256": h} for i, v, h in self.packages],
            "runs": [run.to_dict() for run in self.runs],
        }
