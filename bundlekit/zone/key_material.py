"""The zone's own secrets, as bytes, for masking: what no step output or log may ever show.

Steps never run with access to the home (they run on a worker, decision 290's companion
issue), so no step should be able to read these; masking them as well is defence in depth
(decision 380): a step that got hold of a key anyway (a misconfigured worker, a copy left
somewhere) still cannot carry it out in a log, an output, a receipt or a dashboard.

What counts: every regular file under ``HOME/keys`` (the signing and sealing keys, retired
signing keys, the SSH client key, the state password, and any other key file kept there),
and the secret parts (password and the like) of the home's ``BUNDLEKIT_STATE`` URL.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from bundlekit.errors import BundleError
from bundlekit.zone.location import read_settings

__all__ = ["zone_key_material", "MAX_KEY_FILE", "MAX_KEY_FILES"]

#: Key files are small (a raw key is 32 bytes, an OpenSSH key under 1 KiB): a larger file under
#: ``keys/`` is read up to this many bytes, which is what a step could print of it at the start.
MAX_KEY_FILE = 64 * 1024
#: At most this many files are read (a home holds a handful; retired keys add one per rotation).
MAX_KEY_FILES = 1024


def _key_files(keys: Path) -> list[Path]:
    """Regular files under ``keys``, without following symbolic links, in a stable order."""
    found: list[Path] = []
    pending = [keys]
    while pending and len(found) < MAX_KEY_FILES:
        folder = pending.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                pending.append(Path(entry.path))
            elif entry.is_file(follow_symlinks=False):
                found.append(Path(entry.path))
    return found[:MAX_KEY_FILES]


def _read_head(path: Path) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read(MAX_KEY_FILE)
    finally:
        os.close(fd)


def zone_key_material(home: Path) -> tuple[bytes, ...]:
    """The contents of the home's key files and the secrets of its state URL, each as bytes
    (empty values left out), in a stable order. A file that cannot be read is skipped: masking
    is a second line of defence, and a deployment must not fail for it. Never raises."""
    values: list[bytes] = []
    for path in _key_files(home / "keys"):
        data = _read_head(path)
        if data and data.strip():
            values.append(data)
            stripped = data.strip()
            if stripped != data:  # a password file's line without its newline
                values.append(stripped)
    try:
        state = read_settings(home).state
    except BundleError:
        state = None
    if state is not None:
        values += [v.encode("utf-8") for _, v in state.secrets if v]
    return tuple(dict.fromkeys(values))
