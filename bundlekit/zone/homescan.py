"""Finding zone homes in, below or above a folder that steps write to (decision 801).

A local target's folder and the worker's folder are shown whole to the steps that run there:
bound read-write into the sandbox, or owned by the worker user. A zone's home below such a
folder, or a home the folder lies in, would show that zone's keys to every step, whichever zone
the home belongs to (its 0600 keys have the same owner as this zone's). ``targets add``,
``worker set`` and ``worker setup`` refuse such a folder, and the deploy preflight looks again
(a home may have been made there since).

A home is recognised as bundlekit lays one out (``zone/home.py``): a folder holding the file
``zone.json`` and the folder ``keys``. The walk below a folder is breadth first, follows no
link (a link leads nowhere inside the sandbox, decision 760) and skips what it may not read; it
stops after ``limit`` entries, so a huge folder never holds a command up: the result then says
how far it looked and the caller warns.
"""

from __future__ import annotations

import os
import stat
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from bundlekit.errors import DeployError, InputError

__all__ = ["SCAN_LIMIT", "HomeScan", "is_home", "scan_for_homes", "homes_text", "refuse_folder_with_home",
           "refuse_step_folders"]

#: How many folder entries a scan looks at, at most, below a folder (decision 801).
SCAN_LIMIT = 20_000


@dataclass(frozen=True, slots=True)
class HomeScan:
    """What :func:`scan_for_homes` found for ``folder``: ``homes`` (absolute paths; the folder
    itself, homes below it, or the home it lies in), ``looked`` (entries read below it) and
    ``complete`` (False: it stopped at the limit, so a home further down may have been missed)."""

    folder: Path
    homes: tuple[Path, ...]
    looked: int
    complete: bool

    def note(self) -> str | None:
        """The warning for an incomplete scan (None when it looked at everything)."""
        if self.complete:
            return None
        return (f"{self.folder}: looked at the first {self.looked} entries of this folder for a bundlekit zone's home "
                "and stopped there (decision 801); steps run there see every file below it, so keep zone homes "
                "out of it")


def is_home(folder: Path) -> bool:
    """Whether ``folder`` is laid out as a zone's home (``zone.json`` and ``keys/``); False when it
    cannot be read."""
    try:
        return stat.S_ISREG(os.stat(folder / "zone.json", follow_symlinks=False).st_mode) and \
            stat.S_ISDIR(os.stat(folder / "keys", follow_symlinks=False).st_mode)
    except OSError:
        return False


def scan_for_homes(folder: Path, *, limit: int | None = None) -> HomeScan:
    """The zone homes a step working in ``folder`` (absolute, resolved) could reach: ``folder``
    itself when it is one, each folder above it that is one, and those below it found within
    ``limit`` entries (None: :data:`SCAN_LIMIT`; breadth first, links not followed). Reads only;
    a folder that does not exist yet holds nothing."""
    limit = SCAN_LIMIT if limit is None else limit
    homes = [p for p in folder.parents if is_home(p)]
    looked = 0
    queue = deque([folder])
    while queue:
        here = queue.popleft()
        if is_home(here):
            homes.append(here)
            continue  # one home is enough to refuse: what is below it is that home's
        try:
            with os.scandir(here) as entries:
                for entry in entries:
                    looked += 1
                    if looked > limit:
                        return HomeScan(folder, tuple(homes), limit, False)
                    if entry.is_dir(follow_symlinks=False):
                        queue.append(Path(entry.path))
        except OSError:
            continue  # missing or unreadable: nothing this process can see there
    return HomeScan(folder, tuple(homes), looked, True)


def homes_text(scan: HomeScan, what: str) -> str | None:
    """Why ``what`` (``--root /srv/web``, ``target 'web-01' (/srv/web)``) cannot be a folder steps
    run in, naming the first home ``scan`` found (and how many more); None when it found none."""
    if not scan.homes:
        return None
    first = scan.homes[0]
    where = ("is the zone home" if first == scan.folder else
             "lies inside the zone home" if first in scan.folder.parents else "holds the zone home")
    more = f" (and {len(scan.homes) - 1} more)" if len(scan.homes) > 1 else ""
    return (f"{what} {where} {first}{more}: steps that run there would see that zone's keys (decision 801). Choose "
            "a folder that holds no zone home and lies in none, or move the home out of it")


def refuse_folder_with_home(folder: Path, what: str, warn: Callable[[str], object] | None = None) -> HomeScan:
    """Refuse ``folder`` (absolute, resolved) as a folder steps write to when a zone home is in,
    below or above it (``InputError`` ``folder_holds_home``, naming ``what`` and the home); when
    the scan stopped at its limit, ``warn`` gets the note saying so. Reads only."""
    scan = scan_for_homes(folder)
    message = homes_text(scan, what)
    if message is not None:
        raise InputError(f"{message}. Nothing was changed.", code="folder_holds_home",
                         details={"folder": str(folder), "homes": [str(h) for h in scan.homes]})
    note = scan.note()
    if note is not None and warn is not None:
        warn(note)
    return scan


def refuse_step_folders(folders: list[tuple[str, Path]]) -> None:
    """The deploy preflight's second look (decision 801): refuse when one of ``folders`` (what it
    is, e.g. ``target 'web-01'``; its path) now is, holds or lies in a zone home, as one made
    there since the folder was chosen (``DeployError`` ``target_holds_home``). A folder too large
    to look through whole is looked at as far as the limit. Reads only."""
    for what, folder in folders:
        folder = folder.resolve()
        scan = scan_for_homes(folder)
        message = homes_text(scan, f"{what} ({folder})")
        if message is not None:
            raise DeployError(f"{message}. Nothing was run.", code="target_holds_home",
                              details={"folder": str(folder), "homes": [str(h) for h in scan.homes]})
