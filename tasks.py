#!/usr/bin/env python3
"""Set-up and the two entry points of the README, with nothing but Python 3.11 and pip.

    python3 tasks.py roundtrip   # the main job: the full round trip on the shipped fixtures
    python3 tasks.py test        # the test suite

Each creates ./.venv (once; again when pyproject.toml changes) and installs bundlekit into it.
The test suite also needs a few Debian packages (a real headless Chromium, a real OpenSSH server,
bubblewrap for the sandboxed worker, a real PostgreSQL): `test` installs the missing ones with apt-get when run as root, and otherwise
stops before anything runs with the one command to run first.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"


def ensure_venv() -> None:
    stamp = VENV / ".bundlekit-installed"
    want = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == want and PY.exists():
        return
    if not PY.exists():
        print(f"creating virtualenv {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("installing bundlekit and its test tools into the virtualenv", flush=True)
    subprocess.run([str(PY), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-e", f"{ROOT}[test]"],
                   check=True)
    stamp.write_text(want)


def _present(*paths: str) -> bool:
    return any(shutil.which(p) if "/" not in p else glob.glob(p) for p in paths)


#: Debian package -> whether it is already there. The tests start these servers themselves on
#: 127.0.0.1 with throwaway data folders; they only need the programs.
SYSTEM_PACKAGES = {
    "chromium": lambda: _present("chromium", "/usr/bin/chromium"),
    "openssh-server": lambda: _present("/usr/sbin/sshd", "sshd"),
    "bubblewrap": lambda: _present("/usr/bin/bwrap", "bwrap"),
    "postgresql": lambda: _present("/usr/lib/postgresql/*/bin/initdb", "initdb"),
}


def ensure_system_packages() -> bool:
    """Install the Debian packages the tests use; False (with one clear line) when we cannot."""
    missing = [name for name, present in SYSTEM_PACKAGES.items() if not present()]
    if not missing:
        return True
    command = "apt-get install -y " + " ".join(missing)
    if os.name != "posix" or os.geteuid() != 0 or shutil.which("apt-get") is None:
        print(f"the tests need {', '.join(missing)}: run `sudo {command}` (Debian/Ubuntu) first, then this "
              "command again", file=sys.stderr)
        return False
    print(f"installing the system packages the tests use: {' '.join(missing)}", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    quiet = {"stdout": subprocess.DEVNULL}
    if (subprocess.run(["apt-get", "update", "-qq"], env=env, **quiet).returncode != 0
            or subprocess.run(["apt-get", "install", "-y", "-qq", *missing], env=env, **quiet).returncode != 0):
        print(f"could not install {', '.join(missing)} with apt-get; run `{command}` by hand", file=sys.stderr)
        return False
    return True


def _chooses_workers(args: list[str]) -> bool:
    """Whether pytest arguments already say how to run in parallel (or not at all)."""
    for i, arg in enumerate(args):
        if arg in ("-n", "--numprocesses") or arg.startswith(("--numprocesses=", "--dist")):
            return True
        if arg.startswith("-n") and len(arg) > 2:  # -n2, -n=2, -nauto
            return True
        if arg in ("-pno:xdist", "-p=no:xdist") or (arg == "-p" and args[i + 1:i + 2] == ["no:xdist"]):
            return True
    return False


def pytest_args(args: list[str]) -> list[str]:
    """The pytest command line for ``tasks.py test ARGS``: the suite runs on every core
    (pytest-xdist, ``-n auto``; ``--dist worksteal``: a worker that runs out of tests takes some
    of another's queue, so a few long tests queued late do not leave a core idle at the end)
    unless ARGS choose (``-n 2``, ``-n 0``, ``-p no:xdist``)."""
    parallel = [] if _chooses_workers(args) else ["-n", "auto", "--dist", "worksteal"]
    return ["-m", "pytest", "-q", "-p", "no:cacheprovider", *parallel, *args]


def compile_sources() -> None:
    """Write the compiled files of bundlekit, its tests and scripts (only those out of date).

    Python writes none itself where ``PYTHONDONTWRITEBYTECODE`` is set (as on this project's CI
    machines), and every ``bundlekit`` process the round trip and the tests start would compile
    the modules it imports again: about 0.4 s of each command's start (``compileall`` writes
    them regardless of that setting; pip compiled the dependencies when it installed them)."""
    subprocess.run([str(PY), "-m", "compileall", "-q", "bundlekit", "tests", "scripts"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("roundtrip", "test"):
        print(__doc__)
        return 2
    if argv[0] == "test" and not ensure_system_packages():
        return 1
    ensure_venv()
    compile_sources()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if argv[0] == "roundtrip":
        cmd = [str(PY), str(ROOT / "scripts" / "roundtrip.py"), *argv[1:]]
    else:
        cmd = [str(PY), *pytest_args(argv[1:])]
    return subprocess.run(cmd, cwd=ROOT, env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
