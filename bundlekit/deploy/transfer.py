"""Large package transfers to SSH targets, spread over helper processes of the zone.

One Python process cannot spread SSH packet handling over more than one core: on a zone server
with many cores and fast links, the zone's own process would limit how fast a package reaches
many targets at once (decision 340). A :class:`TransferPool` therefore sends large packages
from up to ``size`` helper processes (``python -P -m bundlekit.deploy.transfer``; by default none on
a machine of fewer than 4 cores, see :func:`default_pool_size`), started on first use and kept
for the deployment. Each job opens its own connection to the target (the same pinned host keys
and client key as the deployment's own connection), starts the target's step runner and sends
the archive with the runner's ``put`` (``spec/runner.md``): what arrives is hashed by the runner
before it is kept, exactly as for a transfer made by the zone's process itself.

Between the zone and a helper (local pipes, JSON lines): the first line to the helper holds the
runner (base64); then ``{"job", "target", "key", "path", "sha256", "file_name", "size"}`` starts
a job and ``{"cancel": job}`` stops one. The helper answers ``{"job", "started": true}`` when the
archive starts to go, ``{"job", "sent": n}`` as bytes leave, then ``{"job", "done": true,
"transferred": bool}`` or ``{"job", "error": {"code", "message"}}``. The client's private key
travels only through the helper's stdin pipe, never on a command line, in an environment
variable or in a file. A helper ends when its stdin ends.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import stat
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bundlekit.core.progress import Advance, begin
from bundlekit.deploy.session import capped
from bundlekit.deploy.targets import SshTarget
from bundlekit.errors import REGISTRY, BundleError, DeployError, TrustError, VerificationError
from bundlekit.runtime.pack import Runner

if TYPE_CHECKING:
    import asyncssh

__all__ = ["TransferPool", "HELPER_MIN_BYTES", "default_pool_size", "main"]

#: Packages at least this large (bytes) go through a helper process; smaller ones are sent by
#: the zone's own process (a helper costs about a quarter of a CPU-second to start).
HELPER_MIN_BYTES = 32 << 20
#: Progress is reported to the zone once per this many bytes, or after a second, and at the end.
_REPORT_EVERY = 4 << 20
#: The longest line either side reads: the first carries the step runner in base64 (about 1.2 MB
#: since it ships its bytecode, decision 980), so the limit leaves it room to grow.
_LINE_LIMIT = 16 << 20
#: The families of the errors a transfer can meet, by the class that raises them.
_FAMILIES: dict[str, type[BundleError]] = {"deploy": DeployError, "verification": VerificationError,
                                           "trust": TrustError}


def default_pool_size(cores: int | None = None) -> int:
    """Transfer processes for one deployment on a machine with ``cores`` cores (default: this one's):
    none below 4 cores (there the zone's own process is not what limits a transfer, and a helper
    costs CPU and about 50 MiB), else one per two cores, at most 8 (decision 340)."""
    cores = cores if cores is not None else (os.cpu_count() or 1)
    return 0 if cores < 4 else min(cores // 2, 8)


class _Helper:
    """One helper process and the jobs it is running."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        #: job -> (its answer, its progress, the target's name, the archive's label, its size)
        self.jobs: dict[int, tuple[asyncio.Future[bool], Advance | None, str, str, int]] = {}
        self.reader: asyncio.Task[None] | None = None
        self.stderr_tail = b""


class TransferPool:
    """Up to ``size`` helper processes sending packages for one :class:`~bundlekit.deploy.fleet.Fleet`."""

    #: The program of a helper process (a test gives another that speaks the same lines). ``-P``:
    #: ``-m`` would otherwise put the operator's current folder first on ``sys.path``, and a
    #: ``json.py`` on the medium a bundle came on would run in the process handed the zone's SSH key
    #: (attack review 38, B1).
    command: tuple[str, ...] = (sys.executable, "-P", "-m", "bundlekit.deploy.transfer")

    def __init__(self, runner: Runner, size: int | None = None) -> None:
        self.runner = runner
        self.size = max(1, size if size is not None else default_pool_size())  # a pool exists to be used
        self._helpers: list[_Helper] = []
        self._starting: asyncio.Lock | None = None
        self._next_job = 0

    async def send(self, target: SshTarget, key: asyncssh.SSHKey, path: Path, sha256: str, file_name: str,
                   size: int, progress: Callable[[int], None] | None = None) -> bool:
        """Send the archive at ``path`` to ``target`` from a helper process; True if it was sent
        (False: the target already held it). ``progress`` (``core.progress``) is told the size once
        the archive starts to go (the helper has connected and started the target's runner), then
        the bytes sent, as they leave. Raises what the zone's own transfer would (``target_unreachable``,
        ``target_connection_lost``, ``package_hash_mismatch``, ...)."""
        helper = await self._helper()
        self._next_job += 1
        job = self._next_job
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        helper.jobs[job] = (future, progress, target.name, file_name, size)
        message = {"job": job, "target": _target_dict(target), "key": key.export_private_key("openssh").decode("ascii"),
                   "path": str(path), "sha256": sha256, "file_name": file_name, "size": size}
        try:
            await _write_line(helper, message)
            return await future
        except asyncio.CancelledError:
            if helper.jobs.pop(job, None) is not None:
                try:
                    await _write_line(helper, {"cancel": job})
                except BundleError:
                    pass
            raise
        finally:
            helper.jobs.pop(job, None)

    async def _helper(self) -> _Helper:
        """The helper with the fewest jobs, starting a new one while all are busy and the pool has room."""
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            alive = [h for h in self._helpers if h.process.returncode is None]
            self._helpers = alive
            idle = [h for h in alive if not h.jobs]
            if idle:
                return idle[0]
            if len(alive) < self.size:
                helper = await self._start()
                self._helpers.append(helper)
                return helper
            return min(alive, key=lambda h: len(h.jobs))

    async def _start(self) -> _Helper:
        try:
            process = await asyncio.create_subprocess_exec(
                *self.command, stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, limit=_LINE_LIMIT,
                start_new_session=True)  # a Ctrl-C on the terminal is the zone's to handle, not the helper's
        except OSError as error:
            raise DeployError(f"cannot start a package transfer process ({self.command[0]}: {error.strerror}).",
                              code="runner_failed") from None
        helper = _Helper(process)
        helper.reader = asyncio.ensure_future(self._read(helper))
        await _write_line(helper, {"runner": base64.b64encode(self.runner.data).decode("ascii"),
                                   "sha256": self.runner.sha256})
        return helper

    async def _read(self, helper: _Helper) -> None:
        """Hand each line of the helper to its job; when the helper ends, fail its remaining jobs."""
        process = helper.process
        assert process.stdout is not None and process.stderr is not None
        tail = asyncio.ensure_future(_tail(process.stderr))
        overrun = False
        try:
            while True:
                try:
                    line = await process.stdout.readline()
                except (ValueError, asyncio.LimitOverrunError):
                    # The helper is past understanding, and it ends only when its stdin does: stop it,
                    # or its jobs would be waited for forever (atk38 F1).
                    overrun = True
                    process.kill()
                    break
                if not line:
                    break
                try:
                    message = json.loads(line)
                except ValueError:
                    continue
                entry = helper.jobs.get(message.get("job")) if isinstance(message, dict) else None
                if entry is None:
                    continue
                future, progress, target, label, total = entry
                if "started" in message:
                    begin(progress, label, total)
                elif "sent" in message:
                    if progress is not None:
                        progress(int(message["sent"]))
                elif future.done():
                    continue
                elif "error" in message:
                    error = message["error"] if isinstance(message["error"], dict) else {}
                    future.set_exception(_job_error(target, error))
                else:
                    future.set_result(bool(message.get("transferred")))
        finally:
            await process.wait()
            helper.stderr_tail = await tail
            why = helper.stderr_tail.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
            ended = (f"was stopped: it sent a line longer than {_LINE_LIMIT >> 20} MiB" if overrun else
                     f"ended unexpectedly (exit {process.returncode}{': ' + why[0][:200] if why[0] else ''})")
            for future, _, target, _, _ in list(helper.jobs.values()):
                if not future.done():
                    future.set_exception(DeployError(f"target {target!r}: the package transfer process {ended}.",
                                                     code="runner_failed"))

    async def close(self) -> None:
        """End every helper (its stdin closes; killed if it has not ended within 5 seconds)."""
        helpers, self._helpers = self._helpers, []
        for helper in helpers:
            stdin = helper.process.stdin
            if stdin is not None and not stdin.is_closing():
                stdin.close()
        for helper in helpers:
            try:
                await asyncio.wait_for(helper.process.wait(), 5.0)
            except asyncio.TimeoutError:
                helper.process.kill()
                await helper.process.wait()
            if helper.reader is not None:
                await asyncio.gather(helper.reader, return_exceptions=True)


def _target_dict(target: SshTarget) -> dict[str, Any]:
    fields = asdict(target)
    fields["roles"] = sorted(target.roles)
    fields["host_keys"] = list(target.host_keys)
    fields.pop("kind", None)
    return fields


def _job_error(target: str, error: dict[str, Any]) -> BundleError:
    """The error a helper reported, as the zone's own transfer would have raised it (the same
    code and message; ``runner_failed`` for a code of no family a transfer can meet)."""
    code, message = str(error.get("code") or "runner_failed"), str(error.get("message") or "")
    if not message.startswith(f"target {target!r}"):
        message = f"target {target!r}: {message}"
    entry = REGISTRY.get(code)
    if entry is not None and entry.family in _FAMILIES:
        return _FAMILIES[entry.family](message, code=code, details={"target": target})
    return DeployError(f"{message} [{code}]", code="runner_failed", details={"target": target})


async def _write_line(helper: _Helper, message: dict[str, Any]) -> None:
    stdin = helper.process.stdin
    assert stdin is not None
    try:
        stdin.write(json.dumps(message).encode("utf-8") + b"\n")
        await stdin.drain()
    except (ConnectionError, OSError) as error:
        raise DeployError(f"the package transfer process is gone ({error}).", code="runner_failed") from None


async def _tail(stream: asyncio.StreamReader) -> bytes:
    """Read ``stream`` to its end, keeping its last 2 KiB (a helper's stderr must never fill up)."""
    kept = b""
    while True:
        chunk = await stream.read(65536)
        if not chunk:
            return kept
        kept = (kept + chunk)[-2048:]


# -- the helper process ---------------------------------------------------------------------------

class _Sent:
    """A job's progress, told to the zone: ``started`` when the archive starts to go (connecting
    and starting the runner are over), then the bytes sent every 4 MiB or second, then the rest."""

    def __init__(self, report: Callable[[dict[str, Any]], None], clock: Callable[[], float]) -> None:
        self.report, self.now = report, clock
        self.pending, self.last = 0, clock()

    def begin(self, label: str, total: int | None) -> None:
        self.report({"started": True})
        self.last = self.now()

    def __call__(self, n: int) -> None:
        self.pending += n
        if self.pending >= _REPORT_EVERY or self.now() - self.last >= 1.0:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.report({"sent": self.pending})
        self.pending, self.last = 0, self.now()


def _object(line: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


async def _serve() -> int:
    import asyncssh

    from bundlekit.deploy.ssh import connect, runner_session

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=_LINE_LIMIT)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, sys.stdout)
    writer = asyncio.StreamWriter(transport, protocol, None, loop)
    first = _object(await reader.readline())
    if first is None or not isinstance(first.get("runner"), str):
        sys.stderr.write("bundlekit transfer process: the first line must carry the step runner\n")
        return 2
    runner = Runner(base64.b64decode(first["runner"]), str(first.get("sha256", "")))
    tasks: dict[Any, asyncio.Task[None]] = {}

    def say(message: dict[str, Any]) -> None:
        writer.write(json.dumps(message).encode("utf-8") + b"\n")

    async def job(number: Any, message: dict[str, Any]) -> None:
        sent = _Sent(lambda fields: say({"job": number, **fields}), loop.time)
        conn = None
        try:
            fields = dict(message["target"])
            target = SshTarget(**dict(fields, roles=frozenset(fields["roles"]), host_keys=tuple(fields["host_keys"])))
            conn = await connect(target, asyncssh.import_private_key(message["key"]))
            session = await runner_session(conn, target, runner)
            await session.start(runner)
            transferred = await session.ensure_package(Path(message["path"]), message["sha256"],
                                                       message["file_name"], int(message["size"]), sent)
            await session.close()
            sent.flush()
            say({"job": number, "done": True, "transferred": transferred})
        except BundleError as error:
            # capped: escaped as JSON, a long message could outgrow the line limit (atk38 F1)
            say({"job": number, "error": {"code": error.code, "message": capped(error.message)}})
        except OSError as error:
            say({"job": number, "error": {"code": "runner_failed",
                                          "message": f"cannot read the package to send: {error.strerror or error}"}})
        except Exception as error:  # a job the zone got wrong: answered, never left hanging
            say({"job": number, "error": {"code": "runner_failed", "message": f"the package transfer process could "
                                                                              f"not run its job ({error!r})"}})
        finally:
            if conn is not None:
                conn.close()  # also when canceled: a runner that stopped answering is not waited for
            tasks.pop(number, None)

    while True:
        line = await reader.readline()
        if not line:
            break
        message = _object(line)
        if message is None:
            continue
        if "cancel" in message:
            task = tasks.pop(message["cancel"], None)
            if task is not None:
                task.cancel()
        elif "job" in message:
            tasks[message["job"]] = asyncio.ensure_future(job(message["job"], message))
    for task in list(tasks.values()):
        task.cancel()
    await asyncio.gather(*tasks.values(), return_exceptions=True)
    await writer.drain()
    return 0


def main() -> int:
    """Entry point of a helper process (started by :class:`TransferPool`, not by hand)."""
    def piped(stream: Any) -> bool:
        try:
            return stat.S_ISFIFO(os.fstat(stream.fileno()).st_mode)
        except (OSError, ValueError):
            return False

    if not (piped(sys.stdin) and piped(sys.stdout)):
        sys.stderr.write("bundlekit's package transfer process is started by bundlekit deploy (through pipes), "
                         "not by hand.\n")
        return 2
    return asyncio.run(_serve())


if __name__ == "__main__":
    sys.exit(main())
