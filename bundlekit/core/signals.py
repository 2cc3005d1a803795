"""Holding SIGINT and SIGTERM from the first line of a command until it can act on them.

A command that stops gracefully on a signal (``bundlekit deploy``: decision 402) installs its
own handlers only once its modules are imported and its zone is open, which takes seconds on a
loaded machine. A signal in that window used to end the process by the default action, with
no word (finding 19.2). :func:`hold` is called first thing by the entry point: until the command
takes over (:func:`take_held`), a SIGINT or SIGTERM is only remembered, and the command then
acts on it (a deployment stops before anything runs, with its documented code).

Standard library only, and imports nothing of bundlekit: the entry point calls it before any
other module is loaded.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any, Dict, List, Optional

__all__ = ["hold", "take_held", "HELD_SIGNALS"]

#: The signals a command may hold: Ctrl-C and the polite stop of init systems and CI runners.
HELD_SIGNALS = (signal.SIGINT, signal.SIGTERM)

_before: Dict[int, Any] = {}  # the handlers in place when hold() was called, by signal number
_held: List[int] = []  # the signals received while held, in order


def _remember(number: int, frame: Optional[FrameType]) -> None:
    _held.append(number)


def hold() -> None:
    """From now on, SIGINT and SIGTERM are remembered instead of acted on, until
    :func:`take_held` (idempotent; does nothing outside the main thread, where Python cannot
    handle signals)."""
    if _before or threading.current_thread() is not threading.main_thread():
        return
    for number in HELD_SIGNALS:
        _before[number] = signal.signal(number, _remember)


def take_held() -> tuple[Optional[str], Dict[int, Any]]:
    """End the hold: put back the handlers that were there before :func:`hold` and return the
    name of the first signal received meanwhile (``"SIGTERM"``, or None), with those handlers by
    signal number (what a second signal should do). Without a hold: (None, the current handlers)."""
    if not _before:
        return None, {n: signal.getsignal(n) for n in HELD_SIGNALS}
    before = dict(_before)
    for number, handler in before.items():
        signal.signal(number, handler)
    _before.clear()
    first = signal.Signals(_held[0]).name if _held else None
    _held.clear()
    return first, before
