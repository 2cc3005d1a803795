"""What ``#{each}`` binds its item name to, and how names under that item resolve.

An item is one member of an indexed collection (``Items[a]``), one element of a JSON
array, one member of a JSON object (``Key`` / ``Value``) or one comma-separated part of a
list value. Each kind answers two questions for a path below the item name: its value
(:meth:`Item.value`) and, for a nested ``#{each}``, its members (:meth:`Item.members`).
``None`` means "not here": the engine then looks in outer scopes and the dictionary, as
Octostache does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, List, Tuple

from bundlekit.substitution import jsonvalues as js
from bundlekit.substitution.variables import Key, path_key

if TYPE_CHECKING:
    from bundlekit.substitution.engine import _Evaluator as Evaluator

__all__ = ["Item", "Scope", "Steps", "collection_items", "indexed_items", "is_word"]

Steps = List[Tuple[str, str]]  # typing: evaluated at run time on 3.8 targets


class Item:
    def value(self, ev: Evaluator, rest: Steps, scopes: tuple[Scope, ...]) -> Any:
        raise NotImplementedError

    def members(self, ev: Evaluator, rest: Steps, scopes: tuple[Scope, ...]) -> list["Item"] | None:
        raise NotImplementedError


def is_word(step: tuple[str, str], word: str) -> bool:
    return step[0] == "i" and step[1].casefold() == word


class _IndexedItem(Item):
    """A member of an indexed collection: ``Items[a].Name`` gives item ``a`` of ``Items``."""

    def __init__(self, prefix: Steps, key: str) -> None:
        self.prefix, self.key = prefix, key

    def _path(self, rest: Steps) -> Steps:
        return [*self.prefix, ("x", self.key), *rest]

    def value(self, ev: Evaluator, rest: Steps, scopes: tuple[Scope, ...]) -> Any:
        full = self._path(rest)
        if not rest or (len(rest) == 1 and is_word(rest[0], "key")):
            # the item itself is its direct value if defined, else its key; ".Key" is the key
            entry = ev.vars._entry(path_key(tuple(full)))
            return ev.value_of(entry, scopes) if entry is not None else self.key
        return ev.resolve_global(full, scopes)

    def members(self, ev: Evaluator, rest: Steps, scopes: tuple[Scope, ...]) -> list[Item] | None:
        return ev.collection_global(self._path(rest), scopes)


class _JsonItem(Item):
    """An element of a JSON array (or a JSON value reached from an object member)."""

    def __init__(self, data: Any) -> None:
        self.data = data

    def value(self, ev: Evaluator, rest: Steps, scopes: tuple[Scope, ...]) -> Any:
        node = js.walk(self.data, [text for _, text in rest])
        if node is js.UNRESOLVED:
            return None
        return node if node is js.ABSENT else js.to_text(node)

    def members(self, ev: Evaluator, rest: Steps, scopes: tuple[Scope, ...]) -> list[Item] | None:
        node = js.walk(self.data, [text for _, text in rest])
        if isinstance(node, (list, dict)):
            return _json_items(node)
        if isinstance(node, str) and node:
            return collection_items(node)
        return []


class _JsonPropItem(Item):
    """A member of a JSON object: ``#{e}`` and ``#{e.Key}`` are its name, ``#{e.Value}`` its value."""

    def __init__(self, key: str, data: Any) -> None:
        self.key, self.data = key, data

    def value(self, ev: Evaluator, rest: Steps, scopes: tuple[Scope, ...]) -> Any:
        if not rest or (len(rest) == 1 and is_word(rest[0], "key")):
            return self.key
        if is_word(rest[0], "value"):
            return _JsonItem(self.data).value(ev, rest[1:], scopes)
        return None

    def members(self, ev: Evaluator, rest: Steps, scopes: tuple[Scope, ...]) -> list[Item] | None:
        if rest and is_word(rest[0], "value"):
            return _JsonItem(self.data).members(ev, rest[1:], scopes)
        return None


class _TextItem(Item):
    """One comma-separated part of a list value (kept as written, spaces included)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def value(self, ev: Evaluator, rest: Steps, scopes: tuple[Scope, ...]) -> Any:
        return self.text if not rest else None

    def members(self, ev: Evaluator, rest: Steps, scopes: tuple[Scope, ...]) -> list[Item] | None:
        return collection_items(self.text) if not rest else None


def indexed_items(prefix: Steps, members: list[tuple[str, str]]) -> list[Item]:
    return [_IndexedItem(list(prefix), display) for _, display in members]


def _json_items(data: Any) -> list[Item]:
    if isinstance(data, dict):
        return [_JsonPropItem(k, v) for k, v in data.items()]
    return [_JsonItem(v) for v in data]


def collection_items(text: str) -> list[Item]:
    data = js.parse_container(text)
    if data is not None:
        return _json_items(data)
    return [_TextItem(part) for part in text.split(",")]


@dataclass(frozen=True)
class Scope:
    var: str  # the #{each} name, case-folded
    item: Item
    specials: dict[Key, str]
