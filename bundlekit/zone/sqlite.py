"""The SQLite backend of the zone's state database (``HOME/state.db``), the embedded default.

Rollback-journal mode with ``synchronous=FULL``: a committed change survives power loss,
and a read never creates files in the home (a refused operation leaves it byte-identical).
Writes are ``BEGIN IMMEDIATE`` ... ``COMMIT``: the write lock is taken when the transaction
begins, other writers wait up to :data:`BUSY_TIMEOUT` seconds. The schema version is
``PRAGMA user_version``. SQLite's errors become the state errors the PostgreSQL backend raises
for the same situations (``state_busy``, ``state_read_only``, ``state_unreachable``,
``state_query_failed``), and a file that is not a database, or a damaged one, is
``state_damaged``: never a traceback.

Claims (:meth:`Database.claim`) are rows of ``bundlekit_claims`` naming their holder (host,
process id, the process's start time, the connection); a row whose holder is gone (a process
no longer running, a connection closed) is stale and taken over. A SQLite state serves the
processes of one machine, so every holder can be checked.
"""

from __future__ import annotations

import os
import secrets
import socket
import sqlite3
from pathlib import Path
from typing import Any, Iterator, NoReturn

from bundlekit.errors import StateError
from bundlekit.zone.db import Database, Params, Reader, Row, Session, Writer

__all__ = ["SQLiteDatabase", "BUSY_TIMEOUT"]

#: Seconds a writer waits for another process's write transaction before giving up.
BUSY_TIMEOUT = 30.0

_TYPES = {"int": "INTEGER", "float": "REAL", "bytes": "BLOB", "nocase": "COLLATE NOCASE"}
_CLAIMS = "CREATE TABLE IF NOT EXISTS bundlekit_claims (name TEXT PRIMARY KEY, holder TEXT NOT NULL)"
#: Tokens of the connections open in this process (a claim's holder is alive while its token is here).
_OPEN: set[str] = set()


def _started(pid: int) -> str:
    """When process ``pid`` started (clock ticks since boot, Linux), "" where unknown; raises if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[19].decode()
    except FileNotFoundError:
        raise ProcessLookupError(pid) from None
    except (OSError, IndexError):
        os.kill(pid, 0)
        return ""


def _holder_alive(holder: str) -> bool:
    host, pid, started, token = (holder.split("/") + ["", "", "", ""])[:4]
    if host != socket.gethostname() or not pid.isdigit():
        return True  # cannot tell from here: assume it is working
    if int(pid) == os.getpid():
        return token in _OPEN
    try:
        return _started(int(pid)) == started
    except (ProcessLookupError, PermissionError):
        return False


def _dict_row(cursor: sqlite3.Cursor, values: tuple[Any, ...]) -> Row:
    return {column[0]: value for column, value in zip(cursor.description, values)}


class SQLiteDatabase(Database):
    """A zone's state in one SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.location = str(path)
        try:
            conn = sqlite3.connect(str(path), isolation_level=None, timeout=BUSY_TIMEOUT)
        except sqlite3.Error as error:
            self._fail(error)
        conn.row_factory = _dict_row
        try:
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA synchronous = FULL")
        except sqlite3.Error as error:
            conn.close()
            self._fail(error)
        self._conn: sqlite3.Connection | None = conn
        self._session = Session(self)
        self._token = secrets.token_hex(8)
        _OPEN.add(self._token)

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError(f"{self.location}: the state database is closed")
        return self._conn

    def _execute(self, sql: str, params: Params = ()) -> sqlite3.Cursor:
        try:
            return self.conn.execute(self.sql(sql), tuple(params))
        except sqlite3.Error as error:
            self._fail(error)

    def all(self, sql: str, params: Params = ()) -> list[Row]:
        cur = self._execute(sql, params)
        cur.row_factory = None  # the column names read once per query, not once per row
        try:
            values = cur.fetchall()
        except sqlite3.Error as error:
            self._fail(error)
        names = [column[0] for column in cur.description or ()]
        return [dict(zip(names, v)) for v in values]

    def values(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        cur = self._execute(sql, params)
        cur.row_factory = None
        try:
            return cur.fetchall()
        except sqlite3.Error as error:
            self._fail(error)

    def _run(self, sql: str, params: Params) -> int:
        return self._execute(sql, params).rowcount

    def rows(self, sql: str, params: Params = (), *, batch: int = 500) -> Iterator[Row]:
        cur = self._execute(sql, params)
        try:
            while chunk := cur.fetchmany(batch):
                yield from chunk
        except sqlite3.Error as error:
            self._fail(error)

    def _fail(self, error: sqlite3.Error) -> NoReturn:
        """Turn an SQLite error into the state error a person can act on, as the PostgreSQL
        backend does for its driver's: the same codes for the same situations on both engines."""
        name = getattr(error, "sqlite_errorname", "") or ""
        detail = " ".join(str(error).split())
        if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
            raise StateError(f"{self.location}: another process held the state's write lock for more than "
                             f"{BUSY_TIMEOUT:.0f} s; nothing was changed. Run the command again",
                             code="state_busy") from None
        if name.startswith("SQLITE_READONLY"):
            raise StateError(f"{self.location}: the state database refuses to be written ({detail}); nothing was "
                             "changed. Make the file and its folder writable for this user (and the file system "
                             "read-write), then run the command again", code="state_read_only") from None
        if name.startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT")):
            raise StateError(f"{self.location}: the state database is damaged ({detail}); nothing was changed. "
                             "Restore it from a backup of the home", code="state_damaged") from None
        if name.startswith(("SQLITE_FULL", "SQLITE_IOERR", "SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_AUTH")):
            raise StateError(f"{self.location}: the state database cannot be opened or written ({detail}); the "
                             "transaction did not commit. Free space or fix the file system or permissions, then "
                             "run the command again", code="state_unreachable") from None
        raise StateError(f"{self.location}: the state database refused a statement ({detail})",
                         code="state_query_failed") from None

    def _begin_write(self) -> Writer:
        self._execute("BEGIN IMMEDIATE")
        return self._session

    def _begin_read(self) -> Reader:
        self._execute("BEGIN DEFERRED")
        return self._session

    def _commit(self) -> None:
        try:
            self.conn.execute("COMMIT")
        except sqlite3.Error as error:
            self._rollback()  # a COMMIT that failed (busy, I/O) leaves the transaction open: end it
            self._fail(error)

    def _rollback(self) -> None:
        try:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # the error being raised says what happened; SQLite undoes the journal on next open

    def close(self) -> None:
        _OPEN.discard(self._token)
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @property
    def _holder(self) -> str:
        return f"{socket.gethostname()}/{os.getpid()}/{_started(os.getpid())}/{self._token}"

    def claim(self, tx: Writer, name: str) -> bool:
        tx.run(_CLAIMS)
        holder = tx.scalar("SELECT holder FROM bundlekit_claims WHERE name = ?", (name,))
        if holder is not None and holder != self._holder and _holder_alive(holder):
            return False
        tx.run("INSERT INTO bundlekit_claims(name, holder) VALUES (?, ?) "
               "ON CONFLICT(name) DO UPDATE SET holder = excluded.holder", (name, self._holder))
        return True

    def held(self, db: Reader, name: str) -> bool:
        if db.scalar("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'bundlekit_claims'") is None:
            return False
        holder = db.scalar("SELECT holder FROM bundlekit_claims WHERE name = ?", (name,))
        return holder is not None and holder != self._holder and _holder_alive(holder)

    def release(self, name: str) -> None:
        if self._conn is None:
            return
        try:
            with self.transaction() as tx:
                tx.run(_CLAIMS)
                tx.run("DELETE FROM bundlekit_claims WHERE name = ? AND holder = ?", (name, self._holder))
        except (sqlite3.Error, StateError):
            pass  # the row names this connection: it turns stale when the connection closes

    def table_names(self, db: Reader) -> set[str]:
        return {r["name"] for r in db.all("SELECT name FROM sqlite_master WHERE type = 'table'")}

    def ddl(self, script: str) -> list[str]:
        return [s.strip() for s in script.format_map(_TYPES).split(";") if s.strip()]

    def schema_version(self, tx: Reader) -> int:
        return int(tx.scalar("PRAGMA user_version"))

    def set_schema_version(self, tx: Writer, version: int) -> None:
        tx.run(f"PRAGMA user_version = {int(version)}")


def copy_database(source: Path, dest: Path) -> None:
    """A consistent copy of the SQLite state ``source`` at the new file ``dest``, taken with
    SQLite's online backup API while other processes may write (``state_unreachable`` when
    either file cannot be opened or written)."""
    try:
        src = sqlite3.connect(source.resolve().as_uri() + "?mode=ro", uri=True, timeout=BUSY_TIMEOUT)
        try:
            out = sqlite3.connect(str(dest))
            try:
                src.backup(out)
            finally:
                out.close()
        finally:
            src.close()
    except sqlite3.Error as error:
        raise StateError(f"{source}: cannot copy the zone's state ({error}); nothing was written",
                         code="state_unreachable") from None


def check_database(path: Path) -> tuple[str | None, str | None]:
    """``(problem, zone id)`` of the SQLite file ``path``: problem None when it passes ``PRAGMA
    integrity_check`` (else what it reports, or why it cannot be read), and the zone id its
    ``meta`` table records. Opens the file read-only; changes nothing."""
    try:
        conn = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
        try:
            rows = conn.execute("PRAGMA integrity_check").fetchall()
            found = conn.execute("SELECT value FROM meta WHERE key = 'zone_id'").fetchone()
        finally:
            conn.close()
    except sqlite3.Error as error:
        return str(error), None
    problem = None if rows == [("ok",)] else "; ".join(str(r[0]) for r in rows[:5])
    return problem, (str(found[0]) if found else None)
