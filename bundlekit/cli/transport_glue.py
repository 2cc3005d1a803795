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
from bundlekit.transport.media_scan import is_volume_dir

__all__ = ["bundle_path"]


@contextmanager
def bundle_path(paths: tuple[Path, ...]) -> Iterator[Path]:
    """One bundle file from a file argument, or from one or more media volume folders."""
    missing = [p for p in paths if not p.exists()]
    if missing:
        raise InputError(f"{missing[0]}: no such file or folder", code="bundle_not_found")
    if len(paths) == 1 and paths[0].is_file():
        yield paths[0]
        return
    not_volumes = [p for p in paths if not is_volume_dir(p)]
    if not_volumes:
        raise UsageError(f"{not_volumes[0]}: pass one bundle file, or folders of media volumes "
                         "(`bundlekit media split`)", code="usage")
    tmp = Path(tempfile.mkdtemp(prefix="bundlekit-join-"))
    try:
        yield join_to_temp(list(paths), tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
