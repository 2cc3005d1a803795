"""Lint of the release's own values as the engine expands them: cycles, expansions past its
limits, paths back into themselves, and filters that fail on them.

A deploy's preflight expands every value a run uses and refuses a cycle
(``preflight_variable_cycle``) or an expansion past the engine's limits
(``preflight_substitution_too_deep``, ``..._too_large``). Which value wins depends on the
deployment (environment, target, values bound in the deploying zone), but a release's
unscoped values apply wherever nothing more specific does: expanded together with the
substitution engine itself, a cycle among them fails every such deployment. Each cycle is
reported once, at its first value in the release file, and each limit once, at the first
value past it (with how many are), under the engine's code. A value that reads a path into
itself (``Self = "#{Self.Y}"``) can never be resolved: strict rendering refuses it as
``unresolved_variables``, so lint reports it under that code, once per loop.

Filter calls are evaluated the same way (decision 640): every step script and variable value
is rendered with the unscoped values, and a filter that fails on them (an invalid pattern in
``Replace``, ``Substring`` past the end, ``VersionMajor`` on a non-version) is reported as
``filter_failed`` at the filter, as strict rendering refuses it. A call whose input or options
read a placeholder, a system variable, an output or a scoped value is judged only by its
options as written (a ``Replace``/``Match`` pattern that does not compile, a ``Truncate`` or
``Substring`` number that is not one): its value is not known here. One that reads a sensitive value gets the engine's message, which quotes
neither (nor does a finding in a sensitive value's own text).
"""

from __future__ import annotations

from typing import Any

from bundlekit.export.lint_model import ERROR, Finding, entries, line_column, locate
from bundlekit.export.lint_templates import Template
from bundlekit.substitution import SubstitutionError, VariableDictionary, evaluate, render
from bundlekit.substitution.filters import FilterFailure, check_options, is_filter
from bundlekit.substitution.references import filter_calls
from bundlekit.substitution.syntax import Literal
from bundlekit.substitution.errors import CYCLE, FILTER_FAILED, TOO_DEEP, TOO_LARGE, UNRESOLVED

__all__ = ["check_value_expansion", "check_filter_calls"]

_FIXES = {
    CYCLE: "break the cycle: one of these values must not refer, directly or through others, to itself",
    TOO_DEEP: "shorten the chain of values that refer to values",
    TOO_LARGE: "a value expands past the engine's limit: refer to large values fewer times",
    UNRESOLVED: "make the value refer to other variables, not to a part of itself",
}


def _unscoped(doc: dict[str, Any]) -> tuple[list[tuple[int, dict[str, Any]]], VariableDictionary]:
    unscoped = [(i, v) for i, v in entries(doc, "variables")
                if isinstance(v.get("value"), str) and not v.get("scope") and not v.get("placeholder")]
    values = VariableDictionary()
    for _, v in unscoped:
        values.set(v["name"], v["value"], bool(v.get("sensitive")))
    return unscoped, values


def check_value_expansion(doc: dict[str, Any], text: str, file: str) -> list[Finding]:
    """A finding per cycle (or expansion past the engine's limits) among the unscoped values of
    ``doc`` (a release file past its schema; ``text`` its TOML, ``file`` its name)."""
    unscoped, values = _unscoped(doc)
    first: dict[object, tuple[int, SubstitutionError]] = {}  # a cycle's members, or a limit -> its first value
    count: dict[object, int] = {}
    for i, v in unscoped:
        if "#{" not in v["value"]:
            continue
        try:
            evaluated = evaluate(v["name"], values)
            looping = tuple(evaluated.shown(n) for n in evaluated.looping)
            if looping:  # what strict rendering says of it
                secret = "a path into a sensitive value" if values.is_sensitive(v["name"]) else ", ".join(looping)
                raise SubstitutionError(f"{secret} refer(s) back into the value it is read from, so it can never "
                                        "be resolved (strict rendering refuses it as unresolved_variables)",
                                        code=UNRESOLVED, details=list(looping))
        except SubstitutionError as err:
            if err.code not in _FIXES:
                raise
            key: object = ((err.code, frozenset(n.casefold() for n in err.details)) if err.code in (CYCLE, UNRESOLVED)
                           and isinstance(err.details, list) else err.code)
            first.setdefault(key, (i, err))
            count[key] = count.get(key, 0) + 1
    out: list[Finding] = []
    for key, (i, err) in first.items():
        at = locate(text, ["variables", i, "value"])
        line, column = line_column(text, at) if at is not None else (None, None)
        more = f" ({count[key]} values of the release in all)" if count[key] > 1 and err.code not in (
            CYCLE, UNRESOLVED) else ""
        out.append(Finding(ERROR, err.code, f"{err.message}{more}: every deployment where no more specific value "
                           "applies would be refused", file, f"variables[{i}].value", line, column, _FIXES[err.code]))
    return out


def check_filter_calls(templates: list[Template], doc: dict[str, Any]) -> list[Finding]:
    """A ``filter_failed`` error at each filter of a step script or variable value (the strict
    templates among ``templates``) that fails on the unscoped values of ``doc``, as strict
    rendering would refuse it. Messages quote nothing derived from a sensitive value."""
    _, values = _unscoped(doc)
    out: list[Finding] = []
    for t in templates:
        if not t.strict or "#{" not in t.text:
            continue
        try:
            failed = list(render(t.text, values, allow_missing=True).failed_at)
        except SubstitutionError:
            failed = []  # a cycle or a limit: check_value_expansion reports it
        evaluated = {offset for label, offset, _ in failed if label == "template"}
        for f in filter_calls(t.text):  # options wrong whatever the input, on values only a deploy knows too
            if f.pos in evaluated or not is_filter(f.name) or not all(isinstance(o, Literal) for o in f.options):
                continue
            try:
                check_options(f.name, [o.text for o in f.options if isinstance(o, Literal)])
            except FilterFailure as exc:
                failed.append(("template", f.pos, f"filter {f.name}: {exc}"))
        for label, offset, message in sorted(failed, key=lambda x: x[1]):
            if label != "template":
                continue  # in a value it reads: reported at that value's own text
            if message.startswith("filter ") and not is_filter(message[7:].split(":", 1)[0]):
                continue  # unknown_filter says it, with the nearest names
            line, column = t.position(offset)
            said = (f"the sensitive value of {t.secret!r} applies a filter that fails on the release's values (the "
                    "value is not shown)" if t.secret is not None else message)
            out.append(Finding(ERROR, FILTER_FAILED, f"{said}: rendering it strictly, as a deploy does, is refused",
                               t.file, t.path, line, column,
                               "fix the filter's options or the value it reads (spec/substitution.md, section 6, "
                               "describes each filter)"))
    return out
