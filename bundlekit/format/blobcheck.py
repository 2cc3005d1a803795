"""Checking one blob as it streams out of a bundle (spec/bundle-format.md §5).

:func:`stream_blob` is the single bounded pass every reader makes over a blob: the zstd frame
header first, decompression capped at the signed size plus one byte, and both SHA-256 digests.
The stored hash, the content hash and the caller's sink each run in their own
:class:`~bundlekit.format.blobio.Stage`, so on two cores they overlap decompression. Stored
bytes are read, and bytes that only get hashed are decompressed, into a
:class:`~bundlekit.format.blobio.Ring` of reused buffers (decision 860); a sink gets bytes of
its own, which it may keep.
"""

from __future__ import annotations

import hashlib
from typing import Callable, Iterator

import zstandard

from bundlekit.core.atomic import CHUNK
from bundlekit.errors import FormatError, VerificationError
from bundlekit.format.blobio import Ring, Stage
from bundlekit.format.container import BlobRecord, BundleFile, Limits, _Section

__all__ = ["stream_blob"]


def stream_blob(bundle: BundleFile, blob: BlobRecord, sink: Callable[[bytes], object] | None = None,
                where: str = "blob", progress: Callable[[int], None] | None = None) -> None:
    """Check one blob in a single bounded pass; feed decompressed bytes to ``sink``.

    The frame header is checked first (declared size must equal the signed size, window
    within limits); decompression stops at signed size + 1 byte; then both the stored and
    the content SHA-256 must match. Callers must not use what ``sink`` received until this
    returns: it raises on any mismatch. ``progress(n)`` is called on the caller's thread
    with each count of decompressed bytes. The two hashes and ``sink`` each run in their
    own :class:`~bundlekit.format.blobio.Stage`, overlapping decompression.
    """
    limits = bundle.limits
    content = hashlib.sha256()
    produced = 0
    section = bundle.read_stored(blob.offset, blob.length)
    hasher: Stage[bytes] = Stage(content.update, name="bundlekit-content-hash")
    writer: Stage[bytes] = Stage(sink or _discard, name="bundlekit-sink")
    with hasher, writer:
        if blob.encoding == "identity":
            stored = content  # the stored bytes are the content: one hash serves both
            for chunk in (section.chunks() if sink else section.pieces(Ring(CHUNK))):
                produced += len(chunk)
                if produced > blob.size:
                    raise VerificationError(f"{where}: {produced} or more bytes, the manifest says {blob.size}",
                                            code="blob_size_mismatch")
                hasher.put(chunk)
                if sink:
                    writer.put(chunk)
                if progress:
                    progress(len(chunk))
        elif blob.encoding == "zstd":
            stored = hashlib.sha256()
            stored_hasher: Stage[bytes] = Stage(stored.update, name="bundlekit-stored-hash")
            with stored_hasher:
                produced = _decompress(section, blob, limits, where, stored_hasher, hasher,
                                       writer if sink else None, progress)
        else:
            raise FormatError(f"{where}: unknown encoding {blob.encoding!r}", code="malformed")
    if stored.hexdigest() != blob.stored_sha256:
        raise VerificationError(f"{where}: stored bytes do not match the signed SHA-256 (altered or spliced)",
                                code="blob_hash_mismatch")
    if produced != blob.size:
        raise VerificationError(f"{where}: {produced} bytes, the manifest says {blob.size}", code="blob_size_mismatch")
    if content.hexdigest() != blob.digest:
        raise VerificationError(f"{where}: content does not match its signed digest", code="blob_hash_mismatch")


def _discard(_: bytes) -> None:
    pass


def _decompress(section: "_Section", blob: BlobRecord, limits: Limits, where: str, stored: Stage[bytes],
                content: Stage[bytes], sink: Stage[bytes] | None, progress: Callable[[int], None] | None) -> int:
    source = _HashingReader(section.pieces(Ring(CHUNK)), stored.put)
    _check_one_frame(section, blob.length, where)
    head = source.peek()
    if head is not None:
        _check_frame_header(head, blob, limits, where)
    dctx = zstandard.ZstdDecompressor(max_window_size=limits.max_window)
    # stream_reader bounds each read's *output*, so a tiny frame that expands to GBs
    # costs one chunk of memory and stops at the signed size + 1 byte.
    reader = dctx.stream_reader(source, read_size=CHUNK, read_across_frames=False)  # type: ignore[arg-type]
    produced = 0
    ring = Ring(CHUNK) if sink is None else None  # a sink keeps what it gets: fresh bytes for it
    try:
        while True:
            out: bytes | memoryview = reader.read(CHUNK) if ring is None else ring.read(reader, CHUNK)
            if not out:
                break
            produced += len(out)
            if produced > blob.size:
                raise VerificationError(f"{where}: decompresses to more than the signed {blob.size} bytes",
                                        code="blob_size_mismatch")
            content.put(out)
            if sink is not None:
                sink.put(out)
            if progress:
                progress(len(out))
    except zstandard.ZstdError as err:
        raise VerificationError(f"{where}: compressed data is corrupt ({err})", code="blob_corrupt") from None
    if source.drain():
        raise VerificationError(f"{where}: bytes after the end of the zstd frame", code="blob_corrupt")
    return produced


_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def _check_one_frame(section: "_Section", length: int, where: str) -> None:
    """The stored bytes must be exactly one zstd frame (RFC 8878 §3.1.1), nothing before or after
    it (spec §5): its header, blocks up to the one marked last, and the checksum its header
    announces. Reads the frame header and the 3-byte block headers only (a seek per block), so
    a frame is walked before a byte of it is decompressed. Raises ``blob_corrupt``."""
    def corrupt(why: str) -> VerificationError:
        return VerificationError(f"{where}: the stored bytes are not exactly one zstd frame ({why})",
                                 code="blob_corrupt")

    head = section.read_at(0, 18)  # magic, descriptor and the longest frame header
    if head[:4] != _ZSTD_MAGIC:
        raise corrupt("no zstd frame magic at the start; skippable frames are not allowed")
    if len(head) < 5:
        raise corrupt("the frame header is cut short")
    fhd = head[4]
    if fhd & 0x08:
        raise corrupt("the reserved bit of the frame header descriptor is set")
    single = (fhd >> 5) & 1
    fcs = (1 if single else 0, 2, 4, 8)[fhd >> 6]
    pos = 4 + 1 + (0 if single else 1) + (0, 1, 2, 4)[fhd & 3] + fcs
    while True:
        block = section.read_at(pos, 3)
        if len(block) < 3:
            raise corrupt("it ends before its last block")
        value = int.from_bytes(block, "little")
        kind, size = (value >> 1) & 3, value >> 3
        if kind == 3:
            raise corrupt(f"reserved block type at stored offset {pos}")
        pos += 3 + (1 if kind == 1 else size)
        if value & 1:
            break
    pos += 4 if fhd & 0x04 else 0
    if pos > length:
        raise corrupt(f"its blocks need {pos} bytes, the blob has {length}")
    if pos < length:
        raise corrupt(f"{length - pos} byte(s) after the end of the frame")


def _check_frame_header(chunk: bytes, blob: BlobRecord, limits: Limits, where: str) -> None:
    try:
        params = zstandard.get_frame_parameters(chunk)
    except zstandard.ZstdError as err:
        raise VerificationError(f"{where}: not a zstd frame ({err})", code="blob_corrupt") from None
    if params.window_size > limits.max_window:
        raise FormatError(f"{where}: zstd window {params.window_size} exceeds the limit {limits.max_window}",
                          code="limit_exceeded")
    if params.dict_id:
        raise VerificationError(f"{where}: the zstd frame needs dictionary {params.dict_id}; bundles use none",
                                code="blob_corrupt")
    declared = params.content_size
    if declared != zstandard.CONTENTSIZE_UNKNOWN and declared != blob.size:
        raise VerificationError(f"{where}: zstd frame declares {declared} bytes, the manifest signs {blob.size}",
                                code="blob_size_mismatch")


class _HashingReader:
    """A file-like view of stored chunks that hands every byte given to the decoder to ``seen``."""

    def __init__(self, chunks: Iterator[memoryview], seen: Callable[[memoryview], object]) -> None:
        self._chunks = chunks
        self._seen = seen
        self._buf: bytes | memoryview = b""

    def peek(self) -> bytes | None:
        if not self._buf:
            self._buf = next(self._chunks, b"")
        return self._buf or None

    def read(self, n: int = -1) -> bytes:
        if not self._buf:
            self._buf = next(self._chunks, b"")
        if n < 0 or n >= len(self._buf):
            data, self._buf = self._buf, b""
        else:
            data, self._buf = self._buf[:n], self._buf[n:]
        if data:
            self._seen(data)
        return data

    def drain(self) -> int:
        """Hand on what the decoder left unconsumed; return how many bytes that was."""
        left = 0
        while data := self.read(CHUNK):
            left += len(data)
        return left
