"""``#{calc ...}``: evaluate arithmetic over numbers and numeric variables.

Octostache's calculation token: ``+ - * /`` with the usual precedence, parentheses,
decimal constants and variable names (``{Name}`` for a name containing ``-`` or ``/``,
which would otherwise read as part of the name). Arithmetic is IEEE double, as in .NET,
and results print in .NET's shortest round-trip form (``3.5``, ``0.2857142857142857``,
``14``). Pure: variables are read through the callback the engine passes in.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Callable

from bundlekit.substitution.syntax import CalcOp, CalcTerm, Num, Symbol

__all__ = ["evaluate_calc", "format_number", "parse_number"]

_NUMBER = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$")


def parse_number(text: str) -> float | None:
    """A variable's value as a number (.NET ``double.TryParse``, invariant culture), or None."""
    if not _NUMBER.match(text):
        return None
    return float(text)


def format_number(value: float) -> str:
    """``value`` as .NET prints a double: the shortest text that reads back the same, with
    an exponent (``1E+15``, ``1E-05``) from 1e15 up and below 1e-4, as .NET switches."""
    if value == 0:
        return "0"  # also -0.0, which .NET prints as "0" too
    if 1e-4 <= abs(value) < 1e15:
        text = repr(value)
        return text[:-2] if text.endswith(".0") else text
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    shown = "".join(map(str, digits))
    power = len(shown) - 1 + exponent
    mantissa = shown[0] + (f".{shown[1:]}" if len(shown) > 1 else "")
    return f"{'-' if sign else ''}{mantissa}E{'-' if power < 0 else '+'}{abs(power):02d}"


def evaluate_calc(term: CalcTerm, number: Callable[[Symbol], float | None]) -> float | str | None:
    """The value of ``term``; None when a variable is undefined or not a number (``number``
    has recorded why), or a reason (text) when the arithmetic has no finite result."""
    if isinstance(term, Num):
        return term.value
    if isinstance(term, Symbol):
        return number(term)
    assert isinstance(term, CalcOp)
    left = evaluate_calc(term.left, number)
    if left is None or isinstance(left, str):
        return left
    right = evaluate_calc(term.right, number)
    if right is None or isinstance(right, str):
        return right
    if term.op == "+":
        result = left + right
    elif term.op == "-":
        result = left - right
    elif term.op == "*":
        result = left * right
    elif right == 0:
        return "division by zero"
    else:
        result = left / right
    if not math.isfinite(result):
        return "the result is too large"
    return result
