"""Moving a zone's state from its SQLite file to PostgreSQL, verified before the home switches.

``bundlekit zone migrate-state --to URL`` (decision 186):

1. **Plan.** The target must hold no zone (an empty database, or one with the schema and
   no zone recorded: its seed rows are replaced), or exactly this zone copied by an earlier
   run that stopped before switching (same row counts and digests: that run is resumed).
   ``--dry-run`` stops here and writes nothing.
2. **Copy.** Under the SQLite write lock (nothing changes the zone while it moves), the
   target's schema is brought to this bundlekit's version and every table of the schema is
   copied in one PostgreSQL transaction, in the order the migrations create them.
3. **Verify.** Inside that transaction, each table's row count and digest are read back from
   PostgreSQL and compared with the SQLite ones; any difference rolls everything back
   (``state_migration_mismatch``).
4. **Switch.** After the commit, the home's ``bundlekit.conf`` names the new state (and its
   password goes to ``keys/state.password``), then ``state.db`` is renamed
   ``state.db.migrated`` and kept as a backup.

A table's digest is SHA-256 over the sorted SHA-256 of each row's canonical encoding
(columns by name; integers, floats, text, bytes and NULL each tagged), so it does not depend
on the order either engine returns rows in, and memory stays at 32 bytes per row.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from bundlekit.core.atomic import fsync_dir
from bundlekit.errors import ConflictError, StateError, UsageError
from bundlekit.zone import deployments
from bundlekit.zone.db import Database, Reader, Row, Writer
from bundlekit.zone.home import Zone
from bundlekit.zone.location import Settings, StateURL, store_password, write_settings
from bundlekit.zone.schema import SCHEMA_VERSION, schema_tables
from bundlekit.zone.state import Found, checked, open_url, state_path, stored_zone

__all__ = ["TableFigures", "MigrationPlan", "migrate_state", "table_figures"]

_BATCH = 500


@dataclass(frozen=True, slots=True)
class TableFigures:
    """One table's row count and digest (see the module docstring)."""

    name: str
    rows: int
    digest: str

    def to_dict(self) -> dict[str, Any]:
        return {"table": self.name, "rows": self.rows, "sha256": self.digest}


@dataclass
class MigrationPlan:
    """What a migration copies (``tables``), where to, and whether it resumes an earlier run."""

    source: str
    target: str
    tables: list[TableFigures] = field(default_factory=list)
    resume: bool = False
    switched: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "target": self.target, "resume": self.resume, "switched": self.switched,
                "tables": [t.to_dict() for t in self.tables], "rows": sum(t.rows for t in self.tables)}


def _value(v: Any) -> Any:
    if isinstance(v, (bytes, bytearray, memoryview)):
        return {"b": bytes(v).hex()}
    if isinstance(v, bool):
        return {"i": str(int(v))}
    if isinstance(v, int):
        return {"i": str(v)}
    if isinstance(v, float):
        return {"f": repr(v)}
    return v


def _row_hash(row: Row) -> bytes:
    canon = json.dumps(sorted((k, _value(v)) for k, v in row.items()), separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canon.encode("utf-8")).digest()


def table_figures(db: Reader, tables: Iterable[str]) -> list[TableFigures]:
    """Row count and digest of each table (streamed: bounded memory whatever the table's size)."""
    out = []
    for name in tables:
        hashes = sorted(_row_hash(r) for r in db.rows(f"SELECT * FROM {name}", batch=_BATCH))
        out.append(TableFigures(name, len(hashes), hashlib.sha256(b"".join(hashes)).hexdigest()))
    return out


def _copy(source: Reader, target: Writer, name: str) -> None:
    batch: list[list[Any]] = []
    columns: list[str] = []
    insert = ""
    for row in source.rows(f"SELECT * FROM {name}", batch=_BATCH):
        if not columns:
            columns = list(row)
            insert = f"INSERT INTO {name}({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
        batch.append([row[c] for c in columns])
        if len(batch) >= _BATCH:
            target.run_many(insert, batch)
            batch = []
    if batch:
        target.run_many(insert, batch)


def _target_state(target: Database, zone: Zone, tables: list[str],
                  figures: list[TableFigures]) -> bool:
    """True to resume (the target already holds this zone's exact copy); raises if it holds anything else."""
    if target.schema_version(target) == 0:
        return False
    found = stored_zone(target)
    if not found.get("zone_id"):
        return False  # the schema alone (its seed rows, or what a failed init left): the copy replaces it
    present = [t for t in tables if t in target.table_names(target)]
    if found["zone_id"] == zone.zone_id and len(present) == len(tables) and table_figures(target, tables) == figures:
        return True
    raise StateError(f"{target.location}: the database already holds zone {found.get('name')!r}"
                     f"{' (another copy of this zone, which differs)' if found['zone_id'] == zone.zone_id else ''}; "
                     "migrate into an empty database", code="state_not_empty")


def migrate_state(zone: Zone, url: StateURL, password: str | None, *, dry_run: bool = False) -> MigrationPlan:
    """Move ``zone``'s SQLite state to the PostgreSQL database ``url``; see the module docstring.

    Raises ``UsageError`` ``usage`` (the state is already in PostgreSQL), ``ConflictError``
    ``deployment_in_progress`` (a deployment is running on this home), ``StateError``
    ``state_not_empty``, ``state_migration_mismatch`` and the target's connection errors. On
    any refusal the home and the target are left as they were.
    """
    if zone.settings.state is not None:
        raise UsageError(f"{zone.home}: the zone's state is already in PostgreSQL ({zone.settings.state}); "
                         "migrate-state moves a SQLite state", code="usage")
    source = zone.db
    plan = MigrationPlan(str(state_path(zone.home)), url.masked)
    with source.transaction() as stx:  # the write lock: nothing changes the zone while it moves
        tables = [t for t in schema_tables() if t in source.table_names(stx)]
        _refuse_running(source, stx)
        plan.tables = table_figures(stx, tables)
        target = (open_url(url, password, create=True, expect=_copy_target(zone, url), url_from="--to",
                           password_from="--state-password-file") if not dry_run else _peek(url, password, zone))
        try:
            plan.resume = _target_state(target, zone, tables, plan.tables)
            if dry_run:
                return plan
            if not plan.resume:
                with target.transaction() as dtx:
                    _target_state(target, zone, tables, plan.tables)  # again, under the target's write lock
                    for name in reversed(tables):  # the schema's seed rows go; the zone's rows replace them
                        dtx.run(f"DELETE FROM {name}")
                    for name in tables:
                        _copy(stx, dtx, name)
                    copied = table_figures(dtx, tables)
                    if copied != plan.tables:
                        bad = [a.name for a, b in zip(plan.tables, copied) if a != b]
                        raise StateError(f"{url.masked}: the copy of {', '.join(bad)} does not match {plan.source} "
                                         "(row counts or digests); nothing was switched and the copy was rolled "
                                         "back", code="state_migration_mismatch")
        finally:
            target.close()
        if password is not None:
            store_password(zone.home, password)
        write_settings(zone.home, Settings(url, zone.settings.package_store))
    zone.close()
    state_path(zone.home).rename(zone.home / "state.db.migrated")  # kept as a backup, never read again
    fsync_dir(zone.home)
    plan.switched = True
    return plan


def _copy_target(zone: Zone, url: StateURL) -> Callable[[Found], None]:
    """The check made before anything is migrated in the target: it holds no zone, or this zone's
    copy at this bundlekit's schema (a run to resume); tables of another program are refused by
    ``open_url`` itself."""
    def check(found: Found) -> None:
        if found.zone_id and (found.zone_id != zone.zone_id or found.version != SCHEMA_VERSION):
            same = " (a copy of this zone by another bundlekit version)" if found.zone_id == zone.zone_id else ""
            raise StateError(f"{url.masked}: the database already holds {found.describe()}{same}; nothing was "
                             "changed in it. Migrate into an empty database", code="state_not_empty")
    return check


def _peek(url: StateURL, password: str | None, zone: Zone) -> Database:
    """The target, connected without creating or migrating anything (for a dry run), and checked
    as a real run would check it before migrating."""
    from bundlekit.zone.postgres import PostgresDatabase

    db = PostgresDatabase(url, password, password_from="--state-password-file")
    try:
        _copy_target(zone, url)(checked(db, url, create=True, url_from="--to"))
    except BaseException:
        db.close()
        raise
    return db


def _refuse_running(db: Database, tx: Writer) -> None:
    """Refuse while a deployment runs (its claim is held); one left ``Executing`` by a crash does not count."""
    for row in tx.all("SELECT id, project_slug, environment FROM deployments WHERE state = 'Executing'"):
        if not db.claim(tx, deployments.slot(row["project_slug"], row["environment"])):
            raise ConflictError(f"{row['id']} is running on this zone; migrate the state when no deployment runs",
                                code="deployment_in_progress")
