"""Keeping a running deployment's claims while it runs, and stopping it when they are gone for good.

A deployment holds two claims while it runs (``Database.claim``): its slot (one deployment of
a project to an environment at a time) and its own (``deployments.claim_name``: alive, not
to be closed ``Interrupted``). On PostgreSQL both are session advisory locks, which end with
the connection: a server restart, a terminated backend or a network fault ends them while
the process runs on, and from then on every other node sees a deployment whose process is
gone. Nothing told the process.

:class:`ClaimKeeper` watches them from a connection of its own, every :data:`PERIOD`
seconds (decision 421). When the claims are no longer held by their holder, it retakes them
at once, in one write transaction that checks that nothing happened meanwhile: the
deployment is still ``Executing`` (no command closed it ``Interrupted``) and both claims are
free (no other deployment started in its slot). Then the keeper's connection holds them and
the deployment goes on; the record notes the loss. Otherwise (another command acted, or the
state cannot be reached, so nobody can know) it sets the deployment's cancel event: the
running scripts are stopped and no further step starts, exactly as for a signal, and the
record says why. SQLite claims end only with their process (``Database.watchable``): no
keeper runs there.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from bundlekit.core import clock
from bundlekit.errors import StateError
from bundlekit.zone import deployments
from bundlekit.zone.db import Database
from bundlekit.zone.home import Zone

__all__ = ["ClaimKeeper", "Loss", "PERIOD"]

#: Seconds between two checks of a running deployment's claims (the longest a deployment runs on
#: after its claims ended before it notices).
PERIOD = 1.0


@dataclass(frozen=True, slots=True)
class Loss:
    """One time the claims were found gone: when (``at``, Unix seconds), and what followed:
    ``retaken`` (the deployment went on) or not, with ``why`` the keeper stopped it."""

    at: int
    retaken: bool
    why: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"at": self.at, "then": "retaken" if self.retaken else "stopped",
                **({"why": self.why} if self.why else {})}


class _NotRetaken(Exception):
    """The claims cannot be taken back; the message says why."""


class ClaimKeeper:
    """Watches the claims ``names`` that ``zone.db`` took for ``deployment_id``; sets ``cancel``
    when they are lost and cannot be retaken. Use as a context manager around the run.

    Open it before the claims are taken (:meth:`open`: a state that cannot give a second
    connection refuses then, before anything is recorded: ``state_unreachable``), start it
    once they are (:meth:`start`), and close it only after the outcome is recorded: claims it
    retook are held by its connection until then.
    """

    def __init__(self, zone: Zone, cancel: threading.Event, period: float = PERIOD) -> None:
        self.zone = zone
        self.cancel = cancel
        self.period = period
        self.losses: list[Loss] = []
        self._db: Database | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._holder = ""
        self._names: tuple[str, ...] = ()
        self._deployment_id = ""
        self._slot = ""

    def open(self) -> "ClaimKeeper":
        """Open the keeper's own connection (nothing to open where claims end only with their process)."""
        if self.zone.db.watchable:
            self._db = self.zone.db.sibling()
        return self

    def start(self, deployment_id: str, slot: str) -> None:
        """Watch the claims of ``deployment_id`` and its ``slot``, held by ``zone.db`` now."""
        if self._db is None:
            return
        self._deployment_id, self._slot = deployment_id, slot
        self._names = (deployments.claim_name(deployment_id), slot)
        self._holder = self.zone.db.holder()
        self._thread = threading.Thread(target=self._watch, name=f"claims of {deployment_id}", daemon=True)
        self._thread.start()

    @property
    def retaken(self) -> bool:
        """True when the keeper's connection holds the claims now (the zone's connection lost them)."""
        return any(loss.retaken for loss in self.losses) and not self.stopped

    @property
    def stopped(self) -> Loss | None:
        """The loss that stopped the deployment, if one did."""
        return next((loss for loss in self.losses if not loss.retaken), None)

    def halt(self) -> list[Loss]:
        """Stop watching (the run ended; what the keeper holds it keeps until :meth:`close`); the losses."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        return list(self.losses)

    def close(self) -> None:
        """Stop watching and give back whatever the keeper holds (after the outcome is recorded)."""
        self.halt()
        if self._db is not None:
            self._db.close()  # its claims end with its connection
            self._db = None

    def __enter__(self) -> "ClaimKeeper":
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ the watch
    def _watch(self) -> None:
        while not self._stop.wait(self.period):
            if self._held():
                continue
            at = int(clock.now())
            try:
                self._retake()
            except (_NotRetaken, StateError) as why:
                reason = why.message if isinstance(why, StateError) else str(why)
                self.losses.append(Loss(at, False, reason))
                self.cancel.set()  # stop the running scripts; no further step starts
                return
            self.losses.append(Loss(at, True))

    def _held(self) -> bool:
        assert self._db is not None
        try:
            with self._db.read() as r:  # a connection found lost is replaced: this one holds no claim
                return self._db.holding(r, self._holder, self._names)
        except StateError:
            return False  # the state cannot be reached: whether the claims stand cannot be known

    def _retake(self) -> None:
        """Take both claims on the keeper's connection if nothing happened while they were free."""
        db = self._db
        assert db is not None
        with db.transaction() as tx:  # raising inside rolls back, giving back a claim already taken
            row = deployments.get_deployment(tx, self._deployment_id)
            if row is None or row["state"] != "Executing":
                state = "gone" if row is None else row["state"]
                raise _NotRetaken(f"another command closed {self._deployment_id} {state} while its claim was free")
            if not db.claim(tx, deployments.claim_name(self._deployment_id)):
                raise _NotRetaken(f"another process holds the claim of {self._deployment_id}")
            if not db.claim(tx, self._slot):
                other = deployments.running(tx, row["project_slug"], row["environment"], row["tenant"])
                raise _NotRetaken(f"another deployment ({other or 'unknown'}) took the slot of "
                                  f"{row['project_slug']} to {row['environment']} while it was free")
        self._holder = db.holder()
