"""What the hostile-release tests share: a probe that looks for the zone's keys, and a public folder.

:data:`PROBE` is the start of a Python step script. It walks up from the step's working folder,
from every absolute path in every environment variable it is given (``PATH``-like lists and
``NAME=/path`` values split), from ``HOME_GUESS`` (replace it with the zone's home path: a guess
an attacker could make) and through ``/proc``, and reads every key file, ``zone.json`` and
``state.db`` it can into ``found`` (path -> first 4 KiB). The tests add what the step does with it.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

PROBE = r'''
import base64, json, os, urllib.parse
found = {}
def grab(path):
    try:
        with open(path, "rb") as handle:
            found[path] = handle.read(4096)
    except Exception:
        pass
def walk_up(start):
    path = os.path.abspath(start)
    for _ in range(64):
        for rel in ("keys/signing.key", "keys/sealing.key", "keys/ssh_client.key", "keys/state.password",
                    "zone.json", "state.db"):
            grab(os.path.join(path, rel))
        try:
            for name in os.listdir(path):
                for rel in ("keys/signing.key", "keys/sealing.key", "keys/ssh_client.key", "zone.json"):
                    grab(os.path.join(path, name, rel))
        except Exception:
            pass
        if path == "/":
            break
        path = os.path.dirname(path)
walk_up(os.getcwd())
for value in os.environ.values():
    for part in value.replace("=", ":").split(":"):
        if part.startswith("/"):
            walk_up(part)
walk_up("HOME_GUESS")
for pid in filter(str.isdigit, os.listdir("/proc")):
    for base in ("/proc/%s/cwd" % pid, "/proc/%s/root/HOME_GUESS" % pid):
        for rel in ("keys/signing.key", "keys/sealing.key", "keys/ssh_client.key", "zone.json"):
            grab(os.path.join(base, rel))
print("KEYS-FOUND", len(found), sorted(found))
'''


@pytest.fixture
def public_folder() -> Iterator[Path]:
    """A folder every user can traverse (pytest's own tmp folders are 0700), removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="bundlekit-hostile-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def var_folder() -> Iterator[Path]:
    """A folder every user can traverse OUTSIDE /tmp (under /var/tmp), removed afterwards: the
    sandbox gives steps a private /tmp, which would hide a zone home kept there whatever else
    the sandbox does; a home elsewhere is protected by the sandbox alone."""
    folder = Path(tempfile.mkdtemp(prefix="bundlekit-hostile-", dir="/var/tmp"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)
