"""Ctrl-C and SIGTERM during a command that can stop gracefully (``deploy``).

The first SIGINT or SIGTERM sets an event the deployment watches: the running scripts are told
to stop, runs not started are recorded ``Canceled``, and the deployment is recorded and queued
for its receipt before the command exits (decision 402). The handlers put back what was there
before as soon as they fire, so a second signal stops the process at once (a deployment whose
process is gone is settled by the next command that opens the zone).
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

__all__ = ["Cancel", "cancel_on_signals"]

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Cancel(threading.Event):
    """An event set by the first SIGINT or SIGTERM; :attr:`signal_name` says which (``SIGINT``)."""

    signal_name: str | None = None


@contextmanager
def cancel_on_signals(notice: str | None = None) -> Iterator[Cancel]:
    """While inside, SIGINT and SIGTERM set the yielded :class:`Cancel` instead of ending the
    process; ``notice`` (one line) is written to stderr when one arrives. Outside the main
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

    for number in _SIGNALS:
        before[number] = signal.signal(number, caught)
    try:
        yield cancel
    finally:
        restore()
