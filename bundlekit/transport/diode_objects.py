"""What the diode receiver keeps per file and per block while a file comes in (``diode_receive``).

A frame's header may claim anything (frames are not authenticated: spec/transport.md §3.10),
so nothing here is sized by what an object claims: the map of decoded blocks is allocated when
the first block is decoded, one bit per block, and every structure's memory is charged to the
receiver's state budget through :data:`OBJECT_COST`, :data:`BLOCK_COST` and :meth:`InboundObject.mark_done`.
"""

from __future__ import annotations

import hashlib
import os

from bundlekit.core.atomic import AtomicFile
from bundlekit.transport.diode_report import FileResult
from bundlekit.transport.fec import BlockDecoder
from bundlekit.transport.frames import DATA_HEADER_SIZE, Announce, ObjectInfo, data_frame_size

__all__ = ["Block", "InboundObject", "OBJECT_COST", "BLOCK_COST"]

#: What one object heard costs in memory before any of its data (its record, header key, results).
OBJECT_COST = 2048
#: What one block with symbols waiting costs besides the symbols: its record, its list and its set
#: of symbol ids (about 540 bytes measured with one symbol waiting, 290 once spilled).
BLOCK_COST = 512


class Block:
    """The symbols of one block not yet decoded: in memory, or spilled to the object's spill file."""

    __slots__ = ("packets", "esis", "spill", "spilled", "need", "decoder")

    def __init__(self, k: int) -> None:
        self.packets: list[bytes] = []
        self.esis: set[bytes] | None = set()
        self.spill: list[tuple[int, int]] = []
        self.spilled = 0
        self.need = k
        self.decoder: BlockDecoder | None = None


class InboundObject:
    """One file being received: its geometry, its temporary file, its blocks and its running hash."""

    __slots__ = ("info", "session", "announce", "part", "spill_fd", "spill_file", "spill_end", "done",
                 "remaining", "blocks", "hasher", "next_hash", "result", "frame_len", "nblocks", "touched", "keep")

    def __init__(self, info: ObjectInfo) -> None:
        self.info = info
        self.session = info.session.hex()
        self.announce: Announce | None = None
        self.part: AtomicFile | None = None
        self.spill_fd = -1
        #: Symbols spilled to disk (a locked temporary in --out); ``spill_fd`` is its descriptor.
        self.spill_file: AtomicFile | None = None
        self.spill_end = 0
        self.nblocks = info.block_count
        #: One bit per block, set when it is decoded; allocated with the first decoded block.
        self.done: bytearray | None = None
        self.remaining = self.nblocks
        self.blocks: dict[int, Block] = {}
        self.hasher = hashlib.sha256()
        self.next_hash = 0
        self.result: FileResult | None = None
        self.frame_len = data_frame_size(info.symbol_size)
        #: When this object last made progress (the receiver's frame count): the stalest is dropped first.
        self.touched = 0
        #: Its frames are still needed once it is finished (refused for lack of space): spool files stay.
        self.keep = False

    def is_done(self, block: int) -> bool:
        done = self.done
        return done is not None and bool(done[block >> 3] & (1 << (block & 7)))

    def mark_done(self, block: int) -> int:
        """Record ``block`` as decoded; returns the bytes this allocated (the map, the first time)."""
        grown = 0
        if self.done is None:
            self.done = bytearray((self.nblocks + 7) >> 3)
            grown = len(self.done)
        self.done[block >> 3] |= 1 << (block & 7)
        self.remaining -= 1
        return grown

    def cost(self) -> int:
        """The memory this object holds besides its symbols (see the module docstring)."""
        return OBJECT_COST + (len(self.done) if self.done is not None else 0) + BLOCK_COST * len(self.blocks)

    def gather(self, st: Block) -> list[bytes]:
        """Every distinct symbol of block ``st``: those in memory and those spilled to disk."""
        plen = self.frame_len - DATA_HEADER_SIZE - 4
        packets: list[bytes] = []
        for off, n in st.spill:
            raw = os.pread(self.spill_fd, n * plen, off)
            packets.extend(raw[i * plen:(i + 1) * plen] for i in range(len(raw) // plen))
        if st.esis is None or st.spill:
            seen: set[bytes] = set()
            unique = []
            for p in packets + st.packets:
                e = p[1:4]
                if e not in seen:
                    seen.add(e)
                    unique.append(p)
            st.esis = seen
            return unique
        return st.packets

    def forget_blocks(self) -> None:
        """Once the object is finished: nothing per block is needed any more."""
        self.done = None
        self.blocks.clear()
