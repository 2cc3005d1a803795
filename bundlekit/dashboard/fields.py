"""Typed readers for the dashboard view's ``from_dict`` (and its time checks): each failure is an
:class:`~bundlekit.errors.InputError` with code ``invalid_dashboard_view`` naming the key path
(``docs/decisions/050-dashboard-view-model.md``)."""

from __future__ import annotations

import math
from typing import Any, Mapping

from bundlekit.errors import InputError

__all__ = ["invalid", "as_map", "get_key", "string", "opt_string", "opt_time", "list_of", "check_time", "plain_time"]

_CODE = "invalid_dashboard_view"


def invalid(where: str, expected: str) -> InputError:
    """The refusal of a malformed view at ``where`` (a key path), saying what was ``expected``."""
    return InputError(
        f"dashboard view: {where}: expected {expected}. The view is produced by "
        "bundlekit dashboard --json; regenerate it rather than editing it by hand.",
        code=_CODE,
    )


def as_map(d: Any, where: str) -> Mapping[str, Any]:
    """``d`` itself when it is an object (a mapping)."""
    if not isinstance(d, Mapping):
        raise invalid(where, "an object")
    return d


def get_key(d: Mapping[str, Any], key: str, where: str) -> Any:
    """``d[key]``, which must be present."""
    if key not in d:
        raise invalid(f"{where}.{key}", "a value (the key is missing)")
    return d[key]


def string(d: Mapping[str, Any], key: str, where: str) -> str:
    """``d[key]``, which must be a string."""
    v = get_key(d, key, where)
    if not isinstance(v, str):
        raise invalid(f"{where}.{key}", "a string")
    return v


def opt_string(d: Mapping[str, Any], key: str, where: str) -> str | None:
    """``d[key]``: a string, or None when absent or null."""
    v = d.get(key)
    if v is not None and not isinstance(v, str):
        raise invalid(f"{where}.{key}", "a string or null")
    return v


def opt_time(d: Mapping[str, Any], key: str, where: str) -> float | None:
    """``d[key]``: a finite Unix time in seconds, or None when absent or null."""
    v = d.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise invalid(f"{where}.{key}", "a Unix time in seconds or null")
    return v  # type: ignore[no-any-return]  # whole seconds stay an int (decision 480)


def list_of(d: Mapping[str, Any], key: str, where: str) -> list[Any]:
    """``d[key]``, which must be a list."""
    v = get_key(d, key, where)
    if not isinstance(v, list):
        raise invalid(f"{where}.{key}", "a list")
    return v


def plain_time(value: float | None) -> bool:
    """Whether ``value`` is None, an int or a finite float: the common cases :func:`check_time`
    accepts at once (a view of tens of thousands of deployments checks every time, so a caller
    builds the ``where`` of :func:`check_time` only when this is False)."""
    kind = type(value)
    return value is None or kind is int or (kind is float and math.isfinite(value))


def check_time(value: float | None, where: str) -> None:
    """Refuse a ``value`` that is not None and not a finite Unix time in seconds."""
    if plain_time(value):
        return
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                              or not math.isfinite(value)):
        raise invalid(where, "a Unix time in seconds or None")
