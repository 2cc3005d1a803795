"""The zone's worker: where and as whom steps on the zone's own machine run.

Zone-level steps (no roles) and steps on local folder targets never run as the zone's owner
with access to its home (``docs/decisions/143-worker-isolation.md``). The setting, kept in the
zone's state, is one of:

* ``user``: an unprivileged OS user (``bundlekit worker setup`` creates one, or
  ``worker set --user`` names one) that is not the zone's owner and not root;
* ``sandbox``: no separate user; the zone's own user inside bubblewrap with the home hidden;
* ``unconfined``: the operator's explicit choice, said loudly in every deployment's record.

``folder`` is the worker's work folder for zone-level steps, always outside the home
(default: ``<home>.worker`` beside it). With nothing set, a zone uses ``sandbox``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bundlekit.zone.db import Reader
from bundlekit.zone.home import Zone

__all__ = ["WorkerSettings", "get_worker", "set_worker", "default_folder", "MODES"]

MODES = ("user", "sandbox", "unconfined")
_KEY = "worker"


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    mode: str
    folder: str
    user: str | None = None
    python: str | None = None
    configured: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "folder": self.folder, "user": self.user, "python": self.python,
                "configured": self.configured}


def default_folder(zone: Zone) -> Path:
    """``<home>.worker``: beside the home, never inside it."""
    home = zone.home.resolve()
    return home.with_name(home.name + ".worker")


def get_worker(zone: Zone, db: Reader | None = None) -> WorkerSettings:
    """The zone's worker settings (``configured`` False: nothing was set, the default applies)."""
    row = (db or zone.db).one("SELECT value FROM meta WHERE key = ?", (_KEY,))
    if row is None:
        return WorkerSettings("sandbox", str(default_folder(zone)), configured=False)
    data = json.loads(row["value"])
    return WorkerSettings(data["mode"], data["folder"], data.get("user"), data.get("python"))


def set_worker(zone: Zone, settings: WorkerSettings) -> WorkerSettings:
    """Record the worker settings (checked by the caller)."""
    value = json.dumps({"mode": settings.mode, "folder": settings.folder, "user": settings.user,
                        "python": settings.python})
    with zone.db.transaction() as tx:
        tx.run("DELETE FROM meta WHERE key = ?", (_KEY,))
        tx.run("INSERT INTO meta(key, value) VALUES (?, ?)", (_KEY, value))
    return get_worker(zone)
