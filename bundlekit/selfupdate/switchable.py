"""Whether ``self-update`` may switch to an installation (decisions 952, 953 and 974): one that was
removed, or does not run from its own folder (a moved or copied home, or one made through a link
that no longer leads here), is never switched to, kept as a promise, or offered to ``--rollback``.
Only the installation's files are read here; asking it to run is left to ``install``.
"""

from __future__ import annotations

from pathlib import Path

from bundlekit.core.text import terminal_text
from bundlekit.errors import StateError
from bundlekit.selfupdate.wayback import remake_hint
from bundlekit.zone.home import Zone
from bundlekit.zone.installations import is_running, launcher_interpreter, not_from_its_folder

__all__ = ["gone", "check_from_its_folder"]



def gone(root: Path, name: str | None) -> str | None:
    """Why ``--rollback`` could not switch to the installation ``name`` (relative to ``root``, or
    absolute), in words that follow its name ("which ..."), or None: a switch must not promise to
    keep, or offer to switch back to, an installation that was removed or does not run from its
    own folder (atk36 finding 4). Only its files are read (the checks of a rollback that ask it
    to run are left to the rollback)."""
    if name is None:
        return None
    target = root / name
    if is_running(target):
        return None
    return not_from_its_folder(target)


def check_from_its_folder(zone: Zone, root: Path, previous: str, target: Path) -> None:
    """Refuse (``StateError`` ``rollback_missing``) going back to ``target`` when it does not run
    from its own folder (decision 953, the rule of 952 for every switch): a home moved, copied or
    restored elsewhere keeps launchers naming the old folder, so ``HOME/self/current/bin/bundlekit``
    would not start, or would run the other home's installation."""
    why = not_from_its_folder(target)
    if why is None:
        return
    raise StateError(
        f"{root / 'previous'}: names {previous}, which {terminal_text(why)}; after a rollback "
        f"{root / 'current' / 'bin' / 'bundlekit'} would not run this zone's installation. Nothing was changed. Keep "
        f"the current installation, or make that release's installation again here with "
        f"{remake_hint(zone, root, previous)}; an installation that does not run from its own folder is made again in place",
        code="rollback_missing", details={"previous": previous, "runs": launcher_interpreter(target)})
