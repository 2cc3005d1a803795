"""Accepting media volume folders wherever a bundle path is expected (`import DIR [DIR ...]`).

Volumes are joined (digest checked) into a private temporary folder outside the zone's
home, so a refused import still leaves the home byte-identical; the folder is removed after.
"""

from __future__ import annotations

import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from bundlekit.errors import InputError, UsageError
from bundlekit.transport.media import join_to_temp

__all__ = ["bundle_path"]


@contextmanager
def bundle_path(paths: tuple[Path, ...]) -> Iterator[Path]:
    """One bundle file from a file argument, or from one or more media volume folders."""
    missing = [p for p in paths if not p.exists()]
    if missing:
        raise InputError(f"{missing[0]}: no such file or folder", code="bundle_not_found")
    files = [p for p in paths if not p.is_dir()]
    if len(paths) == 1 and files:
        yield paths[0]
        return
    if files:
        raise UsageError(f"{files[0]}: pass one bundle file, or folders of media volumes "
                         "(`bundlekit media split`), not both", code="usage")
    # Folders: joined as `media join` would, so a folder without volumes is `no_volumes` here too.
    tmp = Path(tempfile.mkdtemp(prefix="bundlekit-join-"))
    try:
        yield join_to_temp(list(paths), tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
