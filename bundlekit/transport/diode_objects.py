"""What the diode receiver keeps per file and per block while a file comes in (``diode_receive``)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from bundlekit.core.atomic import AtomicFile
from bundlekit.transport.diode_report import FileResult
from bundlekit.transport.fec import BlockDecoder
from bundlekit.transport.frames import Announce, ObjectInfo, data_frame_size

__all__ = ["Block", "InboundObject"]


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

    __slots__ = ("info", "session", "announce", "part", "spill_fd", "spill_path", "spill_end", "done",
                 "remaining", "blocks", "hasher", "next_hash", "result", "frame_len", "nblocks")

    def __init__(self, info: ObjectInfo) -> None:
        self.info = info
        self.session = info.session.hex()
        self.announce: Announce | None = None
        self.part: AtomicFile | None = None
        self.spill_fd = -1
        self.spill_path: Path | None = None
        self.spill_end = 0
        self.nblocks = info.block_count
        self.done = bytearray(self.nblocks)
        self.remaining = self.nblocks
        self.blocks: dict[int, Block] = {}
        self.hasher = hashlib.sha256()
        self.next_hash = 0
        self.result: FileResult | None = None
        self.frame_len = data_frame_size(info.symbol_size)
