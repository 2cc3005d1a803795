"""Opening the zone a command works on: the home, then what interrupted processes left.

Every command that opens a zone goes through :func:`open_home`, so a deployment whose process
died (killed, crashed) is closed ``Interrupted`` and queued for its receipt by the next command
that opens the zone, whichever it is (``deploy/recording.py``, decision 370).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bundlekit.cli.common import echo, resolve_home
from bundlekit.errors import StateError

if TYPE_CHECKING:
    from bundlekit.zone.home import Zone

__all__ = ["open_home"]

#: State errors that leave settling to a later command: the command's own work may still be a read.
_LATER = frozenset({"state_read_only", "state_busy"})


def other_installation(home: Path) -> str | None:
    """What to say when ``HOME/self/current`` is an installation other than the one running, which
    can start (after a self-update, the old ``bundlekit`` on the PATH goes on working on the zone:
    new-user review 38, F11); None otherwise. Reads two links and a ``#!`` line; starts nothing."""
    from bundlekit.zone.installations import is_running, runs_from_its_folder, self_installations

    for name, prefix in self_installations(home):
        if name == "current" and not is_running(prefix) and runs_from_its_folder(prefix):
            return (f"this zone's bundlekit is {prefix} (self-update made it current), but this command runs the one "
                    f"in {sys.prefix}: run {prefix / 'bin' / 'bundlekit'}, or put {prefix / 'bin'} first on PATH")
    return None


def open_home(home: str | Path | None, *, name_leftovers: bool = True) -> Zone:
    """The zone at ``home`` (``--home``; None: ``$BUNDLEKIT_HOME``, else the default), its interrupted
    deployments settled; folders a stopped restore left beside it are named on stderr unless
    ``name_leftovers`` is false (``doctor`` names them among its findings, once). Raises what
    :func:`open_zone` and the state raise (``not_a_zone``, ...)."""
    # Imported here, not with the module: commands that never open a zone (`inspect`, `render`,
    # any `--help`) import this module and should not pay for the zone and deploy layers.
    from bundlekit.zone import deployments
    from bundlekit.zone.backup import leftover_message, restore_leftovers
    from bundlekit.zone.home import open_zone

    zone = open_zone(home if isinstance(home, Path) else resolve_home(home))
    for path, marked in restore_leftovers(zone.home) if name_leftovers else ():  # every command (decision 678)
        echo(f"warning: {leftover_message(path, marked, zone.home)}", err=True)
    other = other_installation(zone.home) if name_leftovers else None  # doctor lists it among its findings
    if other is not None:
        echo(f"warning: {other}", err=True)
    try:
        if deployments.executing(zone.db):  # the deploy layer loads only when a deployment may be stuck
            from bundlekit.deploy.recording import settle_interrupted

            settle_interrupted(zone)
    except StateError as err:
        if err.code not in _LATER:
            zone.close()
            raise
    except BaseException:
        zone.close()
        raise
    return zone
