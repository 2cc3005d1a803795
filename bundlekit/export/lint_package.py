"""Lint of the packages a release's steps deploy: members a deploy would refuse, patterns that match nothing.

Each package a step deploys is read once, in place, by the package layer's own member checks
(:func:`bundlekit.package.survey.survey_package`: the code extraction runs, collecting every
problem instead of stopping at the first). A ``substitute`` or ``structured_config`` pattern
that matches no file of the package is an error (the step would quietly change nothing), with
the package's closest file names as the suggestion. The files a step substitutes come back as
templates for :mod:`bundlekit.export.lint_templates`; the files structured configuration applies
to are parsed by :mod:`bundlekit.export.lint_configs`.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from bundlekit.core.names import QUOTED_LENGTH, quoted
from bundlekit.errors import BundleError
from bundlekit.export.lint_configs import ConfigPaths, check_config_files, check_config_paths, config_patterns
from bundlekit.export.lint_model import ERROR, Finding, line_column, locate, value_offset
from bundlekit.export.lint_templates import Template
from bundlekit.package.archive import member_matches
from bundlekit.package.survey import survey_package
from bundlekit.runtime.phases import PHASES, SCRIPT_SYNTAX

__all__ = ["check_packages", "SCAN_LIMIT"]

#: Largest substituted file read for lint, in bytes (the export scan's limit).
SCAN_LIMIT = 16 * 1024 * 1024
_PATTERN_KEYS = ("substitute", "structured_config")
_REBUILD = "rebuild the package as a zip, nupkg, tar or tar.gz archive"
#: What to do when the package as a whole cannot be read (survey_package's refusals).
_ARCHIVE_FIXES = {
    "corrupt_package": "the archive is damaged or truncated: build or download the package again",
    "package_unreadable": "make the package file readable by this user, or copy it again",
    "package_format_mismatch": "give the file the extension of what it is (.zip, .nupkg, .tar, .tar.gz), or "
                               "rebuild it",
}


def _package_path(base: Path, entry: dict[str, Any]) -> Path | None:
    """The package file, when it is one inside the release folder (load_release reports the rest)."""
    if "file" not in entry:
        return None
    try:
        target = (base / entry["file"]).resolve()
    except (OSError, ValueError):
        return None
    if base not in target.parents or not target.is_file():
        return None
    return target


def _near_files(pattern: str, files: tuple[str, ...]) -> str | None:
    names = {f.rsplit("/", 1)[-1]: f for f in files}
    near = difflib.get_close_matches(pattern.rsplit("/", 1)[-1], list(names), n=3, cutoff=0.6)
    near_paths = [names[n] for n in near] or difflib.get_close_matches(pattern, list(files), n=3, cutoff=0.6)
    if near_paths:
        return "did you mean " + " or ".join(repr(n) for n in near_paths) + "?"
    return None


def check_packages(doc: dict[str, Any], release: Path, text: str,
                   zone_environments: list[str] | None = None) -> tuple[list[Finding], list[Template]]:
    """Findings for the packages of ``doc`` (a release file that passed its schema) and the
    templates of the files its steps substitute. ``release`` is the release file, ``text`` its TOML,
    ``zone_environments`` the target inventory's environments when lint has one."""
    file = str(release)
    base = release.parent.resolve()
    packages = doc.get("packages", [])
    findings: list[Finding] = []
    templates: list[Template] = []
    by_id: dict[str, int] = {}
    for i, p in enumerate(packages):
        by_id.setdefault(p["id"].casefold(), i)
    paths = ConfigPaths()  # the configuration files' key paths, across packages
    uses: dict[int, list[int]] = {}
    for n, step in enumerate(doc.get("steps", [])):
        if step.get("type") == "package" and step.get("package", "").casefold() in by_id:
            uses.setdefault(by_id[step["package"].casefold()], []).append(n)
    for i, step_numbers in sorted(uses.items()):
        entry = packages[i]
        archive = _package_path(base, entry)
        if archive is None:
            continue
        shown = str(release.parent / entry["file"])
        steps = [doc["steps"][n] for n in step_numbers]
        substituted = sorted({p for s in steps for p in s.get("substitute", [])})
        try:
            survey = survey_package(archive, substituted + config_patterns(steps), SCAN_LIMIT)
        except BundleError as err:
            at = locate(text, ["packages", i, "file"])
            line, column = line_column(text, at) if at is not None else (None, None)
            findings.append(Finding(ERROR, err.code, err.message, file, f"packages[{i}].file", line, column,
                                    _ARCHIVE_FIXES.get(err.code, _REBUILD)))
            continue
        findings.extend(_ambiguous_scripts(survey.files, entry, shown))
        for problem in survey.problems:
            findings.append(Finding(ERROR, problem.code, f"member {quoted(problem.member)} {problem.reason}: a deploy "
                                    "refuses the whole package", shown, _short(problem.member), None, None,
                                    "rebuild the package without this entry"))
        for n, s in zip(step_numbers, steps):
            for key in _PATTERN_KEYS:
                for k, pattern in enumerate(s.get(key, [])):
                    try:
                        hit = any(member_matches(f, [pattern]) for f in survey.files)
                    except BundleError:
                        continue  # an unsafe pattern: load_release reports it
                    if hit:
                        continue
                    at = locate(text, ["steps", n, key])
                    at = value_offset(text, at, pattern) or at
                    line, column = line_column(text, at) if at is not None else (None, None)
                    findings.append(Finding(ERROR, "pattern_matches_nothing",
                                            f"{pattern!r} matches no file in package {entry['id']} {entry['version']} "
                                            f"({shown}), so step {s['name']!r} would change nothing",
                                            file, f"steps[{n}].{key}[{k}]", line, column,
                                            _near_files(pattern, survey.files) or
                                            "patterns are relative to the package root, like 'config/*.json'"))
        findings += check_config_files(doc, shown, steps, survey.texts, paths, zone_environments, (file, text))
        for member, body in survey.texts:
            for n, s in zip(step_numbers, steps):
                if member_matches(member, s.get("substitute", [])):
                    templates.append(Template(body, shown, member, step=n, strict=False))
    return findings + check_config_paths(doc, text, file, paths), templates


def _ambiguous_scripts(files: tuple[str, ...], entry: dict[str, Any], shown: str) -> list[Finding]:
    """A phase with two scripts in the package root (``PreDeploy.sh`` and ``predeploy.py``): a
    deploy refuses the package step (``ambiguous_package_script``), since it cannot tell which
    one to run. Names compare case-insensitively, as the deploy compares them."""
    out = []
    for phase in PHASES:
        found = sorted(f for f in files if "/" not in f
                       and any(f.casefold() == (phase + ext).casefold() for ext in SCRIPT_SYNTAX))
        if len(found) > 1:
            out.append(Finding(ERROR, "ambiguous_package_script", f"package {entry['id']} {entry['version']} has "
                               f"more than one {phase} script ({', '.join(found)}): a deploy cannot tell which to "
                               "run and refuses the step", shown, found[1], None, None,
                               f"keep one {phase} script in the package root and rebuild the package"))
    return out


def _short(member: str) -> str:
    """A member name as a finding's ``path``: whole, or its start and ``...`` past
    ``QUOTED_LENGTH`` characters (a 4000-character name stays readable in one line)."""
    return member if len(member) <= QUOTED_LENGTH else member[:QUOTED_LENGTH] + "..."
