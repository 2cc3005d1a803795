"""The diode receiver's loop: frames from a channel into a :class:`~bundlekit.transport.diode_receive.Receiver`
until every announced file is finished, or until nothing useful arrives for the idle timeout."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

from bundlekit.transport.channel import FrameSource, SpoolChannel
from bundlekit.transport.diode_receive import (
    DEFAULT_MEMORY_BUDGET, DEFAULT_STATE_BUDGET, SURPLUS_FRAMES, ReceiveReport, Receiver,
)
from bundlekit.transport.spool_keep import SpoolKeeper

__all__ = ["receive", "DEFAULT_IDLE_TIMEOUT", "JUNK_GRACE"]

DEFAULT_IDLE_TIMEOUT = 30.0
#: Frames that are none of the followed session's end the wait once they have kept coming, with no
#: valid frame between them, for the idle timeout and at least this long: ``--idle-timeout 0``
#: ("stop when nothing valid is waiting") still reads past a stray corrupt frame, and a flood of
#: junk still ends the wait.
JUNK_GRACE = 0.2


def receive(source: FrameSource, out_dir: Path, *, idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
            memory_budget: int = DEFAULT_MEMORY_BUDGET, state_budget: int = DEFAULT_STATE_BUDGET,
            clock: Callable[[], float] = time.monotonic, once: bool = False,
            progress: object = None) -> ReceiveReport:
    """Receive until every announced file is finished, or ``idle_timeout`` seconds pass without a
    valid frame of the followed session (nothing or not everything arrived).

    Once a sender's files are all finished the receiver returns at once when ``once``; else it
    goes on while frames are waiting, so another sender's files already there are taken too (a
    spool folder with two deliveries is drained in one run), and returns when nothing is
    waiting or only leftovers of finished files (``SURPLUS_FRAMES`` of them) keep coming.
    Decision 192. ``memory_budget`` and ``state_budget`` bound the receiver's memory whatever
    the frames claim (spec/transport.md §3.8 rule 8). ``progress`` gets one item per file
    (``core.progress.item``). From a :class:`SpoolChannel`, a spool file is removed only once
    every frame it carried is spent (:class:`~bundlekit.transport.spool_keep.SpoolKeeper`,
    decision 920); the report's ``spool_kept`` names those left for the next run.
    """
    rx = Receiver(out_dir, memory_budget=memory_budget, state_budget=state_budget, clock=clock, progress=progress)
    keeper = SpoolKeeper(source, rx) if isinstance(source, SpoolChannel) else None
    poll = min(0.2, idle_timeout) if idle_timeout > 0 else 0.0
    last = clock()
    feed_many = rx.feed_many
    batch_of = getattr(source, "recv_batch", None)
    if batch_of is None:
        def batch_of(timeout: float) -> list[bytes]:
            frame = source.recv(timeout)
            return [frame] if frame is not None else []
    surplus = 0  # frames read since everything announced was finished
    junk_since: float | None = None  # when the current run of frames that are none of ours began
    try:
        while True:
            batch = batch_of(poll)
            if batch:
                fresh = feed_many(batch)
                if keeper is not None:
                    keeper.took(batch)
                    keeper.settle()
                if fresh:
                    last = clock()
                if rx.finished():
                    if once:
                        break
                    surplus += len(batch)
                    if surplus > SURPLUS_FRAMES:
                        break  # only leftovers of finished files keep coming (a sender's repeat pass)
                    continue
                surplus = 0
                if fresh:
                    junk_since = None
                    continue
                # Frames keep coming, but none of the followed session's (junk, another sender):
                # once they have come for the idle timeout without a valid one between them, they
                # no longer hold the receiver.
                now = clock()
                if junk_since is None:
                    junk_since = now
                if now - junk_since < max(idle_timeout, JUNK_GRACE):
                    continue
            elif rx.finished():
                if not once and keeper is not None and keeper.reoffer():
                    continue  # spool files kept with another sender's frames: take that sender up now
                break  # everything announced is finished and nothing more is waiting
            now = clock()
            if now - last >= idle_timeout:
                if ((rx.other_last is not None and now - rx.other_last < max(idle_timeout, poll))
                        or (keeper is not None and keeper.reoffer())):
                    rx.abandon_session()  # another sender is talking (or waiting in the spool): follow it
                    last = now
                    continue
                break
    finally:
        report = rx.finish()
        if keeper is not None:
            keeper.settle()
            report = dataclasses.replace(report, spool_kept=tuple(keeper.kept))
    return report
