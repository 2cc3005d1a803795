"""Accepting media volume folders wherever a bundle path is expected (`import DIR [DIR ...]`).

Volumes are joined (digest checked) into a private temporary folder outside the zone's
home, so a refused import still leaves the home byte-identical; the folder is removed after.
That folder is bundlekit's, not the user's: a refusal that names the joined file names the
volume folders instead (:func:`shown_as`), so no temporary path reaches the user.
"""

from __future__ import annotations

import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from bundlekit.core.progress import Advance
from bundlekit.core.tree import remove_tree
from bundlekit.errors import BundleError, InputError, UsageError
from bundlekit.transport.media import join_to_temp

__all__ = ["bundle_path", "shown_as", "source_fields"]


def shown_as(paths: tuple[Path, ...]) -> str:
    """How the bundle given as ``paths`` is named in output: the file, or the volume folders."""
    if len(paths) == 1 and paths[0].is_file():
        return str(paths[0])
    return "the volumes in " + ", ".join(str(p) for p in paths)


def source_fields(paths: tuple[Path, ...]) -> dict[str, Any]:
    """The ``--json`` fields naming what was given: ``bundle`` (a file) or ``volume_folders``."""
    if len(paths) == 1 and paths[0].is_file():
        return {"bundle": str(paths[0])}
    return {"bundle": None, "volume_folders": [str(p) for p in paths]}


def _replace(value: Any, old: str, new: str) -> Any:
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, dict):
        return {k: _replace(v, old, new) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_replace(v, old, new) for v in value)
    return value


@contextmanager
def bundle_path(paths: tuple[Path, ...], *, set_choice: str | None = None,
                progress: Advance | None = None) -> Iterator[Path]:
    """One bundle file from a file argument, or from one or more media volume folders.

    ``set_choice`` picks one volume set when the folders hold several (``--set``).
    """
    missing = [p for p in paths if not p.exists()]
    if missing:
        raise InputError(f"{missing[0]}: no such file or folder", code="bundle_not_found")
    files = [p for p in paths if not p.is_dir()]
    if len(paths) == 1 and files:
        yield paths[0]
        return
    if files and len(files) == len(paths):
        raise UsageError(f"{files[0]}: pass one bundle file at a time", code="usage")
    if files:
        raise UsageError(f"{files[0]}: pass bundle files, or folders of media volumes "
                         "(what bundlekit media split writes), not both", code="usage")
    # Folders: joined as `media join` would, so a folder without volumes is `no_volumes` here too.
    tmp = Path(tempfile.mkdtemp(prefix="bundlekit-join-"))
    try:
        joined = join_to_temp(list(paths), tmp, choice=set_choice, progress=progress)
        try:
            yield joined
        except BundleError as err:
            shown = shown_as(paths)
            err.reword(_replace(err.message, str(joined), shown))
            err.details = _replace(err.details, str(joined), shown)
            raise
    finally:
        remove_tree(tmp, ignore_errors=True)
