"""Moving blob bytes with both cores busy: ordered worker stages for hashing and writing.

Writing a blob is four kinds of work per chunk: SHA-256 of the content, zstd compression,
SHA-256 of the stored bytes and the write; checking one is read, stored SHA-256,
decompression, content SHA-256 and (on import) a write to staging. Done one after another on
the calling thread they leave the second core idle. Here each kind that releases the GIL
(``hashlib`` on buffers over 2 KiB, file writes, zstd) runs in its own :class:`Stage`: a
thread behind a small bounded queue that applies one function to every item *in order*, so
memory stays a few chunks per stage and the output is the same bytes as a serial run
(bundles stay byte-identical for the same input). Checking a blob reads the stored bytes, and
decompresses those that are only hashed, into a :class:`Ring` of reused buffers rather than a
fresh allocation per piece: a fresh megabyte costs a page fault and a zeroed page per 4 KiB,
on the thread that decompresses (decision 860).

:func:`choose_encoding` decides, from a fixed sample of the input, whether compressing a
package is worth its cost: a package that is already compressed (a ``.tar.gz``, a ``.zip`` of
media) is stored with the ``identity`` encoding, whose stored bytes are its content, so it
costs one hash and a copy instead of zstd and two hashes. The decision is a function of the
bytes alone, so it too keeps bundles reproducible.
"""

from __future__ import annotations

import queue
import threading
from typing import BinaryIO, Callable, Generic, TypeVar

import zstandard

__all__ = ["Stage", "Ring", "STAGE_DEPTH", "choose_encoding", "SAMPLE_COUNT", "SAMPLE_SIZE", "IDENTITY_RATIO"]

T = TypeVar("T")

#: Incompressibility probe: this many evenly spaced pieces of this size, compressed at level 1.
SAMPLE_COUNT = 16
SAMPLE_SIZE = 64 << 10
#: Stored as ``identity`` when the sample compresses to more than this fraction of its size.
IDENTITY_RATIO = 0.98
#: Below this size compression is cheap whatever the content: always zstd.
IDENTITY_MIN_SIZE = 4 << 20

#: How many items a :class:`Stage` holds queued before ``put`` blocks.
STAGE_DEPTH = 4

_STOP = object()


class Stage(Generic[T]):
    """One consumer thread applying ``fn`` to every item put, in the order put.

    ``put`` blocks when ``depth`` items wait (bounded memory) and re-raises, on the caller's
    thread, the first exception ``fn`` raised; :meth:`close` waits for every item and
    re-raises it too. After an exception the stage drops further items. Use as a context
    manager: leaving normally closes, leaving by an exception stops the thread without
    masking that exception.
    """

    def __init__(self, fn: Callable[[T], object], depth: int = STAGE_DEPTH, name: str = "bundlekit-stage") -> None:
        self._fn = fn
        self._q: queue.Queue[object] = queue.Queue(depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._q.get()
            if item is _STOP:
                return
            if self._error is None:
                try:
                    self._fn(item)  # type: ignore[arg-type]
                except BaseException as err:  # re-raised on the caller's thread
                    self._error = err

    def put(self, item: T) -> None:
        self.check()
        self._q.put(item)

    def check(self) -> None:
        """Re-raise the first exception ``fn`` raised, if any (the stage then drops its items)."""
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        """Wait until every item was handled; re-raise the first error."""
        if self._thread.is_alive():
            self._q.put(_STOP)
            self._thread.join()
        if self._error is not None:
            raise self._error

    def __enter__(self) -> "Stage[T]":
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
            return
        try:
            self.close()
        except BaseException:
            pass  # the exception already leaving the block is the one to report


class Ring:
    """Reused buffers for one thread that reads pieces and hands them to :class:`Stage` s.

    A piece is a ``memoryview`` of one of ``STAGE_DEPTH + 2`` buffers of ``size`` bytes, taken
    in turn; a piece stays valid until that many further pieces were taken. That is long
    enough when every piece goes only to calls that use it before they return (a hash update,
    a file write, a compressor that copies its input) and to ``put`` of stages of depth at most
    :data:`STAGE_DEPTH`: once ``put`` of piece ``k + 5`` returned, the stage's queue holds at
    most pieces ``k + 2`` to ``k + 5``, so its thread took piece ``k + 1``, which it does only
    after it finished with piece ``k``, the piece whose buffer the next piece reuses. A
    consumer that keeps a piece beyond its call (a queue of its own) must get a copy.
    """

    def __init__(self, size: int, depth: int = STAGE_DEPTH) -> None:
        self._views = [memoryview(bytearray(size)) for _ in range(depth + 2)]
        self._next = 0

    def take(self) -> memoryview:
        """The next buffer, whole (``size`` bytes); its previous contents are no longer in use."""
        view = self._views[self._next]
        self._next = (self._next + 1) % len(self._views)
        return view

    def read(self, src: BinaryIO, n: int) -> memoryview:
        """Up to ``n`` bytes (at most the buffer size) from ``src`` into the next buffer: the
        filled part, empty at the end. Uses ``src.readinto`` when it has one, else ``src.read``."""
        view = self.take()[:n]
        readinto = getattr(src, "readinto", None)
        if readinto is not None:
            got = readinto(view)
        else:
            data = src.read(len(view))
            got = len(data)
            view[:got] = data
        return view[:got or 0]


def choose_encoding(src: BinaryIO, size: int) -> str:
    """``"identity"`` when ``size`` bytes from ``src`` look already compressed, else ``"zstd"``.

    Reads :data:`SAMPLE_COUNT` pieces of :data:`SAMPLE_SIZE` bytes at fixed, evenly spaced
    offsets (so the answer depends on the bytes alone) and restores the position. A source
    that cannot seek, or one smaller than :data:`IDENTITY_MIN_SIZE`, is always ``"zstd"``.
    """
    if size < IDENTITY_MIN_SIZE:
        return "zstd"
    try:
        if not src.seekable():
            return "zstd"
        start = src.tell()
    except (AttributeError, OSError):
        return "zstd"
    cctx = zstandard.ZstdCompressor(level=1, write_content_size=False)
    raw = packed = 0
    step = (size - SAMPLE_SIZE) // (SAMPLE_COUNT - 1)
    try:
        for i in range(SAMPLE_COUNT):
            src.seek(start + i * step)
            piece = src.read(SAMPLE_SIZE)
            raw += len(piece)
            packed += len(cctx.compress(piece))
    finally:
        src.seek(start)
    return "identity" if raw and packed > IDENTITY_RATIO * raw else "zstd"
