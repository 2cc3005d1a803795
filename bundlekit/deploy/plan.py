"""The deploy preflight: where every step runs, and proof that every variable resolves.

This module owns :func:`build_plan`, a pure function of a :class:`DeployRequest` apart from
reading the package archives (hashed, and the files a step substitutes read in place,
never extracted). It decides, step by step, on which targets each step runs or why it is
skipped; then, for every (step, target) pair, it renders what that run will render (the
script, the package files to substitute, the structured configuration values) against the
variables that run will see, and collects every reference that cannot be resolved. Any
problem refuses the deployment before anything runs. The plan holds names, never values,
so :meth:`DeployPlan.to_dict` is safe to print (``--dry-run``). Rules: ``spec/deploy.md``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from bundlekit.core.text import shell_word
from bundlekit.core.hints import here_flags, listed
from bundlekit.deploy.context import (
    CURRENT_INSTALL_DIR,
    TENANT_NAME,
    build_dictionary,
    fold_name,
    parse_output_ref,
    scope_context,
    system_variables,
    winners,
)
from bundlekit.deploy.model import DeployPlan, DeployRequest, PackageInput, PlannedRun
from bundlekit.runtime.structured import ConfigParseError, apply_config, selection
from bundlekit.deploy.targets import Target
from bundlekit.runtime.files import MAX_TEMPLATE_BYTES
from bundlekit.runtime.scripts import SUPPORTED_SYNTAXES
from bundlekit.runtime.phases import PHASES, SCRIPT_SYNTAX
from bundlekit.errors import DeployError, VerificationError
from bundlekit.format.manifest import Step
from bundlekit.package.archive import member_matches, read_members
from bundlekit.substitution import RenderResult, SubstitutionError, VariableDictionary, references, render
from bundlekit.substitution.engine import syntax_error
from bundlekit.substitution.errors import CYCLE, TOO_DEEP, TOO_LARGE
from bundlekit.substitution.parser import ParseFailure, parse_template
from bundlekit.substitution.scoping import ScopedValue

__all__ = ["build_plan", "DeployPlan", "PlannedRun", "verify_package", "json_config_patterns", "structured_files",
           "PHASES", "CONDITIONS"]

STEP_TYPES = ("script", "package")
CONDITIONS = ("success", "failure", "always")
#: What an output variable of an earlier step stands for while planning (its value comes later).
OUTPUT_PLACEHOLDER = "(output known at run time)"
INSTALL_PLACEHOLDER = "(installation folder)"
_MAX_LISTED = 50


# --------------------------------------------------------------------------- helpers


def json_config_patterns(step: Step, environment: str) -> list[str]:
    """The files JSON configuration variables apply to automatically (``runtime.structured.selection``)."""
    return selection.json_config_patterns(step.substitute, environment)


def structured_files(step: Step, environment: str, names: list[str]) -> dict[str, tuple[str, ...]]:
    """Package member -> the formats to try, for every member structured configuration variables apply to."""
    return selection.structured_files(names, step.substitute, step.structured_config, environment)


def _any_case(word: str) -> str:
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in word)


_SCRIPT_PATTERNS = [_any_case(phase + ext) for phase in PHASES for ext in SCRIPT_SYNTAX]


def verify_package(package: PackageInput, space: str | None = None) -> None:
    """Stream the archive and compare its SHA-256 with the one the release pinned (``space``: the project's)."""
    try:
        with open(package.path, "rb") as handle:
            digest = hashlib.file_digest(handle, "sha256")
    except OSError as error:
        raise DeployError(
            f"package {package.id} {package.version}: cannot read {package.path}: {error.strerror}. "
            f"Import the release's bundle again (`bundlekit import BUNDLE{here_flags(space)}`): an identical bundle "
            "imported again restores the package objects the store lost or damaged.",
            code="package_unreadable", details={"package": package.id, "path": str(package.path)},
        ) from None
    if digest.hexdigest() != package.sha256:
        raise VerificationError(
            f"package {package.id} {package.version} at {package.path} does not match the SHA-256 the "
            "release pinned; the package store was changed. Nothing was run. Import the release's bundle again "
            f"(`bundlekit import BUNDLE{here_flags(space)}`): it restores the store's copy from the bundle. In the "
            f"zone that authored it, remove {package.path} and run there: `bundlekit releases create RELEASE_FILE`.",
            code="package_hash_mismatch", details={"package": package.id, "path": str(package.path)},
        )


#: The deploy family's code for an engine refusal met while rendering in the preflight
#: (spec/deploy.md, "Preflight"; the engine's code travels as the alias).
PREFLIGHT_CODES = {
    CYCLE: "preflight_variable_cycle",
    TOO_DEEP: "preflight_substitution_too_deep",
    TOO_LARGE: "preflight_substitution_too_large",
}


def _structured_keys(text: str, formats: tuple[str, ...], candidates: list[str], package: PackageInput,
                     file: str, step: Step) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """(format, the candidate names that replace something in the file, the warnings about
    names that replace nothing: an XPath that selects nothing because of a default namespace);
    refuses a file that does not parse as any of ``formats``, with the fix that fits why the
    file is configured. Warnings about a name that does replace something depend on its value
    and come from the target, which applies it."""
    try:
        fmt, edit = apply_config(text, {name: "" for name in candidates}, formats)
    except ConfigParseError as error:
        fix = selection.config_fix(file, step.substitute, step.structured_config)
        raise DeployError(
            f"step {step.name!r}: {file} in package {package.id} {package.version} is {error}, so structured "
            f"configuration variables cannot be applied to it. Fix the file in the package, or {fix}. Nothing was run.",
            code="invalid_structured_config",
            details={"step": step.name, "file": file, "format": error.format, "line": error.line,
                     "column": error.column},
        ) from None
    keys = tuple(sorted({name for name, _ in edit.replaced}, key=str.casefold))
    unmatched = [name for name in candidates if name not in keys]
    warnings = tuple(w for w in edit.warnings if any(w.startswith(f"{name}: ") for name in unmatched))
    return fmt, keys, warnings


@dataclass(frozen=True, slots=True)
class _Missing:
    name: str
    step: str
    target: str | None
    where: str
    hint: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "step": self.step, "target": self.target, "where": self.where,
                "hint": self.hint}


# --------------------------------------------------------------------------- one run


class _Run:
    """Renders what one (step, target) run will render and records what does not resolve."""

    def __init__(self, request: DeployRequest, step: Step, target: Target | None, package: PackageInput | None,
                 status: dict[str, tuple[int, frozenset[str] | None, str | None]], index: int) -> None:
        self.request, self.step, self.target, self.index, self.status = request, step, target, index, status
        ctx = scope_context(request, step, target)
        self.chosen: dict[str, ScopedValue] = winners(request.variables, ctx, step=step.name, target=target)
        self.dictionary: VariableDictionary = build_dictionary(
            self.chosen, system_variables(request, step, target, package), None, None)
        if package is not None:
            self.dictionary.set(CURRENT_INSTALL_DIR, INSTALL_PLACEHOLDER)
        self.missing: list[_Missing] = []
        # Placeholders the release requires: a deployment needs their value even if nothing renders it.
        self.required = {fold_name(v.name) for v in request.variables
                         if v.value is None and v.required and v.source == "placeholder"}
        self.syntax: list[dict[str, Any]] = []
        self.used: set[str] = set()
        self.outputs: dict[str, str] = {}  # folded -> output reference as written
        self._refs: dict[str, set[str]] = {}

    @property
    def target_name(self) -> str | None:
        return self.target.name if self.target is not None else None

    def check(self, where: str, text: str, *, lenient: bool = False) -> RenderResult | None:
        """Render ``text`` as this run will; ``lenient`` for a substituted file, where a
        ``#{`` that is not a token stays as text (Octopus's rule) instead of being an error."""
        if not lenient:
            try:
                parse_template(text)
            except ParseFailure as failure:
                error = syntax_error(text, failure, where)
                self.syntax.append({"step": self.step.name, "target": self.target_name, "where": where,
                                    "message": error.message})
                return None
        try:
            result = self._render(text)
        except SubstitutionError as error:  # a cycle, or a value that expands without bound
            code = PREFLIGHT_CODES.get(error.code)
            if code is None:
                raise
            raise DeployError(
                f"step {self.step.name!r} {_on(self.target_name)}, {where}: {error.message}. Nothing was run.",
                code=code, details={"step": self.step.name, "target": self.target_name, "where": where},
            ) from None
        self.used |= result.used
        for name in result.missing:
            self._attribute(name, where, text, result)
        return result

    def missing_variable(self, name: str, where: str, shown: str | None = None) -> None:
        """``name`` has no value where it is used; ``shown``: how messages show it when a part of it
        was computed from a sensitive value (decision 653): then no hint is computed from it either."""
        if shown is not None and shown != name:
            hint = "a name computed from a sensitive value (the computed part is not shown): check that value"
            self.missing.append(_Missing(shown, self.step.name, self.target_name, where, hint))
            return
        self.missing.append(_Missing(name, self.step.name, self.target_name, where, self._hint(name)))

    def _render(self, text: str) -> RenderResult:
        while True:
            result = render(text, self.dictionary, now=self.request.now)
            added = False
            for name in result.missing:
                if parse_output_ref(name) is not None and fold_name(name) not in self.outputs \
                        and self._output_problem(name) is None:
                    self.dictionary.set(name, OUTPUT_PLACEHOLDER)
                    self.outputs[fold_name(name)] = name
                    added = True
            if not added:
                return result

    def _references(self, text: str) -> set[str]:
        if text not in self._refs:
            self._refs[text] = {fold_name(r) for r in references(text)}
        return self._refs[text]

    def _attribute(self, name: str, where: str, text: str, result: RenderResult) -> None:
        """Say where ``name`` is written: the template itself, or the value of a variable it reads."""
        folded = fold_name(name)
        spelled = {fold_name(n): n for n in self.dictionary.names()}
        owners = []
        for used in sorted(result.used):
            raw = self.dictionary.get_raw(used) if used in spelled else None
            if raw is not None and "#" in raw and folded in self._references(raw):
                owners.append(spelled[used])
        if folded in self._references(text) or not owners:
            self.missing_variable(name, where, result.shown(name))
        for owner in owners:
            self.missing_variable(name, f"variable {owner}", result.shown(name))

    def _output_problem(self, name: str) -> str | None:
        ref = parse_output_ref(name)
        assert ref is not None
        found = self.status.get(ref.step.casefold())
        if found is None:
            return f"there is no step named {ref.step!r}"
        index, machines, skipped = found
        if skipped is not None:
            return f"step {ref.step!r} is skipped in this deployment ({skipped})"
        if index == self.index:
            return "a step cannot read its own output variables, only later steps can"
        if index > self.index:
            return f"step {ref.step!r} runs after this step; output variables flow to later steps only"
        if ref.machine is not None and (machines is None or ref.machine.casefold() not in machines):
            return f"step {ref.step!r} does not run on a target named {ref.machine!r}"
        return None

    def _hint(self, name: str) -> str:
        """Why ``name`` has no value here, and the command that gives it one."""
        if parse_output_ref(name) is not None:
            return self._output_problem(name) or "output variable"
        command = f"bundlekit variables set {shell_word(self.request.project_slug)} {shell_word(name)}"
        here = here_flags(self.request.space)  # --space, --home: the zone refused in, last (decision 964)
        chosen = self.chosen.get(fold_name(name))
        if chosen is not None and chosen.value is None:
            how = (f"`{command} - --sensitive{here}` (it reads the value from stdin, off the command line)"
                   if chosen.sensitive else f"`{command} VALUE{here}`")
            return f"a placeholder with no value in this zone: bind one with {how}"
        if any(fold_name(v.name) == fold_name(name) for v in self.request.variables):
            return (f"defined, but no value is scoped to this step, target and environment: add one with "
                    f"`{command} VALUE --environment {shell_word(self.request.environment)}{here}`")
        if fold_name(name) == fold_name(TENANT_NAME) and self.request.tenant is None:
            return (f"set only in a deployment for a tenant: deploy with --tenant NAME, or write "
                    f"#{{if {TENANT_NAME}}}...#{{/if}} around it so an untenanted deployment leaves it out")
        return f"not defined: define it with `{command} VALUE --new{here}`"

    def unbound_required(self) -> list[_Missing]:
        """Required placeholders that apply to this run and have no value (reported once per
        deployment by :func:`build_plan`, where nothing else reported them)."""
        return [_Missing(value.name, self.step.name, self.target_name, "the release's required placeholders",
                         self._hint(value.name))
                for folded, value in sorted(self.chosen.items()) if value.value is None and folded in self.required]

    def planned(self, **extra: Any) -> PlannedRun:
        spelled = {fold_name(n): n for n in self.dictionary.names()}
        names = sorted({spelled[u] for u in self.used if u in spelled}, key=str.casefold)
        return PlannedRun(
            step=self.step.name, target=self.target_name, action="run", reason=None,
            step_type=self.step.type, condition=self.step.condition, variables=tuple(names),
            sensitive=tuple(n for n in names if self.dictionary.is_sensitive(n)),
            output_refs=tuple(sorted(self.outputs.values(), key=str.casefold)), **extra,
        )


# --------------------------------------------------------------------------- the plan


def _skip_reason(step: Step, environment: str) -> str | None:
    if not step.enabled:
        return "the step is disabled"
    if step.environments and environment.casefold() not in {e.casefold() for e in step.environments}:
        return (f"the step is limited to environment(s) {', '.join(step.environments)}; "
                f"this deployment is to {environment}")
    return None


def _check_step(step: Step, request: DeployRequest) -> PackageInput | None:
    def bad(why: str) -> DeployError:
        return DeployError(f"step {step.name!r}: {why}. Nothing was run.", code="invalid_step",
                           details={"step": step.name})

    if step.type not in STEP_TYPES:
        raise bad(f"type {step.type!r} is not one of {', '.join(STEP_TYPES)}")
    if step.condition not in CONDITIONS:
        raise bad(f"condition {step.condition!r} is not one of {', '.join(CONDITIONS)}")
    if step.timeout is not None and not (isinstance(step.timeout, (int, float)) and step.timeout > 0):
        raise bad(f"timeout {step.timeout!r} must be a positive number of seconds")
    if step.type == "script":
        if step.syntax not in SUPPORTED_SYNTAXES or not isinstance(step.script, str):
            raise bad(f"a script step needs a script and a syntax ({', '.join(SUPPORTED_SYNTAXES)})")
        return None
    for package in request.packages:
        if step.package is not None and package.id.casefold() == step.package.casefold():
            return package
    raise DeployError(f"step {step.name!r} deploys package {step.package!r}, which this release does not "
                      "carry. Nothing was run.", code="unknown_package", details={"step": step.name})


def _targets_for(step: Step, request: DeployRequest) -> list[Target | None]:
    if not step.roles:
        if request.zone_target is None:
            raise DeployError(f"step {step.name!r} has no roles, so it runs on the zone, but no zone target "
                              "was given. Nothing was run.", code="no_zone_target", details={"step": step.name})
        return [None]
    chosen: list[Target | None] = [t for t in request.targets if t.has_role(step.roles)]
    if not chosen:
        raise DeployError(
            f"step {step.name!r} runs on targets with role(s) {listed(step.roles)}, but no target in "
            f"{request.environment} has one. Add a target with that role, or disable the step. Nothing was run.",
            code="no_targets_for_roles", details={"step": step.name, "roles": list(step.roles)},
        )
    return chosen


def _package_files(step: Step, package: PackageInput, environment: str) -> tuple[dict[str, str], set[str],
                                                                                   dict[str, tuple[str, ...]],
                                                                                   list[str]]:
    """The package's texts this step needs: substituted files, structured config files, scripts."""
    json_patterns = json_config_patterns(step, environment)
    texts = dict(read_members(package.path, [*step.substitute, *step.structured_config, *json_patterns,
                                             *_SCRIPT_PATTERNS], MAX_TEMPLATE_BYTES,
                              shown=f"step {step.name!r}: package {package.id} {package.version}"))
    substituted = {name for name in texts if member_matches(name, step.substitute)}
    config_files = structured_files(step, environment, sorted(texts))
    scripts: list[str] = []
    for phase in PHASES:
        found = [name for name in texts if "/" not in name
                 and any(name.casefold() == (phase + ext).casefold() for ext in SCRIPT_SYNTAX)]
        if len(found) > 1:
            raise DeployError(
                f"package {package.id} {package.version} has more than one {phase} script "
                f"({', '.join(sorted(found))}); keep one. Nothing was run.",
                code="ambiguous_package_script", details={"step": step.name, "files": sorted(found)},
            )
        scripts.extend(found)
    return texts, substituted, config_files, scripts


def _plan_package_run(run: _Run, package: PackageInput, texts: dict[str, str], substituted: set[str],
                      config_files: dict[str, tuple[str, ...]], scripts: list[str]) -> PlannedRun:
    rendered: dict[str, RenderResult | None] = {}
    for name in sorted(substituted):
        rendered[name] = run.check(f"file {name}", texts[name], lenient=True)
    candidates = [v.name for v in run.chosen.values()]
    structured: list[tuple[str, str, tuple[str, ...]]] = []
    warnings: list[str] = []
    checked: set[str] = set()
    for name, formats in sorted(config_files.items()):
        result = rendered.get(name)
        try:
            fmt, keys, found = _structured_keys(result.text if result is not None else texts[name], formats,
                                                candidates, package, name, run.step)
        except DeployError:
            if result is not None and result.missing:
                continue  # a token left in place broke the file; the missing names are reported
            raise
        warnings.extend(f"{name}: {w}" for w in found)
        if not keys:
            continue
        structured.append((name, fmt, keys))
        for value in (run.chosen[fold_name(key)] for key in keys):
            if value.value is None:
                run.missing_variable(value.name, f"file {name}")
            elif value.name not in checked:
                checked.add(value.name)
                run.used.add(fold_name(value.name))
                run.check(f"variable {value.name}", value.value)
    return run.planned(substitute_files=tuple(sorted(substituted)), structured_config=tuple(structured),
                       package_scripts=tuple(scripts), config_warnings=tuple(warnings))


def _on(target: str | None) -> str:
    return f"on {target}" if target is not None else "on the zone"


def _unresolved_error(request: DeployRequest, missing: list[_Missing]) -> DeployError:
    unique: dict[tuple[str, str, str | None, str], _Missing] = {}
    for item in missing:
        unique.setdefault((fold_name(item.name), item.step, item.target, item.where), item)
    items = list(unique.values())
    names = sorted({item.name for item in items}, key=str.casefold)
    lines = [f"  - {item.name} in step {item.step!r} {_on(item.target)}, {item.where}: {item.hint}"
             for item in items[:_MAX_LISTED]]
    if len(items) > _MAX_LISTED:
        lines.append(f"  ... and {len(items) - _MAX_LISTED} more (see details)")
    return DeployError(
        f"deployment of {request.project_name} {request.release_version} to "
        f"{request.environment} cannot start: {len(names)} variable(s) cannot be resolved "
        f"({', '.join(names)}). Nothing was run.\n" + "\n".join(lines),
        code="preflight_unresolved_variables",
        details=[item.to_dict() for item in items],
    )


def build_plan(request: DeployRequest) -> DeployPlan:
    """Plan ``request`` or raise :class:`DeployError` (exit 5) before anything has run.

    Codes: ``preflight_unresolved_variables`` (``details``: every ``{name, step, target,
    where, hint}``), ``preflight_template_syntax``, ``preflight_ambiguous_variable``, the
    other :data:`PREFLIGHT_CODES`, ``invalid_step``, ``unknown_package``,
    ``no_targets_for_roles``, ``no_zone_target``, ``target_wrong_environment``,
    ``invalid_structured_config``, ``ambiguous_package_script``, ``package_unreadable``, archive
    refusals; ``package_hash_mismatch`` is a VerificationError.
    """
    for machine in request.targets:
        if machine.environment.casefold() != request.environment.casefold():
            raise DeployError(
                f"target {machine.name!r} belongs to environment {machine.environment!r}, not "
                f"{request.environment!r}. Nothing was run.",
                code="target_wrong_environment", details={"target": machine.name},
            )
    # First pass: who runs where, so output references can be judged against every step.
    status: dict[str, tuple[int, frozenset[str] | None, str | None]] = {}
    layout: list[tuple[Step, str | None, list[Target | None], PackageInput | None]] = []
    for index, step in enumerate(request.steps):
        reason = _skip_reason(step, request.environment)
        if reason is not None:
            layout.append((step, reason, [], None))
            status[step.name.casefold()] = (index, None, reason)
            continue
        package = _check_step(step, request)
        targets = _targets_for(step, request)
        machines = None if targets == [None] else frozenset(t.name.casefold() for t in targets if t is not None)
        layout.append((step, None, targets, package))
        status[step.name.casefold()] = (index, machines, None)

    verified: dict[str, PackageInput] = {}
    for _, _, _, package in layout:
        if package is not None and package.id not in verified:
            verify_package(package, request.space)
            verified[package.id] = package

    runs: list[PlannedRun] = []
    missing: list[_Missing] = []
    required: list[_Missing] = []
    syntax: list[dict[str, Any]] = []
    for index, (step, reason, targets, package) in enumerate(layout):
        if reason is not None:
            runs.append(PlannedRun(step.name, None, "skip", reason, step.type, step.condition))
            continue
        files = _package_files(step, package, request.environment) if package is not None else None
        for target in targets:
            run = _Run(request, step, target, package, status, index)
            if package is None:
                run.check("script", step.script or "")
                runs.append(run.planned())
            else:
                assert files is not None
                runs.append(_plan_package_run(run, package, *files))
            missing.extend(run.missing)
            syntax.extend(run.syntax)
            required.extend(run.unbound_required())
    if syntax:
        raise DeployError(
            "deployment cannot start: template syntax errors. Nothing was run.\n"
            + "\n".join(f"  - step {s['step']!r} {_on(s['target'])}: {s['message']}" for s in syntax),
            code="preflight_template_syntax", details=syntax,
        )
    reported = {fold_name(item.name) for item in missing}
    for item in required:  # needed even where no step renders it; once per deployment
        if fold_name(item.name) not in reported:
            reported.add(fold_name(item.name))
            missing.append(item)
    if missing:
        raise _unresolved_error(request, missing)
    return DeployPlan(
        deployment_id=request.deployment_id, project_slug=request.project_slug,
        release_version=request.release_version, channel=request.channel, environment=request.environment,
        tenant=request.tenant, runs=tuple(runs),
        packages=tuple((p.id, p.version, p.sha256) for p in verified.values()),
    )
