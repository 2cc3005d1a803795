"""Parse and format numbers as .NET does in the invariant culture (for the ``Format`` filter).

``#{Price | Format F2}`` / ``#{Count | Format N0}`` / ``#{Ratio | Format "0.0%"}``: the standard
numeric formats ``C D E F G N P R X`` (with an optional precision) and custom formats made of
``0``, ``#``, ``.``, ``,``, ``%``, quoted literals, ``\\`` escapes and ``;`` sections. Rounding
is half away from zero, as .NET formats decimals. The invariant culture's currency sign is
``¤``. Values are :class:`decimal.Decimal` so nothing is lost between parse and format.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

__all__ = ["NumberFormatError", "parse_decimal", "parse_integer", "parse_double", "format_number"]

_DECIMAL = re.compile(r"^\s*([+-]?)\s*((?:\d{1,3}(?:,\d{3})+)|\d*)(?:\.(\d*))?\s*$")
_INTEGER = re.compile(r"^\s*[+-]?\d+\s*$")
_DOUBLE = re.compile(r"^\s*[+-]?((?:\d{1,3}(?:,\d{3})+)|\d*)(\.\d*)?([eE][+-]?\d+)?\s*$")
_STANDARD = re.compile(r"^([CcDdEeFfGgNnPpRrXx])(\d{0,2})$")


class NumberFormatError(ValueError):
    """The format string cannot be applied to this number (.NET's FormatException)."""


def parse_decimal(text: str) -> Decimal | None:
    """``decimal.TryParse`` (invariant): sign, digits with ``,`` groups, a ``.`` fraction."""
    m = _DECIMAL.match(text)
    if m is None or not (m.group(2) or m.group(3)):
        return None
    whole = m.group(2).replace(",", "") or "0"
    return Decimal(f"{m.group(1)}{whole}.{m.group(3)}" if m.group(3) else f"{m.group(1)}{whole}")


def parse_integer(text: str) -> int | None:
    """``int.TryParse`` (invariant): an optional sign and digits, 32-bit."""
    if not _INTEGER.match(text):
        return None
    number = int(text)
    return number if -(2**31) <= number < 2**31 else None


def parse_double(text: str) -> Decimal | None:
    """``double.TryParse`` (invariant, float style): also accepts an exponent."""
    m = _DOUBLE.match(text)
    if m is None or not (m.group(1) or (m.group(2) or "").strip(".")):
        return None
    try:
        return Decimal(repr(float(text.strip().replace(",", ""))))
    except (ValueError, InvalidOperation):
        return None


def _grouped(digits: str) -> str:
    head = len(digits) % 3 or 3
    return ",".join([digits[:head]] + [digits[i : i + 3] for i in range(head, len(digits), 3)])


def _fixed(value: Decimal, places: int, group: bool) -> str:
    rounded = abs(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    whole, _, frac = f"{rounded:f}".partition(".")
    text = (_grouped(whole) if group else whole) + (f".{frac}" if places else "")
    return ("-" if value < 0 and rounded != 0 else "") + text


def _scientific(value: Decimal, places: int, upper: bool, min_exp: int) -> str:
    if value == 0:
        mantissa, exponent = Decimal(0), 0
    else:
        exponent = abs(value).adjusted()
        mantissa = abs(value).scaleb(-exponent).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
        if mantissa >= 10:
            mantissa, exponent = mantissa / 10, exponent + 1
    sign = "-" if value < 0 else ""
    body = f"{mantissa:.{places}f}"
    return f"{sign}{body}{'E' if upper else 'e'}{'-' if exponent < 0 else '+'}{abs(exponent):0{min_exp}d}"


def _general(value: Decimal, precision: int | None, upper: bool, is_double: bool) -> str:
    if precision is None or precision == 0:
        if is_double:
            from bundlekit.substitution.calc import format_number as shortest

            return shortest(float(value))
        return f"{value:f}"
    rounded = value.quantize(Decimal(1).scaleb(value.adjusted() - precision + 1), rounding=ROUND_HALF_UP) \
        if value != 0 else value
    exponent = rounded.adjusted() if rounded != 0 else 0
    if exponent >= precision or exponent < -5:
        text = _scientific(rounded, max(precision - 1, 0), upper, 2)
        mantissa, _, exp = text.partition("E" if upper else "e")
        if "." in mantissa:
            mantissa = mantissa.rstrip("0").rstrip(".")
        return f"{mantissa}{'E' if upper else 'e'}{exp}"
    text = f"{rounded:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _standard(value: Decimal, letter: str, digits: str, integral: bool, is_double: bool) -> str:
    precision = int(digits) if digits else None
    kind = letter.upper()
    if kind in ("D", "X"):
        if not integral:
            raise NumberFormatError(f"format {letter}{digits} applies to whole numbers only")
        number = int(value)
        if kind == "D":
            text = str(abs(number)).zfill(precision or 0)
            return ("-" if number < 0 else "") + text
        text = format(number & 0xFFFFFFFF if number < 0 else number, "X" if letter == "X" else "x")
        return text.zfill(precision or 0)
    if kind == "C":
        text = _fixed(abs(value), 2 if precision is None else precision, True)
        return f"(¤{text})" if value < 0 and text.strip("0.,") else f"¤{text}"
    if kind == "F":
        return _fixed(value, 2 if precision is None else precision, False)
    if kind == "N":
        return _fixed(value, 2 if precision is None else precision, True)
    if kind == "P":
        return _fixed(value * 100, 2 if precision is None else precision, True) + " %"
    if kind == "E":
        return _scientific(value, 6 if precision is None else precision, letter == "E", 3)
    if kind == "R":
        return _general(value, None, True, True)
    return _general(value, precision, letter == "G", is_double)


def _sections(fmt: str) -> list[list[tuple[str, str]]]:
    sections: list[list[tuple[str, str]]] = [[]]
    i = 0
    while i < len(fmt):
        c = fmt[i]
        if c in "'\"":
            end = fmt.find(c, i + 1)
            if end < 0:
                raise NumberFormatError(f"unterminated quoted text in number format {fmt!r}")
            sections[-1].append(("literal", fmt[i + 1 : end]))
            i = end + 1
            continue
        if c == "\\" and i + 1 < len(fmt):
            sections[-1].append(("literal", fmt[i + 1]))
            i += 2
            continue
        if c == ";":
            sections.append([])
        elif c in "0#":
            sections[-1].append(("digit", c))
        elif c == ".":
            sections[-1].append(("point", c))
        elif c == ",":
            sections[-1].append(("group", c))
        elif c == "%":
            sections[-1].append(("percent", c))
        else:
            sections[-1].append(("literal", c))
        i += 1
    return sections


def _custom(value: Decimal, fmt: str) -> str:
    sections = _sections(fmt)
    section, signed = sections[0], True
    if value < 0 and len(sections) > 1 and sections[1]:
        section, signed, value = sections[1], False, -value
    elif value == 0 and len(sections) > 2 and sections[2]:
        section = sections[2]
    scaled = value * (Decimal(100) ** sum(1 for kind, _ in section if kind == "percent"))
    point = next((i for i, (kind, _) in enumerate(section) if kind == "point"), len(section))
    integer_slots = [i for i, (kind, _) in enumerate(section[:point]) if kind == "digit"]
    fraction_slots = [i for i, (kind, _) in enumerate(section) if kind == "digit" and i > point]
    group = any(kind == "group" for kind, _ in section[:point]) and bool(integer_slots)
    rounded = abs(scaled).quantize(Decimal(1).scaleb(-len(fraction_slots)), rounding=ROUND_HALF_UP)
    whole, _, frac = f"{rounded:f}".partition(".")
    whole = whole.lstrip("0")
    required = len(fraction_slots)
    while required and section[fraction_slots[required - 1]][1] == "#" and frac[required - 1:required] == "0":
        required -= 1
    out: dict[int, str] = {}
    digits = list(whole)
    for slot in reversed(integer_slots):
        out[slot] = digits.pop() if digits else ("0" if section[slot][1] == "0" else "")
    if integer_slots:
        lead = "".join(digits) + out[integer_slots[0]]
        if group:
            merged = "".join(out[s] for s in integer_slots[1:])
            grouped = _grouped(lead + merged) if (lead + merged) else ""
            out = {s: "" for s in integer_slots}
            lead = grouped
        out[integer_slots[0]] = lead
    for n, slot in enumerate(fraction_slots):
        out[slot] = frac[n] if n < required else ""
    text = []
    for i, (kind, char) in enumerate(section):
        if kind == "digit":
            text.append(out[i])
        elif kind == "point":
            text.append("." if required else "")
        elif kind == "percent":
            text.append("%")
        elif kind == "literal":
            text.append(char)
    result = "".join(text)
    negative = signed and scaled < 0 and (rounded != 0)
    return ("-" if negative else "") + result


def format_number(value: Decimal, fmt: str, *, integral: bool = False, is_double: bool = False) -> str:
    """``value.ToString(fmt)`` as .NET prints it in the invariant culture.

    ``integral``: the value is an ``int`` (``D`` and ``X`` apply); ``is_double``: it is a
    ``double`` (``G`` and ``R`` print the shortest round-trip form). Raises
    :class:`NumberFormatError` where .NET throws a FormatException.
    """
    standard = _STANDARD.match(fmt)
    if standard:
        return _standard(value, standard.group(1), standard.group(2), integral, is_double)
    if not fmt:
        return _general(value, None, True, is_double)
    return _custom(value, fmt)
