"""Forward error correction for the diode: one RFC 6330 (RaptorQ) source block per FEC block.

Each block of an object (``block_symbols`` x ``symbol_size`` bytes, the last one shorter)
is encoded on its own as an RFC 6330 object with Z = 1 source block, N = 1 sub-block and
alignment 8, so any K of its encoding symbols (plus, rarely, one or two more) rebuild it.
The ``raptorq`` extension (Rust) does the arithmetic; it panics on malformed packets, so
callers hand it only packets whose length and source block number were checked.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import raptorq

__all__ = ["repair_count", "encode_block", "BlockDecoder", "MIN_REPAIR"]

#: Floor on repair symbols per block, so tiny blocks (a file's tail) survive loss too.
MIN_REPAIR = 8


def repair_count(source_symbols: int, redundancy: float) -> int:
    """Repair symbols sent per block and pass: ceil(K x redundancy), at least MIN_REPAIR if redundancy > 0."""
    if redundancy <= 0:
        return 0
    return max(MIN_REPAIR, math.ceil(source_symbols * redundancy - 1e-9))


def encode_block(data: bytes, symbol_size: int, first_esi: int, count: int) -> list[bytes]:
    """Encoding packets (4-byte FEC payload id + symbol) with ESIs ``first_esi`` .. ``first_esi + count - 1``."""
    if not data:
        raise ValueError("an FEC block is never empty")
    k = -(-len(data) // symbol_size)
    enc = raptorq.Encoder.with_defaults(data, symbol_size)
    packets: list[bytes] = enc.get_encoded_packets(max(0, first_esi + count - k))
    if len(packets) != max(k, first_esi + count) or packets[-1][0] != 0:
        # The format needs one RFC 6330 source block per FEC block (SBN 0); see spec/transport.md 3.2.
        raise ValueError(f"raptorq split a {len(data)}-byte block into several source blocks")
    return packets[first_esi:first_esi + count]


class BlockDecoder:
    """Feeds checked packets to a RaptorQ decoder until the block comes out."""

    __slots__ = ("_dec", "_length")

    def __init__(self, length: int, symbol_size: int) -> None:
        self._length = length
        self._dec = raptorq.Decoder.with_defaults(length, symbol_size)

    def feed(self, packets: Iterable[bytes]) -> bytes | None:
        dec = self._dec.decode
        try:
            for p in packets:
                out = dec(p)
                if out is not None:
                    return bytes(out[: self._length])
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException:  # pyo3 PanicException derives from BaseException: treat as undecodable
            return None
        return None
