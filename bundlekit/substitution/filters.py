"""The filters of ``#{Name | Filter options}``: one pure function per filter name.

A filter takes the value so far (``None`` when the expression has no variable, as in
``#{ | NowDate}``), its options as text, and the reference time. It returns the new value
or raises :class:`FilterFailure` with a reason for a person; the engine then leaves the
whole token in place (allow-missing mode) or reports it (strict mode), as Octostache
echoes a token whose filter returns null. Names are case-insensitive.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from datetime import datetime
from typing import Callable, List, Optional
from urllib.parse import quote

from bundlekit.core.distance import nearest
from bundlekit.substitution.dotnet_dates import DateFormatError, format_dotnet
from bundlekit.substitution.errors import FilterFailure
from bundlekit.substitution.filters_dates import add_days, add_hours, format_value
from bundlekit.substitution.uri_parts import uri_part
from bundlekit.substitution.versions import VERSION_FILTERS
from bundlekit.substitution.markdown import markdown_to_html

__all__ = ["FilterFailure", "apply_filter", "check_options", "filter_names", "is_filter", "nearest_filters", "unknown_filter_hint"]

FilterFn = Callable[[Optional[str], List[str], Optional[datetime]], str]  # typing: evaluated at run time on 3.8 targets
_INT = re.compile(r"^\s*[+-]?\d+\s*$")


def apply_filter(name: str, value: str | None, options: list[str], now: datetime | None) -> str:
    fn = _FILTERS.get(name.lower())
    if fn is None:
        raise FilterFailure(f"unknown filter '{name}'; {unknown_filter_hint(name)}")
    return fn(value, options, now)


def check_options(name: str, options: list[str]) -> None:
    """Raise :class:`FilterFailure` when ``options`` (as written) make filter ``name`` fail
    whatever its input: a ``Replace``/``Match`` pattern that does not compile, a ``Truncate``
    or ``Substring`` number that is not a whole number, a wrong number of options for these.
    Other filters and options are left to evaluation (their failures depend on the input)."""
    lowered = name.lower()
    if lowered in ("replace", "match"):
        _count(options, 1, 2 if lowered == "replace" else 1)
        _dotnet_regex(options[0])
    elif lowered == "truncate" and options:
        _int(options[0], "length")
    elif lowered == "substring":
        _count(options, 1, 2)
        for option, what in zip(options, ("length",) if len(options) == 1 else ("start", "length")):
            _int(option, what)


def filter_names() -> list[str]:
    return sorted(_DISPLAY.values())


def is_filter(name: str) -> bool:
    """Whether ``name`` is a filter (names are case-insensitive)."""
    return name.lower() in _FILTERS


def nearest_filters(name: str) -> List[str]:
    """The filters nearest ``name`` by case-insensitive edit distance, when that distance is at
    most a third of the name's length (at least 1): ``ToUper`` -> ``["ToUpper"]``; ``[]`` when
    nothing is that near."""
    return nearest(name, _DISPLAY.values())


def unknown_filter_hint(name: str) -> str:
    """What to say about the unknown filter ``name``: the nearest filters, or where the list is."""
    near = nearest_filters(name)
    if near:
        return "did you mean " + " or ".join(near) + "?"
    return f"bundlekit has {len(_FILTERS)} filters, listed in spec/substitution.md, section 6"


# -- argument helpers -----------------------------------------------------------------
def _need(value: str | None) -> str:
    if value is None:
        raise FilterFailure("needs a value to work on, as in #{Name | Filter}")
    return value


def _no_options(options: list[str]) -> None:
    if options:
        raise FilterFailure(f"takes no options, got {' '.join(options)!r}")


def _count(options: list[str], low: int, high: int) -> None:
    if not low <= len(options) <= high:
        want = f"{low}" if low == high else f"{low} to {high}"
        raise FilterFailure(f"takes {want} option(s), got {len(options)}")


def _int(text: str, what: str) -> int:
    if not _INT.match(text):
        raise FilterFailure(f"{what} must be a whole number, got {text!r}")
    number = int(text)
    if number < 0:
        raise FilterFailure(f"{what} must not be negative, got {number}")
    return number


def _encoding(name: str) -> str:
    lowered = name.lower()
    if lowered in ("utf8", "utf-8"):
        return "utf-8"
    if lowered == "unicode":
        return "utf-16-le"  # .NET's Encoding.Unicode
    raise FilterFailure(f"unknown encoding {name!r} (use utf8 or unicode)")


# -- case, trim, cut ------------------------------------------------------------------
def _to_upper(v: str | None, o: list[str], _n: datetime | None) -> str:
    _no_options(o)
    return _need(v).upper()


def _to_lower(v: str | None, o: list[str], _n: datetime | None) -> str:
    _no_options(o)
    return _need(v).lower()


def _trim(v: str | None, o: list[str], _n: datetime | None) -> str:
    text = _need(v)
    if not o:
        return text.strip()
    mode = o[0].lower()
    if mode == "start":
        return text.lstrip()
    if mode == "end":
        return text.rstrip()
    raise FilterFailure(f"option must be 'start' or 'end', got {o[0]!r}")


def _truncate(v: str | None, o: list[str], _n: datetime | None) -> str:
    text = _need(v)
    if not o:
        raise FilterFailure("needs a length, as in Truncate 10")
    length = _int(o[0], "length")
    suffix = o[1] if len(o) > 1 else "..."  # Octostache: a second option replaces the ellipsis
    return text[:length] + suffix if length < len(text) else text


def _substring(v: str | None, o: list[str], _n: datetime | None) -> str:
    text = _need(v)
    _count(o, 1, 2)
    start, length = (0, _int(o[0], "length")) if len(o) == 1 else (_int(o[0], "start"), _int(o[1], "length"))
    if start > len(text):
        raise FilterFailure(f"start {start} is past the end of a {len(text)}-character value")
    return text[start : start + length]  # a length past the end gives what is left (Octostache)


# -- regular expressions (.NET dialect, translated) --------------------------------------
def _dotnet_regex(pattern: str) -> re.Pattern[str]:
    # .NET named groups and back-references; everything else common is the same in Python.
    translated = re.sub(r"\(\?<(?=[A-Za-z_])", "(?P<", pattern)
    translated = re.sub(r"\\k<([A-Za-z_]\w*)>", r"(?P=\1)", translated)
    try:
        return re.compile(translated)
    except re.error as exc:
        raise FilterFailure(f"invalid regular expression {pattern!r}: {exc}") from None


def _dotnet_replacement(template: str) -> Callable[[re.Match[str]], str]:
    parts: list[Callable[[re.Match[str]], str]] = []
    i, n = 0, len(template)
    literal: list[str] = []

    def add_literal() -> None:
        if literal:
            text = "".join(literal)
            parts.append(lambda m: text)
            literal.clear()

    while i < n:
        c = template[i]
        nxt = template[i + 1] if i + 1 < n else ""
        if c != "$" or not nxt:
            literal.append(c)
            i += 1
            continue
        if nxt == "$":
            literal.append("$")
            i += 2
        elif nxt == "&":
            add_literal()
            parts.append(lambda m: m.group(0))
            i += 2
        elif nxt.isdigit():
            j = i + 1
            while j < n and template[j].isdigit():
                j += 1
            add_literal()
            parts.append(_numbered_group(int(template[i + 1 : j])))
            i = j
        elif nxt == "{" and "}" in template[i:]:
            end = template.index("}", i)
            name = template[i + 2 : end]
            add_literal()
            parts.append(_named_group(name))
            i = end + 1
        else:
            literal.append(c)
            i += 1
    add_literal()
    return lambda m: "".join(p(m) for p in parts)


def _numbered_group(number: int) -> Callable[[re.Match[str]], str]:
    def group(m: re.Match[str]) -> str:
        return (m.group(number) or "") if number <= m.re.groups else f"${number}"

    return group


def _named_group(name: str) -> Callable[[re.Match[str]], str]:
    return lambda m: _group_or_text(m, name)


def _group_or_text(m: re.Match[str], name: str) -> str:
    try:
        return m.group(int(name) if name.isdigit() else name) or ""
    except IndexError:  # no such group: .NET leaves the text as written
        return "${" + name + "}"


def _replace(v: str | None, o: list[str], _n: datetime | None) -> str:
    text = _need(v)
    _count(o, 1, 2)
    pattern = _dotnet_regex(o[0])
    return pattern.sub(_dotnet_replacement(o[1] if len(o) == 2 else ""), text)


def _match(v: str | None, o: list[str], _n: datetime | None) -> str:
    text = _need(v)
    _count(o, 1, 1)
    return "true" if _dotnet_regex(o[0]).search(text) else "false"


def _starts_with(v: str | None, o: list[str], _n: datetime | None) -> str:
    _count(o, 1, 1)
    return "true" if _need(v).startswith(o[0]) else "false"


def _ends_with(v: str | None, o: list[str], _n: datetime | None) -> str:
    _count(o, 1, 1)
    return "true" if _need(v).endswith(o[0]) else "false"


def _contains(v: str | None, o: list[str], _n: datetime | None) -> str:
    _count(o, 1, 1)
    return "true" if o[0] in _need(v) else "false"


def _append(v: str | None, o: list[str], _n: datetime | None) -> str:
    if not o:
        raise FilterFailure("needs the text to append")
    return (v or "") + "".join(o)


def _prepend(v: str | None, o: list[str], _n: datetime | None) -> str:
    if not o:
        raise FilterFailure("needs the text to prepend")
    return "".join(o) + (v or "")


# -- encodings and escapes ---------------------------------------------------------------
def _to_base64(v: str | None, o: list[str], _n: datetime | None) -> str:
    text = _need(v)
    _count(o, 0, 1)
    return base64.b64encode(text.encode(_encoding(o[0]) if o else "utf-8")).decode("ascii")


def _from_base64(v: str | None, o: list[str], _n: datetime | None) -> str:
    text = _need(v)
    _count(o, 0, 1)
    encoding = _encoding(o[0]) if o else "utf-8"
    try:
        raw = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise FilterFailure("the value is not valid base64") from None
    return raw.decode(encoding, errors="replace")


def _entity_escape(table: dict[str, str]) -> FilterFn:
    def escape(v: str | None, o: list[str], _n: datetime | None) -> str:
        _no_options(o)
        return "".join(table.get(c, c) for c in _need(v))

    return escape


_XML = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;"}
_HTML = {**_XML, "/": "&#x2F;"}
_JSON = {'"': '\\"', "\r": "\\r", "\t": "\\t", "\n": "\\n", "\\": "\\\\"}


def _uri_escape(v: str | None, o: list[str], _n: datetime | None) -> str:
    _no_options(o)
    return quote(_need(v), safe=";/?:@&=+$,#[]!'()*")  # RFC 3986 reserved + unreserved kept


def _uri_data_escape(v: str | None, o: list[str], _n: datetime | None) -> str:
    _no_options(o)
    return quote(_need(v), safe="")  # only unreserved (letters, digits, - _ . ~) kept


def _yaml_single(v: str | None, o: list[str], _n: datetime | None) -> str:
    _no_options(o)
    # In a single-quoted YAML scalar a line break folds to a space: double each run.
    doubled = re.sub(r"(?:\r?\n)+", lambda m: ("\r\n" if m.group(0).startswith("\r") else "\n") + m.group(0), _need(v))
    return doubled.replace("'", "''")


def _yaml_double(v: str | None, o: list[str], _n: datetime | None) -> str:
    _no_options(o)
    table = {"\r": "\\r", "\n": "\\n", "\t": "\\t", "\\": "\\\\", '"': '\\"'}
    return "".join(table.get(c) or (c if " " <= c <= "~" else _uescape(c)) for c in _need(v))


def _uescape(c: str) -> str:
    return "".join(f"\\u{unit:04x}" for unit in _utf16_units(c))


def _utf16_units(c: str) -> list[int]:
    raw = c.encode("utf-16-le")
    return [int.from_bytes(raw[i : i + 2], "little") for i in range(0, len(raw), 2)]


def _properties(key: bool) -> FilterFn:
    def escape(v: str | None, o: list[str], _n: datetime | None) -> str:
        _no_options(o)
        out = []
        for i, c in enumerate(_need(v)):
            if c in "\\\r\n\t":
                out.append({"\\": "\\\\", "\r": "\\r", "\n": "\\n", "\t": "\\t"}[c])
            elif c == " " and (key or i == 0):
                out.append("\\ ")
            elif key and c in ":=":
                out.append("\\" + c)
            else:
                out.append(c if ord(c) < 0xFF else _uescape(c))
        return "".join(out)

    return escape


def _markdown(v: str | None, o: list[str], _n: datetime | None) -> str:
    _no_options(o)
    return markdown_to_html(_need(v))


_INDENT_SIZES = re.compile(r"^((\d{1,3})?/)?(\d{1,3})$")


def _indent(v: str | None, o: list[str], _n: datetime | None) -> str:
    text = _need(v)
    _count(o, 0, 2)
    first = rest = "    "
    if len(o) == 2:
        first, rest = o
    elif len(o) == 1:
        first = rest = o[0]
        sizes = _INDENT_SIZES.match(o[0])
        if sizes:
            initial, subsequent = sizes.group(2), int(sizes.group(3))
            start = 0 if sizes.group(1) and initial is None else int(initial or subsequent)
            if start <= 255 and subsequent <= 255:  # larger numbers are taken as literal text
                first, rest = " " * start, " " * subsequent
    return "" if not text else first + text.replace("\n", "\n" + rest)


def _hash(algorithm: str) -> FilterFn:
    def digest(v: str | None, o: list[str], _n: datetime | None) -> str:
        text = _need(v)
        _count(o, 0, 2)
        encoding, size = "utf-8", 0
        seen_encoding = seen_size = False
        for option in o:
            if _INT.match(option) and not seen_size:
                size, seen_size = int(option), True
                if size <= 0:
                    raise FilterFailure(f"size must be a positive number of bytes, got {option!r}")
            elif not seen_encoding and option.lower() in ("utf8", "utf-8", "unicode", "base64"):
                encoding, seen_encoding = option.lower(), True
            else:
                raise FilterFailure(f"unexpected option {option!r} (an encoding and/or a size)")
        if encoding == "base64":
            try:
                data = base64.b64decode("".join(text.split()), validate=True)
            except (binascii.Error, ValueError):
                raise FilterFailure("the value is not valid base64") from None
        else:
            data = text.encode(_encoding(encoding))
        hexed = hashlib.new(algorithm, data).hexdigest()
        return hexed[: size * 2] if size else hexed

    return digest


# -- dates ------------------------------------------------------------------------------
def _now(utc: bool) -> FilterFn:
    def now_date(v: str | None, o: list[str], now: datetime | None) -> str:
        if v is not None:
            raise FilterFailure("takes no input value; write #{ | NowDate} with nothing before the '|'")
        _count(o, 0, 1)
        if now is None:
            raise FilterFailure("no reference time was given to the renderer")
        try:
            return format_dotnet(now, o[0] if o else None, utc=utc)
        except DateFormatError as exc:
            raise FilterFailure(str(exc)) from None

    return now_date


_DISPLAY: dict[str, str] = {}
_FILTERS: dict[str, FilterFn] = {}


def _register(name: str, fn: FilterFn) -> None:
    _DISPLAY[name.lower()] = name
    _FILTERS[name.lower()] = fn


for _name, _fn in (
    ("ToUpper", _to_upper), ("ToLower", _to_lower), ("Trim", _trim), ("Truncate", _truncate),
    ("Substring", _substring), ("Replace", _replace), ("Match", _match), ("StartsWith", _starts_with),
    ("EndsWith", _ends_with), ("Contains", _contains), ("Append", _append), ("Prepend", _prepend),
    ("ToBase64", _to_base64), ("FromBase64", _from_base64), ("HtmlEscape", _entity_escape(_HTML)),
    ("XmlEscape", _entity_escape(_XML)), ("JsonEscape", _entity_escape(_JSON)), ("UriEscape", _uri_escape),
    ("UriDataEscape", _uri_data_escape), ("YamlSingleQuoteEscape", _yaml_single),
    ("YamlDoubleQuoteEscape", _yaml_double), ("PropertiesKeyEscape", _properties(True)),
    ("PropertiesValueEscape", _properties(False)), ("Markdown", _markdown), ("MarkdownToHtml", _markdown),
    ("Indent", _indent), ("Md5", _hash("md5")), ("Sha1", _hash("sha1")), ("Sha256", _hash("sha256")),
    ("Sha384", _hash("sha384")), ("Sha512", _hash("sha512")), ("NowDate", _now(False)),
    ("NowDateUtc", _now(True)), ("Format", format_value), ("AddHours", add_hours), ("AddDays", add_days),
    ("UriPart", uri_part), *VERSION_FILTERS,
):
    _register(_name, _fn)
