"""Delta packages (format 1.2): a package rebuilt from one the destination holds plus new bytes.

A package entry with a ``delta`` field carries no bytes of its own. Its recipe is a list of
operations applied in order, each appending bytes to the package being rebuilt:

* ``[0, offset, length]``: copy ``length`` bytes of the *base* package from ``offset``;
* ``[1, length]``: take the next ``length`` bytes of the *data* blob (the bytes the
  destination lacks, in package order).

The rebuilt bytes must hash to the entry's ``sha256`` before anything uses them
(spec/bundle-format.md §5.1). The recipe is a function of the two packages; how the source
found the shared bytes (content-defined chunks) is not part of the format.

Pure: :class:`DeltaRef` is validated on construction against the entry it belongs to, and
:class:`Rebuilder` is a state machine that gets its base reads and its output as callables.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from bundlekit.errors import FormatError, VerificationError

__all__ = ["OP_BASE", "OP_DATA", "DELTA_MINOR", "BaseRef", "DeltaRef", "Rebuilder"]

OP_BASE = 0
OP_DATA = 1
#: The format minor version that introduced delta packages; a bundle with one says so in its header.
DELTA_MINOR = 2
#: Pieces in which a base range is read and handed on (bounded memory whatever the range).
PIECE = 1 << 20


@dataclass(frozen=True, slots=True)
class BaseRef:
    """The package the destination must already hold: id, version, SHA-256 and size in bytes."""

    id: str
    version: str
    sha256: str
    size: int

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "version": self.version, "sha256": self.sha256, "size": self.size}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "BaseRef":
        return cls(d["id"], d["version"], d["sha256"], d["size"])


@dataclass(frozen=True, slots=True)
class DeltaRef:
    """How to rebuild one package: the base, the data blob's digest (``None``: no new bytes)
    and the recipe (tuples ``(0, offset, length)`` and ``(1, length)``)."""

    base: BaseRef
    data: str | None
    recipe: tuple[tuple[int, ...], ...]

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"base": self.base.to_dict(), "recipe": [list(op) for op in self.recipe]}
        if self.data is not None:
            d["data"] = self.data
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "DeltaRef":
        return cls(BaseRef.from_dict(d["base"]), d.get("data"), tuple(tuple(op) for op in d["recipe"]))

    @property
    def data_size(self) -> int:
        """How many bytes the recipe takes from the data blob."""
        return sum(op[1] for op in self.recipe if op[0] == OP_DATA)

    def check(self, size: int, data_blob_size: int | None, where: str) -> None:
        """Refuse a recipe that cannot rebuild exactly ``size`` bytes (``FormatError``
        ``invalid_delta``): an unknown operation, an empty one, a base range outside the
        base, a data blob that is missing or not used up exactly, or lengths that do not
        add up to ``size``."""
        total = 0
        for i, op in enumerate(self.recipe):
            if op[0] == OP_BASE and len(op) == 3:
                offset, length = op[1], op[2]
                if offset + length > self.base.size:
                    raise FormatError(f"{where}.recipe[{i}]: copies base bytes {offset}..{offset + length}, but the "
                                      f"base {self.base.id} {self.base.version} has {self.base.size} bytes",
                                      code="invalid_delta")
            elif op[0] == OP_DATA and len(op) == 2:
                length = op[1]
            else:
                raise FormatError(f"{where}.recipe[{i}]: {list(op)} is not [0, offset, length] or [1, length]",
                                  code="invalid_delta")
            if length <= 0:
                raise FormatError(f"{where}.recipe[{i}]: an operation of {length} bytes", code="invalid_delta")
            total += length
        if total != size:
            raise FormatError(f"{where}.recipe: rebuilds {total} bytes, the package has {size}", code="invalid_delta")
        wanted = self.data_size
        if self.data is None:
            if wanted:
                raise FormatError(f"{where}.recipe: takes {wanted} bytes of data but names no data blob",
                                  code="invalid_delta")
        elif data_blob_size is None:
            raise FormatError(f"{where}.data: names blob {self.data[:16]}..., which this bundle does not carry",
                              code="invalid_delta")
        elif data_blob_size != wanted:
            raise FormatError(f"{where}.data: the recipe takes {wanted} bytes, the data blob has {data_blob_size}",
                              code="invalid_delta")


class Rebuilder:
    """Applies a recipe as the data blob's bytes arrive: ``feed`` them in order, then ``finish``.

    ``read_base(offset, length)`` returns up to ``length`` base bytes from ``offset`` (fewer
    only at the end of the base file); ``emit(piece)`` receives the rebuilt package in order.
    The caller checks the SHA-256 of what was emitted. Raises ``VerificationError``
    ``rebuilt_package_mismatch`` when the base is shorter than the recipe says and
    ``invalid_delta`` when the data does not match the recipe's lengths.
    """

    def __init__(self, delta: DeltaRef, read_base: Callable[[int, int], bytes], emit: Callable[[bytes], object],
                 where: str) -> None:
        self._ops = delta.recipe
        self._read_base = read_base
        self._emit = emit
        self._where = where
        self._next = 0  # index of the next operation to start
        self._data_left = 0  # bytes still owed to the current data operation
        self.emitted = 0
        self._copy_base_ops()

    def _copy_base_ops(self) -> None:
        while self._next < len(self._ops) and self._ops[self._next][0] == OP_BASE:
            _, offset, length = self._ops[self._next]
            end = offset + length
            while offset < end:
                piece = self._read_base(offset, min(PIECE, end - offset))
                if not piece:
                    raise VerificationError(f"{self._where}: the base package ends at {offset}, before the "
                                            f"{end} bytes the recipe copies", code="rebuilt_package_mismatch")
                self._emit(piece)
                offset += len(piece)
                self.emitted += len(piece)
            self._next += 1
        if self._next < len(self._ops):
            self._data_left = self._ops[self._next][1]

    def feed(self, data: bytes) -> None:
        """Data blob bytes, in order and already checked by the caller's streaming verification."""
        view = memoryview(data)
        while view:
            if self._data_left == 0:
                raise FormatError(f"{self._where}: the data blob has more bytes than the recipe takes",
                                  code="invalid_delta")
            take = min(self._data_left, len(view))
            self._emit(data if take == len(data) else bytes(view[:take]))
            self.emitted += take
            view = view[take:]
            self._data_left -= take
            if self._data_left == 0:
                self._next += 1
                self._copy_base_ops()

    def finish(self) -> None:
        """Every operation must have run (the data blob was not short)."""
        if self._next < len(self._ops):
            raise FormatError(f"{self._where}: the data blob ended before recipe operation {self._next}",
                              code="invalid_delta")
