"""The zone backup file: a zone home's files in one encrypted, authenticated stream (spec/backup.md).

Layout::

    "bundlekit zone backup v1\\n"
    u32 big-endian length L, then L bytes: the header, canonical JSON (sorted keys, no spaces)
        {"check": B64(16), "chunk": 65536, "kdf": {"n", "p", "r", "salt"}, "made": int,
         "zone": name, "zone_id": id}
    sealed chunks until the end of the file

``master = scrypt(passphrase, kdf)``; ``payload = HKDF-SHA256(master, info "bundlekit backup v1
payload")``; ``check = HKDF-SHA256(master, info "bundlekit backup v1 check")[:16]`` (a wrong
passphrase is told from a damaged file). The plaintext is cut into chunks of ``chunk`` bytes,
each sealed with ChaCha20-Poly1305 under ``payload``, nonce = 11-byte big-endian chunk number
|| 1 byte (1 on the last chunk, else 0), associated data = SHA-256 of everything before the
first chunk. Only the last chunk may be shorter; a plaintext that fills its last chunk exactly
ends there (an empty plaintext is one empty last chunk). So reordering, dropping, truncating
or appending chunks, or changing the header, fails to open.

The plaintext is a sequence of records, each ``u32 length || JSON object``: ``{"type": "zone",
...}`` first, then ``{"type": "dir", "path", "mode"}`` and ``{"type": "file", "path", "mode",
"size"}`` (followed by ``size`` bytes and their 32-byte SHA-256), and ``{"type": "end",
"files", "bytes"}`` last. Paths are relative, ``/``-separated, without ``.``/``..``/empty
parts, each folder listed before what it holds, none twice.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import struct
from dataclasses import dataclass
from typing import Any, BinaryIO, Iterator, Optional

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bundlekit.core.names import quoted, tree_path_problem
from bundlekit.errors import BundleError, FormatError, InputError, VerificationError
from bundlekit.format.crypto import b64, unb64
from bundlekit.format.passphrase import Kdf, derive

__all__ = ["MAGIC", "CHUNK", "BackupHeader", "read_header", "keys_for", "BackupWriter", "BackupReader", "check_path"]

MAGIC = b"bundlekit zone backup v1\n"
CHUNK = 65536
_TAG = 16
MAX_HEADER = 4096
MAX_RECORD = 65536


@dataclass(frozen=True, slots=True)
class BackupHeader:
    """What a backup says in clear: whose it is, when it was made, and how its key is derived."""

    zone_id: str
    zone: str
    made: int
    kdf: Kdf
    check: bytes

    def to_json(self) -> bytes:
        return json.dumps({"check": b64(self.check), "chunk": CHUNK, "made": self.made, "zone": self.zone,
                           "zone_id": self.zone_id,
                           "kdf": {"salt": b64(self.kdf.salt), "n": self.kdf.n, "r": self.kdf.r, "p": self.kdf.p}},
                          sort_keys=True, separators=(",", ":")).encode("utf-8")

    def prefix(self) -> bytes:
        body = self.to_json()
        return MAGIC + struct.pack(">I", len(body)) + body


def read_header(stream: BinaryIO, where: str) -> tuple[BackupHeader, bytes]:
    """The clear header of a backup and the bytes it was read from (``invalid_backup``)."""
    def bad(why: str) -> FormatError:
        return FormatError(f"{where}: not a bundlekit zone backup ({why}); give a file bundlekit zone backup wrote",
                           code="invalid_backup")

    head = stream.read(len(MAGIC) + 4)
    if len(head) < len(MAGIC) + 4 or not head.startswith(MAGIC):
        raise bad("it does not start with the backup header line")
    (length,) = struct.unpack(">I", head[len(MAGIC):])
    if length > MAX_HEADER:
        raise bad("header too long")
    body = stream.read(length)
    try:
        d = json.loads(body.decode("utf-8"))
        k = d["kdf"]
        header = BackupHeader(str(d["zone_id"]), str(d["zone"]), int(d["made"]),
                              Kdf(unb64(k["salt"], "salt", 16), int(k["n"]), int(k["r"]), int(k["p"])),
                              unb64(d["check"], "check", 16))
        if d["chunk"] != CHUNK:
            raise ValueError("chunk size")
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, BundleError) as err:
        raise bad(f"damaged header: {getattr(err, 'message', err)}") from None
    if header.to_json() != body:
        raise bad("header not in canonical form")
    return header, head + body


def keys_for(passphrase: bytes, kdf: Kdf) -> tuple[bytes, bytes]:
    """``(payload key, check)`` from the passphrase (scrypt, then HKDF; slow on purpose)."""
    master = derive(passphrase, kdf)

    def expand(info: bytes, n: int) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=n, salt=None, info=info).derive(master)

    return expand(b"bundlekit backup v1 payload", 32), expand(b"bundlekit backup v1 check", 16)


def _nonce(index: int, last: bool) -> bytes:
    return index.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


def check_path(path: str, where: str) -> None:
    """Refuse a record path that could leave the folder it is restored into (``backup_corrupt``),
    by the one rule for such paths (:func:`bundlekit.core.names.tree_path_problem`)."""
    if tree_path_problem(path) is not None:
        raise VerificationError(f"{where}: a record names the unsafe path {quoted(path)}; the backup was not written by "
                                "bundlekit or was altered. Nothing was restored", code="backup_corrupt")


class BackupWriter:
    """Writes a backup to ``out``: records in, sealed chunks out, memory bounded by one chunk."""

    def __init__(self, out: BinaryIO, header: BackupHeader, payload_key: bytes) -> None:
        self._out = out
        prefix = header.prefix()
        out.write(prefix)
        self._ad = hashlib.sha256(prefix).digest()
        self._aead = ChaCha20Poly1305(payload_key)
        self._buf = bytearray()
        self._index = 0
        self.files = 0
        self.bytes = 0

    def _write(self, data: bytes) -> None:
        self._buf += data
        while len(self._buf) > CHUNK:  # keep a full chunk back: it may turn out to be the last
            self._seal(bytes(self._buf[:CHUNK]), last=False)
            del self._buf[:CHUNK]

    def _seal(self, plain: bytes, last: bool) -> None:
        self._out.write(self._aead.encrypt(_nonce(self._index, last), plain, self._ad))
        self._index += 1

    def record(self, obj: dict[str, Any]) -> None:
        body = json.dumps(obj, sort_keys=True, separators=(",", ":")).encode("utf-8")
        assert len(body) <= MAX_RECORD
        self._write(struct.pack(">I", len(body)) + body)

    def add_dir(self, path: str, mode: int) -> None:
        self.record({"type": "dir", "path": path, "mode": mode & 0o777})

    def add_file(self, path: str, mode: int, size: int, stream: BinaryIO) -> None:
        """Add a file of ``size`` bytes read from ``stream`` (``OSError`` if it has fewer)."""
        self.record({"type": "file", "path": path, "mode": mode & 0o777, "size": size})
        digest = hashlib.sha256()
        left = size
        while left:
            data = stream.read(min(left, 1 << 20))
            if not data:
                raise OSError(f"{path} became shorter while it was backed up")
            digest.update(data)
            self._write(data)
            left -= len(data)
        self._write(digest.digest())
        self.files += 1
        self.bytes += size

    def finish(self) -> None:
        self.record({"type": "end", "files": self.files, "bytes": self.bytes})
        self._seal(bytes(self._buf), last=True)
        self._buf.clear()


class BackupReader:
    """Opens a backup's chunks in order; ``records()`` yields each record, and after a file
    record ``read_file(size)`` yields its content (checked against its SHA-256 at the end).

    Anything that fails to authenticate, or a file that ends early or goes on after the last
    chunk, is ``VerificationError`` ``backup_corrupt``; a wrong passphrase (the check value
    differs) is ``InputError`` ``passphrase_wrong``.
    """

    def __init__(self, stream: BinaryIO, header: BackupHeader, prefix: bytes, passphrase: bytes, where: str) -> None:
        payload, check = keys_for(passphrase, header.kdf)
        if not hmac.compare_digest(check, header.check):
            raise InputError(f"{where}: the passphrase given does not open this backup (a wrong passphrase, or the "
                             "file's header was altered). Nothing was restored", code="passphrase_wrong")
        self._stream = stream
        self._where = where
        self._aead = ChaCha20Poly1305(payload)
        self._ad = hashlib.sha256(prefix).digest()
        self._index = 0
        self._pending: Optional[bytes] = stream.read(CHUNK + _TAG)
        self._buf = bytearray()
        self._done = False

    def corrupt(self, why: str) -> VerificationError:
        return VerificationError(f"{self._where}: the backup is damaged or was altered ({why}); nothing was "
                                 "restored. Use another copy of the backup", code="backup_corrupt")

    def _more(self) -> bool:
        if self._done:
            return False
        sealed = self._pending or b""
        nxt = self._stream.read(CHUNK + _TAG) if len(sealed) == CHUNK + _TAG else b""
        last = not nxt
        if len(sealed) < _TAG:
            raise self.corrupt("it ends before its last chunk")
        try:
            plain = self._aead.decrypt(_nonce(self._index, last), sealed, self._ad)
        except InvalidTag:
            raise self.corrupt(f"chunk {self._index} does not authenticate") from None
        self._index += 1
        self._pending = nxt
        self._done = last
        self._buf += plain
        return True

    def _take(self, n: int) -> bytes:
        while len(self._buf) < n:
            if not self._more():
                raise self.corrupt("it ends inside a record")
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def records(self) -> Iterator[dict[str, Any]]:
        """Each record in order, ending with (and including) the ``end`` record; after it, no byte may follow."""
        while True:
            (length,) = struct.unpack(">I", self._take(4))
            if length > MAX_RECORD:
                raise self.corrupt("a record is too long")
            try:
                rec = json.loads(self._take(length).decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                raise self.corrupt("a record is not JSON") from None
            if not isinstance(rec, dict):
                raise self.corrupt("a record is not an object")
            yield rec
            if rec.get("type") == "end":
                if self._buf or self._more():
                    raise self.corrupt("data after the end record")
                return

    def read_file(self, size: int) -> Iterator[bytes]:
        """The content of the file record just yielded, in pieces; its digest checked at the end."""
        digest = hashlib.sha256()
        left = size
        while left:
            if not self._buf and not self._more():
                raise self.corrupt("it ends inside a file")
            piece = bytes(self._buf[:left])
            del self._buf[:len(piece)]
            digest.update(piece)
            left -= len(piece)
            yield piece
        if self._take(32) != digest.digest():
            raise self.corrupt("a file's digest differs")
