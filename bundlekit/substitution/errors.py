"""The one error type of the substitution engine and its stable codes.

Every refusal the engine makes is a :class:`SubstitutionError` (family
:class:`~bundlekit.errors.InputError`, exit 1): templates and variable values are user
input. The ``code`` says which rule was broken; ``details`` carries the structured part
(the list of missing names, the cycle, the problem list) for ``--json`` output.
"""

from __future__ import annotations

from bundlekit.errors import InputError

__all__ = [
    "SubstitutionError",
    "UNRESOLVED",
    "CYCLE",
    "SYNTAX",
    "FILTER_FAILED",
    "TOO_DEEP",
    "TOO_LARGE",
    "INVALID_VARIABLE",
    "AMBIGUOUS",
    "line_column",
    "FilterFailure",
]

UNRESOLVED = "unresolved_variables"
CYCLE = "variable_cycle"
SYNTAX = "template_syntax"
FILTER_FAILED = "filter_failed"
TOO_DEEP = "substitution_too_deep"
TOO_LARGE = "substitution_too_large"
INVALID_VARIABLE = "invalid_variable"
AMBIGUOUS = "ambiguous_variable"


class SubstitutionError(InputError):
    """A template or a variable could not be evaluated (exit 1)."""


class FilterFailure(Exception):
    """Internal: a filter cannot be applied to this value with these options. The engine
    leaves the token in place (allow-missing mode) or reports ``filter_failed``."""


def line_column(text: str, pos: int) -> tuple[int, int]:
    """1-based line and column of offset ``pos`` in ``text`` (for messages)."""
    pos = max(0, min(pos, len(text)))
    line = text.count("\n", 0, pos) + 1
    column = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return line, column
