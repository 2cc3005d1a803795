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
from bundlekit.format.recipe import DATA_MARK, MAX_BYTES, MAX_RECIPE_OPS, OP_BASE, OP_DATA, Recipe

__all__ = ["OP_BASE", "OP_DATA", "DELTA_MINOR", "PACKED_MINOR", "MAX_BYTES", "MAX_RECIPE_OPS", "BaseRef", "DeltaRef",
           "Recipe", "Rebuilder"]

#: The format minor version that introduced delta packages (recipes as lists of operations).
DELTA_MINOR = 2
#: The format minor version whose recipes are packed (decision 440); a bundle with one says so in
#: its header.
PACKED_MINOR = 3
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
    and the recipe, a :class:`~bundlekit.format.recipe.Recipe` once constructed (given as one, as
    packed base64 text, or as operations ``[0, offset, length]`` and ``[1, length]``).

    Valid on construction: every operation has one of the two shapes, every integer is within
    ``0..MAX_BYTES`` (lengths at least 1), every base range lies inside ``base.size``, and there
    are 1 to :data:`MAX_RECIPE_OPS` operations; otherwise ``FormatError`` ``invalid_delta``
    naming the operation. ``size`` and ``data_size`` (bytes rebuilt, bytes taken from the data
    blob) are computed once here. ``packed`` says which form :meth:`to_dict` writes: the packed
    text of format 1.3 (every writer), or the list of format 1.2 (a manifest read in that form,
    shown as it was).
    """

    base: BaseRef
    data: str | None
    recipe: Recipe
    packed: bool = True
    size: int = field(init=False, compare=False)
    data_size: int = field(init=False, compare=False)

    def __post_init__(self) -> None:
        if type(self.base.size) is not int or not 0 < self.base.size <= MAX_BYTES:
            raise FormatError(f"base.size: {self.base.size!r} is outside 1..{MAX_BYTES}", code="invalid_delta")
        given: Any = self.recipe
        if type(given) is str:
            recipe = Recipe.from_text(given, self.base.size)
        elif isinstance(given, Recipe):
            recipe = Recipe.from_packed(given.packed(), self.base.size)  # checked against this base
        else:
            recipe = Recipe.from_ops(given, self.base.size)
        object.__setattr__(self, "recipe", recipe)
        object.__setattr__(self, "size", recipe.size)
        object.__setattr__(self, "data_size", recipe.data_size)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"base": self.base.to_dict(),
                             "recipe": self.recipe.text() if self.packed else self.recipe.as_lists()}
        if self.data is not None:
            d["data"] = self.data
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "delta") -> "DeltaRef":
        """The model of a decoded ``delta`` map, its recipe in either form; ``FormatError``
        ``invalid_delta`` names the field under ``where`` (for example ``manifest: packages[0].delta``)."""
        recipe = d["recipe"]
        try:
            return cls(BaseRef.from_dict(d["base"]), d.get("data"), recipe, type(recipe) is str)
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
    only at the end of the base file). ``emit(piece)`` receives the rebuilt package in order,
    as memoryviews of :data:`PIECE` bytes (the last one shorter) whatever the operations'
    sizes: a recipe of a million one-byte operations costs a million small reads, not a
    million hand-offs to the hashing and writing threads.

    Each piece is a view of a buffer of :data:`PIECE` bytes that ``take()`` returned (default:
    a new one each time); the view's ``obj`` is that buffer. A caller that recycles buffers
    (a pool handed back by its consumers) saves the allocation per piece, and passes
    ``read_into(offset, view)``, which fills ``view`` with base bytes from ``offset`` and
    returns the count (fewer only at the end of the base file; ``os.preadv``), so base bytes
    go from the file straight into the buffer that is hashed and written, with no copy. The
    piece must be used up before its buffer comes back from ``take`` again.

    The caller checks the SHA-256 of what was emitted, after :meth:`finish`. Raises
    ``VerificationError`` ``rebuilt_package_mismatch`` when the base is shorter than the recipe
    says and ``FormatError`` ``invalid_delta`` when the data does not match the recipe's lengths.
    """

    def __init__(self, delta: DeltaRef, read_base: Callable[[int, int], bytes], emit: Callable[[memoryview], object],
                 where: str, *, take: Callable[[], bytearray] | None = None,
                 read_into: Callable[[int, memoryview], int] | None = None) -> None:
        words = iter(delta.recipe.words)
        self._ops = zip(words, words)  # (offset or DATA_MARK, length) per operation, read once in order
        self._count = len(delta.recipe)
        self._read_base = read_base
        self._read_into = read_into or self._copy_read
        self._take = take or _new_piece
        self._emit = emit
        self._where = where
        self._next = 0  # index of the next operation to start
        self._data_left = 0  # bytes still owed to the current data operation
        self._buf = self._take()  # the piece being filled
        self._view = memoryview(self._buf)
        self._fill = 0  # bytes of it filled
        self.emitted = 0
        self._copy_base_ops()

    def _copy_read(self, offset: int, view: memoryview) -> int:
        piece = self._read_base(offset, len(view))
        view[:len(piece)] = piece
        return len(piece)

    def _full(self) -> None:
        """Hand on the filled piece and start the next one."""
        self._emit(self._view)
        self._buf = self._take()
        self._view = memoryview(self._buf)
        self._fill = 0

    def _copy_base_ops(self) -> None:
        """Run copy operations up to the next data operation, which then awaits its bytes."""
        read = self._read_into
        i = self._next
        for offset, length in self._ops:
            if offset == DATA_MARK:
                self._next = i
                self._data_left = length
                return
            end = offset + length
            while offset < end:
                fill = self._fill
                want = min(PIECE - fill, end - offset)
                got = read(offset, self._view[fill:fill + want])
                if not got:
                    raise VerificationError(f"{self._where}: the base package ends at {offset}, before the "
                                            f"{end} bytes the recipe copies", code="rebuilt_package_mismatch")
                offset += got
                self.emitted += got
                self._fill = fill + got
                if self._fill == PIECE:
                    self._full()
            i += 1
        self._next = i

    def feed(self, data: bytes) -> None:
        """Data blob bytes, in order and already checked by the caller's streaming verification."""
        view = memoryview(data)
        while view:
            if self._data_left == 0:
                raise FormatError(f"{self._where}: the data blob has more bytes than the recipe takes",
                                  code="invalid_delta")
            fill = self._fill
            take = min(self._data_left, len(view), PIECE - fill)
            self._view[fill:fill + take] = view[:take]
            self._fill = fill + take
            self.emitted += take
            view = view[take:]
            self._data_left -= take
            if self._fill == PIECE:
                self._full()
            if self._data_left == 0:
                self._next += 1
                self._copy_base_ops()

    def finish(self) -> None:
        """Every operation must have run (the data blob was not short); hands on the last bytes."""
        if self._next < self._count:
            raise FormatError(f"{self._where}: the data blob ended before recipe operation {self._next}",
                              code="invalid_delta")
        if self._fill:
            self._emit(self._view[:self._fill])
            self._fill = 0


def _new_piece() -> bytearray:
    return bytearray(PIECE)
