"""Which variable names a template refers to, found without evaluating anything.

For export-time scans (which variables must travel with a release) and preflight
summaries. Names are returned as first written. A name with a computed index
(``Password[#{User}]``) is returned as its static prefix (``Password``) together with the
names inside the index; a returned name stands for itself and its members (``N[...]``,
``N.x``). Names local to an ``#{each}`` body (the item name and
``Octopus.Template.Each.*``) are not references. Parsing is recovering, like
allow-missing rendering: text that is not a token is skipped.
"""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

from bundlekit.substitution.parser import parse_template
from bundlekit.substitution.syntax import (
    Calc,
    CalcOp,
    CalcTerm,
    Each,
    Expr,
    Filter,
    Ident,
    If,
    Index,
    Nested,
    Node,
    Operand,
    Subst,
    Symbol,
)
from bundlekit.substitution.variables import path_display

__all__ = ["references", "computed_references", "filter_uses", "filter_calls"]

_EACH_SPECIAL = ("octopus", "template", "each")


def references(template: str) -> set[str]:
    """Names ``template`` refers to, deduplicated case-insensitively."""
    found: dict[str, str] = {}
    _walk(parse_template(template, recover=True), frozenset(), found)
    return set(found.values())


def computed_references(template: str) -> list[tuple[str, Symbol, str | None, bool]]:
    """Every name of ``template`` with a computed part (an index written with ``#{...}``), in
    order: ``(static prefix as references() returns it, the symbol, the whole token as written
    when the name is a token's own (``#{X[#{Y}]}``, else None: a condition, a collection),
    whether the computed part reads a name local to an ``#{each}``)``. The prefix is also among
    :func:`references`; whether it is written anywhere on its own is :func:`references` of the
    template with these names left out (``plain``)."""
    found: dict[str, str] = {}
    out: list[tuple[str, Symbol, str | None, bool]] = []
    _walk(parse_template(template, recover=True), frozenset(), found, out)
    return out


def plain_references(template: str) -> set[str]:
    """:func:`references` without the static prefixes of names with a computed part (the names
    inside their indexes stay)."""
    found: dict[str, str] = {}
    _walk(parse_template(template, recover=True), frozenset(), found, [], plain=True)
    return set(found.values())


def _add(found: dict[str, str], display: str) -> None:
    if display:
        found.setdefault(display.casefold(), display)


_Computed = List[Tuple[str, Symbol, Optional[str], bool]]


def _walk(nodes: Sequence[Node], local: frozenset[str], found: dict[str, str], computed: _Computed | None = None,
          plain: bool = False) -> None:
    for node in nodes:
        if isinstance(node, Subst):
            _expr(node.expr, local, found, computed, plain, node.source)
        elif isinstance(node, If):
            _operand(node.cond.left, local, found, computed, plain)
            if node.cond.right is not None:
                _operand(node.cond.right, local, found, computed, plain)
            _walk(node.then, local, found, computed, plain)
            _walk(node.otherwise, local, found, computed, plain)
        elif isinstance(node, Calc):
            _calc(node.expr, local, found, computed, plain)
        elif isinstance(node, Each):
            _symbol(node.collection, local, found, computed, plain)
            _walk(node.body, local | {node.var.casefold()}, found, computed, plain)


def _operand(side: Operand, local: frozenset[str], found: dict[str, str], computed: _Computed | None,
             plain: bool) -> None:
    if isinstance(side, Expr):
        _expr(side, local, found, computed, plain)


def _calc(term: CalcTerm, local: frozenset[str], found: dict[str, str], computed: _Computed | None,
          plain: bool) -> None:
    if isinstance(term, Symbol):
        _symbol(term, local, found, computed, plain)
    elif isinstance(term, CalcOp):
        _calc(term.left, local, found, computed, plain)
        _calc(term.right, local, found, computed, plain)


def _expr(expr: Expr, local: frozenset[str], found: dict[str, str], computed: _Computed | None = None,
          plain: bool = False, source: str | None = None) -> None:
    if expr.head is not None:
        _symbol(expr.head, local, found, computed, plain, source)
    for f in expr.filters:
        for option in f.options:
            if isinstance(option, Nested):
                _walk((option.node,), local, found, computed, plain)


def _symbol(symbol: Symbol, local: frozenset[str], found: dict[str, str], computed: _Computed | None = None,
            plain: bool = False, source: str | None = None) -> None:
    first = symbol.steps[0]
    assert isinstance(first, Ident)
    if local and first.text.casefold() in local:
        _inner(symbol, local, found, computed, plain)
        return
    words = [s.text.casefold() for s in symbol.steps[:3] if isinstance(s, Ident)]
    if local and tuple(words) == _EACH_SPECIAL:
        return
    static: list[tuple[str, str]] = []
    complete = True
    for step in symbol.steps:
        if isinstance(step, Ident):
            static.append(("i", step.text))
            continue
        key = step.literal
        if key is None:
            complete = False
            break
        static.append(("x", key))
    if complete or not plain:
        _add(found, path_display(tuple(static)))
    if not complete and computed is not None:
        inner: dict[str, str] = {}
        _inner(symbol, frozenset(), inner)
        computed.append((path_display(tuple(static)), symbol, source,
                         bool(local) and any(n.split(".")[0].split("[")[0].casefold() in local for n in inner)))
    _inner(symbol, local, found, computed, plain)


def _inner(symbol: Symbol, local: frozenset[str], found: dict[str, str], computed: _Computed | None = None,
           plain: bool = False) -> None:
    for step in symbol.steps:
        if isinstance(step, Index):
            for part in step.parts:
                if isinstance(part, Expr):
                    _expr(part, local, found, computed, plain)


def filter_uses(template: str) -> list[tuple[str, int]]:
    """``(name, offset)`` of every filter ``template`` applies, as written, wherever it stands:
    in a token, a condition, a filter's option or an index (recovering parse, like
    :func:`references`)."""
    return [(f.name, f.pos) for f in filter_calls(template)]


def filter_calls(template: str) -> list[Filter]:
    """Every filter call of ``template`` (name, options as parsed, offset), wherever it stands,
    as :func:`filter_uses` finds them."""
    found: list[Filter] = []
    _filters_in(parse_template(template, recover=True), found)
    return found


def _filters_in(nodes: Sequence[Node], found: list[Filter]) -> None:
    for node in nodes:
        if isinstance(node, Subst):
            _filters_of(node.expr, found)
        elif isinstance(node, If):
            for side in (node.cond.left, node.cond.right):
                if isinstance(side, Expr):
                    _filters_of(side, found)
            _filters_in(node.then, found)
            _filters_in(node.otherwise, found)
        elif isinstance(node, Each):
            _filters_in(node.body, found)


def _filters_of(expr: Expr, found: list[Filter]) -> None:
    for step in expr.head.steps if expr.head is not None else ():
        if isinstance(step, Index):
            for part in step.parts:
                if isinstance(part, Expr):
                    _filters_of(part, found)
    for f in expr.filters:
        found.append(f)
        for option in f.options:
            if isinstance(option, Nested):
                _filters_in((option.node,), found)
