"""Date and number filters: ``Format``, ``AddHours`` and ``AddDays``.

``#{Date | Format "yyyy-MM-dd"}``, ``#{Price | Format F2}``, ``#{Date | Format DateTime
"HH:mm"}``, ``#{ | NowDate | AddHours 2}``. Texts are read as .NET reads them in the
invariant culture: ISO 8601 forms (``2030-05-22``, ``2030/05/22 09:05:00``,
``2030-05-22T09:05:00.1234567+02:00``, ``...Z``) and the invariant ``MM/dd/yyyy HH:mm:ss``.
A time without an offset is local time, and "local" is the offset of the reference time
the renderer was given (bundlekit never reads the machine's clock or time zone).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from bundlekit.substitution.dotnet_dates import DateFormatError, format_dotnet
from bundlekit.substitution.dotnet_numbers import (
    NumberFormatError,
    format_number,
    parse_decimal,
    parse_double,
    parse_integer,
)
from bundlekit.substitution.errors import FilterFailure

__all__ = ["parse_date", "format_value", "add_hours", "add_days"]

_ISO = re.compile(
    r"^\s*(\d{4})([-/.])(\d{1,2})\2(\d{1,2})"
    r"(?:[T ]\s*(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?\s*$"
)
_US = re.compile(
    r"^\s*(\d{1,2})/(\d{1,2})/(\d{4})(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp][Mm])?)?\s*$"
)


def _local(now: datetime | None) -> timezone:
    offset = now.utcoffset() if now is not None and now.tzinfo is not None else None
    return timezone(offset or timedelta(0))


def parse_date(text: str) -> tuple[datetime, str] | None:
    """``(value, kind)`` for a date text, or None. ``kind`` is ``unspecified`` (no offset
    written; ``value`` is naive), ``utc`` (``Z``) or ``offset`` (``+02:00`` written)."""
    m = _ISO.match(text)
    if m:
        year, month, day = int(m.group(1)), int(m.group(3)), int(m.group(4))
        hour, minute, second = int(m.group(5) or 0), int(m.group(6) or 0), int(m.group(7) or 0)
        micro = int((m.group(8) or "0").ljust(7, "0")[:6])
        zone = m.group(9)
    else:
        m = _US.match(text)
        if not m:
            return None
        month, day, year = int(m.group(1)), int(m.group(2)), int(m.group(3))
        hour, minute, second, micro, zone = int(m.group(4) or 0), int(m.group(5) or 0), int(m.group(6) or 0), 0, None
        if m.group(7):
            if not 1 <= hour <= 12:
                return None
            hour = hour % 12 + (12 if m.group(7).lower() == "pm" else 0)
    try:
        value = datetime(year, month, day, hour, minute, second, micro)
    except ValueError:
        return None
    if zone is None:
        return value, "unspecified"
    if zone == "Z":
        return value.replace(tzinfo=timezone.utc), "utc"
    digits = zone[1:].replace(":", "")
    delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
    return value.replace(tzinfo=timezone(-delta if zone[0] == "-" else delta)), "offset"


def _as_offset(text: str, now: datetime | None) -> datetime | None:
    """``DateTimeOffset.TryParse``: a time without an offset is local time."""
    parsed = parse_date(text)
    if parsed is None:
        return None
    value, kind = parsed
    return value.replace(tzinfo=_local(now)) if kind == "unspecified" else value


def _format_date(value: datetime, kind: str, fmt: str) -> str:
    try:
        return format_dotnet(value, fmt, kind=kind)
    except DateFormatError as error:
        raise FilterFailure(str(error)) from None


def _format_number(value: Decimal, fmt: str, **kind: bool) -> str:
    try:
        return format_number(value, fmt, **kind)
    except NumberFormatError as error:
        raise FilterFailure(str(error)) from None


def format_value(v: str | None, o: list[str], now: datetime | None) -> str:
    """``Format [TYPE] FORMAT``: TYPE is Int32/Int, Double, Decimal, Date/DateTime or
    DateTimeOffset; without it the value is read as a decimal, else as a date."""
    if v is None:
        raise FilterFailure("needs a value to work on, as in #{Price | Format F2}")
    if len(o) == 1:
        number = parse_decimal(v)
        if number is not None:
            return _format_number(number, o[0])
        moment = _as_offset(v, now)
        if moment is not None:
            return _format_date(moment, "offset", o[0])
        raise FilterFailure("the value is neither a number nor a date")
    if len(o) != 2:
        raise FilterFailure(f"takes a format, or a type and a format; got {len(o)} option(s)")
    kind, fmt = o[0].lower(), o[1]
    if kind in ("int32", "int"):
        integer = parse_integer(v)
        if integer is not None:
            return _format_number(Decimal(integer), fmt, integral=True)
    elif kind == "double":
        double = parse_double(v)
        if double is not None:
            return _format_number(double, fmt, is_double=True)
    elif kind == "decimal":
        number = parse_decimal(v)
        if number is not None:
            return _format_number(number, fmt)
    elif kind in ("date", "datetime"):
        parsed = parse_date(v)
        if parsed is not None:
            value, written = parsed
            if written == "unspecified":
                return _format_date(value.replace(tzinfo=_local(now)), "unspecified", fmt)
            return _format_date(value.astimezone(_local(now)), "offset", fmt)  # .NET converts to local
    elif kind == "datetimeoffset":
        moment = _as_offset(v, now)
        if moment is not None:
            return _format_date(moment, "offset", fmt)
    else:
        raise FilterFailure(f"unknown type {o[0]!r} (Int32, Double, Decimal, DateTime or DateTimeOffset)")
    raise FilterFailure(f"the value is not a {o[0]}")


def _shift(v: str | None, o: list[str], unit: timedelta, name: str) -> str:
    if v is None:
        raise FilterFailure(f"needs a date to work on, as in #{{Date | {name} 2}}")
    if len(o) != 1:
        raise FilterFailure(f"takes one amount, got {len(o)} option(s)")
    amount = parse_double(o[0])
    if amount is None or "," in o[0]:
        raise FilterFailure(f"amount {o[0]!r} is not a number")
    parsed = parse_date(v)
    if parsed is None:
        raise FilterFailure("the value is not a date")
    value, kind = parsed
    try:
        shifted = value + unit * float(amount)
    except OverflowError:
        raise FilterFailure("the result is out of range") from None
    if kind == "unspecified":
        return format_dotnet(shifted.replace(tzinfo=timezone.utc), "O", kind="unspecified")
    return format_dotnet(shifted, "O", kind=kind)


def add_hours(v: str | None, o: list[str], _now: datetime | None) -> str:
    """``#{Date | AddHours N}``: the date N hours later (N may be negative or fractional), round-trip form."""
    return _shift(v, o, timedelta(hours=1), "AddHours")


def add_days(v: str | None, o: list[str], _now: datetime | None) -> str:
    """``#{Date | AddDays N}``: the date N days later, in the round-trip form."""
    return _shift(v, o, timedelta(days=1), "AddDays")
