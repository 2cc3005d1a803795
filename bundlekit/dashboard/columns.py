"""The dashboard's column order: environments of several lifecycles merged into one promotion
order, compared without case and shown in their first spelling (decision 158)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["merge_orders", "Environments", "AWAITING"]

#: The column of a zone where the latest export to it awaits its receipt.
AWAITING = "(awaiting)"


def merge_orders(chains: Iterable[list[list[str]]]) -> list[str]:
    """One order of the environments of several lifecycles that keeps each lifecycle's order.

    ``chains``: per lifecycle, its phases in order, each a list of (casefolded) environment
    names. Every environment of a phase comes before every environment of the phases after it
    in the same lifecycle; a topological sort (Kahn's algorithm) merges these constraints, so
    ``[Development, Staging, Production]`` and ``[Staging, Production]`` give Development,
    Staging, Production whichever lifecycle comes first. Ties (and contradictions: A before B
    in one lifecycle, B before A in another) go to the environment that appeared first.
    """
    first: dict[str, int] = {}
    after: dict[str, set[str]] = {}
    for chain in chains:
        for i, phase in enumerate(chain):
            for env in phase:
                first.setdefault(env, len(first))
                after.setdefault(env, set())
                for later in chain[i + 1:]:
                    after[env].update(e for e in later if e != env)
    before = {env: 0 for env in first}
    for env, nexts in after.items():
        for n in nexts:
            before[n] += 1
    order: list[str] = []
    left = sorted(first, key=first.__getitem__)
    while left:
        ready = [e for e in left if before[e] == 0]
        pick = ready[0] if ready else left[0]  # a contradiction: first appearance wins
        left.remove(pick)
        order.append(pick)
        for n in after[pick]:
            before[n] -= 1
    return order


@dataclass
class Environments:
    """Case-insensitive environment names: their display spelling and promotion order."""

    order: list[str] = field(default_factory=list)  # casefolded, lifecycle order
    spelling: dict[str, str] = field(default_factory=dict)

    def learn(self, lifecycles: Iterable[dict[str, Any]], seen: Iterable[str]) -> None:
        """Merge the lifecycles' phase orders into one promotion order, then learn the spelling of
        environments seen only in deployments. Raises nothing (an order conflict is broken by
        first appearance)."""
        chains: list[list[list[str]]] = []
        for lc in lifecycles:
            chain = []
            for phase in lc.get("phases", []):
                chain.append([env.casefold() for env in phase["environments"]])
                for env in phase["environments"]:
                    self.spelling.setdefault(env.casefold(), env)
            chains.append(chain)
        self.order = merge_orders(chains)
        for env in seen:
            self.spelling.setdefault(env.casefold(), env)

    def show(self, env: str) -> str:
        """``env`` in its display spelling (the first seen)."""
        return self.spelling.get(env.casefold(), env)

    def rank(self, env: str) -> tuple[int, int, str]:
        """A sort key: lifecycle environments in promotion order, then the others by name, then
        the ``(awaiting)`` column."""
        if env == AWAITING:
            return (2, 0, "")
        folded = env.casefold()
        if folded in self.order:
            return (0, self.order.index(folded), "")
        return (1, 0, folded)
