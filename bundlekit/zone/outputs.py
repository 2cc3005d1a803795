"""Where a command may write a file or folder its user names (decision 942).

Every command that writes a user-named output (``export -o``, ``relay -o``, ``identity -o``,
``dashboard --html``, ``media join -o``, ``outbox pack -o``, ``zone backup -o``, ``media split
--out``, ``diode receive --out`` ...) checks the path here before any work:

- **Never inside a zone's home or package store** (``UsageError`` ``output_in_home``, exit 2): the
  file would replace or sit among a zone's keys, state and packages (``relay -o
  staging/state.db`` destroyed the zone, review relayatk F6), and an output folder's leftovers of
  killed writers are swept (decision 886), which a home's folders must never be. The home (and
  the package store its settings name) of the zone the command runs in, resolved, is checked, and
  so is every folder above the path that is laid out as a zone's home (``zone.json`` and
  ``keys/``, ``zone/homescan.py``) or marked as a package store, whichever zone it is: commands
  like ``media join`` run in no zone.
- **Never over an existing file unless told** (``InputError`` ``file_exists``, exit 1): a file
  already at the path (a regular file or a link) is replaced only when the command was given
  :data:`OVERWRITE_FLAG`; commands whose output may be the only copy of something (a receipt not
  carried yet, decision 460; a backup; an approver's key) offer no such flag and never replace a
  file. A writer that can also commits exclusively, so a file that appeared meanwhile is not
  replaced either (:func:`exists_refusal` words that refusal).

The checks read only: a refusal leaves everything as it was.
"""

from __future__ import annotations

import os
from pathlib import Path

from bundlekit.core.atomic import write_atomic
from bundlekit.core.files import refuse_special
from bundlekit.errors import InputError, UsageError
from bundlekit.zone.home import Zone
from bundlekit.zone.homescan import is_home
from bundlekit.zone.store import MARKER

__all__ = ["OVERWRITE_FLAG", "check_output", "check_output_folder", "refuse_in_home", "exists_refusal", "write_output"]

#: The option that lets a command replace an existing file at its output path.
OVERWRITE_FLAG = "--overwrite"


def _absolute(path: Path) -> Path:
    """``path`` made absolute with its folder resolved (links followed) but its last part kept: an
    atomic writer replaces a link at the path itself, never the link's target."""
    path = Path(os.path.abspath(path.expanduser()))
    try:
        return path.parent.resolve() / path.name if path.name else path.resolve()
    except OSError:
        return path


def _holder(path: Path, zone: Zone | None) -> tuple[str, Path, bool] | None:
    """What ``path`` (absolute) is or lies in: ``("home", folder, mine)`` for a zone's home,
    ``("store", folder, mine)`` for a package store (``mine``: ``zone``'s own); None for neither."""
    own: list[tuple[str, Path]] = []
    if zone is not None:
        own.append(("home", zone.home.resolve()))
        if zone.settings.package_store is not None:
            own.append(("store", Path(zone.settings.package_store).resolve()))
    for folder in (path, *path.parents):
        for kind, place in own:
            if folder == place:
                return kind, place, True
        if is_home(folder):
            return "home", folder, False
        if os.path.isfile(folder / MARKER):
            return "store", folder, False
    return None


def refuse_in_home(path: Path, option: str, zone: Zone | None = None, *, why: str = "") -> None:
    """``UsageError`` ``output_in_home`` when ``path`` (given as ``option``, e.g. ``-o``) is or lies
    inside a zone's home or package store: ``zone``'s, or any laid out as one above it (module
    docstring). ``why``: what else is wrong with writing there, said after the rule."""
    found = _holder(_absolute(path), zone)
    if found is None:
        return
    kind, place, mine = found
    whose = f"zone {zone.name}'s" if mine and zone is not None else "a zone's"
    what = "home" if kind == "home" else "package store"
    raise UsageError(f"{option} {path}: lies inside {whose} {what} {place}, where the zone's keys, state and packages "
                     f"are: bundlekit never writes a command's output there{why} (decision 942). Nothing was "
                     "written. Give a path outside it (best: on the media you carry, or another machine's disk)",
                     code="output_in_home", details={"path": str(path), kind: str(place)})


def check_output(path: Path, option: str, zone: Zone | None = None, *, overwrite: bool = False,
                 flag: str | None = OVERWRITE_FLAG, why: str = "") -> None:
    """Refuse to write a command's output file at ``path`` (given as ``option``) before any work:
    inside a zone's home or package store (``UsageError`` ``output_in_home``, :func:`refuse_in_home`),
    where a folder, FIFO, device or socket is (``InputError`` ``not_a_file``), or where a file or
    link already is (``InputError`` ``file_exists``) unless ``overwrite``; ``flag``
    is the option that sets it (None: the command never replaces a file). Reads only."""
    refuse_in_home(path, option, zone, why=why)
    refuse_special(path)  # a folder, FIFO, device or socket there is never replaced (not_a_file)
    if not overwrite and os.path.lexists(path):
        raise exists_refusal(path, option, flag)


def check_output_folder(folder: Path, option: str, zone: Zone | None = None) -> None:
    """``UsageError`` ``output_in_home`` when the folder a command writes files into (``media split
    --out``, ``diode receive --out``, a diode ``--spool``) is a zone's home or package store, or
    lies in one (:func:`refuse_in_home`). What the folder already holds is the command's own
    affair (volumes of another set, files received before)."""
    refuse_in_home(folder, option, zone)


def exists_refusal(path: Path, option: str, flag: str | None = OVERWRITE_FLAG) -> InputError:
    """The ``file_exists`` refusal for ``path``: something is there and the command was not told to
    replace it (``flag``, the option that would; None when the command never replaces a file)."""
    how = (f"Give a new path, or add {flag} to replace it" if flag is not None else
           "Give a new path, or move that file away first")
    return InputError(f"{option} {path}: a file is already there, and bundlekit never writes over a file it was not "
                      f"told to replace (decision 942). Nothing was written. {how}",
                      code="file_exists", details={"path": str(path)})


def write_output(path: Path, option: str, data: bytes, *, overwrite: bool = False, flag: str | None = OVERWRITE_FLAG,
                 mode: int = 0o644) -> Path:
    """Write ``data`` (a small output: a card, an inventory, a page) at ``path`` atomically, after
    :func:`check_output` passed; committed exclusively unless ``overwrite``, so a file that
    appeared at ``path`` meanwhile is refused (``file_exists``) and left as it is."""
    try:
        return write_atomic(path, data, mode, exclusive=not overwrite, sweep=True)
    except FileExistsError:
        raise exists_refusal(path, option, flag) from None
