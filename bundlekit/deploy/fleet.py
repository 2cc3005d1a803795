"""The zone's connections to a deployment's targets: one runner session per target, on one loop.

A :class:`Fleet` owns an asyncio event loop (the deploy engine and the CLI stay synchronous and
call :meth:`Fleet.run`) and, per target, at most one runner session: a local runner process
started under the zone's isolation, or an SSH connection with a runner on one channel. A
session is opened on first use and kept for the rest of the deployment, so the preflight's
connection check, every step and every package transfer share it; at most ``keep_open``
sessions stay open (the least recently used idle one is closed first), so a zone with
thousands of targets holds a bounded number of connections. :meth:`check` connects to many
targets at once (bounded by ``max_parallel``) and reports each one's health without raising.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from bundlekit.core.clock import Clock
from bundlekit.core.progress import Advance
from bundlekit.deploy.launch import hand_to_sandbox, local_command
from bundlekit.deploy.session import BOOT_LINE_LIMIT, Session
from bundlekit.deploy.targets import DEFAULT_MAX_PARALLEL, LocalFolderTarget, SshTarget, Target
from bundlekit.deploy.transfer import HELPER_MIN_BYTES, TransferPool, default_pool_size
from bundlekit.errors import BundleError, DeployError, TrustError
from bundlekit.runtime.pack import Runner, runner

if TYPE_CHECKING:
    import asyncssh

__all__ = ["Fleet", "Health", "DEFAULT_MAX_PARALLEL"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Health:
    """One target's health: reachable, host key, python, free space, clock skew (seconds)."""

    target: str
    kind: str
    address: str
    reachable: bool
    host_key_ok: bool | None
    python: str | None = None
    free_bytes: int | None = None
    clock_skew: float | None = None
    work_dir: str | None = None
    user: str | None = None
    error: BundleError | None = None
    formats: tuple[str, ...] | None = None  # structured configuration formats it can apply (None: not asked)

    @property
    def healthy(self) -> bool:
        return self.reachable and self.error is None

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "kind": self.kind, "address": self.address, "healthy": self.healthy,
                "reachable": self.reachable, "host_key_ok": self.host_key_ok, "python": self.python,
                "free_bytes": self.free_bytes, "clock_skew_seconds": self.clock_skew, "work_dir": self.work_dir,
                "user": self.user, "formats": None if self.formats is None else list(self.formats),
                "error": None if self.error is None else {"code": self.error.code, "message": self.error.message}}


class Fleet:
    """Runner sessions to targets. ``client_key`` gives the zone's SSH key (asked for on first SSH use)."""

    def __init__(self, client_key: Callable[[], asyncssh.SSHKey] | None = None, *,
                 max_parallel: int = DEFAULT_MAX_PARALLEL, keep_open: int = 256, package: Runner | None = None,
                 clock: Clock = time.time, transfer_processes: int | None = None,
                 transfer_min_bytes: int = HELPER_MIN_BYTES) -> None:
        if not isinstance(max_parallel, int) or max_parallel < 1:
            raise DeployError(f"--max-parallel must be a whole number of at least 1, not {max_parallel!r}.",
                              code="invalid_deploy_request")
        self.loop = asyncio.new_event_loop()
        self.max_parallel = max_parallel
        self.keep_open = max(1, keep_open)
        self.runner = package or runner()
        #: What the records of deployments run through this fleet must say (a cached runner found altered).
        self.notices: list[str] = []
        self.clock = clock  # the zone's side of a target's clock skew (decision 122: an injected Clock)
        self._client_key = client_key
        self._key: asyncssh.SSHKey | None = None
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._busy: dict[str, int] = {}
        self._connections: dict[str, asyncssh.SSHClientConnection] = {}
        self._opening: dict[str, asyncio.Future[Session]] = {}
        #: Helper processes for large packages to SSH targets (decision 340); 0: the zone's process sends all.
        self.transfer_processes = default_pool_size() if transfer_processes is None else max(0, transfer_processes)
        self.transfer_min_bytes = transfer_min_bytes
        self._pool: TransferPool | None = None

    # -- plumbing -------------------------------------------------------------------------
    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the fleet's loop (from synchronous code) and return its result."""
        return self.loop.run_until_complete(coroutine)

    def close(self) -> None:
        """Close every session and connection, then the loop."""
        if self.loop.is_closed():
            return
        self.run(self._close_all())
        self.loop.close()

    def __enter__(self) -> "Fleet":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def _close_all(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        sessions, self._sessions = list(self._sessions.values()), OrderedDict()
        await asyncio.gather(*(s.close() for s in sessions), return_exceptions=True)
        for conn in self._connections.values():
            conn.close()
        await asyncio.gather(*(c.wait_closed() for c in self._connections.values()), return_exceptions=True)
        self._connections.clear()

    def _key_for(self, target: SshTarget) -> asyncssh.SSHKey:
        if target.identity_file:
            # asyncssh only when there are SSH targets: it costs a few hundred ms to import
            from bundlekit.deploy.ssh import IdentityProblem, load_identity

            where = f"target {target.name!r}: its identity file {target.identity_file}"
            try:  # checked on every use as when it was added: the file may have changed since
                return load_identity(Path(target.identity_file), where)
            except IdentityProblem as problem:
                raise DeployError(f"{where} {problem} Nothing was run on it.", code="target_auth_failed",
                                  details={"target": target.name}) from None
            except BundleError as error:
                raise DeployError(f"{error.message.rstrip('.')}. Nothing was run on it.", code="target_auth_failed",
                                  details={"target": target.name}) from None
        if self._key is None:
            if self._client_key is None:
                raise DeployError("no SSH client key was given for SSH targets.", code="target_auth_failed")
            self._key = self._client_key()
        return self._key

    # -- sessions -------------------------------------------------------------------------
    async def session(self, target: Target) -> Session:
        """The target's runner session, opened (and the runner installed) on first use."""
        key = target.name.casefold()
        found = self._sessions.get(key)
        if found is not None and not found.closed:
            self._sessions.move_to_end(key)
            return found
        pending = self._opening.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Session] = self.loop.create_future()
        self._opening[key] = future
        try:
            session = await self._open(target)
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # retrieved: only the waiters care
            raise
        finally:
            del self._opening[key]
        future.set_result(session)
        self._sessions[key] = session
        await self._trim()
        return session

    async def send_package(self, target: Target, session: Session, path: Path, sha256: str, file_name: str,
                           size: int, progress: Advance | None = None) -> bool:
        """Send the archive at ``path`` (``size`` bytes) to ``target`` unless it holds it; True if sent.

        Through ``session`` (the target's runner), or for an SSH target and a package of at
        least ``transfer_min_bytes``, from one of the fleet's helper processes over a connection
        of its own (decision 340); either way the runner hashes what arrives before keeping it.
        ``progress`` (``core.progress``) is told the size when the archive starts to go, then the
        bytes as they are sent.
        """
        if not (isinstance(target, SshTarget) and self.transfer_processes and size >= self.transfer_min_bytes):
            return await session.ensure_package(path, sha256, file_name, size, progress)
        if await session.has_package(sha256, file_name, size):
            return False
        if self._pool is None:
            self._pool = TransferPool(self.runner, self.transfer_processes)
        return await self._pool.send(target, self._key_for(target), path, sha256, file_name, size, progress)

    def hold(self, target: Target) -> None:
        """Mark the target's session busy (never closed to make room) until :meth:`release`."""
        key = target.name.casefold()
        self._busy[key] = self._busy.get(key, 0) + 1

    def release(self, target: Target) -> None:
        key = target.name.casefold()
        self._busy[key] = self._busy.get(key, 1) - 1

    async def drop(self, target: Target) -> None:
        """Forget (and close) the target's session: after a lost connection, the next use reconnects."""
        key = target.name.casefold()
        # The connection first: a runner that stopped answering is not waited for on a live channel.
        conn = self._connections.pop(key, None)
        if conn is not None:
            conn.close()
        session = self._sessions.pop(key, None)
        if session is not None:
            await session.abandon()

    async def _trim(self) -> None:
        while len(self._sessions) > self.keep_open:
            idle = next((k for k in self._sessions if not self._busy.get(k)), None)
            if idle is None:
                return
            session = self._sessions.pop(idle)
            await session.close()
            conn = self._connections.pop(idle, None)
            if conn is not None:
                conn.close()

    async def _open(self, target: Target) -> Session:
        session = await self._spawn(target, probe=False)
        try:
            await session.start(self.runner)
        except BaseException:
            await session.abandon()  # a runner that did not start is not left running
            raise
        if session.runner_altered:
            self.notices.append(
                f"WARNING: target {target.name!r}: the step runner cached in its work folder had been altered (its "
                "bytes were not the runner's SHA-256); the genuine runner was sent and run instead. Something on that "
                "machine wrote there, a step of an earlier deployment for instance (decision 451).")
        return session

    async def _spawn(self, target: Target, *, probe: bool, inventory: bool = False) -> Session:
        """The bootstrap started on ``target`` (over SSH, or locally under the zone's isolation)."""
        if isinstance(target, SshTarget):
            from bundlekit.deploy.ssh import connect, runner_session

            conn = self._connections.get(target.name.casefold())
            if conn is None:
                conn = await connect(target, self._key_for(target))
                self._connections[target.name.casefold()] = conn
            return await runner_session(conn, target, self.runner, probe=probe, inventory=inventory)
        if isinstance(target, LocalFolderTarget):
            return await self._spawn_local(target, probe=probe or inventory, inventory=inventory)
        raise DeployError(f"target {target.name!r} is of an unknown kind.", code="invalid_target")

    async def _spawn_local(self, target: LocalFolderTarget, *, probe: bool, inventory: bool = False) -> Session:
        if target.isolation.mode == "sandbox" and not probe:
            try:
                target.root.mkdir(parents=True, exist_ok=True)  # the sandbox binds it: it must exist
                hand_to_sandbox(target.root)  # a root zone's sandbox runs as nobody (decision 450)
            except OSError as error:
                raise DeployError(f"target {target.name!r}: cannot create its folder {target.root} ({error.strerror}).",
                                  code="target_workdir_unusable") from None
        argv, kwargs = local_command(target.isolation, target.root, self.runner.sha256, len(self.runner.data),
                                     probe=probe, inventory=inventory)
        try:
            process = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, limit=BOOT_LINE_LIMIT, **kwargs)
        except OSError as error:
            raise DeployError(f"target {target.name!r}: cannot start the step runner ({argv[0]}: {error.strerror}).",
                              code="worker_unavailable") from None
        finally:
            for fd in kwargs.get("pass_fds", ()):
                os.close(fd)
        assert process.stdin is not None and process.stdout is not None and process.stderr is not None

        async def close() -> str:
            assert process.stdin is not None and process.stderr is not None
            if not process.stdin.is_closing():
                process.stdin.close()
            try:
                await asyncio.wait_for(process.wait(), 5.0)
            except asyncio.TimeoutError:
                process.kill()
                await process.wait()
            stderr = await process.stderr.read(4096)
            return f"exit {process.returncode}: {stderr.decode('utf-8', 'replace').strip()[:300]}"

        return Session(target.name, process.stdout, process.stdin, close, address=target.address, kind="local")

    # -- health -----------------------------------------------------------------------------
    def check(self, targets: Iterable[Target], *, start: bool = False) -> list[Health]:
        """Connect to every target (``max_parallel`` at a time) and report each one's health.

        By default each target is only probed: the bootstrap reports and writes nothing on it
        (``targets check``, ``deploy --dry-run``). With ``start``, each target's runner is
        installed if needed and started, and the session kept for the deployment.
        """
        return self.run(self._check_all(list(targets), start))

    async def _check_all(self, targets: list[Target], start: bool) -> list[Health]:
        gate = asyncio.Semaphore(self.max_parallel)

        async def one(target: Target) -> Health:
            async with gate:
                return await self._check(target, start)
        return list(await asyncio.gather(*(one(t) for t in targets)))

    async def _check(self, target: Target, start: bool) -> Health:
        name, kind, address = target.name, target.kind, target.address
        # What the zone knows without asking (shown for a target that cannot be asked too).
        known = ({"work_dir": target.work_dir, "user": target.user} if isinstance(target, SshTarget)
                 else {"work_dir": str(target.root)} if isinstance(target, LocalFolderTarget) else {})
        try:
            if start:
                session = await self.session(target)
                # The clock is read around one round trip on a session already open, so neither
                # connecting nor starting Python counts as skew (decision 404).
                sent = self.clock()
                report = await session.request({"op": "hello"})
                heard = self.clock()
            else:
                probe = await self._spawn(target, probe=True)
                sent = None  # the bootstrap writes its time just before its answer: compare with its arrival
                report = await probe.probe()
                heard = self.clock()
        except TrustError as error:
            return Health(name, kind, address, reachable=True, host_key_ok=False, error=error, **known)
        except BundleError as error:
            reachable = error.code not in ("target_unreachable", "worker_unavailable", "target_auth_failed")
            return Health(name, kind, address, reachable=reachable,
                          host_key_ok=True if kind == "ssh" and reachable else None, error=error, **known)
        skew = float(report["time"]) - (heard if sent is None else (sent + heard) / 2)
        return Health(name, kind, address, reachable=True, host_key_ok=True if kind == "ssh" else None,
                      python=str(report.get("python")), free_bytes=int(report.get("free_bytes", 0)),
                      clock_skew=round(skew, 3), work_dir=str(report.get("work_dir")),
                      user=str(report.get("user") or known.get("user")),
                      formats=tuple(report["formats"]) if isinstance(report.get("formats"), list) else None)

    # -- many targets, one request each ------------------------------------------------------
    def inventory(self, targets: Iterable[Target]) -> list[dict[str, Any] | BundleError]:
        """What bundlekit holds in each target's work folder (``spec/runner.md`` section 2), in the
        order given, ``max_parallel`` targets at a time. A probe: nothing is installed or written
        on any target. Each answer is the ``inventory`` object plus ``work_dir`` (the work folder as
        the target expands it), ``real_dir`` (resolved) and ``folder`` (``[machine id, device,
        inode]`` of the work folder; both None when it does not exist); a target that cannot be asked gives its error in its place."""
        async def one(target: Target) -> dict[str, Any]:
            report = await (await self._spawn(target, probe=True, inventory=True)).probe(require_usable=False)
            found = report.get("inventory")
            return dict(found if isinstance(found, dict) else {}, work_dir=report.get("work_dir"),
                        folder=report.get("folder"), real_dir=report.get("real_dir"))
        return self.run(self._each(list(targets), one))

    def request_each(self, requests: list[tuple[Target, dict[str, Any]]]) -> list[dict[str, Any] | BundleError]:
        """Send one request to each target's runner (started, and installed, where needed),
        ``max_parallel`` targets at a time; the answers (or each target's error) in the order given."""
        async def one(pair: tuple[Target, dict[str, Any]]) -> dict[str, Any]:
            target, message = pair
            self.hold(target)
            try:
                return await (await self.session(target)).request(message)
            except BundleError as error:
                if error.code in ("target_connection_lost", "target_timed_out"):
                    await self.drop(target)
                raise
            finally:
                self.release(target)
        return self.run(self._each(requests, one))

    async def _each(self, items: list[Any], work: Callable[[Any], Coroutine[Any, Any, T]]) -> list[T | BundleError]:
        gate = asyncio.Semaphore(self.max_parallel)

        async def one(item: Any) -> T | BundleError:
            async with gate:
                try:
                    return await work(item)
                except BundleError as error:
                    return error
        return list(await asyncio.gather(*(one(i) for i in items)))

    def preflight(self, targets: Iterable[Target], *, start: bool = True) -> list[Health]:
        """:meth:`check` (``start``: install and start every runner; else only probe), raising the
        first host key mismatch (TrustError), else every other failure together (DeployError
        ``target_unreachable``, or the one failure's own code)."""
        health = self.check(targets, start=start)
        bad = [h for h in health if not h.healthy]
        for h in bad:
            if h.error is not None and h.error.code == "host_key_mismatch":
                raise _refusal(h, h.error)
        if len(bad) == 1 and bad[0].error is not None:
            raise _refusal(bad[0], bad[0].error)
        if bad:
            # One cause everywhere (no worker, no python) keeps its own code; mixed causes are "unreachable".
            codes = {h.error.code if isinstance(h.error, DeployError) else "target_unreachable" for h in bad}
            lines = "\n".join(f"  - {h.target} ({h.address}): {h.error.message if h.error else 'unhealthy'}"
                              for h in bad)
            raise DeployError(f"{len(bad)} target(s) cannot be reached or used; nothing was run:\n{lines}",
                              code=codes.pop() if len(codes) == 1 else "target_unreachable",
                              details=[h.to_dict() for h in bad])
        return health


def _refusal(health: Health, error: BundleError) -> BundleError:
    """``error`` as the preflight's refusal: it says nothing was run (decision 198) and names the target."""
    message = error.message.rstrip()
    if "nothing was run" not in message.lower():
        stop = "" if message.endswith((".", "!", "?")) else "."
        message = f"{message}{stop} Nothing was run on any target."
    details = error.details if isinstance(error.details, dict) else {}
    known = {"target": health.target, "kind": health.kind, "address": health.address, "user": health.user,
             "work_dir": health.work_dir}
    refused = type(error)(message, code=error.code, details={**known, **details})
    refused.__cause__ = error.__cause__
    return refused
