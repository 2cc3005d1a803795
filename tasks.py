#!/usr/bin/env python3
"""Set-up and the two entry points of the README, with nothing but Python 3.11 and pip.

    python3 tasks.py roundtrip   # the main job: the full round trip on the shipped fixtures
    python3 tasks.py test        # the test suite

Each creates ./.venv (once; again when pyproject.toml changes) and installs bundlekit into it.
"""

from __future__ import annotations

import hashlib
import os
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


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("roundtrip", "test"):
        print(__doc__)
        return 2
    ensure_venv()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if argv[0] == "roundtrip":
        cmd = [str(PY), str(ROOT / "scripts" / "roundtrip.py"), *argv[1:]]
    else:
        cmd = [str(PY), "-m", "pytest", "-q", "-p", "no:cacheprovider", *argv[1:]]
    return subprocess.run(cmd, cwd=ROOT, env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
