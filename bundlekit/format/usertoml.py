"""The one way bundlekit parses TOML a user wrote (release files, egress and merge policies).

``tomllib`` recurses once per level of nested arrays and inline tables, so a hostile file
(``a = [[[[...`` 5000 deep) raised ``RecursionError`` and a traceback instead of the file's own
refusal, and a file just under that depth could still exhaust the stack in the code that walks
the result. :func:`loads_user_toml` turns both into ``tomllib.TOMLDecodeError``, which every
caller already maps to its file's coded refusal naming the file (decision 671).
"""

from __future__ import annotations

import tomllib
from typing import Any

__all__ = ["MAX_TOML_DEPTH", "loads_user_toml"]

#: The deepest nesting of tables and arrays a user's TOML file may have (the top table is level 1).
#: A release file or policy needs 4 or 5; the walkers of the result recurse at most this deep.
MAX_TOML_DEPTH = 64


def loads_user_toml(text: str) -> dict[str, Any]:
    """The TOML document ``text`` as ``tomllib.loads`` gives it.

    Raises ``tomllib.TOMLDecodeError`` for text that is not TOML, and also for a document whose
    tables and arrays nest more than :data:`MAX_TOML_DEPTH` levels deep (found with an iterative
    walk, or when the parser itself runs out of stack): the message says so and what to do."""
    too_deep = tomllib.TOMLDecodeError(
        f"tables and arrays nested more than {MAX_TOML_DEPTH} levels deep; bundlekit reads files that "
        "nest a few levels: flatten the file")
    try:
        doc = tomllib.loads(text)
    except RecursionError:
        raise too_deep from None
    todo: list[tuple[Any, int]] = [(doc, 1)]
    while todo:
        value, depth = todo.pop()
        if depth > MAX_TOML_DEPTH:
            raise too_deep
        if isinstance(value, dict):
            todo.extend((item, depth + 1) for item in value.values() if isinstance(item, (dict, list)))
        elif isinstance(value, list):
            todo.extend((item, depth + 1) for item in value if isinstance(item, (dict, list)))
    return doc
