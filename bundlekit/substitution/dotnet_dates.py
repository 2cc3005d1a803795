"""Format a datetime with a .NET date/time format string (invariant culture).

Octostache's ``NowDate`` / ``NowDateUtc`` filters take .NET format strings, so templates
written for Octopus say ``yyyy-MM-dd HH:mm:ss``, not ``%Y-%m-%d``. This module maps the
standard one-letter formats (``O``, ``s``, ``u``, ``d``, ``D``, ``t``, ``T``, ``f``, ``F``,
``g``, ``G``, ``M``, ``Y``, ``R``) and the custom specifiers (``yyyy MM dd HH hh mm ss
fff FFF tt zzz K ddd dddd MMM MMMM`` and friends, quoted literals, backslash escapes).
Pure: the time to format is passed in.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

__all__ = ["DateFormatError", "format_dotnet", "KINDS"]

_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

# Invariant-culture expansions of the one-letter standard formats.
_STANDARD = {
    "d": "MM/dd/yyyy",
    "D": "dddd, dd MMMM yyyy",
    "f": "dddd, dd MMMM yyyy HH:mm",
    "F": "dddd, dd MMMM yyyy HH:mm:ss",
    "g": "MM/dd/yyyy HH:mm",
    "G": "MM/dd/yyyy HH:mm:ss",
    "m": "MMMM dd",
    "M": "MMMM dd",
    "s": "yyyy'-'MM'-'dd'T'HH':'mm':'ss",
    "t": "HH:mm",
    "T": "HH:mm:ss",
    "y": "yyyy MMMM",
    "Y": "yyyy MMMM",
}
_SPECIFIERS = frozenset("dfFghHKmMstyz")


class DateFormatError(ValueError):
    """The format string is not a valid .NET date format."""


#: The kinds of a .NET date value: what the round-trip form and ``K`` print after the time.
KINDS = ("unspecified", "utc", "offset")


def format_dotnet(moment: datetime, fmt: str | None, *, utc: bool = False, kind: str | None = None) -> str:
    """Render ``moment`` like .NET's ``DateTime.ToString(fmt)`` / ``DateTimeOffset.ToString(fmt)``.

    ``utc`` selects the ``NowDateUtc`` flavour: ``moment`` is converted to UTC and the
    round-trip and ``K`` forms end in ``Z``. Otherwise ``moment`` is shown in its own offset
    with no offset suffix (.NET's Unspecified kind); ``zzz`` still prints its offset.
    ``kind="offset"`` formats a DateTimeOffset: the round-trip form and ``K`` end in the
    offset (``+02:00``). Raises :class:`DateFormatError` for a format .NET would refuse.
    """
    kind = kind or ("utc" if utc else "unspecified")
    utc = kind == "utc"
    if utc:
        moment = moment.astimezone(timezone.utc) if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    if fmt is None or fmt in ("O", "o"):
        base = _custom(moment, "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffff", kind)
        return base + _kind_suffix(moment, kind)
    if len(fmt) == 1:
        if fmt in ("R", "r"):
            return _custom(moment.astimezone(timezone.utc) if moment.tzinfo else moment,
                           "ddd, dd MMM yyyy HH':'mm':'ss 'GMT'", kind)
        if fmt == "u":
            shown = moment.astimezone(timezone.utc) if moment.tzinfo else moment
            return _custom(shown, "yyyy'-'MM'-'dd HH':'mm':'ss'Z'", kind)
        if fmt == "U":
            shown = moment.astimezone(timezone.utc) if moment.tzinfo else moment
            return _custom(shown, "dddd, dd MMMM yyyy HH:mm:ss", kind)
        if fmt in _STANDARD:
            return _custom(moment, _STANDARD[fmt], kind)
        raise DateFormatError(f"'{fmt}' is not a standard .NET date format")
    return _custom(moment, fmt, kind)


def _kind_suffix(moment: datetime, kind: str) -> str:
    # NowDate is a local time of .NET's "Unspecified" kind: round-trip form and K carry no
    # offset (as Octostache prints it); NowDateUtc is of "Utc" kind and ends in Z; a
    # DateTimeOffset ends in its offset.
    if kind == "offset":
        return _offset(moment, 3)
    return "Z" if kind == "utc" else ""


def _offset(moment: datetime, width: int) -> str:
    delta = moment.utcoffset() or timedelta(0)
    minutes = int(delta.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    if width == 1:
        return f"{sign}{hours}"
    if width == 2:
        return f"{sign}{hours:02d}"
    return f"{sign}{hours:02d}:{mins:02d}"


def _custom(moment: datetime, fmt: str, kind: str) -> str:
    out: list[str] = []
    i, n = 0, len(fmt)
    if n == 2 and fmt[0] == "%":  # "%d": a custom specifier standing alone
        fmt, n = fmt[1], 1
    while i < n:
        c = fmt[i]
        if c in ("'", '"'):
            end = fmt.find(c, i + 1)
            if end < 0:
                raise DateFormatError(f"unterminated quoted text in date format {fmt!r}")
            out.append(fmt[i + 1 : end])
            i = end + 1
            continue
        if c == "\\":
            if i + 1 >= n:
                raise DateFormatError(f"date format {fmt!r} ends with a lone backslash")
            out.append(fmt[i + 1])
            i += 2
            continue
        if c == "%":
            i += 1
            continue
        if c not in _SPECIFIERS:
            out.append(c)
            i += 1
            continue
        j = i
        while j < n and fmt[j] == c:
            j += 1
        out.append(_field(moment, c, j - i, out, kind))
        i = j
    return "".join(out)


def _field(m: datetime, c: str, count: int, out: list[str], kind: str) -> str:
    if c == "d":
        if count == 1:
            return str(m.day)
        if count == 2:
            return f"{m.day:02d}"
        return _DAYS[m.weekday()][:3] if count == 3 else _DAYS[m.weekday()]
    if c == "M":
        if count == 1:
            return str(m.month)
        if count == 2:
            return f"{m.month:02d}"
        return _MONTHS[m.month - 1][:3] if count == 3 else _MONTHS[m.month - 1]
    if c == "y":
        if count == 1:
            return str(m.year % 100)
        if count == 2:
            return f"{m.year % 100:02d}"
        return str(m.year).zfill(count)
    if c == "H":
        return str(m.hour) if count == 1 else f"{m.hour:02d}"
    if c == "h":
        hour = m.hour % 12 or 12
        return str(hour) if count == 1 else f"{hour:02d}"
    if c == "m":
        return str(m.minute) if count == 1 else f"{m.minute:02d}"
    if c == "s":
        return str(m.second) if count == 1 else f"{m.second:02d}"
    if c in ("f", "F"):
        if count > 7:
            raise DateFormatError("at most 7 fraction digits ('fffffff')")
        digits = f"{m.microsecond:06d}0"[:count]
        if c == "F":
            digits = digits.rstrip("0")
            if not digits and out and out[-1].endswith("."):
                out[-1] = out[-1][:-1]  # .NET drops the separator before an empty F field
        return digits
    if c == "t":
        ampm = "AM" if m.hour < 12 else "PM"
        return ampm[0] if count == 1 else ampm
    if c == "g":
        return "A.D."
    if c == "z":
        return _offset(m, min(count, 3))
    # "K": the kind of the value
    return _kind_suffix(m, kind)
