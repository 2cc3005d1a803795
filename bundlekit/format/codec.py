"""Strict msgpack encoding and decoding for manifests and other signed structures.

Encoding is canonical: maps are written with keys sorted, integers in their shortest
form (msgpack-python already does that), strings as UTF-8 ``str`` type, no ``bin``.
Decoding refuses what a lenient parser would let through: duplicate map keys, non-string
map keys, binary/extension types, floats, nesting deeper than :data:`MAX_DEPTH`, oversized
containers, and any trailing byte. After decoding, the bytes are re-encoded and compared:
a non-canonical encoding (for example an integer in a wider form than needed) is refused,
so one manifest has exactly one byte representation.
"""

from __future__ import annotations

from typing import Any

import msgpack

from bundlekit.errors import FormatError

__all__ = ["encode", "decode", "MAX_DEPTH"]

MAX_DEPTH = 32
MAX_CONTAINER = 1_000_000
MAX_STR = 64 * 1024 * 1024


def _canonical(obj: Any, depth: int = 0) -> Any:
    if depth > MAX_DEPTH:
        raise FormatError(f"structure nested deeper than {MAX_DEPTH} levels", code="malformed")
    if isinstance(obj, dict):
        for k in obj:
            if not isinstance(k, str):
                raise FormatError(f"map key {k!r} is not a string", code="malformed")
        return {k: _canonical(obj[k], depth + 1) for k in sorted(obj)}
    if isinstance(obj, (list, tuple)):
        return [_canonical(v, depth + 1) for v in obj]
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    raise FormatError(f"value of type {type(obj).__name__} cannot be encoded", code="malformed")


def encode(obj: Any) -> bytes:
    """Canonical msgpack bytes for a JSON-like value (str keys, str/int/bool/None/list/map)."""
    return msgpack.packb(_canonical(obj), use_bin_type=True)  # type: ignore[no-any-return]


def _pairs_hook(pairs: list[tuple[Any, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if not isinstance(k, str):
            raise FormatError(f"map key {k!r} is not a string", code="malformed")
        if k in out:
            raise FormatError(f"duplicate map key {k!r}", code="duplicate_key")
        out[k] = v
    return out


def _check(obj: Any, depth: int, what: str) -> None:
    if depth > MAX_DEPTH:
        raise FormatError(f"{what}: nested deeper than {MAX_DEPTH} levels", code="malformed")
    if isinstance(obj, dict):
        for v in obj.values():
            _check(v, depth + 1, what)
    elif isinstance(obj, list):
        for v in obj:
            _check(v, depth + 1, what)
    elif not (obj is None or isinstance(obj, (bool, int, str))):
        raise FormatError(f"{what}: value of type {type(obj).__name__} is not allowed", code="malformed")


def decode(data: bytes, *, what: str = "manifest") -> Any:
    """Decode exactly one canonical msgpack value from ``data``; anything else is refused."""
    unpacker = msgpack.Unpacker(
        raw=False,
        strict_map_key=True,
        object_pairs_hook=_pairs_hook,
        max_buffer_size=max(len(data), 1),
        max_str_len=MAX_STR,
        max_bin_len=0,
        max_ext_len=0,
        max_array_len=MAX_CONTAINER,
        max_map_len=MAX_CONTAINER,
        use_list=True,
    )
    try:
        unpacker.feed(data)
        obj = unpacker.unpack()
    except FormatError as err:
        raise FormatError(f"{what}: {err.message}", code=err.code) from None
    except msgpack.OutOfData:
        raise FormatError(f"{what}: truncated ({len(data)} bytes)", code="truncated") from None
    except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError, TypeError) as err:
        raise FormatError(f"{what}: not valid msgpack ({err})", code="malformed") from None
    if unpacker.tell() != len(data):
        raise FormatError(
            f"{what}: {len(data) - unpacker.tell()} trailing byte(s) after the encoded value",
            code="trailing_bytes",
        )
    _check(obj, 0, what)
    if encode(obj) != data:
        raise FormatError(f"{what}: encoding is not canonical (keys unsorted or integers widened)",
                          code="non_canonical")
    return obj
