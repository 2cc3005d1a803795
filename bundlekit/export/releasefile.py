"""The release file (TOML): parse, validate and resolve into a :class:`ReleaseSpec`.

Errors name the file, the key path (``steps[1].package``) and the problem. Package paths
are resolved relative to the release file and must stay inside its folder (no absolute
paths, no ``..``, no symlink that leads outside). Validation also refuses what would make
a deploy a coin toss: duplicate step names, a package step naming an unknown package, two
values of one variable that could match the same deployment with equal specificity, and
output-variable references to steps that do not exist.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from bundlekit.core.files import read_user_file
from bundlekit.core.names import NAME_RULE, PATH_RULE, is_reserved, name_problem, normalise_path, path_problem, quoted
from bundlekit.core.text import MASK
from bundlekit.errors import BundleError, InputError, UsageError
from bundlekit.export.value_from import resolve_value_from
from bundlekit.format.lifecycle import Lifecycle
from bundlekit.format.manifest import SCOPE_DIMENSIONS, OutputRef, Step, schema_errors

__all__ = ["ReleaseSpec", "PackageSource", "VariableSpec", "load_release", "slugify", "OUTPUT_REF", "SELF_SLUG"]

OUTPUT_REF = re.compile(r"^octopus\.action\[(?P<step>[^\]]+)\]\.output(?:\[(?P<machine>[^\]]+)\])?\.(?P<name>.+)$",
                        re.IGNORECASE)
_SCAN_LIMIT = 16 * 1024 * 1024
#: The project slug of bundlekit's own releases (``bundlekit export-self``, decision 560): no
#: release file may use it, so a self-update never installs a user's project.
SELF_SLUG = "bundlekit"
#: Largest release file read, in bytes: the manifest it becomes may not exceed 16 MiB either
#: (spec/bundle-format.md), and packages are files of their own, not part of it.
MAX_RELEASE_FILE_BYTES = 16 * 1024 * 1024


@lru_cache(maxsize=None)
def release_schema() -> dict[str, Any]:
    text = resources.files("bundlekit").joinpath("schemas/release-file.schema.json").read_text("utf-8")
    return json.loads(text)  # type: ignore[no-any-return]


def slugify(name: str) -> str:
    """The slug Octopus would derive from a project name: lowercase words joined by '-'.

    Always a valid name (:mod:`bundlekit.core.names`): a Windows device name gets a suffix.
    """
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:100].strip("-")
    if not slug:
        return "project"
    return f"{slug}-project" if is_reserved(slug) else slug


@dataclass(frozen=True, slots=True)
class PackageSource:
    id: str
    version: str
    path: Path | None  # None: listed by reference
    sha256: str | None = None
    size: int | None = None

    @property
    def file_name(self) -> str:
        return self.path.name if self.path else f"{self.id}.{self.version}"


@dataclass(frozen=True, slots=True)
class VariableSpec:
    name: str
    value: str | None
    sensitive: bool
    placeholder: bool
    scope: dict[str, tuple[str, ...]]
    description: str | None = None
    required: bool = True


@dataclass(frozen=True, slots=True)
class ReleaseSpec:
    path: Path
    project: dict[str, str]
    release: dict[str, str]
    packages: tuple[PackageSource, ...]
    steps: tuple[Step, ...]
    variables: tuple[VariableSpec, ...]
    output_refs: tuple[OutputRef, ...] = field(default=())
    lifecycle: Lifecycle | None = None


def _fail(path: Path, where: str, problem: str, code: str = "invalid_release") -> UsageError:
    # What the release file says is the operator's own input: a usage-class refusal (exit 2).
    return UsageError(f"{path}: {where}: {problem}", code=code)


def _check_name(path: Path, where: str, value: str) -> None:
    problem = name_problem(value)
    if problem:
        raise _fail(path, where, f"{quoted(value)} {problem}; {NAME_RULE}")


def _masked(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` with the text value of every sensitive variable replaced by :data:`MASK`, for the
    schema check: its messages quote what they refuse, and a refusal is printed and logged."""
    variables = doc.get("variables")
    if not isinstance(variables, list):
        return doc
    masked = [dict(v, value=MASK) if isinstance(v, dict) and v.get("sensitive") is True
              and isinstance(v.get("value"), str) else v for v in variables]
    return dict(doc, variables=masked)


def _check_value_sources(path: Path, doc: dict[str, Any]) -> None:
    """A variable has a value, a ``value_from`` or is a placeholder: exactly one, said plainly
    (the schema's ``oneOf`` message would quote the whole variable)."""
    variables = doc.get("variables")
    for i, v in enumerate(variables if isinstance(variables, list) else []):
        if not isinstance(v, dict):
            continue
        if "value_from" not in v:
            if "value" not in v and v.get("placeholder") is not True:
                raise _fail(path, f"variables[{i}]", "has no value: give value, value_from = { env = \"NAME\" } or "
                            "value_from = { file = \"PATH\" } (sensitive values), or placeholder = true for a value "
                            "the destination zone binds")
            continue
        if "value" in v:
            raise _fail(path, f"variables[{i}]", "has both value and value_from; keep value_from and remove value "
                        "(a secret should not sit in the release file)")
        if v.get("placeholder") is True:
            raise _fail(path, f"variables[{i}]", "is a placeholder and has value_from; a placeholder has no value "
                        "here (the destination zone binds it): remove one of them")


def load_release(path: Path, *, scan: bool = True) -> ReleaseSpec:
    """Read and validate a release file; every problem names the file and key path.

    ``scan=False`` leaves out the scan for output references (no package is read, and
    ``output_refs`` is empty): ``bundlekit lint`` does that scan itself, reporting every problem."""
    raw = read_user_file(path, what=f"release file {path}", limit=MAX_RELEASE_FILE_BYTES)
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise UsageError(f"{path}: not valid TOML: {err}", code="invalid_release") from None
    _check_value_sources(path, doc)
    errors = schema_errors(release_schema(), _masked(doc))
    if errors:
        raise UsageError(f"{path}: " + "; ".join(errors[:8]), code="invalid_release", details=errors)
    base = path.parent.resolve()
    project = {"name": doc["project"]["name"], "slug": doc["project"].get("slug") or slugify(doc["project"]["name"]),
               "space": doc["project"].get("space", "Default")}
    _check_name(path, "project.slug", project["slug"])
    if project["slug"].lower() == SELF_SLUG:
        raise _fail(path, "project.slug", f"{SELF_SLUG!r} is reserved for bundlekit's own releases (`bundlekit "
                    "export-self`); give the project another slug ([project] slug = ...)")
    release = {"version": doc["release"]["version"], "channel": doc["release"].get("channel", "Default"),
               "notes": doc["release"].get("notes", "")}
    packages = tuple(_package(path, base, i, p) for i, p in enumerate(doc.get("packages", [])))
    seen: dict[tuple[str, str], int] = {}
    for i, p in enumerate(packages):
        key = (p.id.lower(), p.version.lower())
        if key in seen:
            raise _fail(path, f"packages[{i}]", f"{p.id} {p.version} is already listed at packages[{seen[key]}]")
        seen[key] = i
    steps = tuple(_step(path, i, s, packages) for i, s in enumerate(doc.get("steps", [])))
    names: dict[str, int] = {}
    for i, s in enumerate(steps):
        if s.name.lower() in names:
            raise _fail(path, f"steps[{i}].name", f"{s.name!r} is already the name of steps[{names[s.name.lower()]}]")
        names[s.name.lower()] = i
    for i, v in enumerate(doc.get("variables", [])):
        if "required" in v and not v.get("placeholder"):
            raise _fail(path, f"variables[{i}].required", "applies to placeholders only (placeholder = true)")
        if "value_from" in v and v.get("sensitive") is not True:
            raise _fail(path, f"variables[{i}].value_from", "is for sensitive values: add sensitive = true (a "
                        "value that is no secret belongs in value)")
    variables = tuple(_variable(v, resolve_value_from(path, i, v["name"], v["value_from"])
                                if "value_from" in v else v.get("value"))
                      for i, v in enumerate(doc.get("variables", [])))
    _check_ambiguity(path, variables)
    lifecycle = _lifecycle(path, doc)
    spec = ReleaseSpec(path, project, release, packages, steps, variables)
    return ReleaseSpec(path, project, release, packages, steps, variables, _output_refs(spec) if scan else (),
                       lifecycle)


def _lifecycle(path: Path, doc: dict[str, Any]) -> Lifecycle | None:
    """``[lifecycle]`` with ``[[lifecycle.phases]]`` (spec/release-file.md, "Lifecycle")."""
    if "lifecycle" not in doc:
        return None
    try:
        return Lifecycle.from_dict(doc["lifecycle"])
    except ValueError as err:
        raise _fail(path, "lifecycle", str(err).removeprefix("lifecycle: ")) from None


def _package(path: Path, base: Path, i: int, p: dict[str, Any]) -> PackageSource:
    for key in ("id", "version"):  # both become folder names on every target
        _check_name(path, f"packages[{i}].{key}", p[key])
    if "file" not in p:
        return PackageSource(p["id"], p["version"], None, p["sha256"], p["size"])
    rel = p["file"]
    where = f"packages[{i}].file"
    problem = path_problem(rel, normalise=True)
    if problem:
        raise _fail(path, where, f"{quoted(rel)} {problem}; {PATH_RULE}, relative to the release file", "unsafe_path")
    target = (base / normalise_path(rel)).resolve()
    if base not in target.parents:
        raise _fail(path, where, f"{rel!r} resolves outside the release folder {base}", "unsafe_path")
    if not target.is_file():
        raise _fail(path, where, f"{rel!r}: no such file next to the release file (paths are relative to the "
                    f"release file's folder {base}); fix the path or put the package there", "package_file_missing")
    return PackageSource(p["id"], p["version"], target)


def _check_patterns(path: Path, i: int, key: str, patterns: list[str]) -> None:
    for n, pattern in enumerate(patterns):
        problem = path_problem(pattern, glob=True)
        if problem:
            raise _fail(path, f"steps[{i}].{key}[{n}]", f"{quoted(pattern)} {problem}; {PATH_RULE} (for example "
                        "'config/*.json')", "unsafe_path")


def _step(path: Path, i: int, s: dict[str, Any], packages: tuple[PackageSource, ...]) -> Step:
    for key in ("substitute", "structured_config"):
        _check_patterns(path, i, key, s.get(key, []))
    if s.get("structured_config") and s["type"] != "package":
        raise _fail(path, f"steps[{i}].structured_config", "applies to package steps only")
    if s["type"] == "package" and not any(p.id.lower() == s["package"].lower() for p in packages):
        raise _fail(path, f"steps[{i}].package", f"no package with id {s['package']!r} in [[packages]]")
    return Step(name=s["name"], type=s["type"], roles=tuple(s.get("roles", ())),
                environments=tuple(s.get("environments", ())), condition=s.get("condition", "success"),
                enabled=s.get("enabled", True), syntax=s.get("syntax"), script=s.get("script"),
                package=s.get("package"), substitute=tuple(s.get("substitute", ())), timeout=s.get("timeout"),
                structured_config=tuple(s.get("structured_config", ())),
                window_size=s.get("window_size"))


def _variable(v: dict[str, Any], value: str | None) -> VariableSpec:
    scope = {}
    for dim in SCOPE_DIMENSIONS:
        if dim in v.get("scope", {}):
            val = v["scope"][dim]
            scope[dim] = tuple(sorted({val} if isinstance(val, str) else set(val)))
    return VariableSpec(v["name"], value, bool(v.get("sensitive", False)), bool(v.get("placeholder", False)),
                        scope, v.get("description"), bool(v.get("required", True)))


def _check_ambiguity(path: Path, variables: tuple[VariableSpec, ...]) -> None:
    from bundlekit.substitution.scoping import ScopedValue, ambiguities

    scoped = [ScopedValue(v.name, v.value, v.sensitive, {k: frozenset(x) for k, x in v.scope.items()})
              for v in variables]
    pairs = ambiguities(scoped)
    if pairs:
        a, b = pairs[0]
        dims = ", ".join(f"{k}={sorted(x)}" for k, x in sorted(a.scope.items())) or "unscoped"
        raise InputError(
            f"{path}: variables: {a.name!r} has two values that can both apply with equal precedence ({dims}); "
            "make their scopes disjoint or more specific", code="ambiguous_variable",
            details=[{"name": a.name, "scope": {k: sorted(x) for k, x in a.scope.items()}} for a, _ in pairs])


def _output_refs(spec: ReleaseSpec) -> tuple[OutputRef, ...]:
    """Every ``Octopus.Action[Step].Output.X`` reference in scripts, values and substituted files."""
    from bundlekit.substitution import references

    found: dict[tuple[str, str | None, str], set[str]] = {}
    texts: list[tuple[str, str]] = []
    for s in spec.steps:
        if s.script:
            texts.append((f"step {s.name!r} script", s.script))
    for v in spec.variables:
        if v.value:
            texts.append((f"variable {v.name!r}", v.value))
    for s in spec.steps:
        if s.type == "package" and s.substitute:
            pkg = next(p for p in spec.packages if p.id.lower() == (s.package or "").lower())
            if pkg.path is not None:
                texts.extend(_substituted_texts(spec.path, pkg.path, s))
    step_names = {s.name.lower(): s.name for s in spec.steps}
    for where, text in texts:
        names = references(text)
        for name in names:
            m = OUTPUT_REF.match(name)
            if not m:
                continue
            step = m.group("step")
            if step.lower() not in step_names:
                raise UsageError(f"{spec.path}: {where}: output reference #{{{name}}} names step {step!r}, which "
                                 "is not in [[steps]]", code="unknown_output_step")
            key = (step_names[step.lower()], m.group("machine"), m.group("name"))
            found.setdefault(key, set()).add(where)
    return tuple(OutputRef(step, name, f"Octopus.Action[{step}].Output" + (f"[{mach}]" if mach else "") + f".{name}",
                           tuple(sorted(used)), mach)
                 for (step, mach, name), used in sorted(found.items(), key=lambda kv: (kv[0][0], kv[0][1] or "",
                                                                                       kv[0][2])))


def _substituted_texts(path: Path, archive: Path, step: Step) -> list[tuple[str, str]]:
    """Read the members of a package that the step will substitute, without extracting.

    Uses the deploy's own reader, so export scans exactly the files a deploy will substitute,
    and an unsafe package is refused here already, in the dev zone.
    """
    from bundlekit.package.archive import read_members

    try:
        members = read_members(archive, list(step.substitute), _SCAN_LIMIT)
    except BundleError as err:  # the deploy's refusal, reported as the release file's problem
        raise InputError(f"{path}: step {step.name!r}: package {archive.name}: {err.message}",
                         code="package_refused",
                         details={"cause": err.code, **(err.details if isinstance(err.details, dict) else {})}) from None
    return [(f"{archive.name}:{name}", text) for name, text in members]
