"""Edit distance between names, for "did you mean" suggestions.

:func:`nearest` picks the known names fewest edits away from a name (insert, delete, replace,
or swap two neighbours; case-insensitive), and only when they are near enough to be a
misspelling: at most a third of the name's length (at least one edit). Pure and small: the
step runner ships it (Python 3.8), for the substitution engine's unknown-filter message.
"""

from __future__ import annotations

from typing import Iterable, List

__all__ = ["edit_distance", "nearest"]


def edit_distance(a: str, b: str) -> int:
    """The fewest inserts, deletes, replacements and swaps of two neighbours turning ``a`` into ``b``."""
    before: List[int] = []
    row = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        above, row = row, [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            row[j] = min(above[j] + 1, row[j - 1] + 1, above[j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], before[j - 2] + 1)
        before = above
    return row[-1]


def nearest(name: str, known: Iterable[str], *, n: int = 3) -> List[str]:
    """Up to ``n`` names of ``known`` (in their own spelling) at the smallest case-insensitive
    edit distance from ``name``, when that is at most ``max(1, len(name) // 3)``; else ``[]``.
    ``name`` itself (in any case) is not suggested."""
    folded = name.casefold()
    spelled: dict = {}
    for k in known:
        spelled.setdefault(k.casefold(), k)
    spelled.pop(folded, None)
    if not spelled:
        return []
    scored = sorted((edit_distance(folded, k), k) for k in spelled)
    best = scored[0][0]
    if best > max(1, len(folded) // 3):
        return []
    return [spelled[k] for distance, k in scored if distance == best][:n]
