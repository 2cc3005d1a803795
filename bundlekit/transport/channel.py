"""Where diode frames travel: real UDP, a spool folder, memory, and an impairment wrapper for tests.

A channel moves opaque frames one way. ``send`` never waits for the far side; ``recv``
returns the next frame or None after ``timeout`` seconds. The sender and receiver only
see this interface, so tests run them over :class:`MemoryChannel` wrapped in a seeded
:class:`LossyChannel`, and production uses :class:`UdpChannel` or :class:`SpoolChannel`.
"""

from __future__ import annotations

import errno
import hashlib
import os
import random
import socket
import stat
import struct
import sys
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from bundlekit.core.atomic import AtomicFile
from bundlekit.errors import InputError, TransportError, UsageError
from bundlekit.transport.frames import MAX_DATAGRAM

__all__ = [
    "FrameSink", "FrameSource", "MemoryChannel", "LossyChannel", "UdpChannel", "SpoolChannel", "parse_address",
    "SPOOL_MAGIC", "SPOOL_TRAILER",
]


class FrameSink(Protocol):
    def send(self, frame: bytes) -> None: ...
    def close(self) -> None: ...


class FrameSource(Protocol):
    def recv(self, timeout: float) -> bytes | None: ...
    def close(self) -> None: ...


def parse_address(text: str, *, option: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[V6]:PORT``."""
    host, sep, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not (port.isascii() and port.isdigit()) or not 0 <= int(port) <= 65535:
        raise UsageError(f"{option} {text!r}: expected HOST:PORT, for example 127.0.0.1:5005",
                         code="invalid_address")
    return host, int(port)


class MemoryChannel:
    """An in-process queue of frames (both ends)."""

    def __init__(self) -> None:
        self.frames: deque[bytes] = deque()

    def send(self, frame: bytes) -> None:
        self.frames.append(frame)

    def send_many(self, frames: list[bytes]) -> None:
        self.frames.extend(frames)

    def recv(self, timeout: float) -> bytes | None:
        return self.frames.popleft() if self.frames else None

    def close(self) -> None:
        pass


class LossyChannel:
    """Wraps a sink and damages traffic reproducibly: drop, burst loss, duplicate, reorder, corrupt.

    ``bursts`` is a list of (first frame number, length) ranges dropped whole.
    """

    def __init__(self, inner: FrameSink, *, seed: int, drop: float = 0.0, duplicate: float = 0.0,
                 reorder: float = 0.0, corrupt: float = 0.0, bursts: Sequence[tuple[int, int]] = ()) -> None:
        self.inner = inner
        self.rng = random.Random(seed)
        self.drop, self.duplicate, self.reorder, self.corrupt = drop, duplicate, reorder, corrupt
        self.bursts = sorted(bursts)
        self.count = 0
        self.dropped = 0
        self._held: list[bytes] = []

    def _in_burst(self, n: int) -> bool:
        return any(start <= n < start + length for start, length in self.bursts)

    def send(self, frame: bytes) -> None:
        n = self.count
        self.count += 1
        rnd = self.rng.random
        if (self.bursts and self._in_burst(n)) or rnd() < self.drop:
            self.dropped += 1
            return
        if self.corrupt and rnd() < self.corrupt:
            b = bytearray(frame)
            b[self.rng.randrange(len(b))] ^= 1 << self.rng.randrange(8)
            frame = bytes(b)
        if self.reorder and rnd() < self.reorder:
            self._held.append(frame)  # released a few frames later, in random order
            if len(self._held) > 64:
                self.inner.send(self._held.pop(0))
            return
        self.inner.send(frame)
        if self.duplicate and rnd() < self.duplicate:
            self.inner.send(frame)
        if self._held and rnd() < 0.25:
            self.inner.send(self._held.pop(self.rng.randrange(len(self._held))))

    def send_many(self, frames: list[bytes]) -> None:
        if self.duplicate or self.reorder or self.corrupt or self.bursts:
            for f in frames:
                self.send(f)
            return
        rnd, drop = self.rng.random, self.drop  # loss only: the common benchmark case, kept cheap
        kept = [f for f in frames if rnd() >= drop]
        self.count += len(frames)
        self.dropped += len(frames) - len(kept)
        inner_many = getattr(self.inner, "send_many", None)
        if inner_many is not None:
            inner_many(kept)
        else:
            for f in kept:
                self.inner.send(f)

    def flush(self) -> None:
        for f in self._held:
            self.inner.send(f)
        self._held.clear()
        inner_flush = getattr(self.inner, "flush", None)
        if inner_flush is not None:
            inner_flush()

    def close(self) -> None:
        self.flush()
        self.inner.close()


# Linux UDP segmentation offload: one sendmsg carries many equal-size datagrams, which the
# kernel (or NIC) cuts apart on the way out; a GRO socket gets them back in one recvmsg.
# Every datagram on the wire still fits the MTU; without kernel support we send one by one.
_UDP_SEGMENT = 103
_UDP_GRO = 104
_GSO_BYTES = 65000
_RCVBUF = 64 << 20


class UdpChannel:
    """UDP datagrams: ``UdpChannel.sender(host, port)`` or ``UdpChannel.listener(host, port)``."""

    def __init__(self, sock: socket.socket, *, offload: bool = False) -> None:
        self.sock = sock
        self._timeout: float | None = None
        self._offload = offload
        self._batch: list[bytes] = []
        self._batch_len = 0
        self._pending: deque[bytes] = deque()
        self._rbuf = bytearray(1 << 16)
        self._rview = memoryview(self._rbuf)

    @classmethod
    def sender(cls, host: str, port: int, *, offload: bool = True) -> "UdpChannel":
        try:
            info = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
        except socket.gaierror as exc:
            raise UsageError(f"--to {host}:{port}: cannot resolve the host ({exc})", code="invalid_address") from None
        sock = socket.socket(info[0], socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        try:
            sock.connect(info[4])
        except OSError as exc:
            sock.close()
            raise TransportError(f"--to {host}:{port}: cannot send there ({exc.strerror})",
                                 code="send_failed") from None
        return cls(sock, offload=offload and hasattr(sock, "sendmsg") and sys.platform.startswith("linux"))

    @classmethod
    def listener(cls, host: str, port: int, *, offload: bool = True) -> "UdpChannel":
        try:
            info = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM, flags=socket.AI_PASSIVE)[0]
        except socket.gaierror as exc:
            raise UsageError(f"--listen {host}:{port}: cannot resolve ({exc})", code="invalid_address") from None
        sock = socket.socket(info[0], socket.SOCK_DGRAM)
        # A deep receive queue absorbs bursts while a block is being decoded or the process is
        # descheduled. SO_RCVBUFFORCE passes net.core.rmem_max when privileged; otherwise the
        # kernel caps SO_RCVBUF (raise net.core.rmem_max on a dedicated receiver).
        try:
            sock.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_RCVBUFFORCE", 33), _RCVBUF)
        except OSError:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RCVBUF)
        try:
            sock.bind(info[4])
        except OSError as exc:
            sock.close()
            raise TransportError(f"--listen {host}:{port}: cannot listen there ({exc.strerror})",
                                 code="listen_failed") from None
        gro = False
        if offload and sys.platform.startswith("linux"):
            try:
                sock.setsockopt(socket.IPPROTO_UDP, _UDP_GRO, 1)
                gro = True
            except OSError:
                gro = False
        return cls(sock, offload=gro)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.sock.getsockname()[:2]
        return host, port

    def send(self, frame: bytes) -> None:
        if not self._offload:
            self._send_one(frame)
            return
        batch = self._batch
        if batch and (len(frame) != self._batch_len or (len(batch) + 1) * self._batch_len > _GSO_BYTES):
            self.flush()
        if not batch:
            self._batch_len = len(frame)
        batch.append(frame)

    def send_many(self, frames: list[bytes]) -> None:
        for f in frames:
            self.send(f)

    def flush(self) -> None:
        batch = self._batch
        if not batch:
            return
        if len(batch) == 1:
            self._send_one(batch[0])
        else:
            try:
                self.sock.sendmsg([b"".join(batch)],
                                  [(socket.IPPROTO_UDP, _UDP_SEGMENT, struct.pack("=H", self._batch_len))])
            except OSError:
                self._offload = False  # no segmentation offload on this route: fall back, lose nothing
                for f in batch:
                    self._send_one(f)
        batch.clear()

    def _send_one(self, frame: bytes) -> None:
        try:
            self.sock.send(frame)
        except (ConnectionRefusedError, BlockingIOError):
            pass  # one-way: an ICMP "unreachable" or a full queue is just loss
        except OSError as exc:
            if exc.errno == errno.ENOBUFS:  # the kernel dropped it; the FEC covers that
                return
            raise TransportError(f"sending a datagram failed ({exc.strerror})", code="send_failed") from None

    def recv(self, timeout: float) -> bytes | None:
        if not self._pending:
            self._pending.extend(self.recv_batch(timeout))
        return self._pending.popleft() if self._pending else None

    def recv_batch(self, timeout: float) -> list[bytes]:
        """Datagrams of one read: several when the kernel coalesced them (GRO), else one."""
        if self._pending:
            out = list(self._pending)
            self._pending.clear()
            return out
        if timeout != self._timeout:
            self.sock.settimeout(timeout)
            self._timeout = timeout
        try:
            if not self._offload:
                return [self.sock.recv(2048)]
            # One reusable 64 KiB buffer: each frame is copied out exactly once.
            n, anc, flags, _addr = self.sock.recvmsg_into([self._rbuf], 64)
        except (socket.timeout, BlockingIOError):
            return []
        except ConnectionRefusedError:
            return []
        if flags & socket.MSG_TRUNC:
            return []
        seg = 0
        for level, kind, value in anc:
            if level == socket.IPPROTO_UDP and kind == _UDP_GRO:
                seg = struct.unpack("=i", value[:4])[0] if len(value) >= 4 else 0
        view = self._rview
        if not seg or seg >= n:
            return [view[:n].tobytes()]
        return [view[i:min(i + seg, n)].tobytes() for i in range(0, n, seg)]

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self.sock.close()


SPOOL_MAGIC = b"BKS\x01"
SPOOL_TRAILER = b"BKSE"
_SPOOL_SUFFIX = ".bkdframes"
_SPOOL_MAX_FILE = 64 << 20


class SpoolChannel:
    """Frames as files in a folder, for diode appliances that mirror a folder one way.

    The sender batches frames into files written atomically (temporary name, fsync, rename);
    each file ends with a SHA-256 of its contents. The receiver takes files in name order
    (:meth:`recv_batch`: one file's frames, its path in :attr:`last_path`), reads each once per
    run, and salvages the frames of a damaged file one by one (each frame has its own CRC). It
    does not delete what it read: the receive loop removes a file (:meth:`remove`) once what it
    carried is safe (``spool_keep``, decision 920), so a receiver killed midway loses no frame.
    Layout: spec/transport.md section 3.6.
    """

    def __init__(self, folder: Path, *, frames_per_file: int = 2048, poll: float = 0.05) -> None:
        self.folder = Path(folder)
        self.frames_per_file = frames_per_file
        self.poll = poll
        self._out: list[bytes] = []
        self._in: deque[bytes] = deque()
        self._seq = 0
        self.files_read = 0
        self.files_damaged = 0
        #: Spool files whose removal failed (permissions, an immutable file): read once per run.
        self.files_stuck: list[str] = []
        #: Entries named like spool files that are not regular files (folders, links, pipes): never opened twice.
        self.entries_ignored: list[str] = []
        self._passed: set[str] = set()
        #: The spool file the last :meth:`recv_batch` read.
        self.last_path: Path | None = None

    @classmethod
    def for_sending(cls, folder: Path, **kw: float | int) -> "SpoolChannel":
        Path(folder).mkdir(parents=True, exist_ok=True)
        return cls(folder, **kw)  # type: ignore[arg-type]

    @classmethod
    def for_receiving(cls, folder: Path, **kw: float | int) -> "SpoolChannel":
        if not Path(folder).is_dir():
            raise InputError(f"--spool {folder}: not a folder; create it or point at the mirrored folder",
                             code="spool_dir_missing")
        return cls(folder, **kw)  # type: ignore[arg-type]

    # sending
    def send(self, frame: bytes) -> None:
        self._out.append(frame)
        if len(self._out) >= self.frames_per_file:
            self.flush()

    def flush(self) -> None:
        if not self._out:
            return
        parts = [SPOOL_MAGIC]
        for f in self._out:
            parts.append(struct.pack(">H", len(f)))
            parts.append(f)
        parts.append(SPOOL_TRAILER + struct.pack(">I", len(self._out)))
        body = b"".join(parts)
        name = f"bkd-{time.time_ns():020d}-{os.getpid():07d}-{self._seq:08d}{_SPOOL_SUFFIX}"
        self._seq += 1
        with AtomicFile(self.folder / name) as af:
            af.write(body + hashlib.sha256(body).digest())
        self._out.clear()

    # receiving
    def _next_file(self) -> Path | None:
        try:
            names = sorted(n for n in os.listdir(self.folder)
                           if n.endswith(_SPOOL_SUFFIX) and not n.startswith(".") and n not in self._passed)
        except FileNotFoundError:
            return None
        return self.folder / names[0] if names else None

    def _load(self, path: Path) -> list[bytes] | None:
        """Read one spool entry (left in place: see :meth:`remove`); None for an entry that is
        not a regular file. Only a regular file is read (opened without following a link or
        waiting on a pipe); every entry is taken once per run and passed over from then on, so
        the receiver always moves on and its idle timeout holds (spec/transport.md §3.6)."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            return None  # taken away meanwhile: ordinary loss
        except OSError:
            self._pass(path, self.entries_ignored)  # a symbolic link, or unreadable
            return None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            self._pass(path, self.entries_ignored)  # a folder, a pipe, a device
            return None
        with os.fdopen(fd, "rb") as fh:
            try:
                data = fh.read(_SPOOL_MAX_FILE + 1)
            except OSError:
                data = b""
        self._passed.add(path.name)
        self.files_read += 1
        if len(data) > _SPOOL_MAX_FILE:
            self.files_damaged += 1
            return []
        intact = len(data) >= 44 and hashlib.sha256(data[:-32]).digest() == data[-32:]
        if not intact:
            self.files_damaged += 1
        return _spool_frames(data)

    def remove(self, path: Path) -> None:
        """Delete a spool file this channel read, once what it carried is safe; one that cannot
        be deleted (permissions, an immutable file) is named in :attr:`files_stuck`."""
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError:
            self.files_stuck.append(path.name)

    def _pass(self, path: Path, why: list[str]) -> None:
        self._passed.add(path.name)
        why.append(path.name)

    def read_again(self, names: list[str]) -> None:
        """Offer these spool files (read and still there) once more in this run."""
        self._passed.difference_update(names)

    def recv_batch(self, timeout: float) -> list[bytes]:
        """The frames of the next spool file (its path in :attr:`last_path`), waiting up to
        ``timeout`` seconds for one; [] when none came. A file without a single frame is removed
        at once (nothing in it can be needed); the others stay until :meth:`remove`."""
        deadline = time.monotonic() + timeout
        while True:
            path = self._next_file()
            if path is not None:
                frames = self._load(path)
                if frames:
                    self.last_path = path
                    return frames
                if frames is not None:
                    self.remove(path)
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                return []
            time.sleep(min(self.poll, left))

    def recv(self, timeout: float) -> bytes | None:
        """One frame (files are read as :meth:`recv_batch` reads them, and never removed here)."""
        if not self._in:
            self._in.extend(self.recv_batch(timeout))
        return self._in.popleft() if self._in else None

    def close(self) -> None:
        self.flush()


def _spool_frames(data: bytes) -> list[bytes]:
    """Frames of a spool file; on damage, every plausible record (each frame has its own CRC)."""
    out = []
    pos = len(SPOOL_MAGIC) if data.startswith(SPOOL_MAGIC) else 0
    end = len(data)
    while pos + 2 <= end:
        if data.startswith(SPOOL_TRAILER, pos):
            break
        (n,) = struct.unpack_from(">H", data, pos)
        if n == 0 or n > MAX_DATAGRAM or pos + 2 + n > end:
            break
        out.append(data[pos + 2:pos + 2 + n])
        pos += 2 + n
    return out
