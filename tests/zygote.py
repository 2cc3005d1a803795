"""Real ``bundlekit`` processes without paying for the imports each time (decision 979).

Most of a ``bundlekit`` run the tests start is the interpreter importing bundlekit (about 0.5 s
of CPU against 0.1 s or less for most commands' own work), and the suite starts thousands. Here
one process per test process (per xdist worker) imports every bundlekit module once and then,
for each :func:`run`, forks a child that *is* the command: its own pid, the caller's argv,
environment, working folder, umask and standard streams (passed over a Unix socket as file
descriptors), bundlekit's own entry point (``bundlekit.__main__.main``, as ``python -m
bundlekit`` runs it), its exit status as a subprocess's (negative for a signal). What a test
observes of the command is what it would observe of ``python -m bundlekit``, minus the imports.

The server listens on a socket in a private folder, serves only the process that started it,
and ends when that process ends (it watches its parent). :func:`run` falls back to a plain
subprocess whenever the child could differ from a fresh interpreter: an environment that changes
how Python itself starts (``PYTHON*``, locale, ``TZ``), or ``BUNDLEKIT_TEST_FORK=0``.
"""

from __future__ import annotations

import atexit
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Optional

#: Environment variables a forked child would not honour as a new interpreter does: they act
#: while Python starts (encoding, locale, hashing, paths) or are read once into C state.
_STARTUP = ("PYTHON", "LC_", "LANG", "LANGUAGE", "TZ")

_lock = threading.Lock()
_server: Optional[tuple[subprocess.Popen[bytes], str]] = None
#: The environment the server started with (None before it starts).
_STARTED: Optional[dict[str, str]] = None


def usable(env: dict[str, str]) -> bool:
    """Whether a command with the full environment ``env`` may run as a forked child: none of
    the variables Python reads while starting differs from this process's own."""
    if os.environ.get("BUNDLEKIT_TEST_FORK", "1") == "0":
        return False
    started = _STARTED if _STARTED is not None else dict(os.environ)
    keys = set(env) | set(started)
    return all(env.get(k) == started.get(k) for k in keys if k.startswith(_STARTUP))


def _start() -> str:
    """The server's socket path, starting it on first use."""
    global _server, _STARTED
    with _lock:
        if _server is not None and _server[0].poll() is None:
            return _server[1]
        folder = tempfile.mkdtemp(prefix="bundlekit-fork-")
        path = os.path.join(folder, "s")
        proc = subprocess.Popen([sys.executable, "-c", "import sys; from tests.zygote import serve; serve(sys.argv[1])", path],
                                env=dict(os.environ),
                                cwd=str(Path(__file__).resolve().parent.parent), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE)
        assert proc.stdout is not None
        ready = proc.stdout.readline()
        if ready.strip() != b"ready":
            proc.kill()
            raise RuntimeError(f"the bundlekit fork server did not start: {ready!r}")
        _server = (proc, path)
        _STARTED = dict(os.environ)
        atexit.register(_stop, proc, folder)
        return path


def _stop(proc: subprocess.Popen[bytes], folder: str) -> None:
    proc.kill()
    proc.wait()
    for name in os.listdir(folder):
        os.unlink(os.path.join(folder, name))
    os.rmdir(folder)


def run(argv: list[str], env: dict[str, str], input: Optional[bytes], timeout: float) -> subprocess.CompletedProcess[str]:
    """``python -m bundlekit ARGV`` as ``subprocess.run(..., capture_output=True, text=True)``
    would return it (``args`` is the ``python -m bundlekit`` command line), run as a forked
    child of the server. Raises ``subprocess.TimeoutExpired`` after ``timeout`` seconds (the
    child is killed), as ``subprocess.run`` does."""
    cmd = [sys.executable, "-m", "bundlekit", *argv]
    mask = os.umask(0)
    os.umask(mask)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, tempfile.TemporaryFile() as stdin:
        if input is not None:
            stdin.write(input)
            stdin.seek(0)
        fds = [stdin.fileno() if input is not None else 0, out.fileno(), err.fileno()]
        request = json.dumps({"argv": argv, "env": env, "cwd": os.getcwd(), "umask": mask}).encode()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.connect(_start())
            socket.send_fds(conn, [len(request).to_bytes(4, "big") + request], fds)
            conn.settimeout(timeout)
            reply = b""
            try:
                while not reply.endswith(b"\n") or reply.count(b"\n") < 2:
                    chunk = conn.recv(64)
                    if not chunk:
                        raise RuntimeError(f"the bundlekit fork server dropped {argv!r}: {reply!r}")
                    reply += chunk
            except socket.timeout:
                pid = int(reply.split(b"\n")[0]) if b"\n" in reply else None
                if pid is not None:
                    os.kill(pid, signal.SIGKILL)
                raise subprocess.TimeoutExpired(cmd, timeout, _read(out), _read(err)) from None
        pid_line, status_line = reply.split(b"\n")[:2]
        return subprocess.CompletedProcess(cmd, int(status_line), _read(out), _read(err))


def _read(f: "tempfile._TemporaryFileWrapper[bytes]") -> str:
    """What the child wrote to ``f``, decoded as ``subprocess.run(text=True)`` decodes it (the
    locale's encoding, universal newlines)."""
    f.seek(0)
    return io.TextIOWrapper(io.BytesIO(f.read())).read()


# --- the server -------------------------------------------------------------------------------

def _preload() -> None:
    """Import every bundlekit module a command could use, and every command."""
    import importlib
    import pkgutil

    import bundlekit
    import bundlekit.__main__  # noqa: F401
    from bundlekit.cli import cli

    for info in pkgutil.walk_packages(bundlekit.__path__, "bundlekit."):
        importlib.import_module(info.name)
    cli.load_all()  # type: ignore[attr-defined]
    from bundlekit.runtime.pack import runner

    runner()  # built once per process (its bytecode compiled by a child): every deploying child inherits it
    if threading.active_count() != 1:
        raise RuntimeError("importing bundlekit started a thread: a forked child would lack it")


def serve(path: str) -> None:
    """Preload, listen on ``path`` and fork a child per request until the parent ends."""
    _preload()
    parent = os.getppid()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    os.chmod(path, 0o600)
    listener.listen(64)
    listener.settimeout(0.5)
    waiting: dict[int, socket.socket] = {}
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    import select

    while os.getppid() == parent:
        readable, _, _ = select.select([listener, wake_r], [], [], 0.5)
        if wake_r in readable:
            os.read(wake_r, 4096)
        _reap(waiting)
        if listener in readable:
            try:
                conn, _ = listener.accept()
            except (BlockingIOError, socket.timeout):
                continue
            conn.settimeout(None)
            pid = _fork(conn, listener, wake_r, wake_w)
            conn.sendall(f"{pid}\n".encode())
            waiting[pid] = conn
            _reap(waiting)
    for pid in waiting:
        os.kill(pid, signal.SIGKILL)


def _reap(waiting: dict[int, socket.socket]) -> None:
    """Send each finished child's exit status (as a subprocess's returncode) to its caller."""
    for pid in list(waiting):
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            conn = waiting.pop(pid)
            try:
                conn.sendall(f"{os.waitstatus_to_exitcode(status)}\n".encode())
            except OSError:
                pass
            conn.close()


def _fork(conn: socket.socket, listener: socket.socket, wake_r: int, wake_w: int) -> int:
    """Fork the child that runs one request from ``conn``; its pid."""
    msg, fds, _, _ = socket.recv_fds(conn, 1 << 16, 3)  # the descriptors come with the first bytes
    while len(msg) < 4 or len(msg) < 4 + int.from_bytes(msg[:4], "big"):
        chunk = conn.recv(1 << 16)
        if not chunk:
            raise EOFError("the caller went away mid-request")
        msg += chunk
    request = json.loads(msg[4:])
    pid = os.fork()
    if pid:
        for fd in fds:
            os.close(fd)
        return pid
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for s in (listener, conn):
            s.close()
        os.close(wake_r)
        os.close(wake_w)
        for i, fd in enumerate(fds):
            os.dup2(fd, i)
            os.close(fd)
        os.chdir(request["cwd"])
        os.umask(request["umask"])
        os.environ.clear()
        os.environ.update(request["env"])
        import random

        random.seed()
        main = sys.modules["bundlekit.__main__"].__dict__["main"]
        sys.path[0] = request["cwd"]  # as `python -m` puts the working folder first
        sys.argv = [str(Path(sys.modules["bundlekit.__main__"].__file__).resolve()), *request["argv"]]
        code = _run(main)
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        os._exit(code)


def _run(main) -> int:  # type: ignore[no-untyped-def]
    """``main()`` with the exit status a Python interpreter would give it, after its atexit calls."""
    try:
        main()
        code = 0
    except SystemExit as e:
        if e.code is None:
            code = 0
        elif isinstance(e.code, int):
            code = e.code
        else:
            print(e.code, file=sys.stderr)
            code = 1
    except KeyboardInterrupt:  # a new interpreter ends by SIGINT itself then
        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
        code = 130
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    atexit._run_exitfuncs()
    return code

