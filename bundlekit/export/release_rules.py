"""The rules a release file keeps beyond its schema, each broken one found, not only the first.

:func:`~bundlekit.export.releasefile.load_release` refuses the first :class:`RuleProblem` (its
``error``, as it always has); ``bundlekit lint`` and export's lint report every one of them in
one run, each at its key path with a fix. The rules (``spec/release-file.md``, "Rules beyond
the schema"): how a variable gets its value, the project slug, package ids, versions and
paths (inside the release folder, the file there), duplicate packages and step names, safe
``substitute`` and ``structured_config`` patterns, a package step's package, ``required`` and
``value_from`` where they apply, ``value_from`` sources that can be read, values that tie,
the lifecycle.

Lint runs the rules on the parts of the file that passed the schema: ``skip`` names the
malformed ones (``("steps", 1)``, or ``("project",)`` for a whole table), which the schema
already reported. Names a rule compares across elements (package ids, step names) come from
every element that has one, malformed or not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from bundlekit.core.names import NAME_RULE, PATH_RULE, is_reserved, name_problem, normalise_path, path_problem, quoted
# No release file may use the reserved project's slug, so a self-update never installs a user's project.
from bundlekit.core.selfproject import SELF_SLUG
from bundlekit.errors import BundleError, InputError, UsageError
from bundlekit.export.value_from import SourceMissing, resolve_value_from
from bundlekit.format.lifecycle import Lifecycle
from bundlekit.format.manifest import SCOPE_DIMENSIONS

__all__ = ["RuleProblem", "rule_problems", "value_source_problem", "slugify", "SELF_SLUG", "Skip"]


#: Parts of a release file the schema refused: ``(table,)`` or ``(array, index)``.
Skip = frozenset[tuple[str, ...] | tuple[str, int]]


@dataclass(frozen=True)
class RuleProblem:
    """One broken rule: the refusal :func:`load_release` raises for it (``error``), the key path
    it is at (``steps[1].package``, ``variables``) and what to do about it (``fix``)."""

    error: BundleError
    path: str
    fix: str
    #: What lint says, when not the refusal's message less its file and key path (a refusal of
    #: export says what was not done and the fix, which a finding gives apart).
    message: str | None = None


def slugify(name: str) -> str:
    """The slug Octopus would derive from a project name: lowercase words joined by '-'.

    Always a valid name (:mod:`bundlekit.core.names`): a Windows device name gets a suffix.
    """
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:100].strip("-")
    if not slug:
        return "project"
    return f"{slug}-project" if is_reserved(slug) else slug


def _fail(path: Path, where: str, problem: str, fix: str, code: str = "invalid_release") -> RuleProblem:
    # What the release file says is the operator's own input: a usage-class refusal (exit 2).
    return RuleProblem(UsageError(f"{path}: {where}: {problem}", code=code), where, fix)


def _name(path: Path, where: str, value: Any) -> RuleProblem | None:
    problem = name_problem(value) if isinstance(value, str) else None
    if problem:
        return _fail(path, where, f"{quoted(value)} {problem}; {NAME_RULE}", NAME_RULE)
    return None


def value_source_problem(path: Path, i: int, v: Any) -> RuleProblem | None:
    """A variable has a value, a ``value_from`` or is a placeholder: exactly one, said plainly
    (the schema's ``oneOf`` message would quote the whole variable, sensitive value and all)."""
    if not isinstance(v, dict):
        return None
    where = f"variables[{i}]"
    if v.get("placeholder") is True and "value" in v:
        return _fail(path, where, "is a placeholder and has a value; a placeholder's value is bound in the "
                     "destination zone: remove one of them", "remove value, or placeholder = true")
    if "value_from" not in v:
        if "value" not in v and v.get("placeholder") is not True:
            return _fail(path, where, "has no value: give value, value_from = { env = \"NAME\" } or value_from = "
                         "{ file = \"PATH\" } (sensitive values), or placeholder = true for a value the destination "
                         "zone binds", "add value = \"...\", a value_from, or placeholder = true")
        return None
    if "value" in v:
        return _fail(path, where, "has both value and value_from; keep value_from and remove value (a secret "
                     "should not sit in the release file)", "remove value and keep value_from")
    if v.get("placeholder") is True:
        return _fail(path, where, "is a placeholder and has value_from; a placeholder has no value here (the "
                     "destination zone binds it): remove one of them", "remove value_from or placeholder = true")
    return None


def _items(doc: dict[str, Any], key: str, skip: Skip) -> list[tuple[int, dict[str, Any]]]:
    items = doc.get(key)
    if not isinstance(items, list) or (key,) in skip:
        return []
    return [(i, e) for i, e in enumerate(items) if isinstance(e, dict) and (key, i) not in skip]


def _named(doc: dict[str, Any], key: str, field: str) -> list[tuple[int, str]]:
    """(index, value of ``field``) of every element of ``key`` that has a text one."""
    items = doc.get(key)
    return [(i, e[field]) for i, e in enumerate(items if isinstance(items, list) else [])
            if isinstance(e, dict) and isinstance(e.get(field), str)]


def rule_problems(path: Path, doc: dict[str, Any], skip: Skip = frozenset(), *,
                  values: dict[int, str | None] | None = None) -> list[RuleProblem]:
    """Every rule ``doc`` (the release file ``path``, parsed) breaks, in the order
    :func:`load_release` checks them. ``values``, when given, receives each checked variable's
    value (``value_from`` read; None when it cannot be). Reads the package files' metadata and
    the ``value_from`` sources; nothing else."""
    return list(_problems(path, doc, skip, {} if values is None else values))


def _problems(path: Path, doc: dict[str, Any], skip: Skip, values: dict[int, str | None]) -> Iterator[RuleProblem]:
    for i, v in enumerate(doc.get("variables") if isinstance(doc.get("variables"), list) else []):
        found = value_source_problem(path, i, v)
        if found:
            yield found
    project = doc.get("project")
    if isinstance(project, dict) and ("project",) not in skip:
        slug = project.get("slug") or slugify(project["name"])
        found = _name(path, "project.slug", slug)
        if found:
            yield found
        elif slug.lower() == SELF_SLUG:
            yield _fail(path, "project.slug", f"{SELF_SLUG!r} is reserved for bundlekit's own releases (bundlekit "
                        "export-self); give the project another slug ([project] slug = ...)",
                        "give the project another slug ([project] slug = ...)")
    base = path.parent.resolve()
    for i, p in _items(doc, "packages", skip):
        yield from _package(path, base, i, p)
    seen: dict[tuple[str, str], int] = {}
    for i, p in _items(doc, "packages", skip):
        key = (p["id"].lower(), p["version"].lower())
        if key in seen:
            yield _fail(path, f"packages[{i}]", f"{p['id']} {p['version']} is already listed at "
                        f"packages[{seen[key]}]", f"remove this entry or the one at packages[{seen[key]}]")
        seen.setdefault(key, i)
    package_ids = {pid.lower() for _, pid in _named(doc, "packages", "id")}
    for i, s in _items(doc, "steps", skip):
        yield from _step(path, i, s, package_ids)
    names: dict[str, int] = {}
    for i, name in _named(doc, "steps", "name"):
        if name.lower() in names:
            yield _fail(path, f"steps[{i}].name", f"{name!r} is already the name of steps[{names[name.lower()]}]",
                        "give every step a name of its own")
        names.setdefault(name.lower(), i)
    variables = _items(doc, "variables", skip)
    for i, v in variables:
        if "required" in v and not v.get("placeholder"):
            yield _fail(path, f"variables[{i}].required", "applies to placeholders only (placeholder = true)",
                        "remove required, or make the variable a placeholder")
        if "value_from" in v and v.get("sensitive") is not True:
            yield _fail(path, f"variables[{i}].value_from", "is for sensitive values: add sensitive = true (a value "
                        "that is no secret belongs in value)", "add sensitive = true, or give the value in value")
    for i, v in variables:
        if "value_from" not in v or value_source_problem(path, i, v) is not None:
            values[i] = v.get("value")
            continue
        try:
            values[i] = resolve_value_from(path, i, v["name"], v["value_from"])
        except BundleError as err:
            values[i] = None
            field = err.details.get("field") if isinstance(err.details, dict) else None
            where = field if isinstance(field, str) else f"variables[{i}].value_from"
            if isinstance(err, SourceMissing):  # its own fix, once, and no "nothing was exported" in lint
                yield RuleProblem(err, where, err.fix, f"variable {v['name']}: {err.problem}")
            else:
                yield RuleProblem(err, where, "make the file value_from names a readable file of UTF-8 text, "
                                  "or correct the path")
    found = _ambiguity(path, [(i, v, values.get(i)) for i, v in variables])
    if found:
        yield found
    lifecycle = doc.get("lifecycle")
    if isinstance(lifecycle, dict) and ("lifecycle",) not in skip:
        try:
            Lifecycle.from_dict(lifecycle)
        except ValueError as err:
            yield _fail(path, "lifecycle", str(err).removeprefix("lifecycle: "), _lifecycle_fix(str(err)))


def _lifecycle_fix(message: str) -> str:
    """What to change for a lifecycle the format refuses (``Lifecycle``'s messages), as TOML."""
    if "listed twice" in message or "belongs to one phase" in message:
        return "list each environment once, in one [[lifecycle.phases]] only"
    if "two phases are named" in message:
        return 'give each [[lifecycle.phases]] its own name = "..."'
    if "minimum_successful" in message:
        return "set minimum_successful to a whole number from 1 to the number of the phase's environments"
    if "optional" in message:
        return "optional = true or optional = false"
    return 'each [[lifecycle.phases]] has name = "..." and environments = ["...", ...]'


def _package(path: Path, base: Path, i: int, p: dict[str, Any]) -> Iterator[RuleProblem]:
    for key in ("id", "version"):  # both become folder names on every target
        found = _name(path, f"packages[{i}].{key}", p[key])
        if found:
            yield found
    if "file" not in p:
        return
    rel = p["file"]
    where = f"packages[{i}].file"
    problem = path_problem(rel, normalise=True)
    if problem:
        yield _fail(path, where, f"{quoted(rel)} {problem}; {PATH_RULE}, relative to the release file",
                    f"{PATH_RULE}, relative to the release file's folder", "unsafe_path")
        return
    target = (base / normalise_path(rel)).resolve()
    if base not in target.parents:
        yield _fail(path, where, f"{rel!r} resolves outside the release folder {base}",
                    "put the package file inside the release file's folder (a link leading out is refused too)",
                    "unsafe_path")
    elif not target.is_file():
        yield _fail(path, where, f"{rel!r}: no such file next to the release file (paths are relative to the "
                    f"release file's folder {base}); fix the path or put the package there",
                    f"fix the path (relative to {base}) or put the package file there", "package_file_missing")


def _step(path: Path, i: int, s: dict[str, Any], package_ids: set[str]) -> Iterator[RuleProblem]:
    for key in ("substitute", "structured_config"):
        for n, pattern in enumerate(s.get(key, [])):
            problem = path_problem(pattern, glob=True)
            if problem:
                yield _fail(path, f"steps[{i}].{key}[{n}]", f"{quoted(pattern)} {problem}; {PATH_RULE} (for example "
                            "'config/*.json')", "write the pattern relative to the package root, without '..' or a "
                            "leading '/' (for example 'config/*.json')", "unsafe_path")
    if s.get("structured_config") and s["type"] != "package":
        yield _fail(path, f"steps[{i}].structured_config", "applies to package steps only",
                    "remove structured_config from this script step")
    if s["type"] == "package" and s["package"].lower() not in package_ids:
        yield _fail(path, f"steps[{i}].package", f"no package with id {s['package']!r} in [[packages]]",
                    "add the package to [[packages]] or name one listed there")


def _ambiguity(path: Path, variables: list[tuple[int, dict[str, Any], str | None]]) -> RuleProblem | None:
    from bundlekit.substitution.scoping import ScopedValue, ambiguities

    scoped = []
    for _, v, value in variables:
        scope = v.get("scope", {})
        dims = {dim: frozenset([scope[dim]] if isinstance(scope[dim], str) else scope[dim])
                for dim in SCOPE_DIMENSIONS if dim in scope}
        scoped.append(ScopedValue(v["name"], value, bool(v.get("sensitive", False)), dims))
    pairs = ambiguities(scoped)
    if not pairs:
        return None
    a, b = pairs[0]
    index = variables[next(k for k, v in enumerate(scoped) if v is b)][0]
    dims = ", ".join(f"{k}={sorted(x)}" for k, x in sorted(a.scope.items())) or "unscoped"
    error = InputError(
        f"{path}: variables: {a.name!r} has two values that can both apply with equal precedence ({dims}); "
        "make their scopes disjoint or more specific", code="ambiguous_variable",
        details=[{"name": a.name, "scope": {k: sorted(x) for k, x in a.scope.items()}} for a, _ in pairs])
    return RuleProblem(error, f"variables[{index}]", "make the scopes of the two values disjoint, or one more specific")
