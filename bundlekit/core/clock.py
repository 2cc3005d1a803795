"""The one type for "now", and the one place bundlekit reads the wall clock for it.

"Now" is :data:`EpochSeconds`: whole seconds since 1970-01-01T00:00:00Z, an ``int``
(``docs/decisions/122-now-is-whole-epoch-seconds.md``). The bundle format stores times that
way (``created``, ``expires``), and every decision that depends on the time (expiry, key
rotation, the age shown on a dashboard) is made against a reference time the caller passes
in, as python-tuf does: the command line reads :func:`now` once per command and hands it
down, so pure code never looks at the clock and tests can pass any time they like.

Times that are *measured* rather than decided on (when a step started and ended, how long a
transfer was idle) come from a :data:`Clock` the code that runs things is given (default
:func:`time.time` for timestamps, :func:`time.monotonic` for durations), so a test can drive
them too.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Callable

__all__ = ["EpochSeconds", "Clock", "now", "to_datetime", "utc_text"]

#: Whole seconds since the Unix epoch (UTC): the type of every reference time ("now").
EpochSeconds = int
#: A source of time in (fractional) seconds: ``time.time`` or ``time.monotonic``, or a fake.
Clock = Callable[[], float]


def now() -> EpochSeconds:
    """The current time as :data:`EpochSeconds`. Only the edges (the CLI, a server answering a
    request) call this; everything below takes ``now`` as an argument."""
    return int(time.time())


def utc_text(when: float) -> str:
    """``when`` (epoch seconds) as ``2026-11-26 14:03:07Z``, the form commands print times in."""
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(when))


def to_datetime(when: EpochSeconds) -> datetime:
    """``when`` as an aware UTC :class:`~datetime.datetime` (for Octopus's date filters)."""
    return datetime.fromtimestamp(when, timezone.utc)
