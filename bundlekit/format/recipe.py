"""A delta recipe's operations, held packed: two machine words per operation, no object per one.

A recipe (spec/bundle-format.md §5.1) is a list of operations, each appending bytes to the package
being rebuilt: ``(0, offset, length)`` copies ``length`` bytes of the base from ``offset``;
``(1, length)`` takes the next ``length`` bytes of the data blob. A manifest carries it in one
of two forms:

* **packed** (format 1.3): a string, the base64 (RFC 4648 §4, padded, nothing else) of 16 bytes
  per operation: two unsigned 64-bit little-endian integers ``a`` and ``b``. ``a`` at most
  :data:`MAX_BYTES` copies ``b`` bytes of the base from offset ``a``; ``a`` equal to
  :data:`DATA_MARK` (2^64 - 1) takes the next ``b`` bytes of the data blob. Reading it builds one
  ``array`` of integers: 16 MiB for the most operations the format allows.
* **list** (format 1.2): an array of arrays ``[0, offset, length]`` and ``[1, length]``, which
  a decoder turns into millions of objects (about 160 MiB for 2^20 operations); still read,
  within the decoder's limits (decision 440), never written.

:class:`Recipe` is the checked, compact model of either: valid on construction (every
operation of one of the two shapes, every integer in range, lengths at least 1, every base range
inside the base), otherwise ``FormatError`` ``invalid_delta`` naming the operation. Pure.
"""

from __future__ import annotations

import binascii
import sys
from array import array
from typing import Any, Iterator, Union

from bundlekit.errors import FormatError
from bundlekit.format.codec import MAX_ITEMS

__all__ = ["OP_BASE", "OP_DATA", "DATA_MARK", "MAX_BYTES", "MAX_RECIPE_OPS", "RECORD", "Recipe"]

OP_BASE = 0
OP_DATA = 1
#: The first word of a packed data operation (no offset: the data blob is read in order).
DATA_MARK = (1 << 64) - 1
#: The largest byte count or offset a manifest may state (2**53 - 1: exact in every JSON reader,
#: far below what a file offset holds). The schema gives every size, offset and length this
#: maximum; a recipe's integers are held to it here (spec/bundle-format.md §5.1, §9).
MAX_BYTES = (1 << 53) - 1
#: The most operations one recipe may have: the reader's limit for any array (codec.MAX_ITEMS),
#: which is also the schema's ``maxItems`` for a list recipe (spec/bundle-format.md §9).
MAX_RECIPE_OPS = MAX_ITEMS
#: Bytes per packed operation.
RECORD = 16
#: The longest packed recipe text: the base64 of :data:`MAX_RECIPE_OPS` records.
MAX_TEXT = 4 * -(-MAX_RECIPE_OPS * RECORD // 3)

_WORD = "Q"
assert array(_WORD).itemsize == 8
#: Two unsigned 64-bit integers per operation: an ``array``, or a view of packed records read on a
#: little-endian machine.
Words = Union["array[int]", memoryview]


class Recipe:
    """The operations of one recipe, checked against the base's size (see the module docstring).

    ``len(recipe)`` is the number of operations; ``recipe[i]`` and iteration give them as tuples
    ``(0, offset, length)`` and ``(1, length)``; :attr:`size` is the bytes the recipe rebuilds
    and :attr:`data_size` those it takes from the data blob. :attr:`words` holds two unsigned
    integers per operation (``a``, ``b`` of the packed form), which :class:`~bundlekit.format.delta.Rebuilder`
    walks without building a tuple per operation. Build one with :meth:`from_ops`,
    :meth:`from_packed` or :meth:`from_text`; they raise ``FormatError`` ``invalid_delta``.
    """

    __slots__ = ("words", "size", "data_size")

    def __init__(self, words: Words, size: int, data_size: int) -> None:
        self.words = words
        self.size = size
        self.data_size = data_size

    # -- reading ---------------------------------------------------------------------------

    @classmethod
    def from_text(cls, text: Any, base_size: int) -> "Recipe":
        """The packed form as it appears in a manifest (base64 text), canonical only: the standard
        alphabet, padded, no other character, and the unused bits of the last group zero."""
        if type(text) is not str or not 0 < len(text) <= MAX_TEXT:
            shown = f"{len(text)} characters" if type(text) is str else type(text).__name__
            raise FormatError(f"recipe: {shown}; a packed recipe is base64 text of 1 to {MAX_RECIPE_OPS} "
                              f"operations of {RECORD} bytes", code="invalid_delta")
        try:
            raw = binascii.a2b_base64(text, strict_mode=True)
        except (binascii.Error, ValueError) as err:
            raise FormatError(f"recipe: not base64 text ({err}); spec/bundle-format.md §5.1",
                              code="invalid_delta") from None
        tail = len(raw) % 3 or 3
        if binascii.b2a_base64(raw[len(raw) - tail:], newline=False) != text[-4:].encode("ascii"):
            raise FormatError("recipe: the base64 text is not canonical (its last group has unused bits set)",
                              code="invalid_delta")
        return cls.from_packed(raw, base_size)

    @classmethod
    def from_packed(cls, raw: bytes, base_size: int) -> "Recipe":
        """The packed records themselves (``len(raw)`` a multiple of :data:`RECORD`)."""
        if len(raw) % RECORD or not 1 <= len(raw) // RECORD <= MAX_RECIPE_OPS:
            raise FormatError(f"recipe: {len(raw)} bytes; a packed recipe is 1 to {MAX_RECIPE_OPS} operations "
                              f"of {RECORD} bytes each", code="invalid_delta")
        if sys.byteorder == "little":
            words: Words = memoryview(raw).cast(_WORD)  # the records themselves, not a copy
        else:
            words = array(_WORD)
            words.frombytes(raw)
            words.byteswap()
        return cls._checked(words, base_size)

    @classmethod
    def from_ops(cls, ops: Any, base_size: int) -> "Recipe":
        """Operations as sequences (``[0, offset, length]``, ``[1, length]``): the list form of a
        manifest (``recipe[i][j]`` named in a refusal), or what a writer planned."""
        if type(ops) not in (list, tuple) or not 1 <= len(ops) <= MAX_RECIPE_OPS:
            count = len(ops) if type(ops) in (list, tuple) else type(ops).__name__
            raise FormatError(f"recipe: {count} operations; a recipe has 1 to {MAX_RECIPE_OPS}", code="invalid_delta")
        words = array(_WORD, bytes(RECORD * len(ops)))
        total = data = 0
        for i, op in enumerate(ops):
            kind = type(op)
            if kind is list or kind is tuple:
                n = len(op)
                if n == 3:
                    code, offset, length = op
                    # base_size <= MAX_BYTES, so a range inside the base has both integers in range.
                    if (code == OP_BASE and type(code) is int and type(offset) is int and type(length) is int
                            and offset >= 0 and length > 0 and offset + length <= base_size):
                        words[2 * i] = offset
                        words[2 * i + 1] = length
                        total += length
                        continue
                    if code == OP_BASE and type(code) is int:
                        _refuse_base_op(f"recipe[{i}]", "[1] (offset)", "[2] (length)", offset, length, base_size)
                elif n == 2:
                    code, length = op
                    if code == OP_DATA and type(code) is int and type(length) is int and 0 < length <= MAX_BYTES:
                        words[2 * i] = DATA_MARK
                        words[2 * i + 1] = length
                        total += length
                        data += length
                        continue
                    if code == OP_DATA and type(code) is int:
                        _refuse_length(f"recipe[{i}][1] (length)", length)
                if n in (2, 3) and (type(op[0]) is not int or op[0] not in (OP_BASE, OP_DATA)):
                    raise FormatError(f"recipe[{i}][0] (operation): {_shown(op[0])} is not {OP_BASE} (copy from "
                                      f"the base: [0, offset, length]) or {OP_DATA} (take data: [1, length])",
                                      code="invalid_delta")
            raise FormatError(f"recipe[{i}]: {_shown(op)} is not [0, offset, length] or [1, length]",
                              code="invalid_delta")
        return cls(words, total, data)

    @classmethod
    def _checked(cls, words: Words, base_size: int) -> "Recipe":
        """Check packed words (one pass; a recipe of :data:`MAX_RECIPE_OPS` operations in well
        under a second) and total the bytes rebuilt and taken from the data blob."""
        total = data = 0
        mark = DATA_MARK
        it = iter(words)
        for i, (a, b) in enumerate(zip(it, it)):
            if a == mark:
                if not 0 < b <= MAX_BYTES:
                    _refuse_length(f"recipe operation {i} (length)", b)
                data += b
            elif not (b > 0 and a + b <= base_size):
                if a > MAX_BYTES:
                    raise FormatError(f"recipe operation {i} (offset): {a} is neither an offset (0..{MAX_BYTES}) "
                                      f"nor {mark} (take data)", code="invalid_delta")
                _refuse_base_op(f"recipe operation {i}", " (offset)", " (length)", a, b, base_size)
            total += b
        return cls(words, total, data)

    # -- writing ---------------------------------------------------------------------------

    def packed(self) -> bytes:
        """The packed records (little-endian)."""
        if sys.byteorder == "big":
            swapped = array(_WORD, self.words)
            swapped.byteswap()
            return swapped.tobytes()
        return self.words.tobytes()  # both kinds of Words hold the records in order

    def text(self) -> str:
        """The packed form as a manifest carries it (format 1.3)."""
        return binascii.b2a_base64(self.packed(), newline=False).decode("ascii")

    def as_lists(self) -> list[list[int]]:
        """The list form (format 1.2), for showing a recipe read in that form as it was."""
        return [list(op) for op in self]

    # -- reading the operations --------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.words) // 2

    def __getitem__(self, i: int) -> tuple[int, ...]:
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(i)
        a, b = self.words[2 * i], self.words[2 * i + 1]
        return (OP_DATA, b) if a == DATA_MARK else (OP_BASE, a, b)

    def __iter__(self) -> Iterator[tuple[int, ...]]:
        it = iter(self.words)
        for a, b in zip(it, it):
            yield (OP_DATA, b) if a == DATA_MARK else (OP_BASE, a, b)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Recipe):
            return self.words.tobytes() == other.words.tobytes()
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.words.tobytes())

    def __repr__(self) -> str:
        return f"Recipe({len(self)} operations, {self.size} bytes, {self.data_size} from data)"


def _shown(value: Any) -> str:
    text = repr(list(value) if type(value) is tuple else value)
    return text if len(text) <= 80 else text[:77] + "..."


def _refuse_length(at: str, length: Any) -> None:
    if type(length) is not int:
        raise FormatError(f"{at}: {_shown(length)} is not an integer", code="invalid_delta")
    raise FormatError(f"{at}: {length} is outside 1..{MAX_BYTES}", code="invalid_delta")


def _refuse_base_op(at: str, offset_at: str, length_at: str, offset: Any, length: Any, base_size: int) -> None:
    if type(offset) is not int:
        raise FormatError(f"{at}{offset_at}: {_shown(offset)} is not an integer", code="invalid_delta")
    if not 0 <= offset <= MAX_BYTES:
        raise FormatError(f"{at}{offset_at}: {offset} is outside 0..{MAX_BYTES}", code="invalid_delta")
    if type(length) is not int or not 0 < length <= MAX_BYTES:
        _refuse_length(f"{at}{length_at}", length)
    raise FormatError(f"{at}: copies base bytes {offset}..{offset + length}, but the base has "
                      f"{base_size} bytes", code="invalid_delta")
