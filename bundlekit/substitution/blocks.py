"""The block tokens: ``#{if}`` / ``#{unless}``, ``#{each}`` and ``#{calc}``.

Each function evaluates one parsed block with the evaluator of the current rendering
(:class:`bundlekit.substitution.engine._Evaluator`), which owns name resolution, values
and bookkeeping. Octostache's rules for these blocks are in ``spec/substitution.md``
sections 6.1, 7 and 8.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bundlekit.substitution import jsonvalues as js
from bundlekit.substitution.calc import evaluate_calc, format_number, parse_number
from bundlekit.substitution.items import Scope
from bundlekit.substitution.syntax import Calc, Each, If, Operand, Symbol
from bundlekit.substitution.variables import path_key

if TYPE_CHECKING:
    from bundlekit.substitution.engine import _Evaluator as Evaluator

__all__ = ["conditional", "each", "calc", "truthy"]

_FIRST = path_key((("i", "Octopus"), ("i", "Template"), ("i", "Each"), ("i", "First")))
_LAST = path_key((("i", "Octopus"), ("i", "Template"), ("i", "Each"), ("i", "Last")))
_INDEX = path_key((("i", "Octopus"), ("i", "Template"), ("i", "Each"), ("i", "Index")))


def truthy(value: str) -> bool:
    """Octostache's truth: false when empty, ``0``, or (trimmed, any case) ``false`` / ``no``."""
    return value not in ("", "0") and value.strip().casefold() not in ("no", "false")


def _operand(ev: Evaluator, side: Operand, scopes: tuple[Scope, ...]) -> str | None:
    """One side of a condition: a literal, a name (undefined is ''), or a filtered expression."""
    if isinstance(side, str):
        return side
    if side.head is not None and not side.filters:
        return ev.test_value(side.head, scopes)
    return ev.expr(side, scopes)


def conditional(ev: Evaluator, n: If, scopes: tuple[Scope, ...]) -> str:
    """``#{if}`` / ``#{unless}``: the branch the condition picks, or the block as written
    when a side with filters cannot be evaluated (Octostache leaves it in place)."""
    cond = n.cond
    left = _operand(ev, cond.left, scopes)
    right = "" if cond.right is None else _operand(ev, cond.right, scopes)
    if left is None or right is None:
        return n.source
    if cond.op is None:
        truth = truthy(left)
    else:
        truth = (left == right) == (cond.op == "==")
    if n.negate:
        truth = not truth
    return ev.nodes(n.then if truth else n.otherwise, scopes)


def each(ev: Evaluator, n: Each, scopes: tuple[Scope, ...]) -> str:
    """``#{each}``: the body once per member, with the item and ``Octopus.Template.Each.*`` bound."""
    items = ev.collection(n.collection, scopes)
    out: list[str] = []
    for i, item in enumerate(items):
        specials = {
            _FIRST: "True" if i == 0 else "False",
            _LAST: "True" if i == len(items) - 1 else "False",
            _INDEX: str(i),
        }
        out.append(ev.nodes(n.body, (*scopes, Scope(n.var.casefold(), item, specials))))
    return "".join(out)


def calc(ev: Evaluator, n: Calc, scopes: tuple[Scope, ...]) -> str:
    """``#{calc}``: the printed result, or the token as written when a name is undefined,
    a value is not a number or the arithmetic has no finite result."""

    def number(symbol: Symbol) -> float | None:
        steps = ev.steps(symbol, scopes)
        if steps is None:
            return None
        found = ev.resolve(steps, scopes)
        if found is None or found is js.ABSENT:
            ev.miss(steps)
            return None
        parsed = parse_number(str(found))
        if parsed is None:
            ev.problem(symbol.pos, f"calc: the value of {ev.shown(steps)} is not a number")
        return parsed

    result = evaluate_calc(n.expr, number)
    if result is None:
        return n.source
    if isinstance(result, str):  # a reason: division by zero
        ev.problem(n.pos, f"calc: {result}")
        return n.source
    return format_number(result)
