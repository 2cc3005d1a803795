"""Opening a zone's state database: choosing the engine and bringing the schema up to date.

The embedded default is ``HOME/state.db`` (SQLite, ``zone/sqlite.py``). A home whose
settings name a ``BUNDLEKIT_STATE`` URL (``zone/location.py``) keeps its state in PostgreSQL
(``zone/postgres.py``), shared by every node of the zone. The schema and its migrations
(``zone/schema.py``) are the same for both; this module is the one place that chooses.
"""

from __future__ import annotations

from pathlib import Path

from bundlekit.errors import StateError
from bundlekit.zone.db import Database
from bundlekit.zone.location import StateURL, password_path, read_password, read_settings, settings_path
from bundlekit.zone.schema import SCHEMA_VERSION, migrate
from bundlekit.zone.sqlite import SQLiteDatabase

__all__ = ["open_state", "open_url", "state_path", "SCHEMA_VERSION"]


def state_path(home: Path) -> Path:
    """Where an embedded (SQLite) zone keeps its state."""
    return home / "state.db"


def open_state(home: Path, *, create: bool = False) -> Database:
    """The zone's state database, migrated to the current schema when it is behind.

    Raises ``StateError``: ``not_a_zone`` when there is no state (and ``create`` is false),
    ``state_too_new`` when a newer bundlekit wrote it; for a PostgreSQL state also
    ``state_unreachable``, ``state_read_only`` and ``state_busy`` (``zone/postgres.py``).
    """
    settings = read_settings(home)
    if settings.state is not None:
        return open_url(settings.state, read_password(home), create=create,
                        password_from=str(password_path(home)), url_from=f"BUNDLEKIT_STATE in {settings_path(home)}")
    path = state_path(home)
    if not create and not path.exists():
        raise StateError(f"{path}: no state database; is this a zone home? Create one with "
                         "`bundlekit init --zone NAME --home DIR`", code="not_a_zone")
    return _migrated(SQLiteDatabase(path))


def open_url(url: StateURL, password: str | None, *, create: bool = False, password_from: str | None = None,
             url_from: str = "--state") -> Database:
    """A PostgreSQL state database; an empty one is ``not_a_zone`` unless ``create``. ``password_from``
    and ``url_from`` name where the password and the URL came from, for messages."""
    from bundlekit.zone.postgres import PostgresDatabase  # the driver is loaded only by zones that use it

    db = PostgresDatabase(url, password, password_from=password_from)
    try:
        if not create and db.schema_version(db) == 0:
            raise StateError(f"{url.masked}: the database holds no zone state. Create a zone there with "
                             f"`bundlekit init --zone NAME --home DIR --state URL`, or check the URL ({url_from})",
                             code="not_a_zone")
    except BaseException:
        db.close()
        raise
    return _migrated(db)


def _migrated(db: Database) -> Database:
    try:
        migrate(db)
    except BaseException:
        db.close()
        raise
    return db
