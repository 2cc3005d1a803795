"""The parsed form of a template: immutable nodes produced by the parser.

A template is a tuple of nodes: literal :class:`Text`, a :class:`Subst` (``#{expr}``),
an :class:`If` block (``#{if}``/``#{unless}``, with ``#{elseif}`` folded into nested ifs),
an :class:`Each` block or a :class:`Calc` (``#{calc 2*A+1}``). An expression is an
optional :class:`Symbol` (a dotted/indexed variable path) followed by filters. Positions
are offsets into the parsed text, for error messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

__all__ = [
    "Ident",
    "Index",
    "Step",
    "Symbol",
    "Literal",
    "Nested",
    "Option",
    "Filter",
    "Expr",
    "Text",
    "Subst",
    "Operand",
    "Cond",
    "If",
    "Each",
    "Num",
    "CalcOp",
    "CalcTerm",
    "Calc",
    "Node",
]


@dataclass(frozen=True)
class Ident:
    """A dotted path segment, whitespace-trimmed, original case kept for display."""

    text: str


@dataclass(frozen=True)
class Index:
    """A ``[...]`` segment: literal text and nested ``#{...}`` expressions, concatenated."""

    parts: tuple[Union[str, "Expr"], ...]

    @property
    def literal(self) -> str | None:
        """The key when the index has no nested expression, else None."""
        if all(isinstance(p, str) for p in self.parts):
            return "".join(p for p in self.parts if isinstance(p, str)).strip()
        return None


Step = Union[Ident, Index]


@dataclass(frozen=True)
class Symbol:
    steps: tuple[Step, ...]
    pos: int = 0


@dataclass(frozen=True)
class Literal:
    text: str


@dataclass(frozen=True)
class Nested:
    """A filter option written as a nested token (``#{...}``), evaluated to text."""

    node: "Node"


Option = Union[Literal, Nested]


@dataclass(frozen=True)
class Filter:
    name: str
    options: tuple[Option, ...]
    pos: int


@dataclass(frozen=True)
class Expr:
    head: Symbol | None
    filters: tuple[Filter, ...]


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Subst:
    expr: Expr
    source: str  # the token exactly as written: what is left in place when it cannot be evaluated
    pos: int


#: One side of a condition: a quoted literal (``str``) or an expression (a name, maybe filtered).
Operand = Union[str, Expr]


@dataclass(frozen=True)
class Cond:
    left: Operand
    op: str | None  # None (truthiness), "==" or "!="
    right: Operand | None


@dataclass(frozen=True)
class If:
    cond: Cond
    negate: bool  # True for #{unless}
    then: tuple["Node", ...]
    otherwise: tuple["Node", ...]
    pos: int
    source: str = ""  # the whole block as written: what is left in place when a condition fails


@dataclass(frozen=True)
class Each:
    var: str
    collection: Symbol
    body: tuple["Node", ...]
    pos: int


@dataclass(frozen=True)
class Num:
    """A number written in a ``#{calc}`` expression."""

    value: float


@dataclass(frozen=True)
class CalcOp:
    """``left op right`` in a ``#{calc}`` expression; ``op`` is one of ``+ - * /``."""

    left: "CalcTerm"
    op: str
    right: "CalcTerm"


CalcTerm = Union[Num, Symbol, CalcOp]


@dataclass(frozen=True)
class Calc:
    """``#{calc EXPR}``: arithmetic over numbers and variables whose values are numbers."""

    expr: CalcTerm
    source: str
    pos: int


Node = Union[Text, Subst, If, Each, Calc]
