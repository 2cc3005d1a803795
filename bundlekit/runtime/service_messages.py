"""Octopus service messages in script output: output variables set by a step.

This module owns the wire form of ``setVariable`` service messages, both directions:

    ##octopus[setVariable name='<base64 name>' value='<base64 value>' sensitive='<base64 "True">']

Fields are base64 of UTF-8; ``sensitive`` is optional; attributes may come in any order.
:func:`scan_line` finds the messages in one output line and returns what the log should
show instead (a short note that never contains the value), the variables set, and a
warning for each malformed message (ignored, never fatal). Other ``##octopus[...]``
messages are not interpreted and stay in the log as ordinary text.

Decisions: ``docs/decisions/041-script-runner.md``.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from bundlekit.core.text import MASK, terminal_text

__all__ = [
    "OutputVariable",
    "ScannedLine",
    "scan_line",
    "parse_line",
    "format_set_variable",
    "MESSAGE_MARKER",
]

#: Any line containing this (case-insensitive) is treated as carrying a setVariable message.
MESSAGE_MARKER = "##octopus[setvariable"

# The whole message: attributes run to the first "]" (base64 never contains one).
_MESSAGE = re.compile(
    r"##octopus\[setVariable(?P<attrs>[^\]]*)(?P<close>\]?)", re.IGNORECASE | re.ASCII
)
_ATTRIBUTE = re.compile(r"\s*(?P<key>[A-Za-z]+)\s*=\s*'(?P<value>[^']*)'")
_TRUE = frozenset({"true", "yes", "1"})
_FALSE = frozenset({"false", "no", "0", ""})


@dataclass(frozen=True)
class OutputVariable:
    """One output variable set by a step: ``name`` as written by the script (not folded)."""

    name: str
    value: str
    sensitive: bool

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError("an output variable needs a non-empty name")
        if not isinstance(self.value, str):
            raise ValueError(f"output variable {self.name!r}: value must be text")

    def __repr__(self) -> str:
        # Never put a sensitive value in a repr: reprs end up in tracebacks and logs.
        shown = repr(MASK) if self.sensitive else repr(self.value)
        return f"OutputVariable(name={self.name!r}, value={shown}, sensitive={self.sensitive})"


@dataclass(frozen=True)
class ScannedLine:
    """The result of scanning one output line.

    ``text`` is the line as the log should show it: every message replaced by a note that
    names the variable but never shows its value (the rest of the line is untouched and
    still needs masking). ``variables`` are the valid messages in order; ``warnings`` say
    why each malformed message was ignored, without quoting it.
    """

    text: str
    variables: tuple[OutputVariable, ...]
    warnings: tuple[str, ...]

    @property
    def had_message(self) -> bool:
        return bool(self.variables or self.warnings)


class _Malformed(Exception):
    pass


def _decode_field(field: str, raw: str) -> str:
    """Decode one base64 attribute, tolerating missing or excess ``=`` padding."""
    text = raw.strip().rstrip("=")
    if len(text) % 4 == 1:
        raise _Malformed(f"attribute {field!r} is not valid base64 (impossible length)")
    padded = text + "=" * (-len(text) % 4)
    try:
        data = base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        raise _Malformed(f"attribute {field!r} is not valid base64") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise _Malformed(f"attribute {field!r} is not base64 of UTF-8 text") from None


def _decode_sensitive(raw: str) -> bool:
    # Hand-written scripts often put a plain True/False; accept that as well as base64.
    plain = raw.strip().lower()
    if plain in _TRUE | {"false", "no"}:
        return plain in _TRUE
    word = _decode_field("sensitive", raw).strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise _Malformed("attribute 'sensitive' must encode True or False")


def _parse_attributes(attrs: str) -> OutputVariable:
    fields: dict[str, str] = {}
    position = 0
    while position < len(attrs):
        if not attrs[position:].strip():
            break
        found = _ATTRIBUTE.match(attrs, position)
        if found is None:
            raise _Malformed("attributes must look like key='base64'")
        key = found.group("key").lower()
        if key in fields:
            raise _Malformed(f"attribute {key!r} appears twice")
        fields[key] = found.group("value")
        position = found.end()
    if "name" not in fields:
        raise _Malformed("attribute 'name' is missing")
    if "value" not in fields:
        raise _Malformed("attribute 'value' is missing")
    name = _decode_field("name", fields["name"])
    if not name.strip():
        raise _Malformed("attribute 'name' is empty")
    value = _decode_field("value", fields["value"])
    sensitive = _decode_sensitive(fields["sensitive"]) if "sensitive" in fields else False
    return OutputVariable(name=name, value=value, sensitive=sensitive)


def _note(variable: OutputVariable) -> str:
    kind = "sensitive output variable" if variable.sensitive else "output variable"
    # A decoded name may hold control characters; a note must stay on one harmless line.
    return f"[{kind} '{terminal_text(variable.name)}' set]"


def scan_line(line: str) -> ScannedLine:
    """Find the ``setVariable`` messages in one line of output (never raises)."""
    if MESSAGE_MARKER not in line.lower():
        return ScannedLine(text=line, variables=(), warnings=())
    variables: list[OutputVariable] = []
    warnings: list[str] = []
    pieces: list[str] = []
    kept_from = 0
    for found in _MESSAGE.finditer(line):
        pieces.append(line[kept_from : found.start()])
        kept_from = found.end()
        try:
            if not found.group("close"):
                raise _Malformed("the closing ']' is missing")
            variable = _parse_attributes(found.group("attrs"))
        except _Malformed as problem:
            warning = f"ignored a malformed setVariable service message: {problem}"
            warnings.append(warning)
            pieces.append(f"[WARNING: {warning}]")
            continue
        variables.append(variable)
        pieces.append(_note(variable))
    pieces.append(line[kept_from:])
    return ScannedLine(text="".join(pieces), variables=tuple(variables), warnings=tuple(warnings))


def parse_line(line: str) -> OutputVariable | None:
    """The first valid output variable set on ``line``, or ``None`` (malformed: ``None``)."""
    scanned = scan_line(line)
    return scanned.variables[0] if scanned.variables else None


def format_set_variable(name: str, value: str, sensitive: bool = False) -> str:
    """The service message a script prints to set an output variable (no newline)."""

    def b64(text: str) -> str:
        return base64.b64encode(text.encode("utf-8")).decode("ascii")

    message = f"##octopus[setVariable name='{b64(name)}' value='{b64(value)}'"
    if sensitive:
        message += f" sensitive='{b64('True')}'"
    return message + "]"
