"""The bootstrap: the few lines the zone runs on a target to start (and, once, install) the runner.

``python3 -c BOOTSTRAP WORK_DIR RUNNER_SHA RUNNER_SIZE`` (no value of any variable is ever on
this command line). Written so that any Python 3 parses it, it checks the version first and
answers on stdout with one line:

* ``BUNDLEKIT-OLD 3.6.9``: this Python is older than 3.8 (exit 3);
* ``BUNDLEKIT-ERROR <why>``: the work folder cannot be used (exit 4);
* ``BUNDLEKIT-SEND``: the runner is not there yet: the zone sends the zipapp, exactly
  RUNNER_SIZE bytes, which are hashed and, only if right, unpacked as
  ``WORK_DIR/.bundlekit/runner/<sha256>/`` (unpacked so Python caches its compiled modules
  there: a runner starts in tens of milliseconds, not a second); ``BUNDLEKIT-ERROR`` otherwise;
* ``BUNDLEKIT-HAVE``: it is there.

With a fourth argument ``probe`` it writes nothing at all and answers one line,
``BUNDLEKIT-PROBE {json}``: the python version, the work folder (expanded), whether it exists
and whether it (or the nearest folder above it that exists) is a folder this user may write,
the free bytes there, the clock and the user, and, when the work folder exists, what it really
is (its resolved path, and the machine's id with the folder's device and inode, so the zone can
tell two targets that reach one folder apart from two folders: decision 411) (what ``targets check`` and ``deploy --dry-run``
report without installing anything). With ``inventory`` in its place it writes nothing either
and adds what bundlekit holds there, for ``prune`` to plan with (``spec/runner.md`` section 2):
the installed package versions (under a package folder that has the runner's lock file), the
package archives and the deployments' working folders, each with its size in bytes, at most
2,000 of each kind.

After ``SEND`` or ``HAVE`` it replaces itself (``exec``) with ``python3 -s -E RUNNER_DIR WORK_DIR
RUNNER_SHA``, which speaks the framed protocol on the same stdin and stdout. Stdin is read with
``os.read`` so not one byte meant for the runner is consumed here.
"""

from __future__ import annotations

from typing import List

__all__ = ["BOOTSTRAP", "bootstrap_argv", "LINE_PREFIX", "MIN_PYTHON"]

#: The oldest Python the runner supports on a target.
MIN_PYTHON = (3, 8)
LINE_PREFIX = "BUNDLEKIT-"

BOOTSTRAP = r"""
import sys, os
def say(line):
    os.write(1, (line + "\n").encode("utf-8"))
if sys.version_info < (3, 8):
    say("BUNDLEKIT-OLD %d.%d.%d" % tuple(sys.version_info[:3]))
    sys.exit(3)
import hashlib, shutil, tempfile, zipfile
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
            for folder, _, files in os.walk(top):
                for name in files:
                    try:
                        total += os.lstat(os.path.join(folder, name)).st_size
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
path = os.path.join(folder, sha)
try:
    os.makedirs(folder, mode=0o755, exist_ok=True)
except OSError as error:
    say("BUNDLEKIT-ERROR cannot create %s: %s" % (folder, error.strerror))
    sys.exit(4)
if os.path.isfile(os.path.join(path, "__main__.py")):
    say("BUNDLEKIT-HAVE")
else:
    say("BUNDLEKIT-SEND")
    digest, left = hashlib.sha256(), size
    try:
        fd, tmp = tempfile.mkstemp(prefix=".incoming-", dir=folder)
    except OSError as error:
        say("BUNDLEKIT-ERROR cannot write in %s: %s" % (folder, error.strerror))
        sys.exit(4)
    with os.fdopen(fd, "wb") as out:
        while left > 0:
            chunk = os.read(0, min(left, 1 << 20))
            if not chunk:
                break
            left -= len(chunk)
            digest.update(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    if left or digest.hexdigest() != sha:
        os.unlink(tmp)
        say("BUNDLEKIT-ERROR the runner arrived damaged (%d bytes missing or a wrong SHA-256)" % left)
        sys.exit(4)
    unpacked = tempfile.mkdtemp(prefix=".incoming-", dir=folder)
    with zipfile.ZipFile(tmp) as archive:
        archive.extractall(unpacked)
    os.unlink(tmp)
    os.chmod(unpacked, 0o755)
    try:
        os.rename(unpacked, path)
    except OSError:
        shutil.rmtree(unpacked, ignore_errors=True)  # another runner unpacked it first
    say("BUNDLEKIT-HAVE")
os.execv(sys.executable, [sys.executable, "-s", "-E", path, work, sha])
"""


def bootstrap_argv(python: str, work_dir: str, runner_sha: str, runner_size: int, *,
                   probe: bool = False, inventory: bool = False) -> List[str]:
    """The argument vector that starts the runner with ``python`` (a path, or ``python3``);
    with ``probe``, the one that only reports (``BUNDLEKIT-PROBE``) and writes nothing; with
    ``inventory`` (a probe too), the report also lists what bundlekit holds in the work folder."""
    mode = ["inventory"] if inventory else ["probe"] if probe else []
    return [python, "-c", BOOTSTRAP, work_dir, runner_sha, str(runner_size), *mode]
