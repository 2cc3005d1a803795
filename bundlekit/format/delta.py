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

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from bundlekit.errors import FormatError, VerificationError
from bundlekit.format.codec import MAX_ITEMS

__all__ = ["OP_BASE", "OP_DATA", "DELTA_MINOR", "MAX_BYTES", "MAX_RECIPE_OPS", "BaseRef", "DeltaRef", "Rebuilder"]

OP_BASE = 0
OP_DATA = 1
#: The format minor version that introduced delta packages; a bundle with one says so in its header.
DELTA_MINOR = 2
#: The largest byte count or offset a manifest may state (2**53 - 1: exact in every JSON reader,
#: far below what a file offset holds). The schema gives every size, offset and length this
#: maximum; a recipe's integers are held to it here (spec/bundle-format.md §5.1, §9).
MAX_BYTES = (1 << 53) - 1
#: The most operations one recipe may have: the reader's limit for any array (codec.MAX_ITEMS),
#: which is also the schema's ``maxItems`` for a recipe (spec/bundle-format.md §9).
MAX_RECIPE_OPS = MAX_ITEMS
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


def _scan(recipe: Any, base_size: int) -> tuple[tuple[tuple[int, ...], ...], int, int]:
    """Check every operation's shape and every integer's range (``FormatError``
    ``invalid_delta``, the message starting with the operation's index), and return the
    operations as tuples, the bytes the recipe rebuilds and the bytes it takes from the data
    blob. One pass: a recipe of :data:`MAX_RECIPE_OPS` operations takes well under a second."""
    if type(recipe) not in (list, tuple) or not 1 <= len(recipe) <= MAX_RECIPE_OPS:
        count = len(recipe) if type(recipe) in (list, tuple) else type(recipe).__name__
        raise FormatError(f"recipe: {count} operations; a recipe has 1 to {MAX_RECIPE_OPS}", code="invalid_delta")
    ops: list[tuple[int, ...]] = []
    append = ops.append
    total = data = 0
    for i, op in enumerate(recipe):
        kind = type(op)
        if kind is list or kind is tuple:
            n = len(op)
            if n == 3:
                code, offset, length = op
                # base_size <= MAX_BYTES, so a range inside the base has both integers in range.
                if (code == OP_BASE and type(code) is int and type(offset) is int and type(length) is int
                        and offset >= 0 and length > 0 and offset + length <= base_size):
                    append((OP_BASE, offset, length))
                    total += length
                    continue
                if code == OP_BASE and type(code) is int:
                    _refuse_base_op(i, offset, length, base_size)
            elif n == 2:
                code, length = op
                if code == OP_DATA and type(code) is int and type(length) is int and 0 < length <= MAX_BYTES:
                    append((OP_DATA, length))
                    total += length
                    data += length
                    continue
                if code == OP_DATA and type(code) is int:
                    _refuse_length(i, 1, length)
            if n in (2, 3) and (type(op[0]) is not int or op[0] not in (OP_BASE, OP_DATA)):
                raise FormatError(f"recipe[{i}][0] (operation): {_shown(op[0])} is not {OP_BASE} (copy from the "
                                  f"base: [0, offset, length]) or {OP_DATA} (take data: [1, length])",
                                  code="invalid_delta")
        raise FormatError(f"recipe[{i}]: {_shown(op)} is not [0, offset, length] or [1, length]",
                          code="invalid_delta")
    return tuple(ops), total, data


def _shown(value: Any) -> str:
    text = repr(list(value) if type(value) is tuple else value)
    return text if len(text) <= 80 else text[:77] + "..."


def _refuse_length(i: int, at: int, length: Any) -> None:
    if type(length) is not int:
        raise FormatError(f"recipe[{i}][{at}] (length): {_shown(length)} is not an integer", code="invalid_delta")
    raise FormatError(f"recipe[{i}][{at}] (length): {length} is outside 1..{MAX_BYTES}", code="invalid_delta")


def _refuse_base_op(i: int, offset: Any, length: Any, base_size: int) -> None:
    if type(offset) is not int:
        raise FormatError(f"recipe[{i}][1] (offset): {_shown(offset)} is not an integer", code="invalid_delta")
    if not 0 <= offset <= MAX_BYTES:
        raise FormatError(f"recipe[{i}][1] (offset): {offset} is outside 0..{MAX_BYTES}", code="invalid_delta")
    if type(length) is not int or not 0 < length <= MAX_BYTES:
        _refuse_length(i, 2, length)
    raise FormatError(f"recipe[{i}]: copies base bytes {offset}..{offset + length}, but the base has "
                      f"{base_size} bytes", code="invalid_delta")


@dataclass(frozen=True, slots=True)
class DeltaRef:
    """How to rebuild one package: the base, the data blob's digest (``None``: no new bytes)
    and the recipe (tuples ``(0, offset, length)`` and ``(1, length)``).

    Valid on construction: every operation has one of the two shapes, every integer is within
    ``0..MAX_BYTES`` (lengths at least 1), every base range lies inside ``base.size``, and there
    are 1 to :data:`MAX_RECIPE_OPS` operations; otherwise ``FormatError`` ``invalid_delta``
    naming the operation. ``size`` and ``data_size`` (bytes rebuilt, bytes taken from the data
    blob) are computed once here.
    """

    base: BaseRef
    data: str | None
    recipe: tuple[tuple[int, ...], ...]
    size: int = field(init=False, compare=False)
    data_size: int = field(init=False, compare=False)

    def __post_init__(self) -> None:
        if type(self.base.size) is not int or not 0 < self.base.size <= MAX_BYTES:
            raise FormatError(f"base.size: {self.base.size!r} is outside 1..{MAX_BYTES}", code="invalid_delta")
        recipe, size, data_size = _scan(self.recipe, self.base.size)
        object.__setattr__(self, "recipe", recipe)
        object.__setattr__(self, "size", size)
        object.__setattr__(self, "data_size", data_size)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"base": self.base.to_dict(), "recipe": [list(op) for op in self.recipe]}
        if self.data is not None:
            d["data"] = self.data
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "delta") -> "DeltaRef":
        """The model of a decoded ``delta`` map; ``FormatError`` ``invalid_delta`` names the field
        under ``where`` (for example ``manifest: packages[0].delta``)."""
        try:
            return cls(BaseRef.from_dict(d["base"]), d.get("data"), d["recipe"])
        except FormatError as err:
            raise FormatError(f"{where}.{err.message}", code="invalid_delta") from None  # the only code above

    def check(self, size: int, data_blob_size: int | None, where: str) -> None:
        """Refuse a recipe that cannot rebuild exactly ``size`` bytes (``FormatError``
        ``invalid_delta``): lengths that do not add up to ``size``, or a data blob that is
        missing or not used up exactly. (Each operation was checked on construction.)"""
        if self.size != size:
            raise FormatError(f"{where}.recipe: rebuilds {self.size} bytes, the package has {size}",
                              code="invalid_delta")
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
    only at the end of the base file); ``emit(piece)`` receives the rebuilt package in order,
    in pieces of about :data:`PIECE` bytes whatever the operations' sizes (a recipe of a
    million one-byte operations costs a million small reads, not a million hand-offs to the
    hashing and writing threads). The caller checks the SHA-256 of what was emitted, after
    :meth:`finish`. Raises ``VerificationError`` ``rebuilt_package_mismatch`` when the base is
    shorter than the recipe says and ``FormatError`` ``invalid_delta`` when the data does not
    match the recipe's lengths.
    """

    def __init__(self, delta: DeltaRef, read_base: Callable[[int, int], bytes], emit: Callable[[bytes], object],
                 where: str) -> None:
        self._ops = delta.recipe
        self._read_base = read_base
        self._emit = emit
        self._where = where
        self._next = 0  # index of the next operation to start
        self._data_left = 0  # bytes still owed to the current data operation
        self._pending = bytearray()  # rebuilt bytes not yet emitted (less than PIECE)
        self.emitted = 0
        self._copy_base_ops()

    def _out(self, piece: bytes | memoryview) -> None:
        self.emitted += len(piece)
        if not self._pending and len(piece) >= PIECE:
            self._emit(piece if type(piece) is bytes else bytes(piece))
            return
        self._pending += piece
        if len(self._pending) >= PIECE:
            self._emit(bytes(self._pending))
            self._pending.clear()

    def _copy_base_ops(self) -> None:
        ops, read, out = self._ops, self._read_base, self._out
        n = len(ops)
        i = self._next
        while i < n and ops[i][0] == OP_BASE:
            _, offset, length = ops[i]
            end = offset + length
            while offset < end:
                piece = read(offset, min(PIECE, end - offset))
                if not piece:
                    raise VerificationError(f"{self._where}: the base package ends at {offset}, before the "
                                            f"{end} bytes the recipe copies", code="rebuilt_package_mismatch")
                out(piece)
                offset += len(piece)
            i += 1
        self._next = i
        if i < n:
            self._data_left = ops[i][1]

    def feed(self, data: bytes) -> None:
        """Data blob bytes, in order and already checked by the caller's streaming verification."""
        view = memoryview(data)
        while view:
            if self._data_left == 0:
                raise FormatError(f"{self._where}: the data blob has more bytes than the recipe takes",
                                  code="invalid_delta")
            take = min(self._data_left, len(view))
            self._out(data if take == len(data) else view[:take])
            view = view[take:]
            self._data_left -= take
            if self._data_left == 0:
                self._next += 1
                self._copy_base_ops()

    def finish(self) -> None:
        """Every operation must have run (the data blob was not short); hands on the last bytes."""
        if self._next < len(self._ops):
            raise FormatError(f"{self._where}: the data blob ended before recipe operation {self._next}",
                              code="invalid_delta")
        if self._pending:
            self._emit(bytes(self._pending))
            self._pending.clear()
