"""The variables one step sees on one target: scoped values, system variables, outputs.

This module owns the rules the preflight and the engine must agree on, so both build a
step's :class:`VariableDictionary` the same way (``docs/decisions/046-variable-sources.md``):

* scoped values: per name, the most specific matching value wins
  (:mod:`bundlekit.substitution.scoping`); at equal specificity a ``local`` value (set in
  this zone) beats a ``placeholder``, which beats a ``release`` value; two different values
  of the same source that tie are refused (``ambiguous_variable``);
* system variables (``Octopus.*``) are set last and win over project variables of the same name;
* output variables of earlier runs: ``Octopus.Action[Step].Output[Machine].Name`` per
  machine, and ``Octopus.Action[Step].Output.Name`` = the value set on the reading run's
  own machine if the step ran there, else the value set last.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bundlekit.deploy.model import SOURCES, DeployRequest, PackageInput, VariableInput
from bundlekit.runtime.service_messages import OutputVariable
from bundlekit.deploy.targets import Target
from bundlekit.errors import DeployError
from bundlekit.format.manifest import Step
from bundlekit.runtime.variables import CURRENT_INSTALL_DIR, INSTALL_DIR_OUTPUT, evaluated_values, token_secrets
from bundlekit.substitution import SubstitutionError, VariableDictionary
from bundlekit.substitution.parser import parse_name
from bundlekit.substitution.scoping import ScopeContext, ScopedValue, matches, select, specificity
from bundlekit.substitution.variables import path_display, path_key

__all__ = [
    "scope_context",
    "winners",
    "system_variables",
    "output_name",
    "parse_output_ref",
    "OutputRef",
    "OutputStore",
    "build_dictionary",
    "fold_name",
    "evaluated_values",
    "token_secrets",
    "INSTALL_DIR_OUTPUT",
    "CURRENT_INSTALL_DIR",
    "TENANT_NAME",
]

#: The system variable only a deployment for a tenant has (``spec/deploy.md``, "System variables").
TENANT_NAME = "Octopus.Deployment.Tenant.Name"

_RANK = {source: rank for rank, source in enumerate(SOURCES)}


def fold_name(name: str) -> str:
    """The case-insensitive identity of a variable name (as the dictionary keys it)."""
    parsed = parse_name(name)
    path = parsed if parsed is not None else (("r", name.strip()),)
    return path_display(path_key(path))


def where_label(target: Target | None) -> str:
    return f"on {target.name}" if target is not None else "on the zone"


def scope_context(request: DeployRequest, step: Step, target: Target | None) -> ScopeContext:
    return ScopeContext(
        environment=request.environment,
        roles=frozenset(target.roles) if target is not None else frozenset(),
        machine=target.name if target is not None else None,
        step=step.name,
        channel=request.channel,
        tenant=request.tenant,
    )


def winners(variables: Iterable[VariableInput], ctx: ScopeContext, *, step: str,
            target: Target | None) -> dict[str, ScopedValue]:
    """Folded name -> the value that applies in ``ctx`` (value None: an unbound placeholder)."""
    groups: dict[str, list[ScopedValue]] = {}
    for v in variables:
        scoped = ScopedValue(v.name, v.value, v.sensitive, v.scope, v.source)
        groups.setdefault(fold_name(v.name), []).append(scoped)
    out: dict[str, ScopedValue] = {}
    for folded, candidates in groups.items():
        matching = [c for c in candidates if matches(c, ctx)]
        if not matching:
            continue
        top = max(specificity(c.scope) for c in matching)
        best = [c for c in matching if specificity(c.scope) == top]
        rank = max(_RANK[c.source] for c in best)
        best = [c for c in best if _RANK[c.source] == rank]
        try:
            chosen = select(best, ctx)
        except SubstitutionError as error:
            raise DeployError(
                f"step {step!r} {where_label(target)}: {error.message}. Nothing was run.",
                code="preflight_ambiguous_variable",
                details={"name": candidates[0].name, "step": step,
                         "target": target.name if target is not None else None},
            ) from None
        if chosen is not None:
            out[folded] = chosen
    return out


def system_variables(request: DeployRequest, step: Step, target: Target | None,
                     package: PackageInput | None) -> dict[str, str]:
    """The ``Octopus.*`` variables bundlekit defines for one step on one target."""
    values = {
        "Octopus.Deployment.Id": request.deployment_id,
        "Octopus.Project.Name": request.project_name,
        "Octopus.Project.Slug": request.project_slug,
        "Octopus.Space.Name": request.space,
        "Octopus.Release.Number": request.release_version,
        "Octopus.Release.Channel": request.channel,
        "Octopus.Release.Channel.Name": request.channel,
        "Octopus.Environment.Name": request.environment,
        "Octopus.Action.Name": step.name,
        "Octopus.Step.Name": step.name,
    }
    if request.tenant is not None:
        values[TENANT_NAME] = request.tenant
    if target is not None:
        values["Octopus.Machine.Name"] = target.name
        values["Octopus.Machine.Roles"] = ",".join(sorted(target.roles, key=str.casefold))
    if package is not None:
        values["Octopus.Action.Package.PackageId"] = package.id
        values["Octopus.Action.Package.PackageVersion"] = package.version
    return values


def output_name(step: str, name: str, machine: str | None = None) -> str:
    where = f"[{machine}]" if machine is not None else ""
    return f"Octopus.Action[{step}].Output{where}.{name}"


@dataclass(frozen=True, slots=True)
class OutputRef:
    """A parsed ``Octopus.Action[step].Output[machine].name`` reference."""

    step: str
    machine: str | None
    name: str


def parse_output_ref(reference: str) -> OutputRef | None:
    path = parse_name(reference)
    if path is None or len(path) < 5:
        return None
    folded = [(kind, text.casefold()) for kind, text in path[:4]]
    if folded[0] != ("i", "octopus") or folded[1] != ("i", "action") or path[2][0] != "x" \
            or folded[3] != ("i", "output"):
        return None
    rest = list(path[4:])
    machine = None
    if rest[0][0] == "x":
        machine = rest.pop(0)[1]
    if not rest or any(kind != "i" for kind, _ in rest):
        return None
    return OutputRef(path[2][1], machine, ".".join(text for _, text in rest))


class OutputStore:
    """Output variables set so far in one deployment, in the order they were set."""

    def __init__(self) -> None:
        self._items: list[tuple[str, str | None, OutputVariable]] = []

    def add(self, step: str, machine: str | None, variable: OutputVariable) -> None:
        self._items.append((step, machine, variable))

    def apply(self, dictionary: VariableDictionary, machine: str | None) -> None:
        """Define every output in ``dictionary`` as seen from a run on ``machine``."""
        last: dict[tuple[str, str], tuple[str, OutputVariable]] = {}
        mine: dict[tuple[str, str], tuple[str, OutputVariable]] = {}
        for step, where, variable in self._items:
            if where is not None:
                dictionary.set(output_name(step, variable.name, where), variable.value, variable.sensitive)
            key = (step.casefold(), fold_name(variable.name))
            last[key] = (step, variable)
            if where is not None and machine is not None and where.casefold() == machine.casefold():
                mine[key] = (step, variable)
        for key, (step, variable) in last.items():
            step, variable = mine.get(key, (step, variable))
            dictionary.set(output_name(step, variable.name), variable.value, variable.sensitive)


def build_dictionary(chosen: Mapping[str, ScopedValue], system: Mapping[str, str],
                     outputs: OutputStore | None, machine: str | None) -> VariableDictionary:
    dictionary = VariableDictionary()
    for value in chosen.values():
        if value.value is not None:
            dictionary.set(value.name, value.value, value.sensitive)
    for name, text in system.items():
        dictionary.set(name, text)
    if outputs is not None:
        outputs.apply(dictionary, machine)
    return dictionary
