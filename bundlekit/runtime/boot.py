"""The bootstrap: the few lines the zone runs on a target to start (and, once, install) the runner.

``python3 -s -E -c BOOTSTRAP WORK_DIR RUNNER_SHA RUNNER_SIZE`` (no value of any variable is ever on
this command line). Nothing a step can write decides what the bootstrap imports: ``-s`` keeps
the user's site folder (under ``HOME``, the work folder for a local runner) and its ``.pth``
files out, ``-E`` the ``PYTHON*`` variables, and its first line drops the current folder (where
a step could leave a ``hashlib.py``) from ``sys.path``. Written so that any Python 3 parses it, it checks the version first and
answers on stdout with one line:

* ``BUNDLEKIT-OLD 3.6.9``: this Python is older than 3.8 (exit 3);
* ``BUNDLEKIT-ERROR <why>``: the work folder cannot be used (exit 4);
* ``BUNDLEKIT-SEND``: the runner is not there yet: the zone sends the zipapp, exactly
  RUNNER_SIZE bytes, which are hashed and, only if right, kept as
  ``WORK_DIR/.bundlekit/runner/<sha256>.pyz`` (where the folder may be written);
  ``BUNDLEKIT-ERROR`` otherwise;
* ``BUNDLEKIT-SEND altered``: the same, but a cached runner was there and its bytes were not
  RUNNER_SHA's (something on the target changed it): the zone says so in the deployment's record;
* ``BUNDLEKIT-HAVE``: the runner is ready.

The cached runner is trusted on no start: its bytes are read once, hashed, and only those bytes
run, from a sealed memory file (``memfd``, Linux) or else a private copy in a fresh 0700 folder,
never from the cache again, so a step that rewrites the cache changes no later runner
(``docs/decisions/451-the-runner-is-hashed-on-every-start.md``).

With a fourth argument ``probe`` it writes nothing at all and answers one line,
``BUNDLEKIT-PROBE {json}``: the python version, the work folder (expanded), whether it exists
and whether it (or the nearest folder above it that exists) is a folder this user may write,
the free bytes there, the clock and the user, and, when the work folder exists, what it really
is (its resolved path, and the machine's id with the folder's device and inode, so the zone can
tell two targets that reach one folder apart from two folders: decision 411), and the
structured configuration formats a runner there could apply (XML only where lxml is found,
looked up without importing it: decision 522) (what ``targets check`` and ``deploy --dry-run``
report without installing anything). With ``inventory`` in its place it writes nothing either
and adds what bundlekit holds there, for ``prune`` to plan with (``spec/runner.md`` section 2):
the installed package versions (under a package folder that has the runner's lock file), the
package archives and the deployments' working folders, each with its size in bytes, at most
2,000 of each kind.

After ``HAVE`` it runs the runner in the same interpreter, as ``python3 -s -E RUNNER WORK_DIR
RUNNER_SHA`` would (``sys.argv`` set so, ``RUNNER`` the memory file's ``/proc/self/fd/N`` or the
private copy, run as ``__main__``; no second Python start: decision 982), which speaks the framed
protocol on the same stdin and stdout. Stdin is read with ``os.read`` so not one byte meant for
the runner is consumed here.
"""

from __future__ import annotations

from typing import List

__all__ = ["BOOTSTRAP", "bootstrap_argv", "LINE_PREFIX", "MIN_PYTHON"]

#: The oldest Python the runner supports on a target.
MIN_PYTHON = (3, 8)
LINE_PREFIX = "BUNDLEKIT-"

BOOTSTRAP = r"""
import sys, os
sys.path[:] = [p for p in sys.path if p]
def say(line):
    os.write(1, (line + "\n").encode("utf-8"))
if sys.version_info < (3, 8):
    say("BUNDLEKIT-OLD %d.%d.%d" % tuple(sys.version_info[:3]))
    sys.exit(3)
import errno, hashlib, tempfile
work, sha, size = os.path.expanduser(sys.argv[1]), sys.argv[2], int(sys.argv[3])
if sys.argv[4:] in (["probe"], ["inventory"]):
    import json, platform, time
    try:
        import pwd
        user = pwd.getpwuid(os.getuid()).pw_name
    except Exception:
        user = str(os.getuid())
    near = work
    while not os.path.lexists(near) and os.path.dirname(near) != near:
        near = os.path.dirname(near)
    usable = os.path.isdir(near) and os.access(near, os.W_OK | os.X_OK)
    info = os.statvfs(near) if os.path.isdir(near) else None
    report = {
        "python": platform.python_version(), "work_dir": work, "exists": os.path.isdir(work),
        "usable": usable, "checked": near, "free_bytes": info.f_bavail * info.f_frsize if info else 0,
        "time": time.time(), "uid": os.getuid(), "user": user}
    try:
        import importlib.util
        xml = importlib.util.find_spec("lxml") is not None
    except Exception:
        xml = False
    report["formats"] = ["json", "properties"] + (["xml"] if xml else []) + ["yaml"]
    try:
        st = os.stat(work)
        try:
            with open("/etc/machine-id") as f:
                machine = f.read(200).strip()
        except (OSError, ValueError):
            machine = ""
        report["folder"] = [machine, st.st_dev, st.st_ino]
        report["real_dir"] = os.path.realpath(work)
    except OSError:
        pass
    if sys.argv[4] == "inventory":
        def size(top):
            if not os.path.isdir(top):
                try:
                    return os.lstat(top).st_size
                except OSError:
                    return 0
            total = 0
            stack = [top]  # no recursion: a script may have made a tree of any depth (decision 541)
            while stack:
                try:
                    with os.scandir(stack.pop()) as found:
                        for entry in found:
                            try:
                                if entry.is_dir(follow_symlinks=False):
                                    stack.append(entry.path)
                                else:
                                    total += entry.stat(follow_symlinks=False).st_size
                            except OSError:
                                pass
                except OSError:
                    pass
            return total
        def entries(top, want_dirs):
            try:
                names = sorted(os.listdir(top))
            except OSError:
                return []
            out = []
            for name in names:
                path = os.path.join(top, name)
                if not name.startswith(".") and not os.path.islink(path) and os.path.isdir(path) == want_dirs:
                    out.append(name)
            return out
        found = {"packages": [], "archives": [], "work": [], "truncated": False}
        def add(kind, row):
            if len(found[kind]) < 2000:
                found[kind].append(row)
            else:
                found["truncated"] = True
        for pid in entries(work, True):
            if os.path.isfile(os.path.join(work, pid, ".bundlekit.lock")):
                for version in entries(os.path.join(work, pid), True):
                    add("packages", [pid, version, size(os.path.join(work, pid, version))])
        held = os.path.join(work, ".bundlekit", "packages")
        for digest in entries(held, True):
            for name in entries(os.path.join(held, digest), False):
                add("archives", [digest, name, size(os.path.join(held, digest, name))])
        for deployment in entries(os.path.join(work, ".bundlekit-work"), True):
            add("work", [deployment, size(os.path.join(work, ".bundlekit-work", deployment))])
        report["inventory"] = found
    say("BUNDLEKIT-PROBE " + json.dumps(report))
    sys.exit(0)
folder = os.path.join(work, ".bundlekit", "runner")
cached = os.path.join(folder, sha + ".pyz")
try:
    os.makedirs(folder, mode=0o755, exist_ok=True)
except OSError as error:
    say("BUNDLEKIT-ERROR cannot create %s: %s" % (folder, error.strerror))
    sys.exit(4)
def read_all(fd, most):
    parts, left = [], most
    while left > 0:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            break
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)
runner, altered = None, False
try:
    fd = os.open(cached, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
except FileNotFoundError:
    fd = None
except OSError:
    fd, altered = None, True
if fd is not None:
    try:
        import stat
        if stat.S_ISREG(os.fstat(fd).st_mode):
            runner = read_all(fd, size + 1)
    finally:
        os.close(fd)
    if runner is None or hashlib.sha256(runner).hexdigest() != sha:
        runner, altered = None, True
if runner is None:
    say("BUNDLEKIT-SEND altered" if altered else "BUNDLEKIT-SEND")
    runner = read_all(0, size)
    if len(runner) != size or hashlib.sha256(runner).hexdigest() != sha:
        say("BUNDLEKIT-ERROR the runner arrived damaged (%d bytes missing or a wrong SHA-256)" % (size - len(runner)))
        sys.exit(4)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".incoming-", dir=folder)
    except OSError as error:
        if error.errno != errno.EROFS:
            say("BUNDLEKIT-ERROR cannot write in %s: %s" % (folder, error.strerror))
            sys.exit(4)
        fd = None  # kept read-only by the zone's sandbox: the runner runs from memory, uncached
    if fd is not None:
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(runner)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, cached)
        except OSError:
            try:
                os.unlink(tmp)
            except OSError:
                pass
say("BUNDLEKIT-HAVE")
# Run exactly the bytes just hashed, never the file again: from a sealed memory file where Linux
# has one, else from a private copy in a fresh 0700 folder.
path = None
if hasattr(os, "memfd_create") and os.path.isdir("/proc/self/fd"):
    try:
        import fcntl
        memory = os.memfd_create("bundlekit-runner", getattr(os, "MFD_ALLOW_SEALING", 0))
        view = memoryview(runner)
        while view:
            view = view[os.write(memory, view):]
        if hasattr(fcntl, "F_ADD_SEALS"):
            fcntl.fcntl(memory, fcntl.F_ADD_SEALS, fcntl.F_SEAL_WRITE | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SHRINK
                        | fcntl.F_SEAL_SEAL)
        os.set_inheritable(memory, True)
        path = "/proc/self/fd/%d" % memory
    except OSError:
        path = None
if path is None:
    private = tempfile.mkdtemp(prefix="bundlekit-runner-")
    path = os.path.join(private, "runner.pyz")
    with open(path, "wb") as out:
        out.write(runner)
# In this interpreter (started -s -E, like the runner): a second one would cost a Python start
# on every target of every deployment (decision 982).
del runner
sys.argv[:] = [path, work, sha]
import runpy
runpy.run_path(path, run_name="__main__")
"""


def bootstrap_argv(python: str, work_dir: str, runner_sha: str, runner_size: int, *,
                   probe: bool = False, inventory: bool = False) -> List[str]:
    """The argument vector that starts the runner with ``python`` (a path, or ``python3``);
    with ``probe``, the one that only reports (``BUNDLEKIT-PROBE``) and writes nothing; with
    ``inventory`` (a probe too), the report also lists what bundlekit holds in the work folder."""
    mode = ["inventory"] if inventory else ["probe"] if probe else []
    return [python, "-s", "-E", "-c", BOOTSTRAP, work_dir, runner_sha, str(runner_size), *mode]
