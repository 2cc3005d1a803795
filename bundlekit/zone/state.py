"""Opening a zone's state database: choosing the engine and bringing the schema up to date.

Today the state is ``HOME/state.db`` (SQLite, ``zone/sqlite.py``). Another engine is one
more backend module implementing :class:`bundlekit.zone.db.Database` and one more branch
here; the schema and its migrations (``zone/schema.py``) are shared.
"""

from __future__ import annotations

from pathlib import Path

from bundlekit.errors import StateError
from bundlekit.zone.db import Database
from bundlekit.zone.schema import SCHEMA_VERSION, migrate
from bundlekit.zone.sqlite import SQLiteDatabase

__all__ = ["open_state", "state_path", "SCHEMA_VERSION"]


def state_path(home: Path) -> Path:
    """Where an embedded (SQLite) zone keeps its state."""
    return home / "state.db"


def open_state(home: Path, *, create: bool = False) -> Database:
    """The zone's state database, migrated to the current schema when it is behind.

    Raises ``StateError``: ``not_a_zone`` when there is no state (and ``create`` is false),
    ``state_too_new`` when a newer bundlekit wrote it.
    """
    path = state_path(home)
    if not create and not path.exists():
        raise StateError(f"{path}: no state database; is this a zone home? Create one with "
                         "`bundlekit init --zone NAME --home DIR`", code="not_a_zone")
    db = SQLiteDatabase(path)
    try:
        migrate(db)
    except BaseException:
        db.close()
        raise
    return db
