"""The diode sender: files -> a paced carousel of self-describing, FEC-protected frames.

The sender never hears back, so it sends enough for the receiver to rebuild each file
alone: every FEC block gets ``ceil(K x redundancy)`` repair symbols on top of its K source
symbols, symbols of ``interleave`` consecutive blocks are sent round-robin so a burst of
loss costs each block only a share of it, an announcement (name and whole SHA-256) is
repeated every ``announce_every`` frames so a late receiver can still name the file, and
``repeat`` sends the whole carousel again with fresh repair symbols (new ESIs), so each
pass adds information rather than copies. Frames come from :func:`iter_frames`, a plain
iterator; :func:`send` paces them through a token bucket into any channel.
"""

from __future__ import annotations

import hashlib
import os
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import zip_longest
from pathlib import Path
from typing import Any

from bundlekit.core.files import open_regular
from bundlekit.core.atomic import CHUNK
from bundlekit.core.progress import Advance, begin
from bundlekit.errors import InputError, UsageError
from bundlekit.transport._util import carried_name
from bundlekit.transport.channel import FrameSink
from bundlekit.transport.fec import encode_block, repair_count
from bundlekit.transport.frames import (
    MAX_BLOCK_SYMBOLS, MAX_SYMBOL_SIZE, TYPE_DATA, Announce, ObjectInfo, encode_announce, object_prefix,
)

__all__ = [
    "SendOptions", "OutgoingObject", "SendReport", "plan_objects", "iter_frames", "iter_batches", "send",
    "DEFAULT_RATE", "DEFAULT_REDUNDANCY", "DEFAULT_SYMBOL_SIZE", "DEFAULT_BLOCK_SYMBOLS", "DEFAULT_INTERLEAVE",
]

DEFAULT_SYMBOL_SIZE = 1400
DEFAULT_BLOCK_SYMBOLS = 1024
DEFAULT_REDUNDANCY = 0.15
DEFAULT_INTERLEAVE = 8
DEFAULT_ANNOUNCE_EVERY = 256
#: 100 MiB/s: a gigabit diode with room to spare. 0 means unpaced.
DEFAULT_RATE = 100 << 20
#: Frames paced and handed to the channel together (~46 KB at the default symbol size).
_SLICE = 32


@dataclass(slots=True, frozen=True)
class SendOptions:
    rate: int = DEFAULT_RATE
    redundancy: float = DEFAULT_REDUNDANCY
    repeat: int = 0
    symbol_size: int = DEFAULT_SYMBOL_SIZE
    block_symbols: int = DEFAULT_BLOCK_SYMBOLS
    interleave: int = DEFAULT_INTERLEAVE
    announce_every: int = DEFAULT_ANNOUNCE_EVERY

    def __post_init__(self) -> None:
        if self.rate < 0:
            raise UsageError(f"--rate {self.rate}: expected bytes per second >= 0 (0 = unpaced)", code="invalid_rate")
        if not 0 <= self.redundancy <= 10:
            raise UsageError(f"--redundancy {self.redundancy}: expected a fraction like 0.15 (15% extra symbols), "
                             "between 0 and 10", code="invalid_redundancy")
        if not 0 <= self.repeat <= 1000:
            raise UsageError(f"--repeat {self.repeat}: expected 0..1000 extra passes", code="invalid_repeat")
        if not (8 <= self.symbol_size <= MAX_SYMBOL_SIZE and self.symbol_size % 8 == 0):
            raise UsageError(f"symbol size {self.symbol_size}: expected a multiple of 8 up to {MAX_SYMBOL_SIZE}",
                             code="invalid_symbol_size")
        if not 1 <= self.block_symbols <= MAX_BLOCK_SYMBOLS or self.interleave < 1 or self.announce_every < 1:
            raise UsageError("block symbols, interleave and announce interval must be positive",
                             code="invalid_fec_parameters")


@dataclass(slots=True, frozen=True)
class OutgoingObject:
    object_id: int
    path: Path
    name: str
    size: int
    sha256: bytes


def _hash_file(path: Path, progress: Advance | None = None) -> tuple[int, bytes]:
    h = hashlib.sha256()
    size = 0
    try:
        with open_regular(path, f"file to send {path}") as f:
            begin(progress, f"{path.name} (SHA-256)", os.fstat(f.fileno()).st_size)
            while chunk := f.read(CHUNK):
                h.update(chunk)
                size += len(chunk)
                if progress:
                    progress(len(chunk))
    except FileNotFoundError:
        raise InputError(f"{path}: no such file; pass the bundles to send", code="file_not_found") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder; pass files", code="file_not_found") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror})", code="file_unreadable") from None
    return size, h.digest()


def plan_objects(files: Sequence[Path], progress: Advance | None = None) -> list[OutgoingObject]:
    """Hash every file (the digest travels in each frame) and give each an object id."""
    if not files:
        raise UsageError("no files to send", code="no_files")
    seen: dict[str, Path] = {}
    out = []
    for i, p in enumerate(files):
        p = Path(p)
        name = carried_name(p)
        if name in seen:
            raise UsageError(f"{p} and {seen[name]} have the same name {name!r}; the receiver names files by "
                             "their name alone, so send them separately or rename one", code="duplicate_name")
        seen[name] = p
        size, digest = _hash_file(p, progress)
        out.append(OutgoingObject(i, p, name, size, digest))
    return out


def _read_block(f: Any, offset: int, length: int, path: Path) -> bytes:
    data = os.pread(f.fileno(), length, offset)
    if len(data) != length:
        raise InputError(f"{path}: shrank while it was being sent; send it again once it is complete",
                         code="file_changed")
    return data


def iter_frames(objects: Sequence[OutgoingObject], session: bytes, opts: SendOptions) -> Iterator[bytes]:
    """Every frame of the carousel, in sending order (announcements interleaved)."""
    for batch in iter_batches(objects, session, opts):
        yield from batch


def iter_batches(objects: Sequence[OutgoingObject], session: bytes, opts: SendOptions,
                 progress: Advance | None = None) -> Iterator[list[bytes]]:
    """The carousel as lists of frames (one interleave group each): cheaper to pace and send in bulk.

    ``progress`` is told each file of each pass (``begin``) and the file bytes encoded."""
    count = len(objects)
    for pass_no in range(opts.repeat + 1):
        for obj in objects:
            begin(progress, obj.name + (f" (pass {pass_no + 1} of {opts.repeat + 1})" if opts.repeat else ""),
                  obj.size)
            info = ObjectInfo(session, obj.object_id, obj.size, obj.sha256[:8], opts.symbol_size, opts.block_symbols)
            announce = encode_announce(Announce(info, count, obj.sha256, obj.name))
            # Said twice before the data (three times when there is no data) so a receiver can name the file.
            yield [announce] * (3 if obj.size == 0 else 2)
            if obj.size:
                yield from _object_batches(obj, info, announce, pass_no, opts, progress)


def _object_batches(obj: OutgoingObject, info: ObjectInfo, announce: bytes, pass_no: int,
                    opts: SendOptions, progress: Advance | None = None) -> Iterator[list[bytes]]:
    """Interleave groups, software-pipelined: while group g+1 is encoded block by block, group g
    goes out in slices between the blocks. Sending and encoding share one thread, so this keeps
    the gaps between sends down to one block's encoding time, which the token bucket absorbs,
    instead of a whole group's; the sender then holds its rate without large bursts."""
    ready: list[bytes] = []  # the previous group, interleaved, not yet handed out
    sent = 0
    with open_regular(obj.path, f"file to send {obj.path}") as f:
        for first in range(0, info.block_count, opts.interleave):
            blocks = range(first, min(first + opts.interleave, info.block_count))
            share = -(-len(ready) // len(blocks)) if ready else 0
            group: list[list[bytes]] = []
            for block in blocks:
                group.append(_block_frames(f, obj, info, block, pass_no, opts))
                if progress:
                    progress(info.block_length(block))
                if sent < len(ready):
                    yield ready[sent:sent + share]
                    sent += share
            if sent < len(ready):
                yield ready[sent:]
            ready, sent = _interleave(group, announce, opts.announce_every), 0
    if ready:
        yield ready


def _block_frames(f: Any, obj: OutgoingObject, info: ObjectInfo, block: int, pass_no: int,
                  opts: SendOptions) -> list[bytes]:
    data = _read_block(f, block * info.block_bytes, info.block_length(block), obj.path)
    k = info.block_source_symbols(block)
    per_pass = k + repair_count(k, opts.redundancy)
    head = object_prefix(info, TYPE_DATA) + block.to_bytes(4, "big")
    head_crc = zlib.crc32(head)
    # Pass p sends ESIs [p*(K+R), (p+1)*(K+R)): source symbols first, then only new repair symbols.
    return [head + p + zlib.crc32(p, head_crc).to_bytes(4, "little")
            for p in encode_block(data, info.symbol_size, pass_no * per_pass, per_pass)]


def _interleave(group: list[list[bytes]], announce: bytes, every: int) -> list[bytes]:
    """Round-robin across the group's blocks, so a burst of loss is shared out among them."""
    flat = [fr for row in zip_longest(*group) for fr in row if fr is not None]
    out: list[bytes] = []
    for i in range(0, len(flat), every):
        out += flat[i:i + every]
        out.append(announce)
    return out


@dataclass(slots=True, frozen=True)
class SendReport:
    session: str
    files: tuple[OutgoingObject, ...]
    frames: int
    wire_bytes: int
    seconds: float
    options: SendOptions

    @property
    def payload_bytes(self) -> int:
        return sum(o.size for o in self.files) * (self.options.repeat + 1)

    def to_dict(self) -> dict[str, Any]:
        payload = self.payload_bytes
        return {
            "session": self.session,
            "files": [{"object_id": o.object_id, "name": o.name, "size": o.size, "sha256": o.sha256.hex(),
                       "path": str(o.path)} for o in self.files],
            "frames": self.frames, "wire_bytes": self.wire_bytes, "seconds": round(self.seconds, 3),
            "overhead": round(self.wire_bytes / payload - 1, 4) if payload else None,
            "rate": self.options.rate, "redundancy": self.options.redundancy, "repeat": self.options.repeat,
            "symbol_size": self.options.symbol_size, "block_symbols": self.options.block_symbols,
            "interleave": self.options.interleave,
        }


def send(files: Sequence[Path], channel: FrameSink, opts: SendOptions = SendOptions(), *,
         session: bytes | None = None, clock: Callable[[], float] = time.monotonic,
         sleep: Callable[[float], None] = time.sleep, progress: Advance | None = None) -> SendReport:
    """Send ``files`` through ``channel`` once (plus ``opts.repeat`` passes), paced to ``opts.rate``.

    ``progress`` is told each file while it is hashed and while each pass sends it."""
    objects = plan_objects(files, progress)
    session = session or os.urandom(8)
    rate = float(opts.rate)
    # Token bucket: at most ~20 ms of traffic (never less than 64 KiB) leaves in one burst; that
    # covers the pause while one block is encoded, so the average rate holds (see _object_batches).
    burst = max(64 * 1024.0, rate * 0.02)
    tokens = burst
    start = last = clock()
    frames = wire = 0
    push_many = getattr(channel, "send_many", None)
    if push_many is None:
        def push_many(batch: list[bytes]) -> None:
            for fr in batch:
                channel.send(fr)
    for batch in iter_batches(objects, session, opts, progress):
        for i in range(0, len(batch), _SLICE):
            part = batch[i:i + _SLICE]
            n = sum(map(len, part))
            if rate:
                tokens -= n
                if tokens < 0:
                    now = clock()
                    tokens = min(burst, tokens + (now - last) * rate)
                    last = now
                    if tokens < 0:
                        sleep(-tokens / rate)
            push_many(part)
            frames += len(part)
            wire += n
    flush = getattr(channel, "flush", None)
    if flush is not None:
        flush()
    return SendReport(session.hex(), tuple(objects), frames, wire, clock() - start, opts)
