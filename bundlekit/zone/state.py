"""The zone's SQLite state: schema, migrations and the transaction helper.

Rollback-journal mode with ``synchronous=FULL``: a committed import survives power loss,
and a read never creates files in the home (a refused import leaves it byte-identical).
Every state change is one ``BEGIN IMMEDIATE`` ... ``COMMIT``.
"""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from bundlekit.errors import StateError

__all__ = ["connect", "transaction", "SCHEMA_VERSION"]

SCHEMA = [
    # version 1: zone identity, trust store, outgoing sequences, export records
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE trusted_zones (
        zone_id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE COLLATE NOCASE,
        card BLOB NOT NULL,
        sealing_key BLOB NOT NULL,
        policy TEXT NOT NULL,
        added INTEGER NOT NULL
    );
    CREATE TABLE trusted_keys (
        key_id TEXT NOT NULL,
        zone_id TEXT NOT NULL REFERENCES trusted_zones(zone_id) ON DELETE CASCADE,
        public_key BLOB NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('zone', 'signer')),
        label TEXT NOT NULL,
        added INTEGER NOT NULL,
        PRIMARY KEY (key_id, zone_id)
    );
    CREATE TABLE revoked_keys (key_id TEXT PRIMARY KEY, revoked INTEGER NOT NULL, reason TEXT NOT NULL);
    CREATE TABLE outgoing (dest_zone_id TEXT PRIMARY KEY, last_sequence INTEGER NOT NULL);
    CREATE TABLE exports (
        bundle_id TEXT PRIMARY KEY,
        digest TEXT NOT NULL,
        dest_zone_id TEXT NOT NULL,
        dest_name TEXT NOT NULL,
        sequence INTEGER NOT NULL,
        project TEXT NOT NULL,
        project_slug TEXT NOT NULL,
        space TEXT NOT NULL,
        release TEXT NOT NULL,
        channel TEXT NOT NULL,
        created INTEGER NOT NULL,
        expires INTEGER NOT NULL,
        exported_at INTEGER NOT NULL,
        path TEXT NOT NULL
    );
    """,
    # version 2: secure-zone import (projects, releases, packages, anti-rollback, secrets at rest, rotation)
    """
    CREATE TABLE incoming (source_zone_id TEXT PRIMARY KEY, last_sequence INTEGER NOT NULL,
                           last_digest TEXT NOT NULL);
    CREATE TABLE imports (
        digest TEXT PRIMARY KEY,
        bundle_id TEXT NOT NULL,
        source_zone_id TEXT NOT NULL,
        sequence INTEGER NOT NULL,
        project_slug TEXT NOT NULL,
        release TEXT NOT NULL,
        imported_at INTEGER NOT NULL,
        plan TEXT NOT NULL
    );
    CREATE TABLE projects (
        slug TEXT PRIMARY KEY COLLATE NOCASE,
        name TEXT NOT NULL COLLATE NOCASE,
        space TEXT NOT NULL,
        source_zone_id TEXT NOT NULL,
        local TEXT NOT NULL,
        base TEXT NOT NULL,
        updated INTEGER NOT NULL
    );
    CREATE TABLE releases (
        project_slug TEXT NOT NULL COLLATE NOCASE,
        version TEXT NOT NULL COLLATE NOCASE,
        channel TEXT NOT NULL,
        notes TEXT NOT NULL,
        source_zone_id TEXT NOT NULL,
        bundle_id TEXT NOT NULL,
        bundle_digest TEXT NOT NULL,
        sequence INTEGER NOT NULL,
        content_digest TEXT NOT NULL,
        snapshot TEXT NOT NULL,
        output_refs TEXT NOT NULL,
        imported_at INTEGER NOT NULL,
        PRIMARY KEY (project_slug, version)
    );
    CREATE TABLE packages (
        id TEXT NOT NULL COLLATE NOCASE,
        version TEXT NOT NULL COLLATE NOCASE,
        sha256 TEXT NOT NULL,
        size INTEGER NOT NULL,
        file TEXT NOT NULL,
        added INTEGER NOT NULL,
        PRIMARY KEY (id, version)
    );
    CREATE TABLE secrets (fingerprint TEXT PRIMARY KEY, sealed BLOB NOT NULL);
    CREATE TABLE rotations (new_key_id TEXT PRIMARY KEY, statement TEXT NOT NULL, issued INTEGER NOT NULL);
    """,
    # version 3: deployment targets and deployment records
    """
    CREATE TABLE targets (
        name TEXT PRIMARY KEY COLLATE NOCASE,
        environment TEXT NOT NULL COLLATE NOCASE,
        roles TEXT NOT NULL,
        kind TEXT NOT NULL,
        root TEXT NOT NULL,
        added INTEGER NOT NULL
    );
    CREATE TABLE deployments (
        id TEXT PRIMARY KEY,
        project_slug TEXT NOT NULL COLLATE NOCASE,
        release TEXT NOT NULL,
        environment TEXT NOT NULL,
        source_zone_id TEXT NOT NULL,
        bundle_digest TEXT NOT NULL,
        state TEXT NOT NULL,
        started REAL NOT NULL,
        ended REAL,
        record TEXT NOT NULL,
        outputs TEXT NOT NULL
    );
    """,
    # version 4: receipts (outbox on the secure side, received deployments on the source side)
    """
    CREATE TABLE outbox (
        deployment_id TEXT PRIMARY KEY,
        dest_zone_id TEXT NOT NULL,
        entry TEXT NOT NULL,
        created INTEGER NOT NULL,
        packed_in TEXT
    );
    CREATE TABLE receipt_files (
        path TEXT PRIMARY KEY,
        bundle_id TEXT NOT NULL,
        dest_zone_id TEXT NOT NULL,
        sequence INTEGER NOT NULL,
        deployments TEXT NOT NULL,
        created INTEGER NOT NULL
    );
    CREATE TABLE logs (digest TEXT PRIMARY KEY, data BLOB NOT NULL);
    CREATE TABLE remote_deployments (
        source_zone_id TEXT NOT NULL,
        deployment_id TEXT NOT NULL,
        bundle_id TEXT NOT NULL,
        receipt_bundle_id TEXT NOT NULL,
        project_slug TEXT NOT NULL COLLATE NOCASE,
        release TEXT NOT NULL,
        environment TEXT NOT NULL,
        state TEXT NOT NULL,
        started REAL NOT NULL,
        ended REAL NOT NULL,
        entry TEXT NOT NULL,
        received INTEGER NOT NULL,
        PRIMARY KEY (source_zone_id, deployment_id)
    );
    CREATE TABLE inventory (
        zone_id TEXT NOT NULL,
        id TEXT NOT NULL COLLATE NOCASE,
        version TEXT NOT NULL COLLATE NOCASE,
        sha256 TEXT NOT NULL,
        reported INTEGER NOT NULL,
        PRIMARY KEY (zone_id, id, version)
    );
    """,
]
SCHEMA_VERSION = len(SCHEMA)


def connect(path: Path, *, create: bool = False) -> sqlite3.Connection:
    """Open the state database, migrating it to the current schema when writable."""
    if not create and not path.exists():
        raise StateError(f"{path}: no state database; is this a zone home? Create one with "
                         "`bundlekit init --zone NAME --home DIR`", code="not_a_zone")
    conn = sqlite3.connect(str(path), isolation_level=None, timeout=30)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA synchronous = FULL")
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        conn.close()
        raise StateError(f"{path}: state schema {version} is newer than this bundlekit understands "
                         f"({SCHEMA_VERSION}); upgrade bundlekit", code="state_too_new")
    if version < SCHEMA_VERSION:
        with transaction(conn):
            for i in range(version, SCHEMA_VERSION):
                for stmt in _statements(SCHEMA[i]):
                    conn.execute(stmt)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    return conn


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One atomic state change: ``BEGIN IMMEDIATE`` ... ``COMMIT`` (rollback on any error)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    else:
        conn.execute("COMMIT")
