"""Asking, before each step of a long task, whether the claims it took are still its own.

A claim (``Database.claim``) on PostgreSQL ends with its connection: a server restart, a
terminated backend or a network fault ends it while the process runs on, and from then on
other nodes go ahead as if the task were over. A deployment has a :class:`ClaimKeeper`
(``deploy/keeper.py``, decision 421) that watches from its own thread. A task made of many
short steps that cannot be taken back (prune's removals, decision 771) asks instead, from a
connection of its own, right before each step: :meth:`ClaimWatch.lost`. Where claims end
only with their process (SQLite, ``Database.watchable`` False) nothing is asked.
"""

from __future__ import annotations

from typing import Sequence

from bundlekit.errors import StateError
from bundlekit.zone.db import Database

__all__ = ["ClaimWatch"]


class ClaimWatch:
    """Whether ``db`` still holds the claims ``names``, asked from a second connection.

    :meth:`open` it before the claims are taken (a state that cannot give a second connection
    refuses then, ``state_unreachable``, before anything is done), :meth:`start` it once they
    are, :meth:`close` it at the end. Use as a context manager.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self._own: Database | None = None
        self._holder = ""
        self._names: tuple[str, ...] = ()

    def open(self) -> "ClaimWatch":
        """Open the watch's own connection (nothing where claims end only with their process)."""
        if self.db.watchable:
            self._own = self.db.sibling()
        return self

    def start(self, names: Sequence[str]) -> None:
        """Watch ``names``, held by ``db``'s connection now."""
        self._names = tuple(names)
        if self._own is not None:
            self._holder = self.db.holder()

    def lost(self) -> bool:
        """True when ``db``'s connection no longer holds every watched claim (or whether it does
        cannot be known: the state is unreachable from here). Never waits for a lock."""
        if self._own is None or not self._names:
            return False
        try:
            with self._own.read() as r:
                return not self._own.holding(r, self._holder, self._names)
        except StateError:
            return True

    def close(self) -> None:
        """Close the watch's own connection."""
        if self._own is not None:
            self._own.close()
            self._own = None

    def __enter__(self) -> "ClaimWatch":
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()
