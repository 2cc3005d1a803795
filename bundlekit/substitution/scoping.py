"""Choosing which value of a scoped variable applies to one deployment context. Pure.

A variable may have several values, each scoped by dimensions (step, machine, role,
tenant, environment, channel). A value matches a context when every dimension it is
scoped on matches (AND); within a dimension any listed value will do (OR); values are
compared case-insensitively; the role dimension matches when any of the machine's roles
is listed. Among matching values the most specific wins: more dimensions beat fewer,
then the dimension order of :data:`DIMENSIONS` decides (step first, channel last), and an
unscoped value is the fallback. Two different values that tie for the win are an error,
never a coin toss: :func:`ambiguities` finds them at export time, :func:`select` refuses
them at deploy time.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Iterable, Mapping, Sequence

from bundlekit.substitution.errors import AMBIGUOUS, INVALID_VARIABLE, SubstitutionError

__all__ = [
    "DIMENSIONS",
    "ScopedValue",
    "ScopeContext",
    "matches",
    "specificity",
    "select",
    "resolve",
    "ambiguities",
]

DIMENSIONS = ("step", "machine", "role", "tenant", "environment", "channel")  # most specific first

_EMPTY: Mapping[str, frozenset[str]] = MappingProxyType({})


def _fold(values: Iterable[str]) -> frozenset[str]:
    return frozenset(v.casefold() for v in values)


@dataclass(frozen=True)
class ScopedValue:
    """One value of a variable and the scope it applies to (empty scope = unscoped)."""

    name: str
    value: str | None
    sensitive: bool = False
    scope: Mapping[str, frozenset[str]] = field(default_factory=lambda: _EMPTY)
    source: str = "release"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise SubstitutionError("a scoped variable has an empty name", code=INVALID_VARIABLE)
        if self.value is not None and not isinstance(self.value, str):
            raise SubstitutionError(f"variable {self.name!r}: the value must be text", code=INVALID_VARIABLE)
        clean: dict[str, frozenset[str]] = {}
        for dim, values in dict(self.scope).items():
            if dim not in DIMENSIONS:
                raise SubstitutionError(
                    f"variable {self.name!r}: unknown scope dimension {dim!r} (expected one of {', '.join(DIMENSIONS)})",
                    code=INVALID_VARIABLE,
                )
            if isinstance(values, str) or not all(isinstance(v, str) and v for v in values):
                raise SubstitutionError(
                    f"variable {self.name!r}: scope {dim!r} must be a set of non-empty names", code=INVALID_VARIABLE
                )
            if not values:
                raise SubstitutionError(
                    f"variable {self.name!r}: scope {dim!r} lists no values (it would never match); "
                    "remove the dimension to leave it unscoped",
                    code=INVALID_VARIABLE,
                )
            clean[dim] = frozenset(values)
        object.__setattr__(self, "scope", MappingProxyType(clean))

    def __hash__(self) -> int:
        return hash((self.name.casefold(), self.value, self.sensitive, frozenset(self.scope.items()), self.source))


@dataclass(frozen=True)
class ScopeContext:
    """Where a value is being used: one deployment, step and machine."""

    environment: str | None = None
    roles: frozenset[str] = frozenset()
    machine: str | None = None
    step: str | None = None
    channel: str | None = None
    tenant: str | None = None


def matches(v: ScopedValue, ctx: ScopeContext) -> bool:
    """Same dimension = OR, different dimensions = AND; case-insensitive."""
    for dim, allowed in v.scope.items():
        folded = _fold(allowed)
        if dim == "role":
            if not folded & _fold(ctx.roles):
                return False
            continue
        current = getattr(ctx, dim)
        if current is None or current.casefold() not in folded:
            return False
    return True


def specificity(scope: Mapping[str, frozenset[str]]) -> tuple[int, ...]:
    """Sort key: number of dimensions first, then presence of each dimension in precedence order."""
    return (len(scope), *(1 if dim in scope else 0 for dim in DIMENSIONS))


def _same_payload(a: ScopedValue, b: ScopedValue) -> bool:
    return a.value == b.value and a.sensitive == b.sensitive


def select(candidates: Sequence[ScopedValue], ctx: ScopeContext) -> ScopedValue | None:
    """The most specific candidate matching ``ctx`` (values of one variable), or None.

    Raises SubstitutionError(code="ambiguous_variable") when two different values tie.
    """
    best: list[ScopedValue] = []
    best_key: tuple[int, ...] | None = None
    for candidate in candidates:
        if not matches(candidate, ctx):
            continue
        key = specificity(candidate.scope)
        if best_key is None or key > best_key:
            best, best_key = [candidate], key
        elif key == best_key:
            best.append(candidate)
    if not best:
        return None
    winner = best[0]
    for other in best[1:]:
        if not _same_payload(winner, other):
            dims = ", ".join(d for d in DIMENSIONS if d in winner.scope) or "unscoped"
            raise SubstitutionError(
                f"variable {winner.name!r} has two different values equally specific for this deployment "
                f"(scope: {dims}); narrow the scope of one of them",
                code=AMBIGUOUS,
                details={"name": winner.name, "sources": [winner.source, other.source]},
            )
    return winner


def resolve(variables: Iterable[ScopedValue], ctx: ScopeContext) -> dict[str, ScopedValue]:
    """Lowercased name -> winning value, for every variable with a value matching ``ctx``."""
    groups: dict[str, list[ScopedValue]] = defaultdict(list)
    for v in variables:
        groups[v.name.casefold()].append(v)
    out: dict[str, ScopedValue] = {}
    for name, candidates in groups.items():
        winner = select(candidates, ctx)
        if winner is not None:
            out[name] = winner
    return out


def _could_both_match(a: ScopedValue, b: ScopedValue) -> bool:
    if set(a.scope) != set(b.scope):
        return False  # different dimension sets never tie (see specificity)
    return all(_fold(a.scope[dim]) & _fold(b.scope[dim]) for dim in a.scope)


def ambiguities(variables: Iterable[ScopedValue]) -> list[tuple[ScopedValue, ScopedValue]]:
    """Pairs of same-name, different values that one context could match with equal specificity.

    Two values tie when they are scoped on the same set of dimensions and their value sets
    overlap in every one of them. Identical values (same text and sensitivity) are not a
    conflict. For the caller this is an export-time error.
    """
    groups: dict[str, list[ScopedValue]] = defaultdict(list)
    for v in variables:
        groups[v.name.casefold()].append(v)
    out: list[tuple[ScopedValue, ScopedValue]] = []
    for candidates in groups.values():
        for i, a in enumerate(candidates):
            for b in candidates[i + 1 :]:
                if not _same_payload(a, b) and _could_both_match(a, b):
                    out.append((a, b))
    return out
