"""Structured configuration variables for JSON files (Octopus "JSON configuration variables").

A variable named ``ConnectionStrings:Default`` replaces the value at that key path (keys
matched case-insensitively, ``:`` between levels, a number selects an array element:
``Servers:0:Name``); a name without ``:`` is a top-level key (``port``). Only paths that
already exist are replaced; nothing is added. Key order is kept, a 2-space indent if the
file was indented, and the final newline. See ``docs/decisions/043-json-configuration.md``
for the typing rules.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from bundlekit.runtime.structured.base import ConfigEdit, ConfigParseError, is_reserved

__all__ = ["apply_json", "convert_scalar"]


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


def _walk(node: Any, path: list[str], variables: dict[str, tuple[str, str]],
          replaced: list[tuple[str, str]]) -> Any:
    """Replace top-down: a path matched by a variable is replaced whole and not descended."""
    keys: list[Any] = list(node) if isinstance(node, dict) else list(range(len(node))) if isinstance(node, list) else []
    for key in keys:
        child_path = path + [str(key)]
        joined = ":".join(child_path)
        found = variables.get(joined.casefold())
        if found is not None:
            node[key] = convert_scalar(node[key], found[1])
            replaced.append((found[0], joined))
        else:
            node[key] = _walk(node[key], child_path, variables, replaced)
    return node


def parse_json(text: str) -> Any:
    """The document; raises :class:`ConfigParseError` with the position."""
    try:
        return json.loads(text, object_pairs_hook=_pairs, parse_constant=_no_constant)
    except json.JSONDecodeError as error:
        raise ConfigParseError("json", error.msg, error.lineno, error.colno) from None
    except _Invalid as error:
        raise ConfigParseError("json", str(error)) from None
    except RecursionError:
        raise ConfigParseError("json", "nested too deeply") from None


def apply_json(text: str, variables: Mapping[str, str]) -> ConfigEdit:
    """Replace the values at the key paths named by ``variables`` (see the module docstring)."""
    document = parse_json(text)
    folded = {name.casefold(): (name, value) for name, value in variables.items() if not is_reserved(name)}
    replaced: list[tuple[str, str]] = []
    try:
        document = _walk(document, [], folded, replaced)
        if not replaced:
            return ConfigEdit(None)
        indented = "\n" in text.strip()
        rendered = json.dumps(document, ensure_ascii=False, indent=2 if indented else None)
    except RecursionError:
        raise ConfigParseError("json", "nested too deeply") from None
    if indented and "\r\n" in text:
        rendered = rendered.replace("\n", "\r\n")
    if text.endswith(("\n", "\r\n")):
        rendered += "\r\n" if text.endswith("\r\n") else "\n"
    return ConfigEdit(rendered, tuple(replaced))
