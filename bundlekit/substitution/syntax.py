"""The parsed form of a template: immutable nodes produced by the parser.

A template is a tuple of nodes: literal :class:`Text`, a :class:`Subst` (``#{expr}``),
an :class:`If` block (``#{if}``/``#{unless}``) or an :class:`Each` block. An expression
is an optional :class:`Symbol` (a dotted/indexed variable path) followed by filters.
Positions are offsets into the parsed text, for error messages.
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
    "Cond",
    "If",
    "Each",
    "Node",
]


@dataclass(frozen=True, slots=True)
class Ident:
    """A dotted path segment, whitespace-trimmed, original case kept for display."""

    text: str


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class Symbol:
    steps: tuple[Step, ...]
    pos: int = 0


@dataclass(frozen=True, slots=True)
class Literal:
    text: str


@dataclass(frozen=True, slots=True)
class Nested:
    """A filter option written as a nested token (``#{...}``), evaluated to text."""

    node: "Node"


Option = Union[Literal, Nested]


@dataclass(frozen=True, slots=True)
class Filter:
    name: str
    options: tuple[Option, ...]
    pos: int


@dataclass(frozen=True, slots=True)
class Expr:
    head: Symbol | None
    filters: tuple[Filter, ...]


@dataclass(frozen=True, slots=True)
class Text:
    text: str


@dataclass(frozen=True, slots=True)
class Subst:
    expr: Expr
    source: str  # the token exactly as written: what is left in place when it cannot be evaluated
    pos: int


@dataclass(frozen=True, slots=True)
class Cond:
    left: Symbol
    op: str | None  # None (truthiness), "==" or "!="
    right: str | Symbol | None  # a literal string or another variable


@dataclass(frozen=True, slots=True)
class If:
    cond: Cond
    negate: bool  # True for #{unless}
    then: tuple["Node", ...]
    otherwise: tuple["Node", ...]
    pos: int


@dataclass(frozen=True, slots=True)
class Each:
    var: str
    collection: Symbol
    body: tuple["Node", ...]
    pos: int


Node = Union[Text, Subst, If, Each]
