"""Structured configuration variables for JSON files (Octopus "JSON configuration variables").

This module owns one rewrite: a variable named ``ConnectionStrings:Default`` replaces the
value at that key path of a JSON file (keys matched case-insensitively, ``:`` between
levels, a number selects an array element: ``Servers:0:Name``). Only paths that already
exist are replaced; nothing is added. The file is rewritten atomically, keeping key order,
a UTF-8 byte order mark and a final newline if it had them, and a 2-space indent if it was
indented. See ``docs/decisions/043-json-configuration.md`` for the typing rules.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bundlekit.core.atomic import AtomicFile
from bundlekit.errors import DeployError

__all__ = ["replace_json_values", "MAX_JSON_CONFIG_BYTES"]

#: Configuration files are parsed whole; anything larger is refused rather than loaded.
MAX_JSON_CONFIG_BYTES = 32 << 20
_BOM = b"\xef\xbb\xbf"


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


def _convert(old: Any, text: str) -> Any:
    """The JSON value a variable's text becomes at a place that held ``old``.

    Objects and arrays written as JSON become structures; a bool stays a bool and a number
    a number when the text reads as one; a null takes any JSON scalar; otherwise a string.
    """
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        try:
            parsed = json.loads(stripped, object_pairs_hook=_pairs, parse_constant=_no_constant)
        except (ValueError, _Invalid):
            return text
        return parsed
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


def _folded_variables(variables: Mapping[str, str]) -> dict[str, str]:
    folded: dict[str, str] = {}
    for name, value in variables.items():
        folded[str(name).casefold()] = str(value)
    return folded


def _walk(node: Any, path: list[str], variables: dict[str, str], replaced: list[str]) -> Any:
    """Replace top-down: a path matched by a variable is replaced whole and not descended."""
    if isinstance(node, dict):
        for key in list(node):
            child_path = path + [key]
            joined = ":".join(child_path)
            if joined.casefold() in variables:
                node[key] = _convert(node[key], variables[joined.casefold()])
                replaced.append(joined)
            else:
                node[key] = _walk(node[key], child_path, variables, replaced)
    elif isinstance(node, list):
        for index in range(len(node)):
            child_path = path + [str(index)]
            joined = ":".join(child_path)
            if joined.casefold() in variables:
                node[index] = _convert(node[index], variables[joined.casefold()])
                replaced.append(joined)
            else:
                node[index] = _walk(node[index], child_path, variables, replaced)
    return node


def _invalid(path: Path, why: str) -> DeployError:
    return DeployError(
        f"JSON configuration file {path} cannot be updated: {why}. Fix the file in the package, "
        "or remove it from the step's JSON configuration targets.",
        code="invalid_json_config",
        details={"file": str(path)},
    )


def replace_json_values(path: Path, variables: Mapping[str, str]) -> list[str]:
    """Replace the values at the key paths named by ``variables``; return those paths.

    Returned paths are spelled as in the file (``ConnectionStrings:Default``), in document
    order. When nothing matches, the file is not rewritten.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_JSON_CONFIG_BYTES:
            raise _invalid(path, f"it is {size} bytes, above the {MAX_JSON_CONFIG_BYTES}-byte limit")
        data = path.read_bytes()
        mode = path.stat().st_mode & 0o7777
    except OSError as error:
        raise DeployError(f"cannot read JSON configuration file {path}: {error.strerror}.",
                          code="json_config_unreadable") from None
    bom = data.startswith(_BOM)
    try:
        text = data[len(_BOM):].decode("utf-8") if bom else data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise _invalid(path, f"it is not UTF-8 text (byte {error.start})") from None
    try:
        document = json.loads(text, object_pairs_hook=_pairs, parse_constant=_no_constant)
    except json.JSONDecodeError as error:
        raise _invalid(path, f"invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}") from None
    except _Invalid as error:
        raise _invalid(path, str(error)) from None
    except RecursionError:
        raise _invalid(path, "it is nested too deeply") from None

    replaced: list[str] = []
    try:
        document = _walk(document, [], _folded_variables(variables), replaced)
        if not replaced:
            return []
        indented = "\n" in text.strip()
        rendered = json.dumps(document, ensure_ascii=False, indent=2 if indented else None)
    except RecursionError:
        raise _invalid(path, "it is nested too deeply") from None
    if text.endswith("\n"):
        rendered += "\n"
    try:
        with AtomicFile(path, mode) as out:
            out.write((_BOM if bom else b"") + rendered.encode("utf-8"))
    except OSError as error:
        raise DeployError(f"cannot write JSON configuration file {path}: {error.strerror}.",
                          code="json_config_unwritable") from None
    return replaced

