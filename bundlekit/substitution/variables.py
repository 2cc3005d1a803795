"""The variable store the engine reads: case-insensitive names, raw values, sensitivity.

A name is parsed as a path (``Octopus.Action[Deploy web].Output.Port``) and stored under
a case-insensitive key built from its steps, so ``octopus.action[deploy web].output.port``
is the same variable. Names that are not paths (``a$b``) are kept under their lowercased,
trimmed text and can be read with :meth:`VariableDictionary.get_raw` but not referenced
from a template. The store also indexes collections (``Items[a].Name`` makes ``a`` a
member of ``Items``) for ``#{each}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Tuple

from bundlekit.substitution.errors import INVALID_VARIABLE, SubstitutionError
from bundlekit.substitution.parser import parse_name

__all__ = ["VariableDictionary", "Key", "path_key", "path_display"]

Path = Tuple[Tuple[str, str], ...]  # ("i", identifier) / ("x", index key), original case
Key = Tuple[Tuple[str, str], ...]  # the same, case-folded: the store's key


def path_key(path: Path) -> Key:
    return tuple((kind, text.casefold()) for kind, text in path)


def path_display(path: Path) -> str:
    out: list[str] = []
    for kind, text in path:
        if kind == "i":
            out.append(("." if out else "") + text)
        elif kind == "x":
            out.append(f"[{text}]")
        else:  # a raw (non-path) name
            out.append(text)
    return "".join(out)


@dataclass(frozen=True)
class _Entry:
    name: str
    value: str
    sensitive: bool
    path: Path
    key: Key


class VariableDictionary:
    """A case-insensitive name -> value store that knows which names are sensitive."""

    def __init__(self, values: Mapping[str, str] | None = None, sensitive: Iterable[str] = ()) -> None:
        self._entries: dict[Key, _Entry] = {}
        self._members_cache: dict[Key, list[tuple[str, str]]] | None = None
        for name, value in (values or {}).items():
            self.set(name, value)
        for name in sensitive:
            entry = self._entries.get(self._key_of(name))
            if entry is not None:
                self._entries[entry.key] = _Entry(entry.name, entry.value, True, entry.path, entry.key)

    @staticmethod
    def _path_of(name: str) -> Path:
        if not isinstance(name, str) or not name.strip():
            raise SubstitutionError(
                f"variable name {name!r} is empty or not text; every variable needs a name",
                code=INVALID_VARIABLE,
            )
        parsed = parse_name(name)
        return parsed if parsed is not None else (("r", name.strip()),)

    def _key_of(self, name: str) -> Key:
        return path_key(self._path_of(name))

    def set(self, name: str, value: str, sensitive: bool = False) -> None:
        """Define or replace a variable (a later set of the same name, any case, wins)."""
        if not isinstance(value, str):
            raise SubstitutionError(
                f"variable {name!r} has a {type(value).__name__} value; values are text",
                code=INVALID_VARIABLE,
            )
        path = self._path_of(name)
        key = path_key(path)
        if key in self._entries:
            # keep the first spelling and position so collection order is definition order
            old = self._entries[key]
            self._entries[key] = _Entry(old.name, value, sensitive, old.path, key)
        else:
            self._entries[key] = _Entry(name, value, sensitive, path, key)
            self._members_cache = None

    def get_raw(self, name: str) -> str | None:
        """The value as stored, not evaluated; None if undefined."""
        entry = self._entries.get(self._key_of(name))
        return entry.value if entry else None

    def names(self) -> list[str]:
        """Every defined name, as first spelled, in definition order."""
        return [e.name for e in self._entries.values()]

    def is_sensitive(self, name: str) -> bool:
        entry = self._entries.get(self._key_of(name))
        return bool(entry and entry.sensitive)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and bool(name.strip()) and self._key_of(name) in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    # -- for the engine ------------------------------------------------------------------
    def _entry(self, key: Key) -> _Entry | None:
        return self._entries.get(key)

    def _entry_by_name(self, name: str) -> _Entry | None:
        return self._entries.get(self._key_of(name))

    def _members(self, key: Key) -> list[tuple[str, str]]:
        """Index keys under a collection: [(folded key, first spelling)] in definition order."""
        if self._members_cache is None:
            cache: dict[Key, dict[str, str]] = {}
            for entry in self._entries.values():
                for j, (kind, text) in enumerate(entry.path):
                    if kind == "x":
                        cache.setdefault(path_key(entry.path[:j]), {}).setdefault(text.casefold(), text)
            self._members_cache = {k: list(v.items()) for k, v in cache.items()}
        return self._members_cache.get(key, [])
