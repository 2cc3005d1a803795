"""What a msgpack value will cost to decode, read from its bytes before any value is built.

A 16 MiB manifest of millions of tiny maps decodes into gigabytes: a byte length and a depth
limit do not bound memory, because every one-byte map header becomes an object of hundreds of
bytes. :func:`check_budget` walks the encoded bytes once, without building values, and refuses
(``FormatError`` ``limit_exceeded``) an input that holds more than :data:`MAX_VALUES` values
in total or whose *decoded size* is above :data:`MAX_DECODED_SIZE` (spec/bundle-format.md §9).

The decoded size is a cost model, in bytes, of what a reader that builds one object per value
holds once it has decoded the whole input (measured on CPython's objects, rounded up):

==============================================  ==========================================
encoding                                        decoded size
==============================================  ==========================================
positive fixint, nil, true, false               0 (shared objects; their slot is the parent's)
any other integer or float                      32, or 40 in an 8-byte form (int64, uint64, float64)
fixstr of L bytes (L < 32)                      64 + 2 L
str8, str16, str32 of L bytes                   48 + L if every byte is ASCII, else 80 + 2 L
array of n elements                             56 + 8 n
map of n entries                                160 + 96 n (the table, and the pairs made while reading it)
==============================================  ==========================================

Counting covers every byte of the input, so a value followed by trailing bytes is measured
with them. The walk stops, leaving the refusal to the decoder, where the decoder refuses
anyway without building more: a ``bin`` or ``ext`` value, the unused tag ``0xc1``, an array or
map declaring more than ``codec``'s per-container limit, or the end of the input.

Runs of fixed-size tokens (small integers, short strings, small arrays and maps, which is
almost all of a manifest) are matched by one regular expression and weighed with
``bytes.translate``: C-level work, so the walk costs a fraction of the decoding it protects
(bench/bench_decode.py).
"""

from __future__ import annotations

import re

from bundlekit.errors import FormatError

__all__ = ["MAX_VALUES", "MAX_DECODED_SIZE", "check_budget"]

#: The most values (arrays, maps, map keys, elements, leaves) one encoded input may hold. Since
#: recipes travel packed (format 1.3: one string), no legitimate manifest comes near: 100,000
#: variables of short values (the schema's ``maxItems``) are about a million (decision 440).
MAX_VALUES = 3 << 20
#: The most decoded size (the module's cost model, in bytes) one input may have: about what the
#: reader may then hold, at most about 1.7 times this in a fresh process (measured for the worst
#: shapes, bench/bench_decode.py), so that no manifest costs more than about 150 MiB. A packed
#: recipe filling the 16 MiB manifest limit weighs 16 MiB; a 1.2 list recipe of up to about
#: 500,000 operations, or some 60,000 variables of short values, fit (decision 440).
MAX_DECODED_SIZE = 80 << 20
#: The most entries one array or map may declare before the decoder refuses it itself
#: (``codec.MAX_ITEMS``; kept here too so that this module imports nothing from the codec).
_MAX_DECLARED = 1 << 20

_ARRAY_BASE, _ARRAY_SLOT = 56, 8
_MAP_BASE, _MAP_ENTRY = 160, 96
_FIXSTR_BASE = 64
_ASCII_BASE, _STR_BASE = 48, 80
_INT, _INT8BYTES = 32, 40
#: No byte of an input adds more than this to its decoded size: at most a one-byte map header
#: (160) that is also the key of an entry (96). An input of at most
#: ``MAX_DECODED_SIZE // _PER_BYTE`` bytes (320 KiB) is within both limits without a walk.
_PER_BYTE = _MAP_BASE + _MAP_ENTRY


def _class(*ranges: tuple[int, int]) -> bytes:
    return b"[" + b"".join(re.escape(bytes([a])) + b"-" + re.escape(bytes([b])) for a, b in ranges) + b"]"


def _token_alternatives() -> bytes:
    one_byte = _class((0x00, 0xA0), (0xC0, 0xC0), (0xC2, 0xC3), (0xE0, 0xFF))
    alts = [one_byte]
    alts += [re.escape(bytes([0xA0 + n])) + b".{%d}" % n for n in range(1, 32)]  # fixstr 1..31
    fixed = {0xCA: 4, 0xCB: 8, 0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8, 0xD0: 1, 0xD1: 2, 0xD2: 4, 0xD3: 8}
    alts += [re.escape(bytes([tag])) + b".{%d}" % size for tag, size in fixed.items()]
    return b"|".join(alts)


_ALTS = _token_alternatives()
#: A run of fixed-size tokens (bounded: the regex engine keeps state per repetition), and (with
#: the first byte of each captured) one such token.
_RUN = re.compile(b"(?:" + _ALTS + b"){1,%d}" % (1 << 16), re.DOTALL)
_TOKEN = re.compile(b"(?=(.))(?:" + _ALTS + b")", re.DOTALL)


def _table(weight: dict[int, int]) -> bytes:
    return bytes(weight.get(i, 0) for i in range(256))


#: Per tag byte: the fixed part of its decoded size (every entry below 256).
_BASE = _table({
    **{0xE0 + i: _INT for i in range(32)},  # negative fixint
    **{0x80 + n: _MAP_BASE for n in range(16)},
    **{0x90 + n: _ARRAY_BASE for n in range(16)},
    **{0xA0 + n: _FIXSTR_BASE + 2 * n for n in range(32)},
    **{tag: _INT for tag in (0xCA, 0xCC, 0xCD, 0xCE, 0xD0, 0xD1, 0xD2)},
    **{tag: _INT8BYTES for tag in (0xCB, 0xCF, 0xD3)},
})
#: Per tag byte: how many elements a fixarray declares, and how many entries a fixmap does.
_ARRAY_LEN = _table({0x90 + n: n for n in range(16)})
_MAP_LEN = _table({0x80 + n: n for n in range(16)})


def _refuse(what: str, values: int, size: int) -> FormatError:
    if values > MAX_VALUES:
        return FormatError(f"{what}: holds more than {MAX_VALUES} values in total (the limit of "
                           "spec/bundle-format.md §9); the bundle was made to exhaust memory or by a "
                           "broken writer: ask its source for a new one", code="limit_exceeded")
    return FormatError(f"{what}: decodes to more than {MAX_DECODED_SIZE} bytes (the decoded-size limit of "
                       "spec/bundle-format.md §9); the bundle was made to exhaust memory or by a broken "
                       "writer: ask its source for a new one", code="limit_exceeded")


def measure(data: bytes) -> tuple[int, int]:
    """(values, decoded size in bytes) of the msgpack tokens in ``data``, counted up to the first
    place where a decoder refuses without building more (see the module docstring). Stops early,
    with totals just above a limit, once one is passed."""
    n = len(data)
    pos = values = size = 0
    run, token = _RUN.match, _TOKEN.findall
    while pos < n and values <= MAX_VALUES and size <= MAX_DECODED_SIZE:
        m = run(data, pos)
        if m is not None:
            end = m.end()
            tags = b"".join(token(data, pos, end))
            values += len(tags)
            size += (sum(tags.translate(_BASE)) + _ARRAY_SLOT * sum(tags.translate(_ARRAY_LEN))
                     + _MAP_ENTRY * sum(tags.translate(_MAP_LEN)))
            pos = end
            continue
        tag = data[pos]
        if 0xD9 <= tag <= 0xDB:  # str8, str16, str32
            width = 1 << (tag - 0xD9)
            length = int.from_bytes(data[pos + 1:pos + 1 + width], "big")
            start = pos + 1 + width
            values += 1
            size += _ASCII_BASE + length if data[start:start + length].isascii() else _STR_BASE + 2 * length
            pos = start + length
        elif 0xDC <= tag <= 0xDF:  # array16, array32, map16, map32
            width = 2 if tag in (0xDC, 0xDE) else 4
            count = int.from_bytes(data[pos + 1:pos + 1 + width], "big")
            if count > _MAX_DECLARED or pos + 1 + width > n:
                break  # the decoder refuses it (malformed, truncated) before building it
            values += 1
            size += (_ARRAY_BASE + _ARRAY_SLOT * count) if tag <= 0xDD else (_MAP_BASE + _MAP_ENTRY * count)
            pos += 1 + width
        else:  # bin, ext, 0xc1, or a fixed-size token cut short: the decoder refuses here
            break
    return values, size


def check_budget(data: bytes, what: str = "manifest") -> None:
    """Refuse ``data`` (``FormatError`` ``limit_exceeded``, naming ``what`` and the limit) if its
    msgpack tokens hold more than :data:`MAX_VALUES` values or decode to more than
    :data:`MAX_DECODED_SIZE` bytes. Reads ``data`` once; builds no value."""
    if len(data) <= MAX_DECODED_SIZE // _PER_BYTE:
        return
    values, size = measure(data)
    if values > MAX_VALUES or size > MAX_DECODED_SIZE:
        raise _refuse(what, values, size)
