"""Opening a zone's state database: choosing the engine and bringing the schema up to date.

The embedded default is ``HOME/state.db`` (SQLite, ``zone/sqlite.py``). A home whose
settings name a ``BUNDLEKIT_STATE`` URL (``zone/location.py``) keeps its state in PostgreSQL
(``zone/postgres.py``), shared by every node of the zone. The schema and its migrations
(``zone/schema.py``) are the same for both; this module is the one place that chooses.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from bundlekit.core.hints import home_flag
from bundlekit.errors import StateError
from bundlekit.core.text import shell_word
from bundlekit.zone.db import Database, Reader
from bundlekit.zone.installations import is_running, probe, runs_from_its_folder, self_installations
from bundlekit.zone.location import StateURL, password_path, read_password, read_settings, settings_path
from bundlekit.zone.schema import SCHEMA_VERSION, migrate
from bundlekit.zone.sqlite import SQLiteDatabase

__all__ = ["open_state", "open_url", "stored_schema", "state_path", "stored_zone", "identify", "checked", "Found", "SCHEMA_VERSION"]

#: How many of a foreign database's table names a refusal lists.
_SHOWN = 5


@dataclass(frozen=True, slots=True)
class Found:
    """What a state database holds before anything is migrated: its schema ``version`` (0: none),
    the ``zone`` it records (``{name, zone_id, created}``, empty if none) and, when it has no
    bundlekit schema, the names of the ``others`` tables it holds (another program's data)."""

    version: int
    zone: dict[str, str]
    others: tuple[str, ...]

    @property
    def zone_id(self) -> str | None:
        return self.zone.get("zone_id") or None

    def describe(self) -> str:
        """The database's contents in a few words, for a refusal."""
        if self.zone_id:
            return f"zone {self.zone.get('name')!r} ({self.zone_id})"
        if self.others:
            more = f" and {len(self.others) - _SHOWN} more" if len(self.others) > _SHOWN else ""
            return f"tables that are not bundlekit's ({', '.join(self.others[:_SHOWN])}{more})"
        return "no zone"


def stored_zone(db: Reader) -> dict[str, str]:
    """The zone identity recorded in a state database ({name, zone_id, created}; empty if none)."""
    return {r["key"]: r["value"] for r in db.all("SELECT key, value FROM meta WHERE key IN (?, ?, ?)",
                                                 ("name", "zone_id", "created"))}


def identify(db: Database) -> Found:
    """What ``db`` holds, read without changing anything (one snapshot; no migration runs)."""
    with db.read() as r:
        version = db.schema_version(r)
        tables = db.table_names(r)
        zone = stored_zone(r) if version > 0 and "meta" in tables else {}
    others = () if version > 0 else tuple(sorted(tables))
    return Found(version, zone, others)


def state_path(home: Path) -> Path:
    """Where an embedded (SQLite) zone keeps its state."""
    return home / "state.db"


Expect = Callable[[Found], None]


def open_state(home: Path, *, create: bool = False, expect: Expect | None = None) -> Database:
    """The zone's state database, migrated to the current schema when it is behind.

    ``expect`` (a PostgreSQL state only: a SQLite file is the home's own) is called with what
    the database holds before any migration runs, and refuses by raising: a node pointed at
    another zone's database changes nothing in it. Raises ``StateError``: ``not_a_zone`` when
    there is no state (and ``create`` is false), ``state_too_new`` when a newer bundlekit wrote
    it; for a PostgreSQL state also ``state_unreachable``, ``state_read_only`` and
    ``state_busy`` (``zone/postgres.py``).
    """
    settings = read_settings(home)
    try:
        if settings.state is not None:
            return open_url(settings.state, read_password(home), create=create, expect=expect,
                            password_from=str(password_path(home)),
                            url_from=f"BUNDLEKIT_STATE in {settings_path(home)}")
        path = state_path(home)
        if not create and not path.exists():
            raise StateError(f"{path}: no state database; is this a zone home? Create one with "
                             "`bundlekit init --zone NAME --home DIR`", code="not_a_zone")
        return _migrated(SQLiteDatabase(path))
    except StateError as err:
        if err.code == "state_too_new" and isinstance(err.details, dict):
            raise _too_new(home, err) from None
        raise


def stored_schema(home: Path) -> int:
    """The schema version of ``home``'s state (0: none), read without migrating or writing
    anything. Raises ``StateError`` as opening the state does (``not_a_zone``, and for a
    PostgreSQL state ``state_unreachable``, ...)."""
    settings = read_settings(home)
    db: Database
    if settings.state is not None:
        from bundlekit.zone.postgres import PostgresDatabase  # the driver is loaded only by zones that use it

        db = PostgresDatabase(settings.state, read_password(home), password_from=str(password_path(home)))
    else:
        path = state_path(home)
        if not path.is_file():
            raise StateError(f"{path}: no state database; is this a zone home? Create one with "
                             "`bundlekit init --zone NAME --home DIR`", code="not_a_zone")
        db = SQLiteDatabase(path)
    try:
        return identify(db).version
    finally:
        db.close()


def _too_new(home: Path, err: StateError) -> StateError:
    """``err`` (``state_too_new``), naming the installations in ``HOME/self`` that read the state
    (decision 951): after a ``--rollback`` or with an old command on the path, the newer bundlekit
    is usually right there. One that does not run from its own folder (a moved home) is not named:
    its ``bin/bundlekit`` would not start (decision 953)."""
    version = int(err.details["schema"])
    readers = []
    for name, prefix in self_installations(home):
        if is_running(prefix) or not runs_from_its_folder(prefix):  # its bin/bundlekit would not start (953)
            continue
        answer = probe(prefix)
        if answer.schema is not None and answer.schema >= version:
            readers.append((name, prefix, answer))
    if not readers:
        return StateError(f"{err.message} (the bundlekit that wrote it or a later one; in a zone without a package "
                          f"index, that bundlekit installs itself with `bundlekit self-update BUNDLE{home_flag()}`)",
                          code="state_too_new", details=err.details)
    name, prefix, answer = readers[0]
    run = shell_word(str(prefix / "bin" / "bundlekit"))
    how = (f"`{run} self-update --rollback --home {shell_word(str(home))}` makes it current again"
           if name == "previous" else f"run `{run} ... --home {shell_word(str(home))}`")
    message = err.message.rsplit("; upgrade bundlekit", 1)[0]
    return StateError(f"{message}; {home / 'self' / name} is bundlekit {answer.version}, which reads schema "
                      f"{answer.schema}: use it ({how}). Nothing was changed",
                      code="state_too_new", details={**err.details, "installation": str(prefix)})


def open_url(url: StateURL, password: str | None, *, create: bool = False, expect: Expect | None = None,
             password_from: str | None = None, url_from: str = "--state") -> Database:
    """A PostgreSQL state database, migrated to the current schema when it is behind.

    The database is identified first (:func:`identify`) and nothing is migrated until it passes:
    one that holds tables of another program is refused (``state_not_empty`` when ``create``,
    else ``not_a_zone``), an empty one is ``not_a_zone`` unless ``create``, and ``expect`` (the
    caller's check: the zone it must hold, or none) refuses by raising. A newer schema is
    ``state_too_new``. ``password_from`` and ``url_from`` name where the password and the URL
    came from, for messages."""
    from bundlekit.zone.postgres import PostgresDatabase  # the driver is loaded only by zones that use it

    db = PostgresDatabase(url, password, password_from=password_from)
    try:
        found = checked(db, url, create=create, url_from=url_from)
        if expect is not None:
            expect(found)
    except BaseException:
        db.close()
        raise
    return _migrated(db)


def checked(db: Database, url: StateURL, *, create: bool, url_from: str) -> Found:
    """What ``db`` holds (:func:`identify`), refused when it holds another program's tables
    (``state_not_empty`` when ``create``, else ``not_a_zone``) or, unless ``create``, nothing."""
    found = identify(db)
    if found.others:
        raise StateError(f"{url.masked}: the database holds {found.describe()} and no bundlekit state; nothing "
                         f"was changed in it. Give a database of its own to the zone (check the URL, {url_from})",
                         code="state_not_empty" if create else "not_a_zone")
    if not create and found.version == 0:
        raise StateError(f"{url.masked}: the database holds no zone state. Create a zone there with "
                         f"`bundlekit init --zone NAME --home DIR --state URL`, or check the URL ({url_from})",
                         code="not_a_zone")
    return found


def _migrated(db: Database) -> Database:
    try:
        migrate(db)
    except BaseException:
        db.close()
        raise
    return db
