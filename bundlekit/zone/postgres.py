"""The PostgreSQL backend of the zone's state database: one database shared by every node of a zone.

Talks to the server through psycopg 3 (decision 180). One connection per open
:class:`PostgresDatabase`; statements run in transactions this module opens itself:

* **Writes** are ``BEGIN ISOLATION LEVEL READ COMMITTED`` followed by
  ``pg_advisory_xact_lock`` on one key for the whole database: writers from every node are
  serialised at their start, and each statement after the lock sees everything committed
  before it (read committed takes a new snapshot per statement; repeatable read would keep
  the snapshot taken while waiting). The lock ends with the transaction, a dead node's with
  its connection. A writer waits at most :data:`LOCK_TIMEOUT` seconds (``state_busy``).
* **Reads** are ``REPEATABLE READ READ ONLY``: one snapshot over several statements.
* **Claims** (:meth:`Database.claim`) are session-level advisory locks on one 64-bit key
  each (the one-key ``bigint`` form, :func:`_claim_key`; never the write lock's key): held
  until released or until the connection ends, so a node that dies mid-task frees them
  without anyone cleaning up (decision 770).

Type tokens: ``{int}`` ``BIGINT``, ``{float}`` ``DOUBLE PRECISION``, ``{bytes}`` ``BYTEA``,
``{nocase}`` ``COLLATE bundlekit_nocase``, a non-deterministic ICU collation at strength 2
(letters compare without case, as SQLite's ``NOCASE`` does for ASCII; PostgreSQL folds every
script's case, a superset). The schema version lives in the table ``bundlekit_schema``.

The password is never part of :attr:`location` or of any message: the URL reaches libpq as
separate parameters (never as a URL libpq would parse and quote), errors from the driver are
turned into ``StateError`` with the URL masked, and a driver message that holds a secret in
any form is withheld whole (:meth:`StateURL.withhold`).
"""

from __future__ import annotations

import functools
import hashlib
import re
from typing import Iterator, NoReturn, Sequence

import psycopg
from psycopg import errors as pg_errors
from psycopg.rows import dict_row

from bundlekit.errors import StateError
from bundlekit.zone.db import Database, Params, Reader, Row, Session, Writer
from bundlekit.zone.location import StateURL, url_refused

__all__ = ["PostgresDatabase", "LOCK_TIMEOUT", "CONNECT_TIMEOUT", "claim_lock"]

#: Seconds a writer waits for another node's write transaction before ``state_busy``.
LOCK_TIMEOUT = 30
#: Seconds to wait for the server to answer a connection attempt.
CONNECT_TIMEOUT = 10

_TYPES = {"int": "BIGINT", "float": "DOUBLE PRECISION", "bytes": "BYTEA", "nocase": "COLLATE bundlekit_nocase"}
_WRITE_LOCK = int.from_bytes(hashlib.sha256(b"bundlekit/state write lock").digest()[:8], "big", signed=True)
_PLACEHOLDER = re.compile(r"\?")
_VERSION_TABLE = "bundlekit_schema"


@functools.cache
def _keywords() -> frozenset[str]:
    """The connection parameters the libpq in use knows."""
    return frozenset(o.keyword.decode() for o in psycopg.pq.Conninfo.get_defaults())


def _claim_key(name: str) -> int:
    """The advisory lock key of the claim ``name``: 64 bits of SHA-256 (a signed ``bigint``).

    64 bits, so two names meet only by a chance of about 2^-64 a pair, and no name can be
    searched for offline to land on another's key (decision 770). Never the write lock's key."""
    key = int.from_bytes(hashlib.sha256(b"bundlekit/claim\0" + name.encode("utf-8")).digest()[:8], "big", signed=True)
    return key ^ 1 if key == _WRITE_LOCK else key


def claim_lock(name: str) -> tuple[int, int]:
    """Where the claim ``name`` shows in ``pg_locks`` (``classid``, ``objid``; ``objsubid`` is 1):
    the high and the low 32 bits of :func:`_claim_key`, unsigned."""
    key = _claim_key(name) & 0xFFFFFFFFFFFFFFFF
    return key >> 32, key & 0xFFFFFFFF


#: The ``pg_locks`` rows of claims (one-key advisory locks in this database), for a WHERE clause.
_CLAIM_LOCKS = ("locktype = 'advisory' AND granted AND objsubid = 1 "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")


class PostgresDatabase(Database):
    """A zone's state in a PostgreSQL database (``url``: where; ``password``: from the home, or None)."""

    def __init__(self, url: StateURL, password: str | None = None, *, password_from: str | None = None) -> None:
        """``password_from`` names where ``password`` came from (a file, an option), for messages."""
        self.url = url
        self.location = url.masked
        self._secret = password
        unknown = sorted({k for k, _ in url.query} - _keywords())
        if unknown:
            # not named: a name the parser cannot know may be the tail of a password that held an '&'
            raise url_refused(url.where, url.setting, "a query parameter is not a connection parameter of libpq "
                              "(check each NAME=VALUE against PostgreSQL's documentation, \"Parameter Key Words\")")
        # The URL's parts go to libpq one by one, never as a URL: libpq parses nothing of it, so
        # no message of its can quote a piece of it (decision 310).
        self._password_from = password_from
        self._conn: psycopg.Connection[Row] | None = None
        self._session = Session(self)
        self._claims_in_tx: list[str] = []
        self._held: set[str] = set()  # claims this connection took and has not given back
        self._cursors = 0
        self._connect()

    def _connect(self) -> None:
        params = {"connect_timeout": str(CONNECT_TIMEOUT), "application_name": "bundlekit",
                  **self.url.parameters(self._secret)}
        try:
            conn = psycopg.connect(autocommit=True, row_factory=dict_row, **params)
        except (psycopg.Error, ValueError, UnicodeError) as error:
            raise StateError(self._connect_message(error, self._secret, self._password_from),
                             code="state_unreachable") from None
        self._conn = conn
        self._backend = int(conn.info.backend_pid)
        self._execute(f"SET lock_timeout = '{LOCK_TIMEOUT}s'")

    def _lost(self) -> bool:
        return self._conn is not None and (self._conn.broken or self._conn.closed)

    @property
    def conn(self) -> psycopg.Connection[Row]:
        if self._conn is None:
            raise RuntimeError(f"{self.location}: the state database is closed")
        return self._conn

    # ------------------------------------------------------------------ statements
    def sql(self, statement: str) -> str:
        return _PLACEHOLDER.sub("%s", statement)

    def _execute(self, sql: str, params: Params = (), *, fresh: bool = False) -> psycopg.Cursor[Row]:
        """Run one statement. ``fresh``: it starts a transaction or stands alone, so a connection
        found lost may be replaced first, unless it held claims: those ended with it, and a new
        connection would hide that (the holder learns it: ``state_unreachable``, ``claims_lost``)."""
        if fresh and self._lost() and not self._held:
            self._reconnect()
        try:
            return self.conn.execute(self.sql(sql), tuple(params) if params else None)  # type: ignore[arg-type]
        except psycopg.Error as error:
            if fresh and not self._held and self._lost():
                self._reconnect()  # the server ended the session since its last statement: once more, anew
                try:
                    return self.conn.execute(self.sql(sql), tuple(params) if params else None)  # type: ignore[arg-type]
                except psycopg.Error as again:
                    self._fail(again)
            self._fail(error)

    def _reconnect(self) -> None:
        old, self._conn = self._conn, None
        if old is not None:
            try:
                old.close()
            except psycopg.Error:
                pass
        self._connect()

    def all(self, sql: str, params: Params = ()) -> list[Row]:
        return list(self._execute(sql, params, fresh=not self.in_transaction).fetchall())

    def _run(self, sql: str, params: Params) -> int:
        return self._execute(sql, params).rowcount

    def _run_many(self, sql: str, rows: Sequence[Params]) -> int:
        if not rows:
            return 0
        try:
            with self.conn.cursor() as cur:
                cur.executemany(self.sql(sql), [tuple(r) for r in rows])
                return cur.rowcount
        except psycopg.Error as error:
            self._fail(error)

    def rows(self, sql: str, params: Params = (), *, batch: int = 500) -> Iterator[Row]:
        if not self.in_transaction:
            yield from self.all(sql, params)
            return
        self._cursors += 1  # a server-side cursor: the rows stay on the server until fetched
        try:
            with self.conn.cursor(name=f"bundlekit_rows_{self._cursors}") as cur:
                cur.itersize = batch
                cur.execute(self.sql(sql), tuple(params) if params else None)  # type: ignore[arg-type]
                while chunk := cur.fetchmany(batch):
                    yield from chunk
        except psycopg.Error as error:
            self._fail(error)

    def _connect_message(self, error: BaseException, password: str | None, password_from: str | None) -> str:
        """Why the connection failed, with the way forward: a password problem is not an unreachable server."""
        detail = self._scrub(error)
        raw = str(error)
        if "no password supplied" in raw:
            return (f"{self.location}: the server asks for a password and none was given ({detail}). Give it with "
                    "--state-password-file FILE (kept in the home's keys/state.password, 0600) or in libpq's "
                    "~/.pgpass or PGPASSFILE; then run the command again")
        if "password authentication failed" in raw or "authentication failed" in raw:
            came = (f"the password from {password_from}" if password is not None and password_from
                    else "the password given" if password is not None
                    else "libpq's ~/.pgpass or PGPASSFILE (no password was given)")
            return (f"{self.location}: the server refused the user's password ({detail}); it came from {came}. "
                    "Fix that password (or the user in the URL); then run the command again")
        stop = "" if detail.endswith((".", "?", "!")) else "."
        return (f"{self.location}: cannot connect to the state database: {detail}{stop} Check that the server is "
                "running and reachable, and the user, database and password; then run the command again")

    def _scrub(self, error: BaseException) -> str:
        """The driver's message on one line, or a notice in its place if it holds a secret."""
        return self.url.withhold(" ".join(str(error).split()), self._secret)

    def _fail(self, error: psycopg.Error) -> NoReturn:
        """Turn a driver error into the state error a person can act on (password never shown)."""
        detail = self._scrub(error)
        if isinstance(error, (pg_errors.ReadOnlySqlTransaction, pg_errors.InsufficientPrivilege)):
            raise StateError(f"{self.location}: the state database refuses to be written ({detail}); nothing "
                             "was changed. Make it writable for this user (or use a primary, not a standby), "
                             "then run the command again", code="state_read_only") from None
        if isinstance(error, pg_errors.LockNotAvailable):
            raise StateError(f"{self.location}: another node held the state's write lock for more than "
                             f"{LOCK_TIMEOUT} s; nothing was changed. Run the command again",
                             code="state_busy") from None
        if isinstance(error, (psycopg.OperationalError, psycopg.InterfaceError)) or self.conn.broken:
            raise StateError(f"{self.location}: lost the connection to the state database ({detail}); the "
                             "transaction did not commit. Run the command again once the server is reachable",
                             code="state_unreachable") from None
        raise StateError(f"{self.location}: the state database refused a statement ({detail})",
                         code="state_query_failed") from None

    # ------------------------------------------------------------------ transactions
    def _begin_write(self) -> Writer:
        self._claims_in_tx = []
        self._execute("BEGIN ISOLATION LEVEL READ COMMITTED", fresh=True)
        self._execute(f"SELECT pg_advisory_xact_lock({_WRITE_LOCK})")
        return self._session

    def _begin_read(self) -> Reader:
        self._claims_in_tx = []
        self._execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", fresh=True)
        return self._session

    def _commit(self) -> None:
        claims, self._claims_in_tx = self._claims_in_tx, []
        self._execute("COMMIT")
        self._held.update(claims)

    def _rollback(self) -> None:
        claims, self._claims_in_tx = self._claims_in_tx, []
        if self._conn is None or self._conn.closed:
            return
        try:
            self._conn.execute("ROLLBACK")
            for name in claims:  # session locks ignore rollback: give back what this transaction took
                self._conn.execute("SELECT pg_advisory_unlock(%s::bigint)", (_claim_key(name),))
        except psycopg.Error:
            pass  # a broken connection: the server ends the transaction and its locks itself

    def close(self) -> None:
        self._held.clear()
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # ------------------------------------------------------------------ keeping claims (decision 421)
    watchable = True

    def sibling(self) -> "PostgresDatabase":
        return PostgresDatabase(self.url, self._secret, password_from=self._password_from)

    def holder(self) -> str:
        return str(self._backend)

    def holding(self, db: Reader, holder: str, names: Sequence[str]) -> bool:
        keys = sorted({claim_lock(n) for n in names})
        found = db.scalar(
            f"SELECT COUNT(DISTINCT (classid, objid)) AS n FROM pg_locks WHERE {_CLAIM_LOCKS} AND pid = ? "
            f"AND ({' OR '.join('(classid::bigint = ? AND objid::bigint = ?)' for _ in keys)})",
            (int(holder), *(part for key in keys for part in key)))
        return int(found or 0) == len(keys)

    # ------------------------------------------------------------------ claims
    def claim(self, tx: Writer, name: str) -> bool:
        got = bool(tx.scalar("SELECT pg_try_advisory_lock(?::bigint) AS got", (_claim_key(name),)))
        if got:
            self._claims_in_tx.append(name)
        return got

    def held(self, db: Reader, name: str) -> bool:
        # The advisory lock's own view (pg_locks) lists every backend's locks of every database;
        # matching our key there is the one way to ask without taking it.
        return bool(db.scalar(
            f"SELECT EXISTS (SELECT 1 FROM pg_locks WHERE {_CLAIM_LOCKS} "
            "AND classid::bigint = ? AND objid::bigint = ? AND pid <> pg_backend_pid()) AS held", claim_lock(name)))

    def release(self, name: str) -> None:
        self._held.discard(name)
        if self._conn is None or self._conn.closed:
            return
        try:
            self._conn.execute("SELECT pg_advisory_unlock(%s::bigint)", (_claim_key(name),))
        except psycopg.Error:
            pass  # a lost connection: the server ended the session, and its claims with it

    # ------------------------------------------------------------------ schema
    def ddl(self, script: str) -> list[str]:
        return [s.strip() for s in script.format_map(_TYPES).split(";") if s.strip()]

    def prepare_schema(self, tx: Writer) -> None:
        tx.run("CREATE COLLATION IF NOT EXISTS bundlekit_nocase "
               "(provider = icu, locale = 'und-u-ks-level2', deterministic = false)")
        tx.run(f"CREATE TABLE IF NOT EXISTS {_VERSION_TABLE} (version BIGINT NOT NULL)")

    def schema_version(self, db: Reader) -> int:
        if db.scalar(f"SELECT to_regclass('{_VERSION_TABLE}') IS NOT NULL AS present") is not True:
            return 0
        return int(db.scalar(f"SELECT MAX(version) AS v FROM {_VERSION_TABLE}", default=0) or 0)

    def set_schema_version(self, tx: Writer, version: int) -> None:
        tx.run(f"DELETE FROM {_VERSION_TABLE}")
        tx.run(f"INSERT INTO {_VERSION_TABLE}(version) VALUES (?)", (int(version),))

    def table_names(self, db: Reader) -> set[str]:
        return {r["name"] for r in db.all("SELECT table_name AS name FROM information_schema.tables "
                                          "WHERE table_schema = current_schema()")}
