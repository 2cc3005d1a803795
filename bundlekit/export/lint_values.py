"""Lint of the release's own values as the engine expands them: cycles and expansions past its limits.

A deploy's preflight expands every value a run uses and refuses a cycle
(``preflight_variable_cycle``) or an expansion past the engine's limits
(``preflight_substitution_too_deep``, ``..._too_large``). Which value wins depends on the
deployment (environment, target, values bound in the deploying zone), but a release's
unscoped values apply wherever nothing more specific does: expanded together with the
substitution engine itself, a cycle among them fails every such deployment. Each cycle is
reported once, at its first value in the release file, and each limit once, at the first
value past it (with how many are), under the engine's code.
"""

from __future__ import annotations

from typing import Any

from bundlekit.export.lint_model import ERROR, Finding, entries, line_column, locate
from bundlekit.substitution import SubstitutionError, VariableDictionary, evaluate
from bundlekit.substitution.errors import CYCLE, TOO_DEEP, TOO_LARGE

__all__ = ["check_value_expansion"]

_FIXES = {
    CYCLE: "break the cycle: one of these values must not refer, directly or through others, to itself",
    TOO_DEEP: "shorten the chain of values that refer to values",
    TOO_LARGE: "a value expands past the engine's limit: refer to large values fewer times",
}


def check_value_expansion(doc: dict[str, Any], text: str, file: str) -> list[Finding]:
    """A finding per cycle (or expansion past the engine's limits) among the unscoped values of
    ``doc`` (a release file past its schema; ``text`` its TOML, ``file`` its name)."""
    unscoped = [(i, v) for i, v in entries(doc, "variables")
                if isinstance(v.get("value"), str) and not v.get("scope") and not v.get("placeholder")]
    values = VariableDictionary()
    for _, v in unscoped:
        values.set(v["name"], v["value"], bool(v.get("sensitive")))
    first: dict[object, tuple[int, SubstitutionError]] = {}  # a cycle's members, or a limit -> its first value
    count: dict[object, int] = {}
    for i, v in unscoped:
        if "#{" not in v["value"]:
            continue
        try:
            evaluate(v["name"], values)
        except SubstitutionError as err:
            if err.code not in _FIXES:
                raise
            key: object = (frozenset(n.casefold() for n in err.details) if err.code == CYCLE
                           and isinstance(err.details, list) else err.code)
            first.setdefault(key, (i, err))
            count[key] = count.get(key, 0) + 1
    out: list[Finding] = []
    for key, (i, err) in first.items():
        at = locate(text, ["variables", i, "value"])
        line, column = line_column(text, at) if at is not None else (None, None)
        more = f" ({count[key]} values of the release in all)" if count[key] > 1 and err.code != CYCLE else ""
        out.append(Finding(ERROR, err.code, f"{err.message}{more}: every deployment where no more specific value "
                           "applies would be refused", file, f"variables[{i}].value", line, column, _FIXES[err.code]))
    return out
