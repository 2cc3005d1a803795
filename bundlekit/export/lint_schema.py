"""The schema part of ``bundlekit lint``: every key or value the release file's schema refuses,
each with the fix written out, and what the later checks may still read of a broken element.

Unknown keys and values outside a fixed set get the closest allowed one ("did you mean"). Every
other schema finding says what to write instead, as TOML (``roles = ["web"]`` for ``roles =
"web"``, ``timeout = 1`` for ``timeout = 0``, ``add syntax = "bash" (or "python")`` for a
missing key): never "see the spec". The findings are computed on the document with sensitive
values masked, and a fix never quotes a sensitive value (decision 572).

A step, variable or package with a schema finding is not dropped from the later checks
(decision 650): :func:`checkable` gives them the element as lint can best read it, a misspelt
key read as the key it is closest to, a text where a list of texts belongs read as a list of
that one text, any other refused key left out. Only an element that still breaks the schema
after that (a missing required key, ``script`` and ``package`` in one step) is replaced by a
:class:`~bundlekit.export.lint_model.Malformed` stand-in keeping its name (and, for a step, the
package it deploys, so that package's members are still checked).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from bundlekit.core.text import closest
from bundlekit.export.lint_model import ERROR, Finding, Malformed, key_path, line_column, locate, parse_key_path
from bundlekit.export.release_rules import value_source_problem
from bundlekit.export.releasefile import mask_sensitive, release_schema
from bundlekit.format.schemacheck import Violation, schema_violations

__all__ = ["schema_findings", "checkable", "Skip"]

Skip = frozenset  # of ("steps", 1) for an element of an array of tables, ("project",) for a table

_ARRAYS = ("packages", "steps", "variables")
_SPEC = "spec/release-file.md"
#: What to add for a missing key, as TOML.
_ADD = {
    "name": 'name = "..."',
    "type": 'type = "script" (or "package")',
    "script": "script = '''...''' (the script's text)",
    "syntax": 'syntax = "bash" (or "python")',
    "package": 'package = "ID" (the id of one of [[packages]])',
    "version": 'version = "1.0.0"',
    "id": 'id = "Acme.Web" (the package\'s id)',
    "environments": 'environments = ["Production"]',
    "phases": '[[lifecycle.phases]] with name = "..." and environments = ["..."]',
}
_TABLES = {"project": '[project] with name = "..."', "release": '[release] with version = "1.0.0"'}


def _at(text: str, parts: list[str | int]) -> tuple[int | None, int | None]:
    offset = locate(text, parts)
    return line_column(text, offset) if offset is not None else (None, None)


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = schema["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def _toml(value: Any) -> str:
    """``value`` written as TOML (a string in double quotes, escapes as JSON writes them)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(str(value), ensure_ascii=False)


def _walk(schema: dict[str, Any], node: dict[str, Any], value: Any, parts: list[str | int], text: str,
          file: str, out: list[Finding]) -> None:
    """Unknown keys and values outside an enum, each with the closest allowed ones."""
    node = _resolve(schema, node)
    if isinstance(value, dict) and "properties" in node:
        allowed = list(node["properties"])
        for key, item in value.items():
            if key in node["properties"]:
                _walk(schema, node["properties"][key], item, parts + [key], text, file, out)
            elif node.get("additionalProperties") is False:
                near = closest(key, allowed, n=1)
                line, column = _at(text, parts + [key])
                out.append(Finding(ERROR, "unknown_key", f"unknown key {key!r}" +
                                   (f" in [{key_path(parts)}]" if parts else ""), file, key_path(parts + [key]),
                                   line, column, f"did you mean {near[0]!r}?" if near else
                                   "allowed here: " + ", ".join(allowed)))
    elif isinstance(value, list) and "items" in node:
        for i, item in enumerate(value):
            _walk(schema, node["items"], item, parts + [i], text, file, out)
    elif "enum" in node and isinstance(value, str) and value not in node["enum"]:
        near = closest(value, [str(e) for e in node["enum"]], n=1)
        line, column = _at(text, parts)
        out.append(Finding(ERROR, "invalid_value", f"{value!r} is not one of " +
                           ", ".join(repr(e) for e in node["enum"]), file, key_path(parts), line, column,
                           f"did you mean {near[0]!r}?" if near else
                           "use one of " + ", ".join(repr(e) for e in node["enum"])))


def _secret(doc: dict[str, Any], parts: list[str | int]) -> bool:
    """Whether ``parts`` is the value of a sensitive variable (its fix must not quote it)."""
    if len(parts) < 3 or parts[0] != "variables" or parts[2] != "value" or not isinstance(parts[1], int):
        return False
    variables = doc.get("variables")
    item = variables[parts[1]] if isinstance(variables, list) and parts[1] < len(variables) else None
    return isinstance(item, dict) and item.get("sensitive") is True


def _element(parts: list[str | int]) -> str:
    """``[[steps]] 2`` for a key of the third step, ``[project]`` for a key of that table."""
    if len(parts) >= 2 and parts[0] in _ARRAYS and isinstance(parts[1], int):
        return f"[[{parts[0]}]] {parts[1] + 1}"
    if parts and isinstance(parts[0], str):
        return f"[{key_path([p for p in parts if isinstance(p, str)])}]"
    return "the release file"


def _type_fix(v: Violation, key: str, secret: bool) -> str:
    expected = v.expected if isinstance(v.expected, str) else "/".join(v.expected)
    value = v.instance
    if secret:
        return f"write {key} as a TOML string in quotes: {key} = \"...\""
    if expected == "array":
        items = v.schema.get("items", {}) if isinstance(v.schema, dict) else {}
        if not isinstance(value, (dict, list)):
            texts = "$ref" in items or items.get("type") == "string"  # a list of texts: quote the value
            inner = _toml(_toml(value) if texts and not isinstance(value, str) else value)
            return f"write a list, in square brackets: {key} = [{inner}]"
        return f"write a list, in square brackets: {key} = [\"...\"]"
    if expected == "string":
        shown = value if not isinstance(value, (dict, list)) else "..."
        if isinstance(shown, bool):
            shown = "true" if shown else "false"
        return f"write text in quotes: {key} = {_toml(str(shown))}"
    if expected == "integer":
        number = str(value).strip() if isinstance(value, (str, float)) else ""
        whole = number.lstrip("-").isdigit() or (isinstance(value, float) and value.is_integer())
        low, high = v.schema.get("minimum"), v.schema.get("maximum")
        bounds = f" from {low} to {high}" if low is not None and high is not None else ""
        example = str(int(float(number))) if whole else str(low if low is not None else 1)
        return f"write a whole number{bounds} without quotes: {key} = {example}"
    if expected == "boolean":
        word = str(value).strip().casefold()
        if word in ("true", "false", "yes", "no", "1", "0", "on", "off"):
            truth = word in ("true", "yes", "1", "on")
            return f"write true or false without quotes: {key} = {'true' if truth else 'false'}"
        return f"write true or false without quotes: {key} = true"
    if expected == "object":
        if key == "scope":
            return 'write a table of scope keys: scope = { environment = ["Production"] }'
        if key == "value_from":
            return 'write value_from = { env = "NAME" } or value_from = { file = "PATH" }'
        return f"write a table: {key} = {{ ... }} (or a [{key}] section)"
    return f"write a value of type {expected}"


def _fix(v: Violation, doc: dict[str, Any]) -> tuple[str, str]:
    """The message and the fix of a schema violation that the key walk does not report."""
    parts = list(v.path)
    key = next((p for p in reversed(parts) if isinstance(p, str)), "")
    secret = _secret(doc, parts)
    kind, message = v.validator, v.message
    if kind == "type":
        return message, _type_fix(v, key, secret)
    if kind == "required":
        missing = [k for k in v.expected if isinstance(v.instance, dict) and k not in v.instance]
        if not parts:
            return message, "add " + " and ".join(_TABLES.get(k, f"[{k}]") for k in missing)
        return message, f"add {' and '.join(_ADD.get(k, k + ' = ...') for k in missing)} to {_element(parts)}"
    if kind == "not" and isinstance(v.expected, dict) and v.expected.get("required"):
        extra = v.expected["required"][0]
        kind_of = v.instance.get("type") if isinstance(v.instance, dict) else None
        return (f"a {kind_of} step has no {extra!r} key", f"remove {extra} from {_element(parts)}, or make it "
                f"type = {_toml('package' if extra == 'package' else 'script')}")
    if kind == "oneOf" and parts and parts[0] == "packages" and len(parts) == 2:
        return ("a package is either a file in the release folder (file) or listed by reference (sha256 and size), "
                "exactly one of them", f'give {_element(parts)} file = "packages/NAME.zip", or sha256 = "..." and '
                "size = N (not both)")
    if kind == "oneOf":
        return (f"{key} takes one label or a list of labels", f'{key} = "Production" or {key} = ["Production", '
                '"Staging"] (each label as spec/names.md, section 5, allows)')
    if kind in ("minimum", "maximum"):
        low, high = v.schema.get("minimum"), v.schema.get("maximum")
        bound = v.expected
        return message, f"use a whole number from {low} to {high}: {key} = {bound}" if low is not None and \
            high is not None else f"use a number {'at least' if kind == 'minimum' else 'at most'} {bound}: " \
            f"{key} = {bound}"
    if kind == "minItems":
        return message, f'list at least one: {key} = ["..."]' if key != "phases" else \
            f"add {_ADD['phases']}"
    if kind == "minLength":
        return message, f"give {key} a value of at least {v.expected} character(s), or remove it"
    if kind == "maxLength":
        return f"{key} is longer than {v.expected} characters", f"shorten {key} to at most {v.expected} characters"
    if kind == "pattern" and key == "sha256":
        return message, "sha256 = the 64 lower-case hexadecimal digits of the file's SHA-256 (`sha256sum FILE`)"
    if kind == "format":  # "'x' breaks it: use ...": the problem, then the rule once, as the fix
        problem, _, rule = message.rpartition(": ")  # the rules hold no ": ", a quoted value may
        return (problem, rule) if problem else (message, f"see {_SPEC}")
    if kind in ("minProperties", "maxProperties") and key == "value_from":
        return ("value_from names exactly one source", 'value_from = { env = "NAME" } or value_from = '
                '{ file = "PATH" }, one of them')
    return message, f"see {_SPEC} for what {key or 'this'} takes"


def schema_findings(doc: dict[str, Any], text: str, file: str, release: Path) -> list[Finding]:
    """Schema findings, of the document with every sensitive value masked (a schema message
    quotes what it refuses), each with the fix written out. A variable whose value sources are
    wrong (no value, or two) is left to that rule's finding, which says it plainly."""
    schema = release_schema()
    masked = mask_sensitive(doc)
    out: list[Finding] = []
    _walk(schema, schema, masked, [], text, file, out)
    variables = doc.get("variables") if isinstance(doc.get("variables"), list) else []
    sourceless = {("variables", i) for i, v in enumerate(variables) if value_source_problem(release, i, v)}
    for v in schema_violations(schema, masked):
        if v.validator == "additionalProperties" or (v.validator == "enum" and isinstance(v.instance, str)):
            continue  # the walk above says it, with the closest allowed
        parts = list(v.path)
        if tuple(parts[:2]) in sourceless and not v.message.startswith("'name' is"):
            continue
        message, fix = _fix(v, doc)
        line, column = _at(text, parts) if parts else (None, None)
        out.append(Finding(ERROR, "invalid_value", message, file, key_path(parts) or None, line, column, fix))
    return out


#: Keys a step or variable may lose without the later checks reading it wrongly: none of them
#: narrows where the element applies (``scope``, ``environments``, ``roles``), defines a value,
#: or keeps a secret (``sensitive``).
_DROPPABLE = frozenset({"timeout", "window_size", "condition", "description", "required"})


def _node_at(schema: dict[str, Any], node: dict[str, Any], parts: list[str | int]) -> dict[str, Any]:
    for part in parts:
        node = _resolve(schema, node)
        node = node.get("items", {}) if isinstance(part, int) else node.get("properties", {}).get(part, {})
    return _resolve(schema, node)


def _repaired(schema: dict[str, Any], key: str, element: Any,
              findings: list[Finding]) -> tuple[Any, bool] | None:
    """``element`` as lint can best read it past its ``findings`` (see the module docstring),
    and whether a key was left out; None when it cannot be read without guessing (a value that
    narrows where it applies, or defines one, is refused)."""
    if not isinstance(element, dict):
        return None
    out = copy.deepcopy(element)
    dropped = False
    for f in findings:
        parts = parse_key_path(f.path or "")[2:]
        if not parts or not isinstance(parts[0], str):
            return None  # the element as a whole (a key missing, two that exclude each other)
        holder: Any = out
        for part in parts[:-1]:
            try:
                holder = holder[part]
            except (KeyError, IndexError, TypeError):
                return None
        last = parts[-1]
        if not isinstance(holder, dict) or not isinstance(last, str) or last not in holder:
            return None
        if f.code == "unknown_key":
            near = closest(last, list(_node_at(schema, schema["properties"][key]["items"], parts[:-1])
                                      .get("properties", {})), n=1)
            value = holder.pop(last)
            if near and near[0] not in holder:
                holder[near[0]] = value
            elif len(parts) > 1:
                return None  # an unknown scope dimension, say: left out, the value would apply more widely
            continue
        spec = _node_at(schema, schema["properties"][key]["items"], parts)
        if spec.get("type") == "array" and isinstance(holder[last], str):
            holder[last] = [holder[last]]
        elif len(parts) == 1 and last in _DROPPABLE:
            holder.pop(last)
            dropped = True
        else:
            return None
    return out, dropped


def _stand_in(key: str, element: Any) -> Malformed:
    """What the checks after the schema see of an element that stays broken: its name (``""``
    when it has none); for a package step, the package (whose members are still checked); for a
    variable, its value sources as written (the rule on them still applies, decision 572)."""
    if key == "packages":
        return Malformed(id="", version="")
    item = element if isinstance(element, dict) else {}
    out = Malformed(name=item["name"] if isinstance(item.get("name"), str) else "")
    if key == "variables":
        out.update({k: item[k] for k in ("value", "value_from", "placeholder") if k in item})
    if item.get("type") == "package" and isinstance(item.get("package"), str):
        out.update(type="package", package=item["package"])
    return out


def checkable(doc: dict[str, Any], findings: list[Finding], release: Path) -> tuple[dict[str, Any], Skip]:
    """``doc`` for the checks after the schema, and the parts they must skip (``("steps", 1)``,
    ``("lifecycle",)``): each element with schema ``findings`` repaired where lint can read it
    (module docstring), else a :class:`Malformed` stand-in; a broken table left out. Key paths
    and indexes stay as in the file. A repaired element that lost a key is in the skip set as
    ``("steps", 1, "partial")``: the rules still check it, but what it said is not all known."""
    schema = release_schema()
    skip: set[tuple[Any, ...]] = set()
    broken: set[tuple[str, int]] = set()
    by_element: dict[tuple[str, int], list[Finding]] = {}
    for f in findings:
        parts = parse_key_path(f.path) if f.path else []
        if not parts or not isinstance(parts[0], str):
            continue
        if parts[0] in _ARRAYS and len(parts) > 1 and isinstance(parts[1], int):
            by_element.setdefault((parts[0], parts[1]), []).append(f)
        else:
            skip.add((parts[0],))
    view = {k: v for k, v in doc.items() if (k,) not in skip}
    for key in _ARRAYS:
        if not isinstance(view.get(key), list):
            continue
        items = list(view[key])
        for i, item in enumerate(items):
            if (key, i) in by_element:
                repaired = _repaired(schema, key, item, by_element[(key, i)])
                if repaired is None:
                    broken.add((key, i))
                    continue
                items[i] = repaired[0]
                if repaired[1]:
                    skip.add((key, i, "partial"))
        view[key] = items
    variables = doc.get("variables") if isinstance(doc.get("variables"), list) else []
    broken |= {(v.path[0], v.path[1]) for v in (schema_violations(schema, mask_sensitive(view)) if by_element else [])
              if len(v.path) > 1 and v.path[0] in _ARRAYS and isinstance(v.path[1], int)}
    # A variable whose value sources are wrong is malformed too (its schema findings are left to that rule).
    broken |= {("variables", i) for i, v in enumerate(variables) if value_source_problem(release, i, v) is not None}
    for key, i in sorted(broken):
        view[key][i] = _stand_in(key, doc[key][i])
        skip.add((key, i))
    return view, frozenset(skip)
