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
them too. A measured moment that is recorded is a :data:`Timestamp` (:func:`stamp`): Unix
seconds kept to the millisecond, the unit receipts carry (decision 430).
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Callable

__all__ = ["EpochSeconds", "Timestamp", "Clock", "now", "stamp", "to_datetime", "utc_text", "relative_age",
           "when_text", "recorded_age", "recorded_when_text", "AHEAD", "CLOCK_SKEW"]

#: Said after a recorded moment (a deployment's start) later than now: the clock that stamped it
#: ran ahead, so it is never trusted to order anything (decision 680).
AHEAD = "future: clock ahead?"

#: How far apart two zones' clocks may be, in seconds: a bundle created (spec/bundle-format.md
#: §6.2 step 19) or a relay hop relayed (spec/relay.md §4 step 8) up to this far after the
#: verifier's clock, or a hop this far before the bundle's creation or the hop before it, is
#: still believed (each time is stamped by another zone's clock).
CLOCK_SKEW = 86400

#: Whole seconds since the Unix epoch (UTC): the type of every reference time ("now").
EpochSeconds = int
#: A source of time in (fractional) seconds: ``time.time`` or ``time.monotonic``, or a fake.
Clock = Callable[[], float]
#: A measured moment as records keep it: Unix seconds (UTC) rounded to the millisecond.
Timestamp = float


def now() -> EpochSeconds:
    """The current time as :data:`EpochSeconds`. Only the edges (the CLI, a server answering a
    request) call this; everything below takes ``now`` as an argument."""
    return int(time.time())


def stamp(clock: Clock = time.time) -> Timestamp:
    """A reading of ``clock`` (Unix seconds) as a :data:`Timestamp`: rounded to the millisecond, so
    that a stored time and a receipt's ``*_ms`` name the same instant (decision 430)."""
    return round(clock(), 3)


def utc_text(when: float) -> str:
    """``when`` (epoch seconds) as ``2026-11-26 14:03:07Z``, the form commands print times in.

    A value no calendar can show (a hostile manifest's ``2**63``) reads ``second N (out of range)``.
    """
    try:
        return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(when))
    except (OverflowError, OSError, ValueError):
        return f"second {when} (out of range)"


def relative_age(then: float, now: EpochSeconds) -> str:
    """``"just now"``, ``"5m ago"``, ``"3h ago"``, ``"2d ago"``, ``"4mo ago"``, ``"3y ago"`` (from
    24 months); a time ahead of ``now`` (zones' clocks differ, or an expiry) reads ``"in 3h"``
    rather than a negative age."""
    delta = now - then
    if abs(delta) < 60:
        return "just now"
    span = _span(abs(delta))
    return f"{span} ago" if delta > 0 else f"in {span}"


def _span(seconds: float) -> str:
    # Rounded, and promoted to the next unit when rounding reaches it: 59.6 min reads "1h".
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{max(minutes, 1)}m"
    hours = round(seconds / 3600)
    if hours < 24:
        return f"{hours}h"
    days = round(seconds / 86400)
    if days < 60:
        return f"{days}d"
    months = round(seconds / (86400 * 30))
    if months < 24:
        return f"{months}mo"
    return f"{round(seconds / (86400 * 365.25))}y"  # an expiry a century away reads "in 97y", not "in 1167mo"


def when_text(when: float, now: EpochSeconds) -> str:
    """How people read a time in bundlekit's output: ``2026-11-26 14:03:07Z (3h ago)``.

    Every time a command prints for a person goes through this (never raw Unix seconds);
    ``--json`` keeps the numbers.
    """
    return f"{utc_text(when)} ({relative_age(when, now)})"


def recorded_age(then: float, now: EpochSeconds) -> str:
    """:func:`relative_age` of a moment something happened (a deployment's start, an export): one
    a minute or more ahead of ``now`` cannot have happened yet, so it reads ``"in 1d, future:
    clock ahead?"`` (the zone's clock was wrong when it was stamped, decision 680)."""
    age = relative_age(then, now)
    return f"{age}, {AHEAD}" if then - now >= 60 else age


def recorded_when_text(when: float, now: EpochSeconds) -> str:
    """:func:`when_text` of a moment something happened, flagging one in the future like
    :func:`recorded_age`: ``2026-12-02 10:00:00Z (in 1d, future: clock ahead?)``."""
    return f"{utc_text(when)} ({recorded_age(when, now)})"


def to_datetime(when: EpochSeconds) -> datetime:
    """``when`` as an aware UTC :class:`~datetime.datetime` (for Octopus's date filters)."""
    return datetime.fromtimestamp(when, timezone.utc)
