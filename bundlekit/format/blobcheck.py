"""Checking one blob as it streams out of a bundle (spec/bundle-format.md §5).

:func:`stream_blob` is the single bounded pass every reader makes over a blob: the zstd frame
header first, decompression capped at the signed size plus one byte, and both SHA-256 digests.
The stored hash, the content hash and the caller's sink each run in their own
:class:`~bundlekit.format.blobio.Stage`, so on two cores they overlap decompression.
"""

from __future__ import annotations

import hashlib
from typing import Callable, Iterator

import zstandard

from bundlekit.core.atomic import CHUNK
from bundlekit.errors import FormatError, VerificationError
from bundlekit.format.blobio import Stage
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
            for chunk in section.chunks():
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
    source = _HashingReader(section.chunks(), stored.put)
    head = source.peek()
    if head is not None:
        _check_frame_header(head, blob, limits, where)
    dctx = zstandard.ZstdDecompressor(max_window_size=limits.max_window)
    # stream_reader bounds each read's *output*, so a tiny frame that expands to GBs
    # costs one chunk of memory and stops at the signed size + 1 byte.
    reader = dctx.stream_reader(source, read_size=CHUNK, read_across_frames=False)  # type: ignore[arg-type]
    produced = 0
    try:
        while True:
            out = reader.read(CHUNK)
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


def _check_frame_header(chunk: bytes, blob: BlobRecord, limits: Limits, where: str) -> None:
    try:
        params = zstandard.get_frame_parameters(chunk)
    except zstandard.ZstdError as err:
        raise VerificationError(f"{where}: not a zstd frame ({err})", code="blob_corrupt") from None
    if params.window_size > limits.max_window:
        raise FormatError(f"{where}: zstd window {params.window_size} exceeds the limit {limits.max_window}",
                          code="limit_exceeded")
    declared = params.content_size
    if declared != zstandard.CONTENTSIZE_UNKNOWN and declared != blob.size:
        raise VerificationError(f"{where}: zstd frame declares {declared} bytes, the manifest signs {blob.size}",
                                code="blob_size_mismatch")


class _HashingReader:
    """A file-like view of stored chunks that hands every byte given to the decoder to ``seen``."""

    def __init__(self, chunks: Iterator[bytes], seen: Callable[[bytes], object]) -> None:
        self._chunks = chunks
        self._seen = seen
        self._buf = b""

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
