"""How long work says how far it is, without knowing who listens.

Workflows take ``progress``: a plain callable ``progress(n)`` told the bytes done since the
last call. A listener that shows one bar per item (a package, a volume, a file) also has a
``begin(label, total)`` method; :func:`begin` calls it when present, so a plain callable
(or ``None``) keeps working. Items that move at the same time (files through the diode)
are told apart by a key: :func:`item` and :func:`advance_item`. The terminal side lives in ``cli/progress.py`` (rich, only on a
terminal); nothing here prints. Python 3.8, like the rest of ``core``.
"""

from __future__ import annotations

from typing import Callable, Optional

__all__ = ["Advance", "begin", "item", "advance_item"]

#: Told the number of bytes done since the last call.
Advance = Callable[[int], None]


def begin(progress: Optional[Advance], label: str, total: Optional[int]) -> None:
    """Tell ``progress`` that a new item starts: ``label`` as the user knows it (``Acme.Web
    1.4.0``, a volume's file name) and its ``total`` bytes (None when unknown)."""
    hook = getattr(progress, "begin", None)
    if hook is not None:
        hook(label, total)


def item(progress: object, key: object, label: str, total: Optional[int]) -> None:
    """Start (or relabel) the item ``key`` when ``progress`` tracks items by key."""
    hook = getattr(progress, "item", None)
    if hook is not None:
        hook(key, label, total)


def advance_item(progress: object, key: object, n: int) -> None:
    """``n`` more bytes of item ``key`` are done."""
    hook = getattr(progress, "update", None)
    if hook is not None:
        hook(key, advance=n)
