"""The zone's side of one runner: the bootstrap handshake, then requests over the framed protocol.

A :class:`Session` is one runner process on one target, reached through any pair of async
byte streams (a local subprocess's pipes, an SSH channel), so local and SSH targets share
every line of it. It installs the runner when the target lacks it (content-addressed),
checks the runner's ``hello``, sends a package only when the target does not hold it (by
SHA-256 and file name; the runner hashes what arrives), and runs step requests, handing each
log line to the caller as it arrives. A runner that stops answering, or whose stream ends,
becomes a :class:`DeployError` naming the target (never a hang, never a traceback).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

from bundlekit.core.hints import home_flag
from bundlekit.core.progress import Advance, begin
from bundlekit.core.text import shell_word
from bundlekit.errors import REGISTRY, BundleError, DeployError, TrustError, VerificationError
from bundlekit.runtime.boot import LINE_PREFIX, MIN_PYTHON
from bundlekit.runtime.pack import Runner
from bundlekit.runtime.protocol import (
    DATA_CHUNK,
    PROTOCOL,
    ProtocolError,
    decode_frame,
    encode_data,
    encode_message,
    frame_length,
)

__all__ = ["Session", "ByteReader", "ByteWriter", "runner_error", "HANDSHAKE_TIMEOUT"]

_MIN = ".".join(map(str, MIN_PYTHON))
#: Seconds a runner may take to start and answer ``hello`` (includes installing it).
HANDSHAKE_TIMEOUT = 60.0
_NOISE_LINES = 200


class ByteReader(Protocol):
    async def readline(self) -> bytes: ...
    async def readexactly(self, n: int) -> bytes: ...


class ByteWriter(Protocol):
    def write(self, data: bytes) -> Any: ...
    async def drain(self) -> None: ...


#: The longest line the zone reads from a bootstrap: its inventory lists at most 2,000 entries of
#: each of three kinds, each name at most 255 bytes (about 2 MiB of JSON), with room to spare.
BOOT_LINE_LIMIT = 8 << 20
#: The most characters of a target's error message the zone keeps: a runner may answer an error
#: of up to a frame (8 MiB), which would otherwise fill the zone's records, receipts and terminal.
MESSAGE_LIMIT = 64 << 10


def capped(message: str) -> str:
    """``message`` cut to :data:`MESSAGE_LIMIT` characters (then `` ... (truncated)``)."""
    return message if len(message) <= MESSAGE_LIMIT else message[:MESSAGE_LIMIT] + " ... (truncated)"


def runner_error(target: str, code: str, message: str) -> BundleError:
    """The error a runner reported, in the family its code belongs to (``runner_failed`` if
    unknown), its message :func:`capped` (a target's words, of any length it chose)."""
    entry = REGISTRY.get(code)
    text = f"target {target!r}: {capped(message)}"
    classes = {"deploy": DeployError, "verification": VerificationError, "trust": TrustError}
    if entry is not None and entry.family in classes:
        return classes[entry.family](text, code=code)
    return DeployError(f"{text} [{code}]", code="runner_failed")


class Session:
    """One started runner. Use :meth:`start`, then the requests, then :meth:`close`."""

    def __init__(self, target: str, reader: ByteReader, writer: ByteWriter,
                 close: Callable[[], Awaitable[str]], lost: tuple[type[BaseException], ...] = (),
                 address: str = "", kind: str = "ssh") -> None:
        self.target = target
        #: Where the target is (``user@host:port``, a folder), for messages that say what to fix where.
        self.address, self.kind = address, kind
        #: What the transport raises when its connection is gone (asyncssh's errors for SSH).
        self.lost_errors: tuple[type[BaseException], ...] = (
            asyncio.IncompleteReadError, ConnectionError, OSError, *lost)
        self.reader, self.writer = reader, writer
        self._close = close
        self.hello: dict[str, Any] = {}
        self.closed = False
        #: SHA-256 -> why the target's copy of that archive was not the package's bytes (it was removed)
        self.discarded: dict[str, str] = {}
        #: The target's cached runner was not the runner's bytes (something there changed it): it was sent again.
        self.runner_altered = False

    # -- start ----------------------------------------------------------------------------
    async def start(self, runner: Runner) -> dict[str, Any]:
        """Bootstrap (send the runner if needed) and ``hello``; returns the hello message."""
        try:
            return await asyncio.wait_for(self._start(runner), HANDSHAKE_TIMEOUT)
        except asyncio.TimeoutError:
            raise DeployError(f"target {self.target!r}: the step runner did not start within "
                              f"{HANDSHAKE_TIMEOUT:g} s.", code="target_unreachable") from None

    async def _start(self, runner: Runner) -> dict[str, Any]:
        word, rest = await self._boot_line()
        if word == "SEND":
            self.runner_altered = rest.strip() == "altered"
            self.writer.write(runner.data)
            await self.writer.drain()
            word, rest = await self._boot_line()
        if word != "HAVE":
            raise DeployError(f"target {self.target!r}: the step runner could not be installed: {rest or word}",
                              code="target_workdir_unusable")
        hello = await self.request({"op": "hello"})
        if hello.get("protocol") != PROTOCOL or hello.get("runner") != runner.sha256:
            raise DeployError(f"target {self.target!r}: the runner answered with protocol {hello.get('protocol')!r}; "
                              f"this zone speaks {PROTOCOL}.", code="runner_failed")
        self.hello = hello
        return hello

    async def probe(self, *, require_usable: bool = True) -> dict[str, Any]:
        """Read the answer of a bootstrap started with ``probe`` (it wrote nothing on the target).

        Returns its report (``python``, ``work_dir``, ``exists``, ``usable``, ``checked``,
        ``free_bytes``, ``time``, ``uid``; ``inventory`` when asked for). Raises what
        :meth:`start` would for an old or missing python, and (unless not ``require_usable``)
        ``target_workdir_unusable`` when the work folder could not be made.
        """
        try:
            word, rest = await asyncio.wait_for(self._boot_line(), HANDSHAKE_TIMEOUT)
        except asyncio.TimeoutError:
            raise DeployError(f"target {self.target!r}: no answer within {HANDSHAKE_TIMEOUT:g} s.",
                              code="target_unreachable") from None
        finally:
            await self.abandon()  # the bootstrap has exited: nothing to say goodbye to
        try:
            report = json.loads(rest) if word == "PROBE" else None
        except ValueError:
            report = None
        if not isinstance(report, dict):
            raise DeployError(f"target {self.target!r}: the bootstrap answered {word} {rest[:200]!r}.",
                              code="runner_failed")
        if require_usable and not report.get("usable"):
            raise DeployError(f"target {self.target!r}: its work folder {report.get('work_dir')} cannot be created "
                              f"or written by its user ({report.get('checked')} is not a writable folder). Create "
                              "it and give the target's user write access, or choose another work folder.",
                              code="target_workdir_unusable")
        return report

    async def _boot_line(self) -> tuple[str, str]:
        """The bootstrap's next ``BUNDLEKIT-`` line as ``(word, rest)`` (skipping what a login
        script may print first)."""
        for _ in range(_NOISE_LINES):
            try:
                raw = await self.reader.readline()
            except self.lost_errors as error:
                raise self._lost(str(error) or type(error).__name__) from None
            except (ValueError, asyncio.LimitOverrunError):  # a line past the reader's limit
                raise DeployError(f"target {self.target!r}: it answered the bootstrap with a line over "
                                  f"{BOOT_LINE_LIMIT >> 20} MiB, more than bundlekit's bootstrap ever writes: something "
                                  "else answered in its place (a login script, a wrapper). Nothing was run there.",
                                  code="runner_failed") from None
            if not raw:
                detail = await self._close()
                self.closed = True
                raise self._no_python(detail)
            text = raw.decode("utf-8", "replace").strip()
            if not text.startswith(LINE_PREFIX):
                continue
            word, _, rest = text[len(LINE_PREFIX):].partition(" ")
            if word == "OLD":
                raise DeployError(
                    f"target {self._where()}: its python3 is {rest}; bundlekit's step runner needs Python "
                    f"{_MIN} or newer there. {self._install()}", code="target_python_too_old",
                    details={"target": self.target})
            return word, rest
        raise DeployError(f"target {self.target!r}: the step runner did not start (unexpected output).",
                          code="runner_failed")

    def _install(self) -> str:
        """What to do about a target without a usable python3 (decision 341)."""
        if self.kind == "local":
            return (f"Give the zone's worker a Python {_MIN} or newer (`bundlekit worker set --python PATH{home_flag()}`), then "
                    f"`bundlekit targets check {shell_word(self.target)}{home_flag()}`.")
        return (f"Install one on that machine so that `python3` on its user's PATH is {_MIN} or newer (Debian, "
                "Ubuntu: `apt-get install python3`; RHEL, Fedora, Rocky: `dnf install python3`; Alpine: `apk add "
                f"python3`), then run `bundlekit targets check {shell_word(self.target)}{home_flag()}`.")

    def _where(self) -> str:
        return f"{self.target!r}" + (f" ({self.address})" if self.address else "")

    def _no_python(self, detail: str) -> DeployError:
        status, _, said = detail.partition(":")
        if "127" in status or "not found" in detail:
            return DeployError(
                f"target {self._where()} has no python3 (its user's shell said: {said.strip() or status}); "
                f"bundlekit's step runner needs Python {_MIN} or newer on every target. {self._install()}",
                code="target_python_missing", details={"target": self.target})
        return DeployError(f"target {self._where()}: the step runner could not start ({detail}).",
                           code="runner_failed", details={"target": self.target})

    # -- frames ---------------------------------------------------------------------------
    async def _send(self, frame: bytes) -> None:
        try:
            self.writer.write(frame)
            await self.writer.drain()
        except self.lost_errors as error:
            raise self._lost(str(error) or type(error).__name__) from None

    async def _receive(self) -> dict[str, Any]:
        try:
            header = await self.reader.readexactly(4)
            kind, message = decode_frame(await self.reader.readexactly(frame_length(header)))
        except self.lost_errors as error:
            raise self._lost(str(error) or type(error).__name__) from None
        except ProtocolError as error:
            raise DeployError(f"target {self.target!r}: the runner broke the protocol ({error}).",
                              code="runner_failed") from None
        if not isinstance(message, dict):
            raise DeployError(f"target {self.target!r}: the runner sent data unasked.", code="runner_failed")
        return message

    def _lost(self, why: str) -> DeployError:
        return DeployError(f"target {self.target!r}: the connection to the step runner was lost ({why}).",
                           code="target_connection_lost")

    def _reported(self, message: dict[str, Any]) -> BundleError:
        """The error an ``error`` answer reports (its code is checked against the registry)."""
        return runner_error(self.target, str(message.get("code")), str(message.get("message")))

    async def request(self, message: dict[str, Any]) -> dict[str, Any]:
        """Send one request and return its answer; an ``error`` answer is raised."""
        await self._send(encode_message(message))
        answer = await self._receive()
        if answer.get("op") == "error":
            raise self._reported(answer)
        return answer

    # -- requests -------------------------------------------------------------------------
    async def has_package(self, sha256: str, file_name: str, size: int | None = None) -> bool:
        """Whether the target already holds the archive ``file_name`` as ``size`` bytes with
        ``sha256`` (the runner hashes its copy). A copy that is not those bytes is removed by the
        runner and counts as absent; why is kept in :attr:`discarded` (by SHA-256)."""
        message: dict[str, Any] = {"op": "have", "sha256": sha256, "file_name": file_name}
        if size is not None:
            message["size"] = size
        have = await self.request(message)
        if have.get("discarded"):
            self.discarded[sha256] = str(have["discarded"])
        return bool(have.get("present"))

    async def ensure_package(self, path: Path, sha256: str, file_name: str, size: int,
                             progress: Advance | None = None) -> bool:
        """Send the archive at ``path`` unless the target holds it; True if it was sent.
        ``progress`` (``core.progress``) is told the size, then the bytes as they are sent."""
        if await self.has_package(sha256, file_name, size):
            return False
        await self._send(encode_message({"op": "put", "sha256": sha256, "file_name": file_name, "size": size}))
        begin(progress, file_name, size)
        with open(path, "rb") as handle:
            while True:
                chunk = handle.read(DATA_CHUNK)
                if not chunk:
                    break
                await self._send(encode_data(chunk))
                if progress is not None:
                    progress(len(chunk))
        answer = await self._receive()
        if answer.get("op") == "error":
            raise self._reported(answer)
        return True

    async def run_step(self, request: dict[str, Any], on_line: Callable[[str], None],
                       on_progress: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
        """Run one step; every log line goes to ``on_line``, every ``progress`` message to
        ``on_progress``; returns the ``result`` message."""
        await self._send(encode_message(request))
        while True:
            message = await self._receive()
            op = message.get("op")
            if op == "log":
                on_line(str(message.get("line", "")))
            elif op == "progress":
                if on_progress is not None:
                    on_progress(message)
            elif op == "result":
                return message
            elif op == "error":
                raise self._reported(message)

    async def cancel(self) -> None:
        """Ask the runner to stop the running step (its answer still comes as the step's result)."""
        await self._send(encode_message({"op": "cancel"}))

    async def close(self) -> None:
        """Say goodbye (when the runner still listens) and end the process or channel."""
        if self.closed:
            return
        self.closed = True
        try:
            await asyncio.wait_for(self._goodbye(), 5.0)
        except (BundleError, asyncio.TimeoutError):
            pass
        await self._close()

    async def abandon(self) -> None:
        """End the process or channel without a goodbye (the runner did not start, or is lost)."""
        if not self.closed:
            self.closed = True
            await self._close()

    async def _goodbye(self) -> None:
        await self._send(encode_message({"op": "bye"}))
        await self._receive()
