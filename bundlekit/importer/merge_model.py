"""The data the three-way merge works on: snapshots, the identity of their entries, constants.

A *snapshot* is the plain-data form of a project (``spec/merge.md``, "Snapshots"): four
sections keyed by identity. This module owns that identity (:func:`variable_key`,
lowercased step names and package ids, "Identity"), the shape check every side passes
(:func:`normalize_snapshot`) and :func:`make_snapshot`. Pure: no I/O.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from bundlekit.errors import InputError

__all__ = [
    "ABSENT",
    "KINDS",
    "ORDER_KEY",
    "STRATEGIES",
    "Snapshot",
    "make_snapshot",
    "mark_sensitive",
    "normalize_snapshot",
    "parse_variable_key",
    "sensitive_keys",
    "snapshot_error",
    "variable_key",
]

Snapshot = dict[str, Any]
KINDS = ("variable", "step", "step_property", "step_order", "package")
STRATEGIES = ("fail", "keep-local", "take-incoming")
ORDER_KEY = "step_order"
_SECTIONS = ("variables", "steps", "step_order", "packages")
_ESCAPED = "%[];,="


class _Absent:
    """Marks an entry or property that does not exist on one side (distinct from ``None``)."""

    __slots__ = ()
    _instance: _Absent | None = None

    def __new__(cls) -> _Absent:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "ABSENT"

    def __deepcopy__(self, memo: dict[int, Any]) -> _Absent:
        return self


ABSENT: Any = _Absent()


# ---------------------------------------------------------------- identity


def _esc(text: str) -> str:
    return "".join(f"%{ord(c):02X}" if c in _ESCAPED else c for c in text)


def _unesc(text: str) -> str:
    return re.sub(r"%([0-9A-F]{2})", lambda m: chr(int(m.group(1), 16)), text)


def _canonical_scope(scope: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    if not isinstance(scope, Mapping):
        raise InputError("variable scope must be an object of dimension -> list of values",
                         code="invalid_snapshot")
    merged: dict[str, set[str]] = {}
    for dim, values in scope.items():
        # a bare string is a Sequence too; accepting it would scope on its characters
        if not isinstance(dim, str) or isinstance(values, str | bytes) or not isinstance(values, Sequence) \
                or not all(isinstance(v, str) for v in values):
            raise InputError(f"variable scope dimension {dim!r} must map to a list of strings",
                             code="invalid_snapshot")
        merged.setdefault(dim.lower(), set()).update(v.lower() for v in values)
    return {dim: sorted(vals) for dim, vals in sorted(merged.items()) if vals}


def variable_key(name: str, scope: Mapping[str, Sequence[str]]) -> str:
    """The identity of a variable: lowercased name plus canonical scope, e.g.
    ``acme.url[environment=production,test;role=web]`` (see spec/merge.md, "Identity")."""
    if not isinstance(name, str) or not name:
        raise InputError("variable name must be a non-empty string", code="invalid_snapshot")
    canon = _canonical_scope(scope)
    if not canon:
        return _esc(name.lower())
    dims = ";".join(f"{_esc(d)}={','.join(_esc(v) for v in vals)}" for d, vals in canon.items())
    return f"{_esc(name.lower())}[{dims}]"


def parse_variable_key(key: str) -> tuple[str, dict[str, list[str]]]:
    """Inverse of :func:`variable_key`: (lowercased name, canonical scope)."""
    name, sep, rest = key.partition("[")
    scope: dict[str, list[str]] = {}
    if sep:
        for part in rest.rstrip("]").split(";"):
            dim, _, vals = part.partition("=")
            scope[_unesc(dim)] = [_unesc(v) for v in vals.split(",")]
    return _unesc(name), scope


# ---------------------------------------------------------------- snapshot checks


def snapshot_error(side: str, path: str, expected: str) -> InputError:
    return InputError(
        f"{side} snapshot: {path} must be {expected}; fix the conversion of the {side} project "
        "into a merge snapshot (spec/merge.md, 'Snapshots')",
        code="invalid_snapshot", details={"side": side, "path": path})


def _section(snap: Mapping[str, Any], name: str, side: str) -> Mapping[str, Any]:
    value = snap.get(name, {})
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise snapshot_error(side, name, "an object keyed by identity")
    for key, entry in value.items():
        if not isinstance(entry, Mapping):
            raise snapshot_error(side, f"{name}[{key!r}]", "an object")
    return value


def normalize_snapshot(snap: Mapping[str, Any] | None, side: str) -> Snapshot:
    """Check a snapshot's shape and identities and return a private deep copy."""
    if snap is None:
        return {"variables": {}, "steps": {}, "step_order": [], "packages": {}}
    if not isinstance(snap, Mapping):
        raise snapshot_error(side, "(top level)", "an object")
    unknown = sorted(set(snap) - set(_SECTIONS), key=str)
    if unknown:
        raise snapshot_error(side, repr(unknown[0]), f"absent (known sections: {', '.join(_SECTIONS)})")
    variables, steps, packages = (_section(snap, n, side) for n in ("variables", "steps", "packages"))
    for key, var in variables.items():
        for field, types, what in (("name", str, "a string"), ("sensitive", bool, "true or false"),
                                   ("placeholder", bool, "true or false")):
            if (field == "name" or field in var) and not isinstance(var.get(field), types):
                raise snapshot_error(side, f"variables[{key!r}].{field}", what)
        try:
            expected = variable_key(var["name"], var.get("scope", {}))
        except InputError as exc:
            raise snapshot_error(side, f"variables[{key!r}]", f"a valid variable ({exc.message})") from None
        if key != expected:
            raise snapshot_error(side, f"variables[{key!r}]", f"keyed by variable_key(name, scope) = {expected!r}")
    for section, field in (("steps", "name"), ("packages", "id")):
        for key, entry in (steps if section == "steps" else packages).items():
            ident = entry.get(field)
            if not isinstance(ident, str) or not ident:
                raise snapshot_error(side, f"{section}[{key!r}].{field}", "a non-empty string")
            if key != ident.lower():
                raise snapshot_error(side, f"{section}[{key!r}]", f"keyed by the lowercased {field} {ident.lower()!r}")
    order = snap.get("step_order", [])
    if isinstance(order, str) or not isinstance(order, Sequence) or not all(isinstance(k, str) for k in order) \
            or sorted(order) != sorted(steps) or len(set(order)) != len(order):
        raise snapshot_error(side, "step_order", "a list naming every key of 'steps' exactly once")
    return copy.deepcopy({
        "variables": {k: dict(v) for k, v in variables.items()},
        "steps": {k: dict(v) for k, v in steps.items()},
        "step_order": list(order),
        "packages": {k: dict(v) for k, v in packages.items()},
    })


def make_snapshot(variables: Iterable[Mapping[str, Any]] = (), steps: Iterable[Mapping[str, Any]] = (),
                  packages: Iterable[Mapping[str, Any]] = ()) -> Snapshot:
    """Build a snapshot from entry lists (steps in process order), computing every key.

    Two entries with the same identity are refused (``duplicate_identity``): a merge cannot
    tell which one the other side's entry corresponds to.
    """
    out: Snapshot = {"variables": {}, "steps": {}, "step_order": [], "packages": {}}
    for section, entries in (("variables", variables), ("steps", steps), ("packages", packages)):
        for entry in entries:
            if not isinstance(entry, Mapping):
                raise snapshot_error("built", section, "a list of objects")
            if section == "variables":
                key = variable_key(entry.get("name"), entry.get("scope", {}))  # type: ignore[arg-type]
            else:
                key = str(entry.get("name" if section == "steps" else "id", "")).lower()
            if key in out[section]:
                raise InputError(f"two {section} have the identity {key!r}; names are case-insensitive and "
                                 "scopes order-insensitive, so rename or merge one of them",
                                 code="duplicate_identity", details={"section": section, "key": key})
            out[section][key] = copy.deepcopy(dict(entry))
    out["step_order"] = list(out["steps"])
    return normalize_snapshot(out, "built")


# ---------------------------------------------------------------- sticky sensitivity


def sensitive_keys(*snapshots: Mapping[str, Any] | None) -> set[str]:
    """The identities of the variables that any of ``snapshots`` (``None``: empty) marks sensitive."""
    return {key for snap in snapshots if snap for key, v in (snap.get("variables") or {}).items()
            if isinstance(v, Mapping) and v.get("sensitive") is True}


def mark_sensitive(snap: Snapshot, keys: set[str]) -> Snapshot:
    """A copy of ``snap`` whose variables with an identity in ``keys`` are marked sensitive
    (values untouched: the zone seals them). Decision 250: what a zone ever held sensitive it
    keeps sensitive in every snapshot it stores of the project."""
    out = copy.deepcopy(snap)
    for key, v in out["variables"].items():
        if key in keys:
            v["sensitive"] = True
    return out
