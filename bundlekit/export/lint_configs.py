"""Lint of the configuration files a deployment will parse: every file structured configuration
variables apply to, read with the deployment's own parsers, and variable names that look like a
path into such a file but match none.

The files are the ones :mod:`bundlekit.runtime.structured.selection` picks for the deploy
preflight: a step's ``structured_config`` globs, the ``.json`` files among its ``substitute``
patterns, ``appsettings.json``, and ``appsettings.<environment>.json`` for every environment
the release names (a lifecycle phase, a step filter, a variable scope). Another
``appsettings.<name>.json`` breaks a deployment only to an environment of that name, which the
release does not name (decision 652): with a lifecycle it can never be deployed to, and the file is
not reported; with a target inventory, a problem in it is a warning when the deploying zone has
that environment, else not reported; with neither, a warning that says the environment is not
one the release names. Each file is parsed as the preflight parses it
(:func:`~bundlekit.runtime.structured.apply_config`, same formats in the same order); a file the
step also substitutes is parsed as written; when that fails at a ``#{...}`` token, it is parsed
again after substitution with the release's own values (unscoped first), since the token may be
what makes it parse (``"Port": #{Port}``), and skipped when a token stays unresolved (a
placeholder: its value comes at deploy time). A failure elsewhere is reported where it is in the
file as written.
A problem is reported with the member, line and column, code ``invalid_structured_config`` (the
preflight's) and the fix for why the file is configured.

Then, as ``spec/substitution.md`` section 9 asks of lint: a variable whose name is a ``:`` path
(``Logging:LogLevel:Defualt``) that no JSON or YAML configuration file of the release has
replaces nothing; it is a warning (``config_path_matches_nothing``) with the closest paths the
files do have. And a template path into a JSON value whose last member the value does not have
(``#{Cfg.Db.Prot}``, which renders empty, as in Octostache) is a warning
(``json_member_missing``) with the members the value does have.
"""

from __future__ import annotations

import json
import re
from pathlib import PurePath
from dataclasses import dataclass, field
from typing import Any, Sequence

from bundlekit.core.text import closest
from bundlekit.export.lint_model import ERROR, WARNING, Finding, line_column, locate, value_offset
from bundlekit.package.archive import member_matches
from bundlekit.runtime.structured import ConfigParseError, apply_config
from bundlekit.runtime.structured.base import is_reserved
from bundlekit.runtime.structured.selection import config_fix, structured_files
from bundlekit.export.lint_templates import Template, hide_secret
from bundlekit.export.lint_xpath import local_name_xpath, root_name
from bundlekit.substitution import SubstitutionError, VariableDictionary, render

__all__ = ["config_patterns", "ConfigPaths", "check_config_files", "check_config_paths", "check_json_members"]

_TOKEN = re.compile(r"#\{[^}\n]*\}?")
_ENVIRONMENT_FILE = re.compile(r"appsettings\.(.+)\.json", re.IGNORECASE)
#: Names that are XPaths or templates, not key paths: never compared with the files' paths.
_NOT_A_KEY_PATH = re.compile(r"[/\[\]@#{}]")


def config_patterns(steps: Sequence[dict[str, Any]]) -> list[str]:
    """Patterns of every member the package steps' structured configuration could apply to,
    in any environment (for reading them out of the package once)."""
    out = {"appsettings.json", "appsettings.*.json"}
    for s in steps:
        out.update(_texts(s.get("structured_config")))
        out.update(p for p in _texts(s.get("substitute")) if p.lower().endswith(".json"))
    return sorted(out)


@dataclass
class ConfigPaths:
    """The key paths of the JSON and YAML configuration files read so far, across packages:
    casefolded path -> (path as written, member, package file shown)."""

    paths: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    files: int = 0


def _dicts(doc: dict[str, Any], key: str) -> list[tuple[int, dict[str, Any]]]:
    """(index, element) of the array of tables ``key`` (anything else in it is the schema's finding)."""
    items = doc.get(key)
    return [(i, e) for i, e in enumerate(items if isinstance(items, list) else []) if isinstance(e, dict)]


def _texts(value: Any) -> list[str]:
    items = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    return [e for e in items if isinstance(e, str)]


def _environments(doc: dict[str, Any]) -> set[str]:
    lifecycle = doc.get("lifecycle")
    phases = lifecycle.get("phases") if isinstance(lifecycle, dict) else None
    named = {e for p in (phases if isinstance(phases, list) else []) if isinstance(p, dict)
             for e in _texts(p.get("environments"))}
    named.update(e for _, s in _dicts(doc, "steps") for e in _texts(s.get("environments")))
    for _, v in _dicts(doc, "variables"):
        scope = v.get("scope")
        named.update(_texts(scope.get("environment")) if isinstance(scope, dict) else [])
    return {e.casefold() for e in named}


def _release_values(doc: dict[str, Any]) -> VariableDictionary:
    """Each variable's value as written in the release, the unscoped one first. Placeholders and
    values read at export time have none here, and sensitive values are left out: no finding may
    quote a piece of one (a member name of a sensitive JSON value included)."""
    values: dict[str, str] = {}
    for _, v in sorted(_dicts(doc, "variables"), key=lambda iv: bool(iv[1].get("scope"))):
        if isinstance(v.get("name"), str) and isinstance(v.get("value"), str) and not v.get("sensitive"):
            values.setdefault(v["name"].casefold(), v["value"])
    return VariableDictionary(values)


def _key_paths(fmt: str, text: str) -> list[str]:
    """Every key path of a JSON or YAML document (``A:B:0``), parents before children."""
    if fmt == "json":
        from bundlekit.runtime.structured.jsonread import read_json
        return [":".join(str(k) for k in path) for path in read_json(text)[1] if path]
    if fmt != "yaml":
        return []
    from bundlekit.runtime.structured.yamlfile import _yaml
    out: list[str] = []
    stack: list[tuple[Any, tuple[str, ...]]] = [(d, ()) for d in _yaml().load_all(text)]
    while stack:
        node, path = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, child in items:
            out.append(":".join(path + (str(key),)))
            stack.append((child, path + (str(key),)))
    return out


def _lifecycle(doc: dict[str, Any]) -> set[str] | None:
    """The casefolded environments of the release's lifecycle, None without one."""
    lifecycle = doc.get("lifecycle")
    phases = lifecycle.get("phases") if isinstance(lifecycle, dict) else None
    if not isinstance(phases, list) or not phases:
        return None
    return {e.casefold() for p in phases if isinstance(p, dict) for e in _texts(p.get("environments"))}


#: A character XML 1.0 cannot hold, not even as a character reference (the XML writer's rule):
#: the complement of its Char production, spelt as the few ranges it leaves out (the negated class
#: took every export ~4 ms to compile as it started; tests/export/test_lint_configs.py checks the two agree).
_NOT_XML_CHAR = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _applied(doc: dict[str, Any]) -> tuple[dict[str, str], dict[str, int]]:
    """Every variable a deployment applies to configuration files, by name, with a value as the
    release writes it (expanded with its unscoped values): of a name with several values, one
    holding a character XML cannot hold if any does. Placeholders, values read at export time and
    sensitive values apply with an empty value (no finding may quote a piece of a secret). Also
    the index in ``[[variables]]`` of each name's value (by casefolded name)."""
    values: VariableDictionary | None = None
    out: dict[str, tuple[str, str, int]] = {}
    for i, v in sorted(_dicts(doc, "variables"), key=lambda iv: bool(iv[1].get("scope"))):
        name = v.get("name")
        if not isinstance(name, str) or is_reserved(name):
            continue
        value = v["value"] if isinstance(v.get("value"), str) and not v.get("sensitive") else ""
        if "#{" in value:
            values = values if values is not None else _release_values(doc)
            try:
                value = render(value, values, allow_missing=True, lenient_syntax=True).text
            except SubstitutionError:
                pass  # a cycle or a value without bound: reported by the checks that own them
        held = out.get(name.casefold())
        if held is None or (_NOT_XML_CHAR.search(value) and not _NOT_XML_CHAR.search(held[1])):
            out[name.casefold()] = (held[0] if held is not None else name, value, i)
    return {n: value for n, value, _ in out.values()}, {k: i for k, (_, _, i) in out.items()}


def _warning_fix(warning: str, through: Sequence[str] = (), text: str = "") -> str:
    """What to do about a warning a format's writer gives (``xmlfile``'s, written to a deploy's log).
    ``through``: the variables whose values a value with a character XML cannot hold reads it from.
    ``text``: the file warned about (its root element decides whether an XPath can match there)."""
    path, sep, _ = warning.partition(": selects nothing; ")
    if sep and "default namespace" in warning:
        root = root_name(text)
        written = local_name_xpath(path, root)
        if written is not None:
            return f"write the XPath as {written}, or give the namespace a prefix in the file and use it"
        if local_name_xpath(path, None) is not None:
            return (f"this file's root element is {root!r}, which the XPath's first step cannot match in any "
                    "namespace: if the variable is meant for another XML file of the step, this warning is expected "
                    "(a deployment applies every XPath variable to every XML file of the step)")
        return ("give the namespace a prefix in the file and use it in the XPath, or rewrite each step as the "
                "warning says")
    if "cannot hold" in warning:
        if through:
            named = " or ".join(through)
            return (f"remove the control character from the value of {named}, which this variable's value reads "
                    f"as {', '.join('#{' + n + '}' for n in through)}")
        return "remove the control character from the variable's value"
    if "not an XML fragment" in warning:
        return "write the value as XML (escape '<' as &lt; and '&' as &amp;), or select the element's text()"
    if "prefix" in warning:
        return "give each namespace its own prefix in the file"
    return "see spec/deploy.md, structured configuration"


def check_config_files(doc: dict[str, Any], shown: str, steps: Sequence[dict[str, Any]],
                       texts: Sequence[tuple[str, str]], paths: ConfigPaths,
                       zone_environments: Sequence[str] | None = None, release: tuple[str, str] | None = None
                       ) -> list[Finding]:
    """Findings for the configuration files among ``texts`` (``(member, text)`` read from the
    package at ``shown``) that the package ``steps`` configure; their key paths go into ``paths``.
    ``zone_environments``: the target inventory's environments, when lint was given one.
    ``release``: the release file's name and TOML text, where a warning about a variable is placed.

    Each file is read with the release's variables applied as a deployment applies them
    (:func:`_applied`): a refusal that only variables cause (decision 646: long runs of comments
    once a variable is named like an XPath) is an error, and what the writer warns about (an
    XPath that selects nothing in a file with a default namespace, a value with a character XML
    cannot hold) is a warning (``structured_config_warning``) at the variable."""
    environments = _environments(doc)
    lifecycle = _lifecycle(doc)
    zone = {e.casefold() for e in zone_environments} if zone_environments is not None else None
    values: VariableDictionary | None = None
    applied, where = _applied(doc)
    warned: dict[tuple[str, str], Finding] = {}
    findings: dict[str, Finding] = {}
    names = [member for member, _ in texts]
    by_member = dict(texts)
    for s in steps:
        substitute, listed = _texts(s.get("substitute")), _texts(s.get("structured_config"))
        chosen = structured_files(names, substitute, listed, "")
        by_environment = {m: e for m in names if m not in chosen and (e := _ENVIRONMENT_FILE.fullmatch(m))}
        chosen.update((m, ("json",)) for m in by_environment)
        for member, formats in sorted(chosen.items()):
            if member in findings:
                continue
            env = by_environment.get(member)
            unnamed = env is not None and env.group(1).casefold() not in environments
            if unnamed and ((lifecycle is not None and env.group(1).casefold() not in lifecycle)
                            or (zone is not None and env.group(1).casefold() not in zone)):
                continue  # no deployment of this release (to this zone) uses the file
            severity = WARNING if unnamed else ERROR
            text = by_member[member]
            try:
                fmt, said = _parse(text, formats, applied)
            except ConfigParseError as error:
                if member_matches(member, substitute) and _in_token(text, error):
                    values = values if values is not None else _release_values(doc)
                    rendered = render(text, values, allow_missing=True, lenient_syntax=True)
                    try:
                        fmt, said = _parse(rendered.text, formats, applied)
                    except ConfigParseError:
                        if rendered.missing:
                            continue  # a token left in place broke it; the names are reported elsewhere
                    except ImportError:
                        continue
                    else:
                        _collect(paths, fmt, rendered.text, member, shown)
                        _warn(warned, said, member, shown, applied, where, doc, release, rendered.text)
                        continue
                findings[member] = _finding(severity, error, member, shown, s, env, _by_variables(text, formats))
                continue
            except ImportError:  # a format whose library this zone lacks: the preflight says so
                continue
            _collect(paths, fmt, text, member, shown)
            _warn(warned, said, member, shown, applied, where, doc, release, text)
    return list(findings.values()) + list(warned.values())


def _by_variables(text: str, formats: tuple[str, ...]) -> bool:
    """Whether ``text`` parses with no variables applied: its refusal is then the variables' doing."""
    try:
        apply_config(text, {}, formats)
    except (ConfigParseError, ImportError):
        return False
    return True


def _warn(warned: dict[tuple[str, str], Finding], said: tuple[str, ...], member: str, shown: str,
          applied: dict[str, str], where: dict[str, int], doc: dict[str, Any],
          release: tuple[str, str] | None, text: str) -> None:
    """A ``structured_config_warning`` for each of ``said`` (the writer's warnings for ``member``,
    whose text is ``text``), at the variable it names (its name for an XPath that selects nothing,
    else its value), at the string itself."""
    for w in said:
        name = next((n for n in sorted(applied, key=len, reverse=True) if w.startswith(f"{n}: ")), None)
        file, path, line, column, through = shown, member, None, None, []
        if name is not None and release is not None and name.casefold() in where:
            i = where[name.casefold()]
            about_value = w[len(name) + 2:].startswith("the value") and "value" in doc["variables"][i]
            key = "value" if about_value else "name"
            file, path = release[0], f"variables[{i}].{key}"
            at = locate(release[1], ["variables", i, key])
            written = doc["variables"][i].get(key)
            if at is not None and isinstance(written, str):  # at the string, as other findings are
                at = value_offset(release[1], at, written) or at
            line, column = line_column(release[1], at) if at is not None else (None, None)
            if about_value and isinstance(written, str) and not _NOT_XML_CHAR.search(written):
                through = _carriers(written, doc)
        warned.setdefault((member, w), Finding(WARNING, "structured_config_warning",
                                               f"{member} in {PurePath(shown).name}: {w} (a deployment writes this warning to the "
                                               "run's log)", file, path, line, column, _warning_fix(w, through, text)))


_REFERENCE = re.compile(r"#\{\s*([^\s|}#{]+)")


def _carriers(value: str, doc: dict[str, Any]) -> list[str]:
    """The variables ``value`` reads (``#{Lvl}``) whose value, as the release expands it, holds a
    character XML cannot hold: where the control character of a value without one comes from."""
    values = _release_values(doc)
    out: list[str] = []
    for name in dict.fromkeys(m.group(1) for m in _REFERENCE.finditer(value)):
        try:
            text = render("#{" + name + "}", values, allow_missing=True, lenient_syntax=True).text
        except SubstitutionError:
            continue
        if _NOT_XML_CHAR.search(text):
            out.append(name)
    return out


def _in_token(text: str, error: ConfigParseError) -> bool:
    """Whether the problem is at a ``#{...}`` token (or right after one), so substitution decides it."""
    if not error.line:
        return True
    start = sum(len(line) for line in text.splitlines(keepends=True)[:error.line - 1])
    at = start + error.column - 1
    for m in _TOKEN.finditer(text, max(0, start - 4096)):
        if m.start() > at:
            return False
        if at <= m.end():
            return True
    return False


def _parse(text: str, formats: tuple[str, ...], applied: dict[str, str]) -> tuple[str, tuple[str, ...]]:
    """(format, the writer's warnings) of ``text`` with the variables ``applied``, as a deploy applies them."""
    fmt, edit = apply_config(text, applied, formats)
    return fmt, edit.warnings


def _finding(severity: str, error: ConfigParseError, member: str, shown: str, step: dict[str, Any],
             env: re.Match[str] | None, by_variables: bool = False) -> Finding:
    only = (f" to an environment named {env.group(1)!r} (not one this release names)"
            if env is not None and severity == WARNING else "")
    fix = config_fix(member, _texts(step.get("substitute")), _texts(step.get("structured_config")))
    more = (f", or leave the file out of the package if no environment named {env.group(1)!r} is deployed to"
            if only else "")
    why = (" (the file itself parses: a deployment refuses it because the release has variables named like a "
           "path into it, which it would apply)" if by_variables else "")
    return Finding(severity, "invalid_structured_config",
                   f"{member} is {error}{why}: a deployment{only} of step {step.get('name')!r} would refuse it "
                   "before anything runs", shown, member, error.line or None, error.column or None,
                   f"fix the file in the package, or {fix}{more}")


def _collect(paths: ConfigPaths, fmt: str, text: str, member: str, shown: str) -> None:
    try:
        found = _key_paths(fmt, text)
    except (ConfigParseError, ValueError, RecursionError):
        return
    if fmt in ("json", "yaml"):
        paths.files += 1
    for path in found:
        paths.paths.setdefault(path.casefold(), (path, member, shown))


def check_config_paths(doc: dict[str, Any], text: str, file: str, paths: ConfigPaths) -> list[Finding]:
    """A warning for each variable named like a ``:`` key path that no configuration file read has."""
    if not paths.files:
        return []
    out = []
    for i, v in _dicts(doc, "variables"):
        name = v.get("name")
        if not isinstance(name, str) or ":" not in name or is_reserved(name) or _NOT_A_KEY_PATH.search(name) or name.casefold() in paths.paths:
            continue
        near = closest(name, [p for p, _, _ in paths.paths.values()], n=3, cutoff=0.75)
        at = locate(text, ["variables", i, "name"])
        line, column = line_column(text, at) if at is not None else (None, None)
        where = {p: member for p, member, _ in paths.paths.values()}
        out.append(Finding(WARNING, "config_path_matches_nothing",
                           f"variable {name!r} is named like a configuration path, but no JSON or YAML file that "
                           "structured configuration applies to has it, so it replaces nothing", file,
                           f"variables[{i}].name", line, column,
                           "did you mean " + " or ".join(f"{n!r} ({where[n]})" for n in near) + "?" if near else
                           "paths are keys joined by ':' (Logging:LogLevel:Default), array elements by number"))
    return out


_LAST_STEP = re.compile(r"(\.[^.\[\]]+|\[[^\[\]]*\])$")


def check_json_members(templates: Sequence[Template], doc: dict[str, Any]) -> list[Finding]:
    """A warning for each path into a JSON value a template writes whose last member the value
    does not have (``#{Cfg.Db.Prot}``: rendered empty, as in Octostache), with the members it
    does have. Rendered with the release's own values (unscoped first), so a member only a
    scoped value has can be reported: a warning, not an error."""
    values = _release_values(doc)
    out: list[Finding] = []
    for t in templates:
        if "#{" not in t.text:
            continue
        try:
            absent = render(t.text, values, allow_missing=True, lenient_syntax=True).absent
        except SubstitutionError:  # a cycle or a value without bound: reported by the checks that own them
            continue
        folded = t.text.casefold()
        found: list[Finding] = []
        for display in absent:
            at = folded.find(display.casefold())
            parent = _LAST_STEP.sub("", display)
            if at < 0 or parent == display:
                continue  # read through another variable's value: reported where it is written
            member = display[len(parent):].lstrip(".").strip("[]").strip()
            members = _members(parent, values)
            near = closest(member, members, n=3, cutoff=0.6)
            line, column = t.position(at)
            found.append(Finding(WARNING, "json_member_missing",
                                 f"#{{{display}}} names member {member!r}, which the JSON value {parent} does not "
                                 "have, so it renders empty", t.file, t.path, line, column,
                                 "did you mean " + " or ".join(repr(n) for n in near) + "?" if near else
                                 ("its members are " + ", ".join(repr(m) for m in members[:10]) if members else
                                  f"check the path against the value of {parent}")))
        out.extend(hide_secret(t, found))  # a sensitive value's reference is never quoted (review v31-att NEW-3)
    return out


def _members(parent: str, values: VariableDictionary) -> list[str]:
    """The member names (or indexes) of the JSON value at ``parent``, or none when it is not one."""
    try:
        data = json.loads(render("#{" + parent + "}", values, allow_missing=True).text)
    except (ValueError, SubstitutionError):
        return []
    if isinstance(data, dict):
        return [str(k) for k in data]
    return [str(i) for i in range(len(data))] if isinstance(data, list) else []
