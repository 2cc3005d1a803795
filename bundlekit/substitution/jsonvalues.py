"""Variables whose value is a JSON object or array: parse, walk a path, render a leaf.

``#{Config.Db.Port}`` and ``#{Servers[0].Name}`` reach inside a variable whose value is
JSON. Rendering follows Octostache: strings as they are, numbers as written, ``true`` /
``false`` as ``True`` / ``False``, ``null`` as empty, objects and arrays as compact JSON.
Only strict JSON (RFC 8259) objects and arrays count; anything else is plain text.
"""

from __future__ import annotations

import json
from typing import Any, Sequence

__all__ = ["JsonNumber", "ABSENT", "parse_container", "has_templated_keys", "member", "walk", "to_text", "MAX_JSON_DEPTH"]

MAX_JSON_DEPTH = 64  # deeper documents are treated as plain text, never a RecursionError


class JsonNumber(str):
    """A JSON number, kept exactly as written (``15.21`` stays ``15.21``)."""

    __slots__ = ()


class _Absent:
    __slots__ = ()

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _depth_ok(data: Any) -> bool:
    stack = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return False
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
    return True


def parse_container(text: str) -> dict[str, Any] | list[Any] | None:
    """The JSON object or array in ``text``, or None when it is not one."""
    stripped = text.strip()
    if not stripped or stripped[0] not in "[{":
        return None
    try:
        data = json.loads(stripped, parse_int=JsonNumber, parse_float=JsonNumber, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, (dict, list)) or not _depth_ok(data):
        return None
    return data


def has_templated_keys(data: Any) -> bool:
    """True if any object key contains '#': such JSON must be evaluated before it is read."""
    stack = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if any("#" in key for key in node):
                return True
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


def member(node: Any, name: str) -> Any:
    """One step down: an object member (exact name first, then any case) or an array element."""
    if isinstance(node, dict):
        if name in node:
            return node[name]
        folded = name.casefold()
        for key, value in node.items():
            if key.casefold() == folded:
                return value
        return ABSENT
    if isinstance(node, list):
        if name.isdigit() and int(name) < len(node):
            return node[int(name)]
        return ABSENT
    return ABSENT


def walk(node: Any, steps: Sequence[str]) -> Any:
    for step in steps:
        node = member(node, step)
        if node is ABSENT:
            return ABSENT
    return node


def to_text(node: Any) -> str:
    if node is None:
        return ""
    if node is True:
        return "True"
    if node is False:
        return "False"
    if isinstance(node, str):
        return str(node)
    return _compact(node)


def _compact(node: Any) -> str:
    if isinstance(node, JsonNumber):
        return str(node)
    if isinstance(node, dict):
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + _compact(v) for k, v in node.items()) + "}"
    if isinstance(node, list):
        return "[" + ",".join(_compact(v) for v in node) + "]"
    return json.dumps(node, ensure_ascii=False)
