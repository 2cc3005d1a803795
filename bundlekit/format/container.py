"""The bundle container: byte layout, streaming writer and reader (spec/bundle-format.md §3).

Layout (all integers big-endian)::

    header      32 bytes   magic(8) major(u16) minor(u16) kind(u8) reserved(3, zero)
                           blobs_length(u64) manifest_length(u64)
    blobs       blobs_length bytes: zstd frames, back to back, as listed in the manifest
    manifest    manifest_length bytes: canonical msgpack (see codec.py)
    signatures  96-byte records to the end of the file: public key(32) || Ed25519 signature(64)

The signed message is ``header || manifest``, exactly as stored; signatures sit beside it
so an approver can add one without changing what was signed. The bundle digest
(SHA-256 of the signed message) names a bundle independently of its signatures.

The reader never trusts a length it has not checked against the file size, and it hands out
the manifest bytes only as bytes: parsing is the caller's move, after signature checks.
"""

from __future__ import annotations

import hashlib
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

import zstandard

from bundlekit.core.atomic import CHUNK, AtomicFile
from bundlekit.core.files import open_regular
from bundlekit.format import codec
from bundlekit.format.blobio import Ring, Stage, choose_encoding
from bundlekit.format.relay_header import RELAYED, check_relay_header
from bundlekit.format.versions import READ_MAJOR, stated_writer, unsupported_format, unsupported_kind
from bundlekit.errors import FormatError, InputError, UsageError, VerificationError

__all__ = ["MAGIC", "FORMAT_MAJOR", "FORMAT_MINOR", "KINDS", "HEADER_SIZE", "SIGNATURE_RECORD", "Limits", "Header",
           "BlobRecord", "SignatureRecord", "BundleFile", "BundleWriter"]

MAGIC = b"\x89BDL\r\n\x1a\n"
FORMAT_MAJOR = READ_MAJOR
#: Minor 1 (this bundlekit): lifecycles, attestations, refusal entries, per-project sequences
#: (spec/bundle-format.md §10). Readers accept every minor version of major 1.
FORMAT_MINOR = 1
KINDS = {1: "release", 2: "receipt"}
KIND_CODES = {v: k for k, v in KINDS.items()}
HEADER_SIZE = 32
SIGNATURE_RECORD = 96
_HEADER = struct.Struct(">8sHHB3sQQ")


@dataclass(frozen=True, slots=True)
class Limits:
    """What a reader refuses to go beyond, whatever a (possibly signed) manifest says."""

    max_manifest: int = 16 * 1024 * 1024
    max_signatures: int = 32
    max_blobs: int = 100_000
    max_blob_size: int = 1 << 42  # 4 TiB of decompressed data per blob
    max_window: int = 1 << 23  # zstd window: bounds the decoder's memory


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class Header:
    major: int
    minor: int
    kind: str
    blobs_length: int
    manifest_length: int

    def to_bytes(self) -> bytes:
        return _HEADER.pack(MAGIC, self.major, self.minor, KIND_CODES[self.kind], b"\0\0\0",
                            self.blobs_length, self.manifest_length)

    @classmethod
    def parse(cls, data: bytes, where: str) -> "Header":
        if len(data) < HEADER_SIZE:
            raise FormatError(f"{where}: file is {len(data)} bytes, shorter than the {HEADER_SIZE}-byte "
                              "header; it is not a bundle or it was truncated", code="truncated")
        magic, major, minor, kind, reserved, blobs_len, man_len = _HEADER.unpack(data[:HEADER_SIZE])
        if magic != MAGIC:
            raise FormatError(f"{where}: not a bundlekit bundle (bad magic bytes)", code="not_a_bundle")
        if major != FORMAT_MAJOR:
            raise unsupported_format(where, major, minor, None)
        if kind not in KINDS:  # a kind of a newer minor than this reader's asks for a newer bundlekit
            raise unsupported_kind(where, major, minor, kind)
        if reserved != b"\0\0\0":
            raise FormatError(f"{where}: reserved header bytes are not zero", code="malformed")
        return cls(major, minor, KINDS[kind], blobs_len, man_len)


@dataclass(frozen=True, slots=True)
class BlobRecord:
    """Where a blob sits and what it must hash to (manifest ``blobs[]``)."""

    digest: str  # SHA-256 of the decompressed content: the content address
    size: int  # decompressed size
    offset: int  # from the start of the blobs section
    length: int  # stored (compressed) length
    stored_sha256: str
    encoding: str = "zstd"

    def to_dict(self) -> dict[str, object]:
        return {"digest": self.digest, "size": self.size, "offset": self.offset, "length": self.length,
                "stored_sha256": self.stored_sha256, "encoding": self.encoding}


@dataclass(frozen=True, slots=True)
class SignatureRecord:
    public_key: bytes
    signature: bytes


class BundleFile:
    """An open bundle: header, manifest bytes and signature records, lengths checked.

    Opening reads only the header, the manifest and the signatures (a seek past the
    blobs), so its cost does not grow with package size.
    """

    def __init__(self, path: Path | str, limits: Limits = DEFAULT_LIMITS) -> None:
        self.path = Path(path)
        self.limits = limits
        where = str(self.path)
        if self.path.is_dir():
            raise FormatError(f"{where}: is a folder, not a bundle file", code="not_a_bundle")
        try:
            self._fh: BinaryIO = open_regular(self.path, f"bundle {where}")
        except FileNotFoundError:
            raise InputError(f"{where}: no such file", code="bundle_not_found") from None
        except IsADirectoryError:
            raise FormatError(f"{where}: is a folder, not a bundle file", code="not_a_bundle") from None
        try:
            self._open(where)
        except BaseException:
            self._fh.close()
            raise

    def _open(self, where: str) -> None:
        size = os.fstat(self._fh.fileno()).st_size
        head = self._fh.read(HEADER_SIZE)
        # A relayed bundle (spec/relay.md): the relay header and the raw hops section (else None);
        # everything else of this object describes its origin bundle, read where it sits.
        self.relay_header: bytes | None = None
        self.hops_raw: bytes | None = None
        self.origin_offset = base = 0
        if len(head) == HEADER_SIZE and head[:8] == MAGIC and _HEADER.unpack(head)[1] == FORMAT_MAJOR \
                and head[12] == RELAYED:
            size, self._hops_length = check_relay_header(head, size, where)
            self.relay_header, self.origin_offset = head, HEADER_SIZE
            self._fh.seek(HEADER_SIZE)
            head, where, base = self._fh.read(HEADER_SIZE), f"{where} (origin bundle)", HEADER_SIZE
        try:
            self.header = Header.parse(head, where)
        except FormatError as err:
            if err.code == "unsupported_version":
                _, major, minor, _, _, blobs_len, man_len = _HEADER.unpack(head)
                if major != FORMAT_MAJOR:  # named with the writer its manifest states (not a newer kind's)
                    raise unsupported_format(where, major, minor, self._writer_of(blobs_len, man_len, size)) from None
            raise
        h = self.header
        if h.manifest_length == 0 or h.manifest_length > self.limits.max_manifest:
            raise FormatError(f"{where}: manifest length {h.manifest_length} is outside 1..{self.limits.max_manifest}",
                              code="limit_exceeded")
        sig_start = HEADER_SIZE + h.blobs_length + h.manifest_length
        sig_len = size - sig_start
        if sig_len < SIGNATURE_RECORD:
            raise FormatError(f"{where}: file is {size} bytes but the header promises at least "
                              f"{sig_start + SIGNATURE_RECORD}; the bundle is truncated", code="truncated")
        if sig_len % SIGNATURE_RECORD:
            raise FormatError(f"{where}: {sig_len % SIGNATURE_RECORD} stray byte(s) at the end of the signature "
                              "section (truncated or appended data)", code="trailing_bytes")
        if sig_len // SIGNATURE_RECORD > self.limits.max_signatures:
            raise FormatError(f"{where}: more than {self.limits.max_signatures} signatures", code="limit_exceeded")
        self.file_size = size
        self.blobs_start = base + HEADER_SIZE
        self._fh.seek(base + HEADER_SIZE + h.blobs_length)
        self.manifest_bytes = self._read_exact(h.manifest_length, where)
        raw = self._read_exact(sig_len, where)
        self.signatures = tuple(
            SignatureRecord(raw[i:i + 32], raw[i + 32:i + SIGNATURE_RECORD])
            for i in range(0, sig_len, SIGNATURE_RECORD)
        )
        self.signed_message = self.header.to_bytes() + self.manifest_bytes
        self.digest = hashlib.sha256(self.signed_message).hexdigest()
        if self.relay_header is not None:
            self._fh.seek(base + size)
            self.hops_raw = self._read_exact(self._hops_length, where)

    def origin_chunks(self) -> Iterator[bytes]:
        """The origin bundle's bytes as stored (a bundle not relayed: the file), in bounded chunks."""
        return _Section(self._fh, self.origin_offset, self.file_size).chunks()

    def _writer_of(self, blobs_len: int, man_len: int, size: int) -> str | None:
        """The ``writer.version`` a bundle of another major version states, or None. Nothing here is
        trusted: a manifest of an unknown format is read only if it fits the limits and decodes as
        canonical msgpack, and a version is used only if it looks like one (it names the release to
        install, nothing else)."""
        if not 0 < man_len <= self.limits.max_manifest or HEADER_SIZE + blobs_len + man_len > size:
            return None
        self._fh.seek(self.origin_offset + HEADER_SIZE + blobs_len)
        data = self._fh.read(man_len)
        try:
            obj = codec.decode(data)
        except FormatError:
            return None
        return stated_writer(obj)

    def _read_exact(self, n: int, where: str) -> bytes:
        data = self._fh.read(n)
        if len(data) != n:
            raise FormatError(f"{where}: truncated", code="truncated")
        return data

    def read_stored(self, offset: int, length: int) -> "_Section":
        """A bounded reader over ``length`` stored bytes at ``offset`` in the blobs section."""
        return _Section(self._fh, self.blobs_start + offset, length)

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> "BundleFile":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Section:
    def __init__(self, fh: BinaryIO, start: int, length: int) -> None:
        self._fh, self._pos, self._left = fh, start, length
        self._start, self._length = start, length

    def read_at(self, pos: int, n: int) -> bytes:
        """Up to ``n`` bytes from ``pos`` within the section (fewer at its end); the chunks an
        iteration of :meth:`chunks` yields are not affected."""
        end = min(self._start + self._length, self._start + pos + n)
        if pos < 0 or self._start + pos >= end:
            return b""
        self._fh.seek(self._start + pos)
        return self._fh.read(end - self._start - pos)

    def pieces(self, ring: Ring) -> Iterator[memoryview]:
        """:meth:`chunks` read into ``ring``'s buffers: each piece is valid by the ring's rule."""
        while self._left > 0:
            self._fh.seek(self._pos)
            view = ring.read(self._fh, self._left)
            if not view:
                raise FormatError("blob section ends early", code="truncated")
            self._pos, self._left = self._pos + len(view), self._left - len(view)
            yield view

    def chunks(self, size: int = CHUNK) -> Iterator[bytes]:
        while self._left > 0:
            self._fh.seek(self._pos)
            data = self._fh.read(min(size, self._left))
            if not data:
                raise FormatError("blob section ends early", code="truncated")
            self._pos += len(data)
            self._left -= len(data)
            yield data



def check_blob_layout(blobs: list[BlobRecord], blobs_length: int, limits: Limits, where: str) -> None:
    """Blobs must tile the blobs section exactly: in order, no gap, no overlap, nothing unlisted."""
    if len(blobs) > limits.max_blobs:
        raise FormatError(f"{where}: {len(blobs)} blobs, more than the limit {limits.max_blobs}", code="limit_exceeded")
    pos = 0
    for i, b in enumerate(blobs):
        if b.offset != pos:
            raise VerificationError(f"{where}: blobs[{i}] starts at {b.offset}, expected {pos} (gap or overlap)",
                                    code="blob_layout")
        if b.size > limits.max_blob_size:
            raise FormatError(f"{where}: blobs[{i}] declares {b.size} bytes, above the limit "
                              f"{limits.max_blob_size}", code="limit_exceeded")
        pos += b.length
    if pos != blobs_length:
        raise VerificationError(f"{where}: the manifest lists {pos} blob bytes but the header has "
                                f"{blobs_length}; unlisted or missing data", code="blob_layout")


class BundleWriter:
    """Writes a bundle in one streaming pass, atomically (nothing at ``path`` until commit; decision 886)."""

    def __init__(self, path: Path | str, kind: str, *, level: int = 3, threads: int | None = None,
                 minor: int = FORMAT_MINOR) -> None:
        if kind not in KIND_CODES:
            raise ValueError(kind)
        self.kind = kind
        self.minor = minor  # only the test-vector generator writes an older minor version
        self._out = AtomicFile(path, sweep=True)  # a user's folder: killed writers' leftovers go first
        self._out.write(b"\0" * HEADER_SIZE)
        self._pos = 0
        self._blobs: dict[str, BlobRecord] = {}
        # threads >= 1 always selects zstd's multi-threaded mode, whose output does not
        # depend on the worker count: bundles are reproducible across machines.
        workers = threads if threads is not None else max(1, min(os.cpu_count() or 1, 8))
        # An explicit 2 MiB window and 2 MiB jobs bound the compressor's memory (about 8 MiB
        # per worker) and keep the output a function of the input alone.
        params = zstandard.ZstdCompressionParameters.from_level(
            level, threads=workers, job_size=2 << 20, window_log=21, write_content_size=True,
            write_checksum=False)
        self._cctx = zstandard.ZstdCompressor(compression_params=params)

    @property
    def blobs(self) -> list[BlobRecord]:
        return sorted(self._blobs.values(), key=lambda b: b.offset)

    def add_blob(self, src: BinaryIO, size: int, progress: Callable[[int], None] | None = None, *,
                 encoding: str | None = None, tee: Callable[[bytes], object] | None = None) -> BlobRecord:
        """Store ``size`` bytes from ``src`` as one blob; identical content is stored once.

        ``encoding`` ``"zstd"`` or ``"identity"``; by default :func:`choose_encoding` decides
        from the bytes (already-compressed content is not compressed again). ``tee`` also gets
        every content byte, in order (export keeps a copy in the zone's store without reading
        the file twice). Content hashing, compression, the stored hash plus write, and ``tee``
        overlap in separate threads; the bytes written do not depend on that. Raises
        ``FormatError`` ``input_changed`` when ``src`` does not hold exactly ``size`` bytes.
        """
        start = self._pos
        enc = encoding or choose_encoding(src, size)
        content = hashlib.sha256()
        out = self._out.file
        teed: Stage[bytes] = Stage(tee or _ignore, name="bundlekit-tee")
        hasher: Stage[bytes] = Stage(content.update, name="bundlekit-content-hash")
        consumers = [hasher.put] + ([teed.put] if tee else [])
        if enc == "identity":
            stored = content
            writer: Stage[bytes] = Stage(out.write, name="bundlekit-writer")
            with teed, hasher, writer:
                counted = _feed(src, size, [*consumers, writer.put], progress)
            length = min(counted, size)
        else:
            stored = hashlib.sha256()
            sink = _StagedWriter(out, stored)
            counted = 0
            try:
                with teed, hasher, sink:
                    with self._cctx.stream_writer(sink, size=size, closefd=False,  # type: ignore[arg-type]
                                                  write_size=CHUNK) as zw:
                        counted = _feed(src, size, [*consumers, zw.write], progress)
            except zstandard.ZstdError:
                if counted == size:
                    raise
                # zstd refuses a frame shorter than the size it was promised: the input changed.
            length = sink.count
        if counted != size:
            out.seek(HEADER_SIZE + start)
            out.truncate()
            raise FormatError(f"input changed while reading: expected {size} bytes, read {counted}",
                              code="input_changed")
        digest = content.hexdigest()
        if digest in self._blobs:
            out.seek(HEADER_SIZE + start)
            out.truncate()
            return self._blobs[digest]
        rec = BlobRecord(digest, size, start, length, stored.hexdigest(), enc)
        self._pos += length
        self._blobs[digest] = rec
        return rec

    def finish(self, manifest_bytes: bytes, signers: list[Callable[[bytes], SignatureRecord]], *,
               commit: bool = True) -> str:
        """Write manifest and signatures, then the header; commit. Returns the bundle digest.

        With ``commit=False`` the complete bundle stays under its temporary name until
        :meth:`commit` (so a caller can record it first) or :meth:`abort`.
        """
        header = Header(FORMAT_MAJOR, self.minor, self.kind, self._pos, len(manifest_bytes)).to_bytes()
        message = header + manifest_bytes
        f = self._out.file
        f.seek(HEADER_SIZE + self._pos)
        f.write(manifest_bytes)
        for signer in signers:
            rec = signer(message)
            f.write(rec.public_key + rec.signature)
        f.truncate()
        f.seek(0)
        f.write(header)
        if commit:
            self._out.commit()
        return hashlib.sha256(message).hexdigest()

    def park(self, name: Path) -> None:
        """Keep the finished bundle (``finish(commit=False)``), flushed to disk, under the hidden
        name ``name`` in the final folder until :meth:`commit`; after a crash the caller can find
        it there and finish the job (a receipt recorded as written, for instance)."""
        self._out.park(name)

    def commit(self) -> Path:
        """Move the finished bundle to its final name (fsync, rename, fsync the folder)."""
        return self._out.commit()

    def abort(self) -> None:
        self._out.discard()


def _ignore(_: bytes) -> None:
    pass


def _feed(src: BinaryIO, size: int, consumers: list[Callable[[bytes], object]],
          progress: Callable[[int], None] | None) -> int:
    """Hand ``src`` to each consumer in CHUNK pieces; stop before the piece that passes ``size``.
    Returns how many bytes were read (more than ``size`` when the source grew)."""
    counted = 0
    while data := src.read(CHUNK):
        counted += len(data)
        if counted > size:
            break
        for consume in consumers:
            consume(data)
        if progress:
            progress(len(data))
    return counted


class _StagedWriter:
    """zstd's output sink: each piece is hashed and written by one :class:`Stage` thread."""

    def __init__(self, out: BinaryIO, h: "hashlib._Hash") -> None:
        self._out, self._h, self.count = out, h, 0
        self._stage: Stage[bytes] = Stage(self._write, name="bundlekit-writer")

    def _write(self, data: bytes) -> None:
        self._h.update(data)
        self._out.write(data)

    def write(self, data: bytes) -> int:
        piece = bytes(data)  # the compressor may reuse its buffer once this returns
        self._stage.put(piece)
        self.count += len(piece)
        return len(piece)

    def flush(self) -> None:
        pass

    def __enter__(self) -> "_StagedWriter":
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._stage.__exit__(exc_type, exc, tb)


def add_signature(path: Path | str, sign_message: Callable[[bytes, str], SignatureRecord]) -> tuple[bool, str]:
    """Append one signature record to a bundle, atomically (the signed bytes do not change).

    ``sign_message(message, kind)`` makes the record. Existing records must all verify first
    (nobody should co-sign a damaged bundle). Returns (added, digest); signing twice with
    one key adds nothing.
    """
    from bundlekit.format.crypto import verify_signature

    path = Path(path)
    with BundleFile(path) as bundle:
        if bundle.relay_header is not None:
            raise UsageError(f"{path}: a relayed bundle; approvers sign the bundle its source wrote, before it is "
                             "relayed (relays countersign the bundle as it was)", code="usage")
        kind = bundle.header.kind
        for i, rec in enumerate(bundle.signatures):
            if not verify_signature(rec.public_key, kind, bundle.signed_message, rec.signature):
                raise VerificationError(f"{path}: existing signature {i + 1} does not verify; refusing to co-sign a "
                                        "damaged bundle", code="invalid_signature")
        new = sign_message(bundle.signed_message, kind)
        if any(rec.public_key == new.public_key for rec in bundle.signatures):
            return False, bundle.digest
        if len(bundle.signatures) + 1 > bundle.limits.max_signatures:
            raise FormatError(f"{path}: already has {len(bundle.signatures)} signatures", code="limit_exceeded")
        with AtomicFile(path, sweep=True) as out, open(path, "rb") as src:
            while data := src.read(CHUNK):
                out.write(data)
            out.write(new.public_key + new.signature)
        return True, bundle.digest
