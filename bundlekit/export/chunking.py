"""Content-defined chunks of a package, and the delta recipe they give (the source's half of format 1.2).

Chunk boundaries come from FastCDC (the ``pyfastcdc`` library, decision 200) with a 64 KiB
average, 16 KiB minimum and 256 KiB maximum: boundaries depend on the bytes around them, so
an insertion or deletion moves only the chunks it touches and every chunk after it is found
again at its new offset. A chunk is named by its SHA-256.

:func:`plan_delta` reads a new package once: it cuts it into chunks, looks each one up in the
chunk list of the base the destination holds, and produces the recipe (runs of base bytes
copied, runs of new bytes taken from the data blob, adjacent runs merged), the ranges of the
new bytes, their SHA-256, the package's own SHA-256 and its chunk list (kept for the next
delta). Memory is the base's chunk index (about 100 bytes per chunk: 1.6 MiB per GiB) plus
the new list, never the package.
"""

from __future__ import annotations

import hashlib
import queue
import struct
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

import pyfastcdc

from bundlekit.core.files import open_regular
from bundlekit.core.atomic import CHUNK
from bundlekit.format.blobio import Stage
from bundlekit.format.delta import OP_BASE, OP_DATA

__all__ = ["AVG_SIZE", "MIN_SIZE", "MAX_SIZE", "ChunkList", "DeltaPlan", "chunk_stream", "plan_delta", "RangeReader",
           "chunk_pushed"]

AVG_SIZE = 64 << 10
MIN_SIZE = 16 << 10
MAX_SIZE = 256 << 10
_MAGIC = b"BKCDC\x00\x01\x00"
_HEAD = struct.Struct(">8sIIIQQ")  # magic, avg, min, max, package size, chunk count
_RECORD = struct.Struct(">I32s")


def _chunker() -> pyfastcdc.FastCDC:
    return pyfastcdc.FastCDC(AVG_SIZE, min_size=MIN_SIZE, max_size=MAX_SIZE)


@dataclass(frozen=True, slots=True)
class ChunkList:
    """A package's chunks in order: ``lengths[i]`` bytes named ``digests[i]`` (raw SHA-256)."""

    size: int
    lengths: tuple[int, ...]
    digests: tuple[bytes, ...]

    def encode(self) -> bytes:
        head = _HEAD.pack(_MAGIC, AVG_SIZE, MIN_SIZE, MAX_SIZE, self.size, len(self.lengths))
        return head + b"".join(_RECORD.pack(n, d) for n, d in zip(self.lengths, self.digests))

    @classmethod
    def decode(cls, data: bytes) -> "ChunkList | None":
        """The list, or ``None`` when it is damaged or was made with other chunking parameters
        (it is a cache: the caller makes it again or ships the package whole)."""
        if len(data) < _HEAD.size:
            return None
        magic, avg, low, high, size, count = _HEAD.unpack_from(data)
        if magic != _MAGIC or (avg, low, high) != (AVG_SIZE, MIN_SIZE, MAX_SIZE):
            return None
        if len(data) != _HEAD.size + count * _RECORD.size:
            return None
        records = list(_RECORD.iter_unpack(data[_HEAD.size:]))
        lengths = tuple(n for n, _ in records)
        if sum(lengths) != size:
            return None
        return cls(size, lengths, tuple(d for _, d in records))

    def index(self) -> dict[bytes, tuple[int, int]]:
        """Chunk digest -> (offset, length) of its first occurrence."""
        out: dict[bytes, tuple[int, int]] = {}
        offset = 0
        for n, d in zip(self.lengths, self.digests):
            out.setdefault(d, (offset, n))
            offset += n
        return out


def chunk_stream(src: BinaryIO, seen: Callable[[bytes], object] | None = None) -> ChunkList:
    """Cut everything ``src`` yields into chunks; ``seen(piece)`` gets every byte, in order."""
    lengths: list[int] = []
    digests: list[bytes] = []
    size = 0
    for chunk in _chunker().cut_stream(src):
        data = bytes(chunk.data)
        if seen is not None:
            seen(data)
        lengths.append(len(data))
        digests.append(hashlib.sha256(data).digest())
        size += len(data)
    return ChunkList(size, tuple(lengths), tuple(digests))


def chunk_pushed(produce: Callable[[Callable[[bytes], object]], None]) -> ChunkList:
    """Chunk bytes that ``produce(sink)`` pushes into ``sink`` (a verified blob, for example).

    ``produce`` runs on a helper thread; the first error it raises is raised here and no
    list is returned.
    """
    pipe = _Pipe()

    def run() -> None:
        try:
            produce(pipe.push)
        except BaseException as err:
            pipe.fail(err)
        else:
            pipe.close()

    thread = threading.Thread(target=run, name="bundlekit-chunk-source", daemon=True)
    thread.start()
    try:
        result = chunk_stream(pipe)  # type: ignore[arg-type]
    finally:
        pipe.abandon()
        thread.join()
    pipe.raise_error()
    return result


class _Abandoned(Exception):
    """The reading side stopped (it failed); the pushing side stops too."""


class _Pipe:
    """Bytes pushed by one thread, read by another (bounded: a few chunks in flight)."""

    def __init__(self) -> None:
        self._q: queue.Queue[bytes | None] = queue.Queue(4)
        self._buf = b""
        self._error: BaseException | None = None
        self._done = False
        self._abandoned = False

    def push(self, data: bytes) -> None:
        while not self._abandoned:
            try:
                self._q.put(bytes(data), timeout=0.1)
                return
            except queue.Full:
                continue
        raise _Abandoned()

    def close(self) -> None:
        self._q.put(None)

    def fail(self, err: BaseException) -> None:
        self._error = err
        self._q.put(None)

    def abandon(self) -> None:
        self._abandoned = True
        while True:  # let a blocked producer finish
            try:
                self._q.get_nowait()
            except queue.Empty:
                return

    def raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def read(self, n: int = -1) -> bytes:
        while not self._buf and not self._done:
            item = self._q.get()
            if item is None:
                self._done = True
            else:
                self._buf = item
        if n < 0 or n >= len(self._buf):
            data, self._buf = self._buf, b""
        else:
            data, self._buf = self._buf[:n], self._buf[n:]
        return data


@dataclass(frozen=True, slots=True)
class DeltaPlan:
    """What :func:`plan_delta` found: ``recipe`` operations, the new bytes as ``(offset, length)``
    ranges of the new package, their total and SHA-256, and the package's own digest and list."""

    recipe: tuple[tuple[int, ...], ...]
    data_ranges: tuple[tuple[int, int], ...]
    data_size: int
    data_sha256: str
    sha256: str
    size: int
    chunks: ChunkList


def plan_delta(path: Path, base: ChunkList, progress: Callable[[int], None] | None = None) -> DeltaPlan:
    """Read the package at ``path`` once and find which of its bytes the base already has."""
    found = base.index()
    whole = hashlib.sha256()
    data_hash = hashlib.sha256()
    recipe: list[list[int]] = []
    ranges: list[list[int]] = []
    lengths: list[int] = []
    digests: list[bytes] = []
    offset = 0
    with open_regular(path, f"package file {path}") as fh, Stage(whole.update, name="bundlekit-package-hash") as hasher:
        for chunk in _chunker().cut_stream(fh):
            data = bytes(chunk.data)
            hasher.put(data)
            n = len(data)
            digest = hashlib.sha256(data).digest()
            lengths.append(n)
            digests.append(digest)
            hit = found.get(digest)
            if hit is not None and hit[1] == n:
                last = recipe[-1] if recipe else None
                if last is not None and last[0] == OP_BASE and last[1] + last[2] == hit[0]:
                    last[2] += n
                else:
                    recipe.append([OP_BASE, hit[0], n])
            else:
                data_hash.update(data)
                if recipe and recipe[-1][0] == OP_DATA:
                    recipe[-1][1] += n
                    ranges[-1][1] += n
                else:
                    recipe.append([OP_DATA, n])
                    ranges.append([offset, n])
            offset += n
            if progress:
                progress(n)
    data_size = sum(n for _, n in ranges)
    return DeltaPlan(tuple(tuple(op) for op in recipe), tuple((a, b) for a, b in ranges), data_size,
                     data_hash.hexdigest(), whole.hexdigest(), offset, ChunkList(offset, tuple(lengths), tuple(digests)))


class RangeReader:
    """A read-only stream of the given ``(offset, length)`` ranges of a file, one after another."""

    def __init__(self, fh: BinaryIO, ranges: tuple[tuple[int, int], ...]) -> None:
        self._fh = fh
        self._ranges: Iterator[tuple[int, int]] = iter(ranges)
        self._pos = 0
        self._left = 0

    def seekable(self) -> bool:
        return False

    def read(self, n: int = CHUNK) -> bytes:
        while self._left == 0:
            nxt = next(self._ranges, None)
            if nxt is None:
                return b""
            self._pos, self._left = nxt
        self._fh.seek(self._pos)
        data = self._fh.read(min(n if n > 0 else CHUNK, self._left))
        if not data:
            return b""
        self._pos += len(data)
        self._left -= len(data)
        return data
