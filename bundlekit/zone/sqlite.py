"""The SQLite backend of the zone's state database (``HOME/state.db``), the embedded default.

Rollback-journal mode with ``synchronous=FULL``: a committed change survives power loss,
and a read never creates files in the home (a refused operation leaves it byte-identical).
Writes are ``BEGIN IMMEDIATE`` ... ``COMMIT``: the write lock is taken when the transaction
begins, other writers wait up to :data:`BUSY_TIMEOUT` seconds. The schema version is
``PRAGMA user_version``.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from bundlekit.zone.db import Database, Params, Reader, Row, Writer

__all__ = ["SQLiteDatabase", "BUSY_TIMEOUT"]

#: Seconds a writer waits for another process's write transaction before giving up.
BUSY_TIMEOUT = 30.0

_TYPES = {"int": "INTEGER", "float": "REAL", "bytes": "BLOB", "nocase": "COLLATE NOCASE"}


def _dict_row(cursor: sqlite3.Cursor, values: tuple[Any, ...]) -> Row:
    return {column[0]: value for column, value in zip(cursor.description, values)}


class _Session(Writer):
    """Statements on the connection of an open transaction."""

    def __init__(self, db: SQLiteDatabase) -> None:
        self._db = db

    def all(self, sql: str, params: Params = ()) -> list[Row]:
        return self._db.all(sql, params)

    def run(self, sql: str, params: Params = ()) -> int:
        return self._db.conn.execute(self._db.sql(sql), tuple(params)).rowcount


class SQLiteDatabase(Database):
    """A zone's state in one SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.location = str(path)
        conn = sqlite3.connect(str(path), isolation_level=None, timeout=BUSY_TIMEOUT)
        conn.row_factory = _dict_row
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = FULL")
        self._conn: sqlite3.Connection | None = conn
        self._session = _Session(self)

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError(f"{self.location}: the state database is closed")
        return self._conn

    def all(self, sql: str, params: Params = ()) -> list[Row]:
        return self.conn.execute(self.sql(sql), tuple(params)).fetchall()

    def _begin_write(self) -> Writer:
        self.conn.execute("BEGIN IMMEDIATE")
        return self._session

    def _begin_read(self) -> Reader:
        self.conn.execute("BEGIN DEFERRED")
        return self._session

    def _commit(self) -> None:
        self.conn.execute("COMMIT")

    def _rollback(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def ddl(self, script: str) -> list[str]:
        return [s.strip() for s in script.format_map(_TYPES).split(";") if s.strip()]

    def schema_version(self, tx: Reader) -> int:
        return int(tx.scalar("PRAGMA user_version"))

    def set_schema_version(self, tx: Writer, version: int) -> None:
        tx.run(f"PRAGMA user_version = {int(version)}")
