"""The release file (TOML): parse, validate and resolve into a :class:`ReleaseSpec`.

Errors name the file, the key path (``steps[1].package``) and the problem. Package paths
are resolved relative to the release file and must stay inside its folder (no absolute
paths, no ``..``, no symlink that leads outside). Validation also refuses what would make
a deploy a coin toss: duplicate step names, a package step naming an unknown package, two
values of one variable that could match the same deployment with equal specificity, and
output-variable references to steps that do not exist. The rules themselves are
:mod:`bundlekit.export.release_rules` (lint reports every one broken; this refuses the first).
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

from bundlekit.format.usertoml import loads_user_toml
from bundlekit.core.files import read_user_file
from bundlekit.core.names import normalise_path
from bundlekit.core.text import MASK
from bundlekit.errors import BundleError, InputError, UsageError
from bundlekit.export.release_rules import SELF_SLUG, rule_problems, slugify, value_source_problem
from bundlekit.format.lifecycle import Lifecycle
from bundlekit.format.manifest import SCOPE_DIMENSIONS, OutputRef, Step, schema_errors

__all__ = ["ReleaseSpec", "PackageSource", "VariableSpec", "load_release", "slugify", "OUTPUT_REF", "SELF_SLUG",
           "mask_sensitive", "release_schema"]

OUTPUT_REF = re.compile(r"^octopus\.action\[(?P<step>[^\]]+)\]\.output(?:\[(?P<machine>[^\]]+)\])?\.(?P<name>.+)$",
                        re.IGNORECASE)
_SCAN_LIMIT = 16 * 1024 * 1024
#: Largest release file read, in bytes: the manifest it becomes may not exceed 16 MiB either
#: (spec/bundle-format.md), and packages are files of their own, not part of it.
MAX_RELEASE_FILE_BYTES = 16 * 1024 * 1024


@lru_cache(maxsize=None)
def release_schema() -> dict[str, Any]:
    text = resources.files("bundlekit").joinpath("schemas/release-file.schema.json").read_text("utf-8")
    return json.loads(text)  # type: ignore[no-any-return]


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
    #: Whether the file names ``project.space`` itself (else it is ``Default`` by default): a
    #: named space is where the authoring zone creates the release (decision 887).
    space_named: bool = False


def mask_sensitive(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` with the value of every sensitive variable replaced, for the schema check (its
    messages quote what they refuse, and a refusal is printed and logged): a text value by
    :data:`MASK`, a value of another type by an empty one of that type (the schema still says
    it is not text, without showing it)."""
    variables = doc.get("variables")
    if not isinstance(variables, list):
        return doc
    masked = [dict(v, value=_mask(v["value"])) if isinstance(v, dict) and v.get("sensitive") is True
              and "value" in v else v for v in variables]
    return dict(doc, variables=masked)


def _mask(value: Any) -> Any:
    if isinstance(value, str):
        return MASK
    return type(value)() if isinstance(value, (bool, int, float, list, dict)) else None


def load_release(path: Path, *, scan: bool = True) -> ReleaseSpec:
    """Read and validate a release file; every problem names the file and key path.

    ``scan=False`` leaves out the scan for output references (no package is read, and
    ``output_refs`` is empty): ``bundlekit lint`` does that scan itself, reporting every problem."""
    raw = read_user_file(path, what=f"release file {path}", limit=MAX_RELEASE_FILE_BYTES)
    try:
        doc = loads_user_toml(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise UsageError(f"{path}: not valid TOML: {err}", code="invalid_release") from None
    first = next((p for i, v in enumerate(doc.get("variables") if isinstance(doc.get("variables"), list) else [])
                  if (p := value_source_problem(path, i, v)) is not None), None)
    if first is not None:
        raise first.error
    errors = schema_errors(release_schema(), mask_sensitive(doc))
    if errors:
        raise UsageError(f"{path}: " + "; ".join(errors[:8]), code="invalid_release", details=errors)
    values: dict[int, str | None] = {}
    problems = rule_problems(path, doc, values=values)
    if problems:
        raise problems[0].error
    base = path.parent.resolve()
    project = {"name": doc["project"]["name"], "slug": doc["project"].get("slug") or slugify(doc["project"]["name"]),
               "space": doc["project"].get("space", "Default")}
    release = {"version": doc["release"]["version"], "channel": doc["release"].get("channel", "Default"),
               "notes": doc["release"].get("notes", "")}
    packages = tuple(_package(base, p) for p in doc.get("packages", []))
    steps = tuple(_step(s) for s in doc.get("steps", []))
    variables = tuple(_variable(v, values[i]) for i, v in enumerate(doc.get("variables", [])))
    lifecycle = Lifecycle.from_dict(doc["lifecycle"]) if "lifecycle" in doc else None
    spec = ReleaseSpec(path, project, release, packages, steps, variables)
    return ReleaseSpec(path, project, release, packages, steps, variables, _output_refs(spec) if scan else (),
                       lifecycle, "space" in doc["project"])


def _package(base: Path, p: dict[str, Any]) -> PackageSource:
    if "file" not in p:
        return PackageSource(p["id"], p["version"], None, p["sha256"], p["size"])
    return PackageSource(p["id"], p["version"], (base / normalise_path(p["file"])).resolve())


def _step(s: dict[str, Any]) -> Step:
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


def _output_refs(spec: ReleaseSpec) -> tuple[OutputRef, ...]:
    """Every ``Octopus.Action[Step].Output.X`` reference in scripts, values and substituted files."""
    from bundlekit.substitution import references

    found: dict[tuple[str, str | None, str], set[str]] = {}
    texts: list[tuple[str, str, bool]] = []  # (where, text, whether the text is a sensitive value)
    for s in spec.steps:
        if s.script:
            texts.append((f"step {s.name!r} script", s.script, False))
    for v in spec.variables:
        if v.value:
            texts.append((f"variable {v.name!r}", v.value, v.sensitive))
    for s in spec.steps:
        if s.type == "package" and s.substitute:
            pkg = next(p for p in spec.packages if p.id.lower() == (s.package or "").lower())
            if pkg.path is not None:
                texts.extend((where, text, False) for where, text in _substituted_texts(spec.path, pkg.path, s))
    step_names = {s.name.lower(): s.name for s in spec.steps}
    for where, text, sensitive in texts:
        names = references(text)
        for name in names:
            m = OUTPUT_REF.match(name)
            if not m:
                continue
            step = m.group("step")
            if step.lower() not in step_names and sensitive:
                # A sensitive value (written inline, or read by value_from) is never quoted, not
                # even the reference inside it: its step name may be part of the secret.
                raise UsageError(f"{spec.path}: {where}: its sensitive value reads an output of a step that is not "
                                 "in [[steps]] (the value is not shown). Check the step names it reads against "
                                 "[[steps]] (steps: " + ", ".join(sorted(step_names.values())) + ")",
                                 code="unknown_output_step")
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
