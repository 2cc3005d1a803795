"""Octostache-compatible variable substitution (``#{Name}``) and scoped variable selection.

Public API: :class:`VariableDictionary` (the variable store), :func:`render` /
:func:`render_strict` (a template -> text), :func:`evaluate` (one variable's value),
:func:`references` (names a template uses), :class:`RenderResult` and
:class:`SubstitutionError`. Scope selection lives in :mod:`bundlekit.substitution.scoping`.
The syntax and semantics are specified in ``spec/substitution.md``.
"""

from bundlekit.substitution.engine import RenderResult, evaluate, render, render_strict
from bundlekit.substitution.errors import SubstitutionError
from bundlekit.substitution.references import references
from bundlekit.substitution.variables import VariableDictionary

__all__ = [
    "VariableDictionary",
    "RenderResult",
    "SubstitutionError",
    "render",
    "render_strict",
    "evaluate",
    "references",
]
