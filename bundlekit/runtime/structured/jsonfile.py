"""Structured configuration variables for JSON files (Octopus "JSON configuration variables").

A variable named ``ConnectionStrings:Default`` replaces the value at that key path (keys
matched case-insensitively, ``:`` between levels, a number selects an array element:
``Servers:0:Name``); a name without ``:`` is a top-level key (``port``). Only paths that
already exist are replaced; nothing is added. The file is read as Json.NET reads it
(:mod:`bundlekit.runtime.structured.jsonread`: comments, trailing commas, unquoted names,
single-quoted strings) and each new value is written where the old one was, so comments,
spacing, key order, quoting and the line endings stay as written (decision 576). See
``docs/decisions/043-json-configuration.md`` for the typing rules.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from bundlekit.runtime.structured.base import ConfigEdit, ConfigParseError, is_reserved
from bundlekit.runtime.structured.jsonread import read_json

__all__ = ["apply_json", "convert_scalar", "parse_json"]

_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


class _Invalid(Exception):
    pass


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            # Which duplicate would the application read? Refuse rather than guess.
            raise _Invalid(f"key {key!r} appears twice in the same object")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise _Invalid(f"{name} is not valid JSON")


def convert_scalar(old: Any, text: str) -> Any:
    """The value a variable's text becomes at a place that held ``old`` (JSON and YAML).

    Objects and arrays written as JSON become structures; a bool stays a bool and a number
    a number when the text reads as one; a null takes any JSON scalar; otherwise a string.
    """
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        try:
            return json.loads(stripped, object_pairs_hook=_pairs, parse_constant=_no_constant)
        except (ValueError, _Invalid):
            return text
    if isinstance(old, bool):
        if stripped.lower() in ("true", "false"):
            return stripped.lower() == "true"
        return text
    if isinstance(old, (int, float)) or old is None:
        try:
            parsed = json.loads(stripped, parse_constant=_no_constant)
        except (ValueError, _Invalid):
            return text
        if isinstance(old, (int, float)) and isinstance(parsed, (int, float)) and not isinstance(parsed, bool):
            return parsed
        if old is None and (parsed is None or isinstance(parsed, (bool, int, float))):
            return parsed
    return text


def _walk(node: Any, path: list[Any], variables: dict[str, tuple[str, str]],
          replaced: list[tuple[str, str]], changes: list[tuple[tuple[Any, ...], Any, str]]) -> None:
    """Replace top-down: a path matched by a variable is replaced whole and not descended."""
    keys: list[Any] = list(node) if isinstance(node, dict) else list(range(len(node))) if isinstance(node, list) else []
    for key in keys:
        child_path = path + [key]
        joined = ":".join(str(k) for k in child_path)
        found = variables.get(joined.casefold())
        if found is not None:
            node[key] = convert_scalar(node[key], found[1])
            replaced.append((found[0], joined))
            changes.append((tuple(child_path), node[key], found[1]))
        else:
            _walk(node[key], child_path, variables, replaced, changes)


def parse_json(text: str) -> Any:
    """The document; raises :class:`ConfigParseError` with the position (see :mod:`.jsonread`)."""
    return read_json(text)[0]


def _written(value: Any, given: str, text: str, start: int, newline: str) -> str:
    """How a replaced value is written at ``start`` of ``text``: a number as the variable wrote it,
    another scalar as JSON, a non-empty object or array indented like the file when the file is
    indented (continuation lines start with the indentation of the line the value starts on)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and _NUMBER.fullmatch(given.strip()):
        return given.strip()
    if isinstance(value, (dict, list)) and value and "\n" in text.strip():
        unit = re.search(r"\n([ \t]+)\S", text)
        line_start = text.rfind("\n", 0, start) + 1
        indent = re.match(r"[ \t]*", text[line_start:start])
        assert indent is not None
        dumped = json.dumps(value, ensure_ascii=False, indent=unit.group(1) if unit else 2)
        return dumped.replace("\n", newline + indent.group(0))
    return json.dumps(value, ensure_ascii=False)


def apply_json(text: str, variables: Mapping[str, str]) -> ConfigEdit:
    """Replace the values at the key paths named by ``variables`` (see the module docstring)."""
    document, spans = read_json(text)
    folded = {name.casefold(): (name, value) for name, value in variables.items() if not is_reserved(name)}
    replaced: list[tuple[str, str]] = []
    changes: list[tuple[tuple[Any, ...], Any, str]] = []
    try:
        _walk(document, [], folded, replaced, changes)
        if not replaced:
            return ConfigEdit(None)
        newline = "\r\n" if "\r\n" in text else "\n"
        edits = sorted((spans[path], _written(value, given, text, spans[path][0], newline))
                       for path, value, given in changes)
    except RecursionError:
        raise ConfigParseError("json", "nested too deeply") from None
    out, last = [], 0
    for (start, end), written in edits:
        out.append(text[last:start])
        out.append(written)
        last = end
    out.append(text[last:])
    return ConfigEdit("".join(out), tuple(replaced))
