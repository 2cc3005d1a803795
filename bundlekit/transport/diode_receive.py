"""The diode receiver: frames in any order, with loss and junk -> files whose whole SHA-256 matches.

The receiver never answers. It follows one session at a time (the first it hears; another
is taken up once every file of the current one is finished, or when the current one has
been silent for the idle timeout while another is talking), drops frames that fail the
CRC or contradict what the object already said, and keeps per block only the symbols it
has not seen. Symbols wait in memory up to ``memory_budget`` bytes; beyond that the
oldest unfinished blocks spill to a file next to the output, so memory is bounded
whatever the file size. A block is decoded as soon as it has enough symbols and written
at its offset in a hidden temporary file (an :class:`AtomicFile`, locked while in use, so the next
receiver sweeps what a killed one left); the whole-file SHA-256 is computed as blocks
complete in order, and the file gets its announced name only if that digest matches.

Frames are not authenticated (spec/transport.md §3.10), so what an object merely claims costs
nothing: its temporary file and its map of decoded blocks appear with its first decoded block,
and what incomplete objects hold besides their symbols is kept within ``state_budget`` by
dropping the objects that made progress least recently (reported ``incomplete``, their
temporary files removed). At most :data:`MAX_OPEN_OBJECTS` objects are open at once (the
stalest is dropped for a new one) and :data:`MAX_OBJECTS` are heard in one run.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path

from bundlekit.core.atomic import CHUNK, AtomicFile, sweep_leftovers
from bundlekit.core.names import file_name_problem
from bundlekit.core.progress import advance_item, item
from bundlekit.errors import InputError
from bundlekit.transport.diode_objects import BLOCK_COST, OBJECT_COST
from bundlekit.transport.diode_objects import Block as _Block
from bundlekit.transport.diode_objects import InboundObject as _Object
from bundlekit.transport.diode_report import FileResult, ReceiveReport
from bundlekit.transport.fec import BlockDecoder
from bundlekit.transport.frames import (
    CRC_RESIDUE, DATA_HEADER_SIZE, MAGIC, TYPE_ANNOUNCE, TYPE_DATA, FrameError, parse_announce, parse_common,
)

__all__ = ["Receiver", "ReceiveReport", "FileResult", "DEFAULT_MEMORY_BUDGET", "DEFAULT_STATE_BUDGET",
           "MAX_OPEN_OBJECTS", "MAX_OBJECTS", "SURPLUS_FRAMES"]

DEFAULT_MEMORY_BUDGET = 64 << 20
#: Memory for what incomplete objects hold besides their symbols (block maps, per-block records):
#: 64 Ki blocks in progress at once, 90 GB of a file at the default geometry (a receiver that joins
#: a long transfer late holds partial blocks of everything it heard until the next pass).
DEFAULT_STATE_BUDGET = 32 << 20
#: After every announced file is finished: how many more frames of finished files are read
#: (a sender's repeat pass) before returning, in case another sender's frames are behind them.
SURPLUS_FRAMES = 8192
MAX_OPEN_OBJECTS = 1024
#: Objects heard in one run (open or finished); beyond it new objects are refused (``objects_refused``).
MAX_OBJECTS = 4096
_MAX_BLOCKS = 1 << 24
_crc32 = zlib.crc32


class Receiver:
    """Feed it frames (:meth:`feed`); it writes finished files into ``out_dir``; :meth:`finish` reports."""

    def __init__(self, out_dir: Path, *, memory_budget: int = DEFAULT_MEMORY_BUDGET,
                 state_budget: int = DEFAULT_STATE_BUDGET, clock: Callable[[], float] = time.monotonic,
                 progress: object = None) -> None:
        self.out = Path(out_dir)
        if not self.out.is_dir():
            raise InputError(f"--out {out_dir}: not a folder; create it first", code="out_dir_missing")
        sweep_leftovers(self.out)  # what a killed receiver left (its lock is gone), named on stderr by the CLI
        self.budget = memory_budget
        self.clock = clock
        self.session: bytes | None = None
        self.session_count: dict[bytes, int] = {}
        self.objects: dict[bytes, _Object] = {}          # 34-byte header key -> object
        self.by_id: dict[tuple[bytes, int], _Object] = {}
        self.ignored: dict[bytes, None] = {}
        self.active: dict[tuple[_Object, int], None] = {}  # blocks with symbols in memory, oldest first
        self.buffered = 0
        self.peak = 0
        self.state_budget = state_budget
        self.state_bytes = 0  # what open objects hold besides their symbols (diode_objects.InboundObject.cost)
        self.state_peak = 0
        self.tick = 0  # counts calls to feed and feed_many: when each object last made progress
        self.counts = dict.fromkeys(("valid", "garbage", "corrupt", "duplicate", "other_session", "inconsistent",
                                     "after_complete", "surplus", "blocks_decoded", "blocks_spilled",
                                     "decode_retries", "objects_dropped", "objects_refused"), 0)
        self.first_at: float | None = None
        self.last_done_at: float | None = None
        self.other_last: float | None = None
        self.results: list[FileResult] = []
        self.n_valid = 0
        self.progress = progress  # core.progress items, one per file
        self.sessions_done = 0  # sessions whose every announced file is finished
        self.open = 0  # files admitted and not yet finished

    # ---------------------------------------------------------------- frames
    def feed(self, frame: bytes) -> bool:
        """Take one datagram; True if it was a valid frame of the session being followed."""
        # The hot path: one CRC call, one dict lookup, one set insert, one slice per symbol.
        if frame[:4] != MAGIC or len(frame) < 48:
            self.counts["garbage"] += 1
            return False
        if _crc32(frame) != CRC_RESIDUE:
            self.counts["corrupt"] += 1
            return False
        obj = self.objects.get(frame[6:40])
        if obj is None:
            obj = self._admit(frame)
            if obj is None:
                return False
        self.tick += 1
        obj.touched = self.tick
        self.n_valid += 1
        if frame[4] != TYPE_DATA or frame[5]:
            return self._other_frame(obj, frame)
        if obj.result is not None:
            self.counts["after_complete"] += 1
            return True
        block = int.from_bytes(frame[40:44], "big")
        if len(frame) != obj.frame_len or frame[DATA_HEADER_SIZE] or block >= obj.nblocks:
            self.counts["inconsistent"] += 1
            return True
        if obj.is_done(block):
            self.counts["surplus"] += 1  # more symbols of a block already rebuilt
            return True
        st = obj.blocks.get(block)
        if st is None:
            st = obj.blocks[block] = _Block(obj.info.block_source_symbols(block))
            self._charge(BLOCK_COST, obj)
            if obj.result is not None:
                return True  # this object alone outgrew the budget and was dropped
        esis = st.esis
        if esis is not None:
            esi = frame[45:48]
            if esi in esis:
                self.counts["duplicate"] += 1
                return True
            esis.add(esi)
        pkt = frame[DATA_HEADER_SIZE:-4]
        if st.decoder is not None:
            out = st.decoder.feed((pkt,))
            if out is not None:
                self._block_done(obj, block, st, out)
            return True
        packets = st.packets
        if not packets:
            self.active[(obj, block)] = None
        packets.append(pkt)
        self.buffered += obj.frame_len
        if len(packets) + st.spilled >= st.need:
            self._try_decode(obj, block, st)
        if self.buffered > self.budget:
            self._evict()
        return True

    def feed_many(self, frames: Iterable[bytes]) -> bool:
        """Take a batch of datagrams; True if any was a valid frame of the followed session.

        Same result as calling :meth:`feed` on each; the common case (a new symbol of an
        open block) is handled inline with local names, everything else goes to :meth:`feed`.
        """
        fresh = False
        valid = 0
        self.tick += 1
        tick = self.tick
        get_obj = self.objects.get
        active = self.active
        crc = _crc32
        for frame in frames:
            if frame[:4] != MAGIC or frame[4] != TYPE_DATA or frame[5] or crc(frame) != CRC_RESIDUE:
                fresh = self.feed(frame) or fresh
                continue
            obj = get_obj(frame[6:40])
            if obj is None or obj.result is not None or len(frame) != obj.frame_len or frame[DATA_HEADER_SIZE]:
                fresh = self.feed(frame) or fresh
                continue
            block = int.from_bytes(frame[40:44], "big")
            st = obj.blocks.get(block) if block < obj.nblocks else None  # a block in progress is not done
            if st is None or st.esis is None or st.decoder is not None or frame[45:48] in st.esis:
                fresh = self.feed(frame) or fresh
                continue
            obj.touched = tick
            st.esis.add(frame[45:48])
            packets = st.packets
            if not packets:
                active[(obj, block)] = None
            packets.append(frame[DATA_HEADER_SIZE:-4])
            valid += 1
            fresh = True
            self.buffered += obj.frame_len
            if len(packets) + st.spilled >= st.need:
                self._try_decode(obj, block, st)
            if self.buffered > self.budget:
                self._evict()
        self.n_valid += valid
        return fresh

    def _other_frame(self, obj: _Object, frame: bytes) -> bool:
        if frame[4] == TYPE_ANNOUNCE and not frame[5]:
            if obj.announce is None:
                self._take_announce(obj, frame)
        else:
            self.counts["inconsistent"] += 1
        return True

    def _admit(self, frame: bytes) -> _Object | None:
        key = frame[6:40]
        if key in self.ignored:
            self.counts["other_session"] += 1
            self.other_last = self.clock()
            return None
        try:
            _ftype, info = parse_common(frame)
        except FrameError:
            self.counts["inconsistent"] += 1
            return None
        if self.session is None:
            self.session = info.session
        if info.session != self.session:
            self.counts["other_session"] += 1
            self.other_last = self.clock()
            if len(self.ignored) > 4096:
                self.ignored.clear()
            self.ignored[key] = None
            return None
        if info.block_count > _MAX_BLOCKS:
            self.counts["inconsistent"] += 1  # no real object has 16 M blocks; refuse the bookkeeping
            return None
        ident = (info.session, info.object_id)
        known = self.session_count.get(info.session)
        if known is not None and info.object_id >= known:
            self.counts["inconsistent"] += 1
            return None
        if ident in self.by_id:
            # Same object id with other geometry or digest: a buggy or hostile sender. First one wins.
            self.counts["inconsistent"] += 1
            return None
        if len(self.by_id) >= MAX_OBJECTS:
            self.counts["objects_refused"] += 1
            return None
        if self.open >= MAX_OPEN_OBJECTS:
            self._shed(None, until=lambda: self.open < MAX_OPEN_OBJECTS)
        obj = _Object(info)
        self.objects[key] = obj
        self.by_id[ident] = obj
        self.open += 1
        obj.touched = self.tick
        self._charge(OBJECT_COST, obj)
        if obj.result is not None:
            return obj  # a budget smaller than one object's record: nothing can be received
        item(self.progress, ident, f"file {info.object_id + 1} of session {obj.session[:8]}", info.size)
        if self.first_at is None:
            self.first_at = self.clock()
        try:
            free = shutil.disk_usage(self.out).free
        except OSError:
            free = info.size
        if info.size > free:
            obj.keep = True  # space can be freed: its frames are kept for the next run
            self._conclude(obj, "rejected", f"{info.size} bytes do not fit in the {free} bytes free in {self.out}")
            return obj
        if obj.nblocks == 0:
            self._maybe_finish(obj)
        return obj

    def _take_announce(self, obj: _Object, frame: bytes) -> None:
        try:
            a = parse_announce(frame, obj.info)
        except FrameError:
            self.counts["inconsistent"] += 1
            return
        obj.announce = a
        self.session_count[obj.info.session] = a.object_count
        for other in [o for o in self.by_id.values() if o.result is None and o.info.session == obj.info.session
                      and o.info.object_id >= a.object_count]:
            self._conclude(other, "rejected", f"object {other.info.object_id}, but its sender announced "
                                              f"{a.object_count} file(s) (frames are not authenticated)")
        item(self.progress, (obj.info.session, obj.info.object_id), a.name, obj.info.size)
        problem = file_name_problem(a.name, hidden=False)
        if problem and obj.result is None:
            self._conclude(obj, "rejected", f"announced name {a.name!r} refused: {problem}")
            return
        self._maybe_finish(obj)

    # ---------------------------------------------------------------- blocks
    def _try_decode(self, obj: _Object, block: int, st: _Block) -> None:
        if self.buffered > self.peak:
            self.peak = self.buffered
        before = len(st.packets)
        packets = obj.gather(st)
        self.buffered += (len(packets) - before) * obj.frame_len
        if before == 0 and packets:
            self.active[(obj, block)] = None
        st.packets, st.spill, st.spilled = packets, [], 0
        if len(packets) < st.need:
            return  # duplicates inflated the count; wait for more
        dec = BlockDecoder(obj.info.block_length(block), obj.info.symbol_size)
        out = dec.feed(packets)
        if out is None:
            # Rare (RaptorQ needs K plus, now and then, one or two): keep the decoder, feed it as more arrive.
            self.counts["decode_retries"] += 1
            st.decoder = dec
            self.buffered -= len(packets) * obj.frame_len
            st.packets = []
            self.active.pop((obj, block), None)
            return
        self._block_done(obj, block, st, out)

    def _block_done(self, obj: _Object, block: int, st: _Block, data: bytes) -> None:
        self.counts["blocks_decoded"] += 1
        self.buffered -= len(st.packets) * obj.frame_len
        self.active.pop((obj, block), None)
        del obj.blocks[block]
        bsize = obj.info.block_bytes
        self._part(obj).pwrite(data, block * bsize)
        self._charge(obj.mark_done(block) - BLOCK_COST, obj)
        if obj.result is not None:
            return  # its block map alone outgrew the budget: dropped
        advance_item(self.progress, (obj.info.session, obj.info.object_id), obj.info.block_length(block))
        if block == obj.next_hash:
            obj.hasher.update(data)
            obj.next_hash += 1
            while obj.next_hash < obj.nblocks and obj.is_done(obj.next_hash):
                b = obj.next_hash
                obj.hasher.update(self._part(obj).pread(obj.info.block_length(b), b * bsize))
                obj.next_hash += 1
        if obj.remaining == 0:
            self._maybe_finish(obj)

    def _evict(self) -> None:
        """Spill the oldest unfinished blocks' symbols to disk until under budget."""
        self.peak = max(self.peak, self.buffered)
        while self.buffered > self.budget * 3 // 4 and self.active:
            obj, block = next(iter(self.active))
            del self.active[(obj, block)]
            st = obj.blocks.get(block)
            if st is None or not st.packets:
                continue
            if obj.spill_fd < 0:
                obj.spill_file = AtomicFile(None, 0o600, temp_dir=self.out)
                obj.spill_fd = obj.spill_file.file.fileno()
            raw = b"".join(st.packets)
            os.pwrite(obj.spill_fd, raw, obj.spill_end)
            st.spill.append((obj.spill_end, len(st.packets)))
            obj.spill_end += len(raw)
            st.spilled += len(st.packets)
            self.buffered -= len(st.packets) * obj.frame_len
            st.packets = []
            st.esis = None  # counted, not deduplicated, until the block is gathered again
            self.counts["blocks_spilled"] += 1

    # ---------------------------------------------------------------- objects
    def _maybe_finish(self, obj: _Object) -> None:
        if obj.remaining or obj.announce is None or obj.result is not None:
            return
        a = obj.announce
        part = self._part(obj)
        part.truncate(obj.info.size)
        while obj.next_hash < obj.nblocks:  # only if blocks completed out of order at the very end
            b = obj.next_hash
            obj.hasher.update(part.pread(obj.info.block_length(b), b * obj.info.block_bytes))
            obj.next_hash += 1
        if obj.hasher.digest() != a.sha256:
            self._conclude(obj, "digest_mismatch", "the rebuilt file does not match the announced SHA-256")
            return
        final = self.out / a.name
        if not (final.exists() or final.is_symlink()):
            try:
                part.commit(final)  # exclusive: never replaces a file that appeared meanwhile
                obj.part = None
            except FileExistsError:
                pass
        if obj.part is not None:
            same = final.is_file() and not final.is_symlink() and _file_digest(final) == a.sha256
            self._conclude(obj, "already_present" if same else "name_conflict",
                           "an identical file is already there" if same
                           else f"{final} already exists with other content; it was left alone")
            return
        self.last_done_at = self.clock()
        self._conclude(obj, "complete", "", path=final)

    def _conclude(self, obj: _Object, status: str, detail: str, path: Path | None = None) -> None:
        missing = obj.remaining
        missing_bytes = missing * obj.info.block_bytes
        if missing and not obj.is_done(obj.nblocks - 1):
            missing_bytes -= obj.info.block_bytes - obj.info.block_length(obj.nblocks - 1)
        a = obj.announce
        obj.result = FileResult(
            session=obj.session, object_id=obj.info.object_id, name=a.name if a else None, size=obj.info.size,
            sha256=a.sha256.hex() if a else None, status=status, path=str(path) if path else None,
            blocks_total=obj.nblocks, blocks_missing=missing, bytes_missing=missing_bytes, detail=detail)
        self.results.append(obj.result)
        self.open -= 1
        self.state_bytes -= obj.cost()
        for block, st in obj.blocks.items():
            self.buffered -= len(st.packets) * obj.frame_len
            self.active.pop((obj, block), None)
        obj.forget_blocks()
        self._cleanup(obj)
        count = self.session_count.get(obj.info.session)
        if (count is not None and obj.info.session == self.session
                and all((self.session, i) in self.by_id and self.by_id[(self.session, i)].result is not None
                        for i in range(count))):
            self.sessions_done += 1
            self._unlock()  # every file of this session is finished: the next session may be followed

    def _part(self, obj: _Object) -> AtomicFile:
        """The object's temporary file, made when its first block is decoded (or when an empty one finishes)."""
        if obj.part is None:
            obj.part = AtomicFile(None, 0o644, temp_dir=self.out, exclusive=True)
        return obj.part

    def _charge(self, n: int, obj: _Object) -> None:
        """Count ``n`` more bytes held for ``obj``; over the budget, drop the stalest other objects,
        and ``obj`` itself if it alone holds more (check ``obj.result`` afterwards)."""
        self.state_bytes += n
        if self.state_bytes > self.state_peak:
            self.state_peak = self.state_bytes
        if self.state_bytes > self.state_budget:
            self._shed(obj, until=lambda: self.state_bytes <= self.state_budget * 3 // 4)
            if self.state_bytes > self.state_budget:
                self.counts["objects_dropped"] += 1
                self._conclude(obj, "incomplete", f"dropped to bound the receiver's memory ({len(obj.blocks)} "
                                                  "blocks in progress at once; frames are not authenticated, see "
                                                  "spec/transport.md 3.10)")

    def _shed(self, keep: _Object | None, until: Callable[[], bool]) -> None:
        """Drop open objects, the one that made progress least recently first, never ``keep``,
        until ``until()`` holds (spec/transport.md §3.8 rule 8): what a frame's header claims
        must not hold memory that a real transfer needs."""
        stalest = sorted((o for o in self.by_id.values() if o.result is None and o is not keep),
                         key=lambda o: o.touched)
        for obj in stalest:
            if until():
                return
            self.counts["objects_dropped"] += 1
            self._conclude(obj, "incomplete", f"dropped to bound the receiver's memory ({self.open} files were "
                                              "incomplete at once; frames are not authenticated, see "
                                              "spec/transport.md 3.10)")

    def finished(self) -> bool:
        """True when every file a sender announced is finished (complete or refused) and no
        other transfer is under way: nothing the receiver was told about is still missing."""
        return self.sessions_done > 0 and self.session is None and self.open == 0

    def _unlock(self) -> None:
        self.session = None
        self.ignored.clear()

    def _cleanup(self, obj: _Object) -> None:
        if obj.part is not None:
            obj.part.discard()
            obj.part = None
        if obj.spill_file is not None:
            obj.spill_file.discard()
            obj.spill_file, obj.spill_fd = None, -1

    def abandon_session(self) -> None:
        """Give up the followed session (silent too long): report its unfinished files, follow the next."""
        for obj in list(self.by_id.values()):
            if obj.result is None and obj.info.session == self.session:
                self._unfinished(obj)
        self._unlock()

    def _unfinished(self, obj: _Object) -> None:
        if obj.announce is None and obj.remaining == 0:
            self._conclude(obj, "incomplete", "every block arrived but no announcement (name and SHA-256)")
        else:
            self._conclude(obj, "incomplete", "")

    def finish(self) -> ReceiveReport:
        for obj in list(self.by_id.values()):
            if obj.result is None:
                self._unfinished(obj)
        self.peak = max(self.peak, self.buffered)
        self.counts["valid"] = self.n_valid
        seconds = (self.last_done_at - self.first_at) if (self.first_at is not None and self.last_done_at) else 0.0
        return ReceiveReport(tuple(self.results), dict(self.counts), seconds, self.peak)


def _file_digest(path: Path) -> bytes:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.digest()
