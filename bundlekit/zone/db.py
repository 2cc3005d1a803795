"""The one interface between bundlekit and a zone's state database, whatever the engine.

Every SQL statement bundlekit runs lives in ``bundlekit/zone/`` and goes through the three
types here; workflows and the CLI call the zone's repository modules (``truststore``,
``sequences``, ``exports``, ``projects``, ``packages``, ``targets``, ``deployments``,
``outbox``, ``remote``, ``logs``, ``secrets``, ``rotation``) and never see a connection.

* :class:`Reader` runs queries: :meth:`~Reader.one`, :meth:`~Reader.all`, :meth:`~Reader.scalar`.
* :class:`Writer` is a :class:`Reader` that can also change rows (:meth:`~Writer.run`). The
  only way to get one is :meth:`Database.transaction`, so a function that takes a ``Writer``
  can only run inside its caller's transaction.
* :class:`Database` is one open state database. It is itself a :class:`Reader` for single,
  independent reads; :meth:`~Database.read` gives a consistent snapshot over several reads;
  :meth:`~Database.transaction` is one atomic write.

Rules every backend keeps (``zone/sqlite.py``, ``zone/postgres.py``; ``zone/state.py`` chooses):

* **Writers are serialised.** A write transaction takes the database's write lock when it
  *begins* (SQLite: ``BEGIN IMMEDIATE`` with a busy timeout; PostgreSQL: a transaction-scoped
  advisory lock), so a read-then-write inside one transaction (allocate the next sequence
  number, check then record) can never interleave with another process's.
* **All or nothing.** Leaving the ``with`` block normally commits; any exception rolls back
  and propagates. Transactions do not nest (a programming error, refused at once).
* **Watched writes.** A database may have a :class:`Watcher` (a zone's audit trail,
  ``zone/audit.py``): it sees each write transaction begin (before the write lock is taken),
  runs each changing statement of it, and adds its own rows just before the commit, in the
  same transaction, so a change and the watcher's record of it commit together or not at all.
* **Rows are mappings** from column name to value (``dict``): name the columns, alias
  computed ones (``SELECT COUNT(*) AS n``), never index by position. Blobs come back as
  ``bytes``.

SQL written for this interface stays portable between SQLite (3.35+) and PostgreSQL (12+):
``?`` placeholders only (a backend rewrites them in one place, :meth:`Database.sql`), no
literal ``%`` or ``?`` inside statements, ``INSERT ... ON CONFLICT (...) DO NOTHING | DO
UPDATE SET col = excluded.col`` instead of ``INSERT OR ...``, ``CASE`` instead of
two-argument ``max``/``min``, and no engine-specific functions or pragmas outside a backend
module. Schema text uses the type tokens of ``zone/schema.py``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Callable, Iterator, Sequence, TypeVar

__all__ = ["Row", "Params", "Reader", "Writer", "Session", "Database", "Watcher", "Watch"]

#: One result row: column name -> value.
Row = dict[str, Any]
#: Positional parameters for the ``?`` placeholders of one statement.
Params = Sequence[Any]


class Reader(ABC):
    """Something that answers queries: a database, a read snapshot or a write transaction."""

    @abstractmethod
    def all(self, sql: str, params: Params = ()) -> list[Row]:
        """Every row of ``sql`` (``?`` placeholders bound to ``params``), in the query's order."""

    def one(self, sql: str, params: Params = ()) -> Row | None:
        """The first row of ``sql``, or ``None`` when there is none."""
        rows = self.all(sql, params)
        return rows[0] if rows else None

    def scalar(self, sql: str, params: Params = (), default: Any = None) -> Any:
        """The first column of the first row, or ``default`` when there is no row."""
        row = self.one(sql, params)
        return default if row is None else next(iter(row.values()))

    def rows(self, sql: str, params: Params = (), *, batch: int = 500) -> Iterator[Row]:
        """The rows of ``sql`` one by one, fetched ``batch`` at a time (bounded memory for big tables).

        Consume the iterator before the next statement on the same database."""
        return iter(self.all(sql, params))

    def values(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        """Every row of ``sql`` as the tuple of its values, in the order the query names its
        columns: for a caller that reads tens of thousands of rows and needs no mapping of each
        (a backend may make them without making the mappings first)."""
        return [tuple(row.values()) for row in self.all(sql, params)]


class Writer(Reader):
    """A :class:`Reader` inside an open write transaction; only :meth:`Database.transaction` makes one."""

    @abstractmethod
    def run(self, sql: str, params: Params = ()) -> int:
        """Run one ``INSERT``/``UPDATE``/``DELETE``; returns the number of rows it changed."""

    def run_many(self, sql: str, rows: Sequence[Params]) -> int:
        """Run one statement once per parameter row (a backend may batch them); returns rows changed."""
        return sum(self.run(sql, r) for r in rows)


_S = TypeVar("_S", bound=Reader)


class Watch(ABC):
    """A :class:`Watcher`'s view of one open write transaction."""

    @abstractmethod
    def statement(self, db: "Database", sql: str, params: Params) -> int:
        """Run one changing statement of the transaction on ``db`` (``db._run``); rows changed."""

    @abstractmethod
    def end(self, tx: Writer) -> None:
        """The transaction's body ended normally: add the watcher's rows in ``tx`` (its statements
        are not watched); raising rolls the whole transaction back."""


class Watcher(ABC):
    """Something that sees every write transaction of a database (``Database.watcher``)."""

    @abstractmethod
    def begin(self) -> Watch:
        """A write transaction is about to begin (no lock held yet): what watches it. Raising
        stops the transaction before it begins."""


class Session(Writer):
    """The :class:`Writer` of an open transaction: every statement goes to its database's connection
    (through the transaction's :class:`Watch`, when the database has a watcher)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def all(self, sql: str, params: Params = ()) -> list[Row]:
        return self._db.all(sql, params)

    def rows(self, sql: str, params: Params = (), *, batch: int = 500) -> Iterator[Row]:
        return self._db.rows(sql, params, batch=batch)

    def values(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        return self._db.values(sql, params)

    def run(self, sql: str, params: Params = ()) -> int:
        watch = self._db._watch
        return self._db._run(sql, params) if watch is None else watch.statement(self._db, sql, params)

    def run_many(self, sql: str, rows: Sequence[Params]) -> int:
        if self._db._watch is None:
            return self._db._run_many(sql, rows)
        return sum(self.run(sql, r) for r in rows)


class Database(Reader):
    """One open state database (a SQLite file, or a PostgreSQL database). Not shared between threads.

    ``location`` names it for messages (a path, or a URL without its password).
    """

    location: str

    @abstractmethod
    def _run(self, sql: str, params: Params) -> int:
        """Run one changing statement on the connection (for :class:`Session`); rows changed."""

    def _run_many(self, sql: str, rows: Sequence[Params]) -> int:
        """Run one statement per parameter row (a backend may batch them); rows changed."""
        return sum(self._run(sql, r) for r in rows)

    @abstractmethod
    def _begin_write(self) -> Writer:
        """Start a write transaction holding the database's write lock; return its writer."""

    @abstractmethod
    def _begin_read(self) -> Reader:
        """Start a read-only transaction that sees one consistent snapshot."""

    @abstractmethod
    def _commit(self) -> None:
        """Commit the open transaction."""

    @abstractmethod
    def _rollback(self) -> None:
        """Roll the open transaction back (never raises for a transaction already aborted)."""

    @abstractmethod
    def close(self) -> None:
        """Close the connection; an open transaction is rolled back."""

    @abstractmethod
    def ddl(self, script: str) -> list[str]:
        """The statements of a schema script from ``zone/schema.py``, type tokens replaced."""

    def prepare_schema(self, tx: Writer) -> None:
        """What the backend needs before the first migration runs (inside the migration's transaction)."""

    @abstractmethod
    def table_names(self, db: Reader) -> set[str]:
        """The names of the tables in the database (the schema's and the backend's own)."""

    @abstractmethod
    def claim(self, tx: Writer, name: str) -> bool:
        """Take the claim ``name`` inside a write transaction, for this connection; False if another holds it.

        A claim outlives the transaction that took it (a rolled-back one gives it back) and lasts
        until :meth:`release`, :meth:`close`, or the end of the process that holds it, so a node
        that dies mid-task never leaves it taken. Never waits.
        """

    @abstractmethod
    def held(self, db: Reader, name: str) -> bool:
        """Whether another connection (another process or node) holds the claim ``name`` now; never waits.

        Inside a write transaction the answer holds until it commits: a claim is taken only
        inside one, and write transactions run one at a time.
        """

    @abstractmethod
    def release(self, name: str) -> None:
        """Give back a claim this connection holds (outside a transaction; nothing if not held)."""

    #: True when a claim can end while its process lives on (a connection lost to a server): the
    #: process must then watch its claims (``deploy/keeper.py``, decision 421). SQLite's end only
    #: with their process.
    watchable = False

    def sibling(self) -> "Database":
        """Another connection to the same database, neither created nor migrated (``watchable`` backends)."""
        raise NotImplementedError(f"{self.location}: claims here end only with their process")

    def holder(self) -> str:
        """This connection as a claim holder, for :meth:`holding` asked from another connection."""
        raise NotImplementedError(f"{self.location}: claims here end only with their process")

    def holding(self, db: Reader, holder: str, names: Sequence[str]) -> bool:
        """Whether the connection ``holder`` (:meth:`holder`) holds every claim in ``names`` now; never waits."""
        raise NotImplementedError(f"{self.location}: claims here end only with their process")

    @abstractmethod
    def schema_version(self, db: Reader) -> int:
        """The schema version recorded in the database (0 for an empty one)."""

    @abstractmethod
    def set_schema_version(self, tx: Writer, version: int) -> None:
        """Record ``version`` as the database's schema version (inside the migration's transaction)."""

    def sql(self, statement: str) -> str:
        """``statement`` in the driver's parameter style; SQLite takes ``?`` as it is."""
        return statement

    _in_transaction = False
    #: Sees every write transaction (a zone's audit trail sets it; None: nothing watches).
    watcher: Watcher | None = None
    _watch: Watch | None = None

    def transaction(self) -> AbstractContextManager[Writer]:
        """One atomic state change: commit on normal exit, roll back on any exception.

        Takes the write lock at once, so the checks made inside the block still hold when it
        commits. Raises ``RuntimeError`` if a transaction is already open on this database, and
        what the :attr:`watcher` raises (before the transaction begins, or instead of its commit).
        """
        return self._watched()

    @contextmanager
    def _watched(self) -> Iterator[Writer]:
        if self._in_transaction or self.watcher is None:
            with self._open(self._begin_write) as tx:
                yield tx
            return
        watch = self.watcher.begin()
        with self._open(self._begin_write) as tx:
            self._watch = watch
            try:
                yield tx
            finally:
                self._watch = None
            watch.end(tx)

    def read(self) -> AbstractContextManager[Reader]:
        """Several reads that see one consistent state (no write lock is taken)."""
        return self._open(self._begin_read)

    @contextmanager
    def _open(self, begin: Callable[[], _S]) -> Iterator[_S]:
        if self._in_transaction:
            raise RuntimeError(f"{self.location}: a transaction is already open on this connection; "
                               "transactions do not nest")
        session = begin()
        self._in_transaction = True
        try:
            yield session
        except BaseException:
            self._finish(self._rollback)
            raise
        self._finish(self._commit)

    def _finish(self, end: Callable[[], None]) -> None:
        try:
            end()
        finally:
            self._in_transaction = False

    @property
    def in_transaction(self) -> bool:
        """True between the start and the end of :meth:`transaction` or :meth:`read`."""
        return self._in_transaction
