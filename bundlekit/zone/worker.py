"""The zone's worker: where and as whom steps on the zone's own machine run.

Zone-level steps (no roles) and steps on local folder targets never run as the zone's owner
with access to its home (``docs/decisions/143-worker-isolation.md``). The setting, kept in the
zone's state, is one of:

* ``user``: an unprivileged OS user (``bundlekit worker setup`` creates one, or
  ``worker set --user`` names one) that is not the zone's owner and not root;
* ``sandbox``: no separate user; the zone's own user inside bubblewrap, shown only the system, the
  interpreter and its own folder (decision 760);
* ``unconfined``: the operator's explicit choice, said loudly in every deployment's record.

``folder`` is the worker's work folder for zone-level steps, always outside the home
(default: ``<home>.worker`` beside it). With nothing set, a zone uses ``sandbox``.

The setting belongs to the node (the machine), not to the zone: it lives in ``HOME/worker.json``
(0600), so a zone of several nodes on one PostgreSQL state keeps one setting per machine
(decision 314). A home that only has the older zone-wide value (``meta.worker`` in the state)
keeps using it, reported with ``source`` ``"zone state (before per-node settings)"``, until
``worker set``/``worker setup`` on that node writes its own file; the shared value is never written again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bundlekit.core.atomic import write_atomic
from bundlekit.zone.db import Reader
from bundlekit.zone.home import Zone

__all__ = ["WorkerSettings", "get_worker", "set_worker", "default_folder", "node_file", "MODES"]

MODES = ("user", "sandbox", "unconfined")
_KEY = "worker"
NODE_FILE = "worker.json"
SOURCE_NODE = "this node"
SOURCE_LEGACY = "zone state (before per-node settings)"
SOURCE_DEFAULT = "default"


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    mode: str
    folder: str
    user: str | None = None
    python: str | None = None
    configured: bool = True
    source: str = SOURCE_NODE

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "folder": self.folder, "user": self.user, "python": self.python,
                "configured": self.configured, "source": self.source}


def node_file(zone: Zone) -> Path:
    """``HOME/worker.json``: this node's worker settings."""
    return zone.home / NODE_FILE


def default_folder(zone: Zone) -> Path:
    """``<home>.worker``: beside the home, never inside it."""
    home = zone.home.resolve()
    return home.with_name(home.name + ".worker")


def _settings(data: dict[str, Any], source: str) -> WorkerSettings:
    return WorkerSettings(data["mode"], data["folder"], data.get("user"), data.get("python"), source=source)


def get_worker(zone: Zone, db: Reader | None = None) -> WorkerSettings:
    """This node's worker settings: ``HOME/worker.json``, else the zone-wide value an older bundlekit
    kept in the state, else the default (``configured`` False)."""
    path = node_file(zone)
    if path.is_file():
        return _settings(json.loads(path.read_text(encoding="utf-8")), SOURCE_NODE)
    row = (db or zone.db).one("SELECT value FROM meta WHERE key = ?", (_KEY,))
    if row is None:
        return WorkerSettings("sandbox", str(default_folder(zone)), configured=False, source=SOURCE_DEFAULT)
    return _settings(json.loads(row["value"]), SOURCE_LEGACY)


def set_worker(zone: Zone, settings: WorkerSettings) -> WorkerSettings:
    """Record this node's worker settings (checked by the caller) in ``HOME/worker.json`` (0600)."""
    value = json.dumps({"mode": settings.mode, "folder": settings.folder, "user": settings.user,
                        "python": settings.python}, indent=1) + "\n"
    write_atomic(node_file(zone), value.encode("utf-8"), mode=0o600)
    return get_worker(zone)
