"""Ctrl-C and SIGTERM during a command that can stop gracefully (``deploy``).

The first SIGINT or SIGTERM sets an event the deployment watches: the running scripts are told
to stop, runs not started are recorded ``Canceled``, and the deployment is recorded and queued
for its receipt before the command exits (decision 402). The handlers put back what was there
before as soon as they fire, so a second signal stops the process at once (a deployment whose
process is gone is settled by the next command that opens the zone). A signal that arrived
before, from the command's first line on (held by ``bundlekit.core.signals``), counts as the
first one as soon as the handlers are in place (finding 19.2).
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from bundlekit.core.signals import take_held

__all__ = ["Cancel", "cancel_on_signals"]

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Cancel(threading.Event):
    """An event set by the first SIGINT or SIGTERM; :attr:`signal_name` says which (``SIGINT``)."""

    signal_name: str | None = None


@contextmanager
def cancel_on_signals(notice: str | None = None) -> Iterator[Cancel]:
    """While inside, SIGINT and SIGTERM set the yielded :class:`Cancel` instead of ending the
    process; ``notice`` (one line) is written to stderr when one arrives (or at once, for one
    held since the command started: the event is then set on entry). Outside the main
    thread (signals cannot be caught there) the event is only ever set by the caller."""
    cancel = Cancel()
    if threading.current_thread() is not threading.main_thread():
        yield cancel
        return
    before: dict[int, Any] = {}

    def restore() -> None:
        for number, handler in before.items():
            signal.signal(number, handler)
        before.clear()

    def caught(number: int, frame: FrameType | None) -> None:
        cancel.signal_name = signal.Signals(number).name
        cancel.set()
        restore()  # a second signal acts as if bundlekit had not asked
        if notice:
            try:
                os.write(2, f"{cancel.signal_name}: {notice}\n".encode())
            except OSError:
                pass

    # A signal held since the command started (bundlekit.core.signals.hold) counts as the first one.
    early, before_hold = take_held()
    for number in _SIGNALS:
        current = signal.signal(number, caught)
        before[number] = before_hold.get(number, current)
    if early is not None:
        cancel.signal_name = early
        cancel.set()
        restore()  # as for a signal caught here: a second one acts at once
        if notice:
            try:
                os.write(2, f"{early}: {notice}\n".encode())
            except OSError:
                pass
    try:
        yield cancel
    finally:
        restore()
