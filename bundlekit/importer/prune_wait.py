"""An import waits while ``bundlekit prune`` removes files (it holds the zone's prune claim): a
prune could remove a package the import names (decision 771). Split from ``importer.py``."""

from __future__ import annotations

import time
from typing import Callable

from bundlekit.errors import ConflictError
from bundlekit.zone.home import Zone
from bundlekit.zone.retention import PRUNE_CLAIM

__all__ = ["POLL", "await_prune", "wait_for_prune"]

#: Seconds between two looks at a prune an import waits for.
POLL = 0.25


def _prune_running(zone: Zone) -> ConflictError:
    return ConflictError(
        f"bundlekit prune is removing old releases' files in zone {zone.name} (on this or another node); no "
        "import is applied until it ends, since it could remove a package the import names. Nothing was imported. "
        "Run the import again when it ends, or give --wait SECONDS to queue behind it", code="prune_in_progress")


def wait_for_prune(zone: Zone, deadline: float, on_wait: Callable[[str], None] | None, told: bool) -> bool:
    """Sleep a little while a prune holds the zone's claim; ``prune_in_progress`` at ``deadline``
    (``time.monotonic()`` seconds). ``on_wait`` is told once what the import waits for; returns
    whether it was told."""
    if time.monotonic() >= deadline:
        raise _prune_running(zone)
    if on_wait is not None and not told:
        on_wait(f"bundlekit prune in zone {zone.name}")
    time.sleep(min(POLL, max(0.0, deadline - time.monotonic())))
    return True


def await_prune(zone: Zone, deadline: float, on_wait: Callable[[str], None] | None = None) -> None:
    """Return once no prune holds the zone's prune claim; ``ConflictError`` ``prune_in_progress``
    at ``deadline`` (``time.monotonic()`` seconds). A cheap look before the verification, so an
    import that would only be refused at the end does not read a whole bundle first."""
    told = False
    while True:
        with zone.db.read() as r:
            if not zone.db.held(r, PRUNE_CLAIM):
                return
        told = wait_for_prune(zone, deadline, on_wait, told)
