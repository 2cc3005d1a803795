"""``bundlekit lint``: everything the development zone can find wrong with a release, all at once.

Order: the TOML itself (nothing else can be read when it does not parse); the schema, with
"did you mean" for misspelt keys and values (``enviroment`` -> ``environment``), on the document
with sensitive values masked; every rule beyond the schema
(:mod:`~bundlekit.export.release_rules`, each under the code ``load_release`` refuses it with);
then every finding of the package, template, value and scope checks (``lint_package``,
``lint_templates``, ``lint_computed`` for names with a computed part, ``lint_outputs`` for
output names, ``lint_values``, ``lint_scope``). The rules and checks run on the parts of
the file the schema accepted (:mod:`~bundlekit.export.lint_schema`): a step, variable or package
with a schema finding is read as well as it can be (a misspelt key as the key it is closest to,
``roles = "web"`` as ``["web"]``) and checked, and only one that still cannot be read is replaced
by a stand-in (:class:`~bundlekit.export.lint_model.Malformed`) that keeps its name (decisions
570, 650). No finding quotes a piece of a sensitive value (decisions 572, 810:
:mod:`~bundlekit.export.lint_secrets`). Export runs this first and refuses on errors
(``release_lint_failed``); warnings travel in the manifest (``lint_notes``)."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bundlekit.format.usertoml import loads_user_toml
from bundlekit.core.files import read_user_file
from bundlekit.core.names import path_problem
from bundlekit.errors import UsageError
from bundlekit.export.inventory import Inventory
from bundlekit.export.lint_model import ERROR, WARNING, Finding, line_column, locate, parse_key_path, \
    value_offset
from bundlekit.export.lint_configs import check_json_members
from bundlekit.export.lint_package import check_packages
from bundlekit.export.lint_scope import check_placeholders, check_scopes
from bundlekit.export.lint_templates import (Template, check_templates, referenced_steps, step_name_findings,
                                             used_names)
from bundlekit.export.lint_schema import checkable, schema_findings
from bundlekit.export.release_rules import RuleProblem, rule_problems
from bundlekit.export.toml_strings import value_offsets
from bundlekit.export.releasefile import MAX_RELEASE_FILE_BYTES
from bundlekit.export.lint_model import Malformed, entries, names_of
from bundlekit.export.lint_templates import disabled_step_outputs, untenanted_tenant_name
from bundlekit.export.lint_values import check_filter_calls, check_value_expansion
from bundlekit.export.lint_computed import check_computed_names
from bundlekit.export.lint_outputs import check_output_names
from bundlekit.export.lint_secrets import redacted as _redacted
from bundlekit.core.text import shell_word

__all__ = ["LintReport", "lint_release", "refuse_on_errors", "manifest_notes", "MAX_NOTES"]

#: Most warnings a manifest carries (``lint_notes``); a last note says how many were left out.
MAX_NOTES = 200
_NOTE_CHARS = 4000  # the schema's longest text in a note

_TOML_AT = re.compile(r"\(at line (\d+), column (\d+)\)")


@dataclass(frozen=True, slots=True)
class LintReport:
    """Every finding for one release file, errors and warnings, in the order found."""

    file: str
    findings: tuple[Finding, ...]

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == WARNING]

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` form: ``file``, ``errors`` and ``warnings`` (counts), ``findings``."""
        return {"file": self.file, "errors": len(self.errors), "warnings": len(self.warnings),
                "findings": [f.to_dict() for f in self.findings]}


def _at(text: str, parts: list[str | int]) -> tuple[int | None, int | None]:
    offset = locate(text, parts)
    return line_column(text, offset) if offset is not None else (None, None)


_PATTERNS = ("substitute", "structured_config")


def _usable(view: dict[str, Any]) -> dict[str, Any]:
    """``view`` (:func:`~bundlekit.export.lint_schema.checkable`) with each step's unsafe patterns
    left out."""
    if isinstance(view.get("steps"), list):
        view = dict(view, steps=[_without_unsafe_patterns(s) for s in view["steps"]])
    return view


def _without_unsafe_patterns(step: Any) -> Any:
    """A step with an unsafe pattern (``unsafe_path``, reported by its rule) without its patterns:
    which files it touches is unknown until the pattern is fixed, and every check of a package's
    files would otherwise refuse the pattern a second time."""
    if isinstance(step, Malformed) or not isinstance(step, dict):
        return step
    if not any(path_problem(p, glob=True) for key in _PATTERNS for p in step.get(key, [])):
        return step
    return {k: v for k, v in step.items() if k not in _PATTERNS}


_WHERE = re.compile(r"[a-z_]+(\[\d+\])?(\.[a-z_]+(\[\d+\])?)*")


def _value_at(doc: Any, parts: list[str | int]) -> Any:
    for part in parts:
        try:
            doc = doc[part]
        except (KeyError, IndexError, TypeError):
            return None
    return doc


def _rule(problem: RuleProblem, doc: dict[str, Any], text: str, file: str, release: Path) -> Finding:
    """A rule of the release file broken, as a finding: its code, its key path (at the value
    itself when it is text written verbatim, as a pattern in a list is), its fix."""
    err = problem.error
    message = err.message.removeprefix(f"{release}: ")
    where, sep, rest = message.partition(": ")
    if sep and _WHERE.fullmatch(where):
        message = rest
    if problem.message is not None:
        message = problem.message
    parts = parse_key_path(problem.path)
    at = locate(text, parts)
    value = _value_at(doc, parts)
    if isinstance(value, str) and isinstance(parts[-1], int):
        at = value_offset(text, at, value) or at
    line, column = line_column(text, at) if at is not None else (None, None)
    return Finding(ERROR, err.code, message, file, problem.path, line, column, problem.fix)


def _templates(doc: dict[str, Any], text: str, file: str) -> list[Template]:
    out = []
    for i, s in entries(doc, "steps"):
        if isinstance(s.get("script"), str) and s["script"]:
            at = value_offsets(text, locate(text, ["steps", i, "script"]), s["script"])
            out.append(Template(s["script"], file, f"steps[{i}].script", text, at, step=i))
    for i, v in entries(doc, "variables"):
        if isinstance(v.get("value"), str) and v["value"]:
            at = value_offsets(text, locate(text, ["variables", i, "value"]), v["value"])
            out.append(Template(v["value"], file, f"variables[{i}].value", text, at,
                                secret=v["name"] if v.get("sensitive") is True else None))
    return out


def lint_release(release: Path, inventory: Inventory | None = None) -> LintReport:
    """Lint the release file at ``release``, with the deploying zone's ``inventory`` if given.

    Raises only for a file that cannot be read at all (``InputError`` ``file_not_found``,
    ``unreadable``, ``not_a_file``, ``input_too_large``: exit 1, as for every command given a
    file it cannot read, decision 571); every problem in it is a finding.
    """
    file = str(release)
    raw = read_user_file(release, what=f"release file {release}", limit=MAX_RELEASE_FILE_BYTES)
    try:
        text = raw.decode("utf-8")
        doc = loads_user_toml(text)
    except UnicodeDecodeError as err:
        return LintReport(file, (Finding(ERROR, "invalid_toml", f"not UTF-8 text ({err.reason} at byte "
                                         f"{err.start})", file, None, None, None, "save the file as UTF-8"),))
    except tomllib.TOMLDecodeError as err:
        m = _TOML_AT.search(str(err))
        line, column = (int(m.group(1)), int(m.group(2))) if m else (None, None)
        return LintReport(file, (Finding(ERROR, "invalid_toml", f"not valid TOML: {_TOML_AT.sub('', str(err))}"
                                         .rstrip(), file, None, line, column, "see https://toml.io"),))
    findings = schema_findings(doc, text, file, release)
    written = doc
    view, skip = checkable(doc, findings, release)
    findings += [_rule(p, view, text, file, release) for p in rule_problems(release, view, skip)]
    doc = _usable(view)
    package_findings, file_templates = check_packages(doc, release, text, inventory.all_environments()
                                                      if inventory is not None else None)
    templates = _templates(doc, text, file) + file_templates
    # Names by index (a step's place decides whose outputs it may read); a malformed one still counts.
    steps = [s if s is not None else "" for s in names_of(doc, "steps")]
    variables = [v for v in names_of(doc, "variables") if v is not None]
    off = {i for i, s in entries(doc, "steps") if s.get("enabled") is False}
    findings += disabled_step_outputs(templates, steps, off)
    findings += package_findings
    findings += check_templates(templates, variables, steps)
    findings += check_computed_names(templates, doc, steps, off)
    findings += check_output_names(templates, doc, steps)
    findings += untenanted_tenant_name(templates, any(isinstance(v.get("scope"), dict) and v["scope"].get("tenant")
                                                      for _, v in entries(doc, "variables")))
    findings += check_json_members(templates, doc)
    positions = [_at(text, ["steps", i, "name"]) for i in range(len(steps))]
    findings += step_name_findings(steps, file, positions, referenced_steps(templates, steps))
    findings += check_scopes(doc, text, file, inventory)
    findings += check_value_expansion(doc, text, file)
    findings += check_filter_calls(templates, doc)
    # A placeholder may be used by what could not be read: a malformed step, a package not there,
    # the files of a step whose patterns are unsafe.
    unread = any(part[0] in ("steps", "packages") for part in skip) or any(
        f.severity == ERROR and ((f.path or "").startswith("packages[") or f.code == "unsafe_path") for f in findings)
    if not unread:
        findings += check_placeholders(doc, text, file, used_names(templates))
    unique = list(dict.fromkeys(_redacted(findings, written, text)))
    # The release file's findings first, each file's in line order (a stable sort keeps the rest).
    unique.sort(key=lambda f: (f.file != file, f.file, f.line or 0, f.column or 0))
    return LintReport(file, tuple(unique))


def refuse_on_errors(report: LintReport, again: str = "export again") -> None:
    """Raise ``UsageError`` ``release_lint_failed`` when ``report`` has errors, naming the first
    ones and how to see them all (``bundlekit lint``); the findings go in ``details``. ``again``:
    what the message says to do once they are fixed (``export again``, for ``export``)."""
    errors = report.errors
    if not errors:
        return
    shown = "; ".join(f.text() for f in errors[:3])
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    raise UsageError(f"{report.file}: {len(errors)} error(s) that would fail in the deploying zone: {shown}{more}. "
                     f"Fix them (`bundlekit lint {shell_word(str(report.file))}` lists every one) and {again}",
                     code="release_lint_failed", details=[f.to_dict() for f in report.findings])


def manifest_notes(report: LintReport, release: Path) -> list[dict[str, Any]]:
    """The warnings of ``report`` as the manifest's ``lint_notes`` (spec/bundle-format.md):
    files named relative to the release file's folder (no path of the authoring machine
    travels), fields without a value left out, at most :data:`MAX_NOTES` of them."""
    folder = str(release.parent)
    notes = []
    for f in report.warnings:
        item = f.to_dict()
        shown = f.file
        if shown == report.file:
            shown = release.name
        elif folder not in ("", ".") and shown.startswith(folder + "/"):
            shown = shown[len(folder) + 1:]
        item["file"] = shown
        notes.append({k: (v[:_NOTE_CHARS - 3] + "..." if isinstance(v, str) and len(v) > _NOTE_CHARS else v)
                      for k, v in item.items() if v is not None})
    if len(notes) > MAX_NOTES:
        left = len(notes) - MAX_NOTES + 1
        notes = notes[:MAX_NOTES - 1] + [{"severity": WARNING, "code": "more_notes", "file": release.name,
                                          "message": f"{left} more warnings: run `bundlekit lint RELEASE_FILE`"}]
    return notes
