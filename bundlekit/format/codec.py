"""Strict msgpack encoding and decoding for manifests and other signed structures.

Encoding is canonical: maps are written with keys sorted, integers in their shortest
form (msgpack-python already does that), strings as UTF-8 ``str`` type, no ``bin``.
Decoding refuses what a lenient parser would let through: duplicate map keys, non-string
map keys, binary/extension types, floats, nesting deeper than :data:`MAX_DEPTH`, arrays and
maps of more than :data:`MAX_ITEMS` entries, and any trailing byte. Before any of that, the
bytes are weighed (:mod:`bundlekit.format.budget`): an input holding too many values in total, or
one that would decode to too much memory, is refused without building a value. After decoding, the
bytes are re-encoded and compared: a non-canonical encoding (for example an integer in a
wider form than needed, or map keys out of order) is refused, so one manifest has exactly
one byte representation.

Decoding costs one C-level unpack, one walk over the values and one C-level re-encode, so
a manifest at its size limit (a delta recipe of :data:`MAX_ITEMS` operations) decodes in
about a second (bench/bench_recipe.py).
"""

from __future__ import annotations

import gc
import io
from contextlib import contextmanager
from typing import Any, Iterator

import msgpack

from bundlekit.errors import FormatError
from bundlekit.format.budget import check_budget

__all__ = ["encode", "decode", "no_cycle_collection", "MAX_DEPTH", "MAX_ITEMS"]

MAX_DEPTH = 32
#: The most entries one array or map may hold, in any bundlekit structure. The largest list the
#: format allows is a delta recipe (spec/bundle-format.md §5.1, §9): the schema's limit for it is
#: this same number, so the reader's two checks never disagree.
MAX_ITEMS = 1 << 20
MAX_STR = 64 * 1024 * 1024
#: How much of an input the unpacker reads into its buffer at a time.
_PIECE = 1 << 20
#: Types a value may have besides arrays and maps (``bool`` is checked by its own type).
_LEAVES = frozenset((int, str, bool, type(None)))
_CONTAINERS = frozenset((list, tuple, dict))


def _canonical(obj: Any, depth: int = 0) -> Any:
    if depth > MAX_DEPTH:
        raise FormatError(f"structure nested deeper than {MAX_DEPTH} levels", code="malformed")
    if isinstance(obj, dict):
        for k in obj:
            if not isinstance(k, str):
                raise FormatError(f"map key {k!r} is not a string", code="malformed")
        return {k: _canonical(obj[k], depth + 1) for k in sorted(obj)}
    if isinstance(obj, (list, tuple)):
        # Leaves of the exact JSON-like types are taken as they are: a recipe of a million short
        # arrays costs one call per array, not one per integer.
        return [v if type(v) in _LEAVES and depth < MAX_DEPTH else _canonical(v, depth + 1) for v in obj]
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    raise FormatError(f"value of type {type(obj).__name__} cannot be encoded", code="malformed")


def encode(obj: Any) -> bytes:
    """Canonical msgpack bytes for a JSON-like value (str keys, str/int/bool/None/list/map).

    Raises ``FormatError`` ``malformed`` for another type, nesting deeper than
    :data:`MAX_DEPTH`, or an integer msgpack cannot hold (below -2**63 or above 2**64 - 1).
    """
    try:
        return msgpack.packb(_canonical(obj), use_bin_type=True)  # type: ignore[no-any-return]
    except OverflowError:
        raise FormatError("an integer is outside what msgpack can hold (-2**63 .. 2**64-1)",
                          code="malformed") from None


class _Pairs:
    """The unpacker's map hook: refuses non-string and duplicate keys at once, and notes (for a
    ``non_canonical`` refusal after the other checks) a map whose keys are not in order."""

    def __init__(self) -> None:
        self.unsorted = False

    def __call__(self, pairs: list[tuple[Any, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        prev: str | None = None
        for k, v in pairs:
            if type(k) is not str:
                raise FormatError(f"map key {k!r} is not a string", code="malformed")
            if k in out:
                raise FormatError(f"duplicate map key {k!r}", code="duplicate_key")
            # Code point order is UTF-8 byte order: the order the canonical encoding sorts by.
            if prev is not None and k < prev:
                self.unsorted = True
            prev = k
            out[k] = v
        return out


def _check(obj: Any, what: str) -> None:
    """Only JSON-like types, nested at most :data:`MAX_DEPTH` deep (the root is depth 0).
    Iterative, with leaves checked inline: one pass over the values."""
    if type(obj) not in _CONTAINERS:
        if type(obj) not in _LEAVES:
            raise FormatError(f"{what}: value of type {type(obj).__name__} is not allowed", code="malformed")
        return
    stack: list[tuple[Any, int]] = [(obj, 0)]
    while stack:
        container, depth = stack.pop()
        values = container.values() if type(container) is dict else container
        if depth >= MAX_DEPTH and values:
            raise FormatError(f"{what}: nested deeper than {MAX_DEPTH} levels", code="malformed")
        for v in values:
            t = type(v)
            if t in _LEAVES:
                continue
            if t is list:
                # Most arrays hold only leaves (a recipe's million operations): check them here
                # rather than through the stack.
                if depth + 1 < MAX_DEPTH:
                    for w in v:
                        if type(w) not in _LEAVES:
                            break
                    else:
                        continue
                stack.append((v, depth + 1))
            elif t is dict:
                stack.append((v, depth + 1))
            else:
                raise FormatError(f"{what}: value of type {t.__name__} is not allowed", code="malformed")


@contextmanager
def no_cycle_collection() -> Iterator[None]:
    """Pause Python's cycle collector while decoded values are built and checked.

    Decoded values hold no reference cycles, yet allocating a million small arrays (or the
    tuples a model makes of them) runs the collector over every object again and again: more
    than half the time of reading a maximal recipe. Restores the previous state on exit."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _why(err: Exception, data: bytes, pos: int) -> str:
    """What the msgpack reader found wrong, in words: its own message, or, for the errors it
    raises without one, the byte at ``pos`` (where it stopped) that starts no msgpack value, or
    the nesting it would not follow (review atk35 F8)."""
    if str(err):
        return str(err)
    if isinstance(err, msgpack.StackError):
        return f"values nested too deep: the reader stopped at byte {pos}, {len(data)} bytes in all"
    if isinstance(err, msgpack.FormatError) and pos < len(data):
        return f"byte {pos} is 0x{data[pos]:02x}, which starts no msgpack value"
    return type(err).__name__


def decode(data: bytes, *, what: str = "manifest") -> Any:
    """Decode exactly one canonical msgpack value from ``data``; anything else is refused
    (``FormatError``: ``limit_exceeded`` before any value is built, when the input holds more
    values or decodes to more memory than :mod:`bundlekit.format.budget` allows; then
    ``malformed``, ``duplicate_key``, ``truncated``, ``trailing_bytes``, ``non_canonical``, in
    that order of precedence)."""
    check_budget(data, what)
    pairs = _Pairs()
    # Read through a file object in pieces: fed whole, the unpacker copies all of ``data`` into
    # its own buffer (16 MiB more for a manifest at its size limit); this way it holds one piece
    # and the longest single token. BytesIO shares ``data``'s bytes rather than copying them.
    unpacker = msgpack.Unpacker(
        io.BytesIO(data),
        read_size=min(_PIECE, max(len(data), 1)),
        raw=False,
        strict_map_key=True,
        object_pairs_hook=pairs,
        max_buffer_size=max(len(data), 1),
        max_str_len=MAX_STR,
        max_bin_len=0,
        max_ext_len=0,
        max_array_len=MAX_ITEMS,
        max_map_len=MAX_ITEMS,
        use_list=True,
    )
    try:
        with no_cycle_collection():
            obj = unpacker.unpack()
    except FormatError as err:
        raise FormatError(f"{what}: {err.message}", code=err.code) from None
    except msgpack.OutOfData:
        raise FormatError(f"{what}: truncated ({len(data)} bytes)", code="truncated") from None
    except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError, TypeError) as err:
        raise FormatError(f"{what}: not valid msgpack ({_why(err, data, unpacker.tell())})", code="malformed") from None
    read = unpacker.tell()
    del unpacker  # its buffer holds the longest token (a packed recipe: up to 16 MiB) until freed
    if read != len(data):
        raise FormatError(
            f"{what}: {len(data) - read} trailing byte(s) after the encoded value",
            code="trailing_bytes",
        )
    _check(obj, what)
    # Keys in order (checked above) and everything else re-encoded by msgpack's own shortest
    # forms: equal bytes mean the encoding was the canonical one.
    if pairs.unsorted or msgpack.packb(obj, use_bin_type=True) != data:
        raise FormatError(f"{what}: encoding is not canonical (keys unsorted or integers widened)",
                          code="non_canonical")
    return obj
