"""The schema of a zone's state, as an ordered list of migrations (one path for every engine).

Migration ``i`` (0-based) takes a database from schema version ``i`` to ``i + 1``. They are
applied in order, all pending ones in one write transaction (PostgreSQL's DDL is
transactional too, so a failed migration leaves the old schema whole), and the version
reached is recorded by the backend (SQLite: ``PRAGMA user_version``; PostgreSQL: the table
``bundlekit_schema``). Nodes sharing a database migrate it once: the first to take the write
lock migrates, the others find it done (decision 182). A database newer than this
bundlekit is refused (``state_too_new``); nothing is ever rewritten in place: a change is a
new migration at the end. A migration whose rows SQL cannot fill the same way on both engines
has a Python step in :data:`FILLS`, run right after its SQL in the same transaction.

Type tokens keep one text for every engine; a backend maps them (``Database.ddl``):
``{int}`` a 64-bit integer, ``{float}`` a double, ``{bytes}`` a byte string, ``{nocase}`` the
collation that compares ASCII letters case-insensitively (names, slugs, versions). ``TEXT``
is text everywhere.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from bundlekit.errors import StateError
from bundlekit.zone import remote
from bundlekit.zone.db import Database, Writer

__all__ = ["MIGRATIONS", "FILLS", "SCHEMA_VERSION", "migrate", "schema_tables"]

_TABLE_DDL = re.compile(r"\b(CREATE|DROP)\s+TABLE\s+(?:IF\s+(?:NOT\s+)?EXISTS\s+)?(\w+)", re.I)

MIGRATIONS: list[str] = [
    # version 1: zone identity, trust store, outgoing sequences, export records
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE trusted_zones (
        zone_id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE {nocase},
        card {bytes} NOT NULL,
        sealing_key {bytes} NOT NULL,
        policy TEXT NOT NULL,
        added {int} NOT NULL
    );
    CREATE TABLE trusted_keys (
        key_id TEXT NOT NULL,
        zone_id TEXT NOT NULL REFERENCES trusted_zones(zone_id) ON DELETE CASCADE,
        public_key {bytes} NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('zone', 'signer')),
        label TEXT NOT NULL,
        added {int} NOT NULL,
        PRIMARY KEY (key_id, zone_id)
    );
    CREATE TABLE revoked_keys (key_id TEXT PRIMARY KEY, revoked {int} NOT NULL, reason TEXT NOT NULL);
    CREATE TABLE outgoing (dest_zone_id TEXT PRIMARY KEY, last_sequence {int} NOT NULL);
    CREATE TABLE exports (
        bundle_id TEXT PRIMARY KEY,
        digest TEXT NOT NULL,
        dest_zone_id TEXT NOT NULL,
        dest_name TEXT NOT NULL,
        sequence {int} NOT NULL,
        project TEXT NOT NULL,
        project_slug TEXT NOT NULL,
        space TEXT NOT NULL,
        release TEXT NOT NULL,
        channel TEXT NOT NULL,
        created {int} NOT NULL,
        expires {int} NOT NULL,
        exported_at {int} NOT NULL,
        path TEXT NOT NULL
    );
    """,
    # version 2: secure-zone import (projects, releases, packages, anti-rollback, secrets at rest, rotation)
    """
    CREATE TABLE incoming (source_zone_id TEXT PRIMARY KEY, last_sequence {int} NOT NULL,
                           last_digest TEXT NOT NULL);
    CREATE TABLE imports (
        digest TEXT PRIMARY KEY,
        bundle_id TEXT NOT NULL,
        source_zone_id TEXT NOT NULL,
        sequence {int} NOT NULL,
        project_slug TEXT NOT NULL,
        release TEXT NOT NULL,
        imported_at {int} NOT NULL,
        plan TEXT NOT NULL
    );
    CREATE TABLE projects (
        slug TEXT PRIMARY KEY {nocase},
        name TEXT NOT NULL {nocase},
        space TEXT NOT NULL,
        source_zone_id TEXT NOT NULL,
        local TEXT NOT NULL,
        base TEXT NOT NULL,
        updated {int} NOT NULL
    );
    CREATE TABLE releases (
        project_slug TEXT NOT NULL {nocase},
        version TEXT NOT NULL {nocase},
        channel TEXT NOT NULL,
        notes TEXT NOT NULL,
        source_zone_id TEXT NOT NULL,
        bundle_id TEXT NOT NULL,
        bundle_digest TEXT NOT NULL,
        sequence {int} NOT NULL,
        content_digest TEXT NOT NULL,
        snapshot TEXT NOT NULL,
        output_refs TEXT NOT NULL,
        imported_at {int} NOT NULL,
        PRIMARY KEY (project_slug, version)
    );
    CREATE TABLE packages (
        id TEXT NOT NULL {nocase},
        version TEXT NOT NULL {nocase},
        sha256 TEXT NOT NULL,
        size {int} NOT NULL,
        file TEXT NOT NULL,
        added {int} NOT NULL,
        PRIMARY KEY (id, version)
    );
    CREATE TABLE secrets (fingerprint TEXT PRIMARY KEY, sealed {bytes} NOT NULL);
    CREATE TABLE rotations (new_key_id TEXT PRIMARY KEY, statement TEXT NOT NULL, issued {int} NOT NULL);
    """,
    # version 3: deployment targets and deployment records
    """
    CREATE TABLE targets (
        name TEXT PRIMARY KEY {nocase},
        environment TEXT NOT NULL {nocase},
        roles TEXT NOT NULL,
        kind TEXT NOT NULL,
        root TEXT NOT NULL,
        added {int} NOT NULL
    );
    CREATE TABLE deployments (
        id TEXT PRIMARY KEY,
        project_slug TEXT NOT NULL {nocase},
        release TEXT NOT NULL,
        environment TEXT NOT NULL,
        source_zone_id TEXT NOT NULL,
        bundle_digest TEXT NOT NULL,
        state TEXT NOT NULL,
        started {float} NOT NULL,
        ended {float},
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
        created {int} NOT NULL,
        packed_in TEXT
    );
    CREATE TABLE receipt_files (
        path TEXT PRIMARY KEY,
        bundle_id TEXT NOT NULL,
        dest_zone_id TEXT NOT NULL,
        sequence {int} NOT NULL,
        deployments TEXT NOT NULL,
        created {int} NOT NULL
    );
    CREATE TABLE logs (digest TEXT PRIMARY KEY, data {bytes} NOT NULL);
    CREATE TABLE remote_deployments (
        source_zone_id TEXT NOT NULL,
        deployment_id TEXT NOT NULL,
        bundle_id TEXT NOT NULL,
        receipt_bundle_id TEXT NOT NULL,
        project_slug TEXT NOT NULL {nocase},
        release TEXT NOT NULL,
        environment TEXT NOT NULL,
        state TEXT NOT NULL,
        started {float} NOT NULL,
        ended {float} NOT NULL,
        entry TEXT NOT NULL,
        received {int} NOT NULL,
        PRIMARY KEY (source_zone_id, deployment_id)
    );
    CREATE TABLE inventory (
        zone_id TEXT NOT NULL,
        id TEXT NOT NULL {nocase},
        version TEXT NOT NULL {nocase},
        sha256 TEXT NOT NULL,
        reported {int} NOT NULL,
        PRIMARY KEY (zone_id, id, version)
    );
    """,
    # version 5: counters allocated inside the transaction that uses them (deployment ids)
    """
    CREATE TABLE counters (name TEXT PRIMARY KEY, value {int} NOT NULL);
    INSERT INTO counters(name, value)
        SELECT 'deployment', COALESCE(MAX(CAST(substr(id, 13) AS {int})), 0) FROM deployments
        WHERE substr(id, 1, 12) = 'Deployments-';
    """,
    # version 6: promotion. Releases keep their lifecycle and release digest (and when their
    # variables were refreshed); deployments name the release digest, tenant and waived phases;
    # evidence of deployments elsewhere, phase waivers, refused imports on both sides; anti-rollback
    # per (source, space, project), seeded from the imports already accepted.
    """
    ALTER TABLE releases ADD COLUMN release_digest TEXT;
    ALTER TABLE releases ADD COLUMN lifecycle TEXT;
    ALTER TABLE releases ADD COLUMN variables_updated {int};
    ALTER TABLE deployments ADD COLUMN release_digest TEXT;
    ALTER TABLE deployments ADD COLUMN tenant TEXT;
    ALTER TABLE deployments ADD COLUMN waived TEXT NOT NULL DEFAULT '[]';
    CREATE TABLE evidence (
        zone_id TEXT NOT NULL,
        deployment_id TEXT NOT NULL,
        zone_name TEXT NOT NULL,
        space TEXT NOT NULL {nocase},
        project_slug TEXT NOT NULL {nocase},
        release TEXT NOT NULL,
        release_digest TEXT NOT NULL,
        environment TEXT NOT NULL,
        tenant TEXT,
        ended {float} NOT NULL,
        kind TEXT NOT NULL,
        proof TEXT NOT NULL,
        recorded {int} NOT NULL,
        PRIMARY KEY (zone_id, deployment_id)
    );
    CREATE TABLE phase_waivers (
        space TEXT NOT NULL {nocase},
        project_slug TEXT NOT NULL {nocase},
        phase TEXT NOT NULL {nocase},
        release TEXT NOT NULL {nocase},
        reason TEXT NOT NULL,
        created {int} NOT NULL,
        PRIMARY KEY (space, project_slug, phase, release)
    );
    CREATE TABLE refusals (
        refusal_id TEXT PRIMARY KEY,
        dest_zone_id TEXT NOT NULL,
        bundle_digest TEXT NOT NULL,
        code TEXT NOT NULL,
        entry TEXT NOT NULL,
        created {int} NOT NULL,
        packed_in TEXT,
        UNIQUE (bundle_digest, code)
    );
    CREATE TABLE remote_refusals (
        source_zone_id TEXT NOT NULL,
        refusal_id TEXT NOT NULL,
        bundle_id TEXT NOT NULL,
        receipt_bundle_id TEXT NOT NULL,
        code TEXT NOT NULL,
        refused {float} NOT NULL,
        entry TEXT NOT NULL,
        received {int} NOT NULL,
        PRIMARY KEY (source_zone_id, refusal_id)
    );
    INSERT INTO incoming(source_zone_id, last_sequence, last_digest)
        SELECT 'release/' || i.source_zone_id || '/' || lower(p.space) || '/' || lower(p.slug), MAX(i.sequence), ''
        FROM imports i JOIN projects p ON p.slug = i.project_slug
        GROUP BY i.source_zone_id, p.space, p.slug;
    """,
    # version 7: what each destination's latest receipt says it can read beyond format 1.1
    """
    CREATE TABLE zone_features (
        zone_id TEXT NOT NULL,
        feature TEXT NOT NULL,
        reported {int} NOT NULL,
        PRIMARY KEY (zone_id, feature)
    );
    """,
    # version 8: retention (a zone default and per-environment policies) and the record of each prune
    """
    CREATE TABLE retention (
        environment TEXT PRIMARY KEY {nocase},
        keep_releases {int},
        keep_days {int},
        auto_prune {int} NOT NULL,
        updated {int} NOT NULL
    );
    CREATE TABLE prune_runs (
        at {int} NOT NULL,
        freed_bytes {int} NOT NULL,
        removed TEXT NOT NULL
    );
    CREATE TABLE pruned_packages (
        id TEXT NOT NULL {nocase},
        version TEXT NOT NULL {nocase},
        sha256 TEXT NOT NULL,
        pruned_at {int} NOT NULL,
        PRIMARY KEY (id, version)
    );
    """,
    # version 9: SSH targets (how to reach a target: user, host, port, pinned host keys, work folder)
    """
    ALTER TABLE targets ADD COLUMN config TEXT NOT NULL DEFAULT '{{}}';
    """,
    # version 10: the zone's private keys that appear after a node joined, wrapped for its nodes
    """
    CREATE TABLE zone_keys (name TEXT PRIMARY KEY, wrapped {bytes} NOT NULL, added {int} NOT NULL);
    """,
    # version 11: which source zone delivered each package (a release may reference only its own
    # source's packages, and a receipt lists only them: decision 290). Packages recorded before
    # belong to the sources of the releases whose snapshot names their SHA-256.
    """
    CREATE TABLE package_sources (
        id TEXT NOT NULL {nocase},
        version TEXT NOT NULL {nocase},
        sha256 TEXT NOT NULL,
        source_zone_id TEXT NOT NULL,
        added {int} NOT NULL,
        PRIMARY KEY (id, version, source_zone_id)
    );
    CREATE INDEX package_sources_by_digest ON package_sources(sha256, source_zone_id);
    INSERT INTO package_sources(id, version, sha256, source_zone_id, added)
        SELECT p.id, p.version, p.sha256, r.source_zone_id, MIN(p.added) FROM packages p
        JOIN releases r ON r.snapshot LIKE '%"sha256": "' || p.sha256 || '"%'
        GROUP BY p.id, p.version, p.sha256, r.source_zone_id;
    """,
    # version 12: the keys that signed each piece of lifecycle evidence, so evidence signed by a
    # key revoked later stops counting (decision 412). Rows recorded before name none.
    """
    ALTER TABLE evidence ADD COLUMN signers TEXT NOT NULL DEFAULT '[]';
    """,
    # version 13: who waived a lifecycle phase (the operating system account that ran `lifecycle
    # waive`; decision 391). Waivers recorded before name nobody.
    """
    ALTER TABLE phase_waivers ADD COLUMN author TEXT;
    """,
    # version 14: the audit trail, one signed entry per committed change, chained (zone/audit.py,
    # spec/audit.md, decision 590); its head is the meta row audit_head; which entries changed
    # which deployment, for the receipts that carry them (decision 591).
    """
    CREATE TABLE audit_entries (seq {int} PRIMARY KEY, body {bytes} NOT NULL, signature {bytes} NOT NULL);
    CREATE TABLE audit_deployments (deployment_id TEXT NOT NULL, seq {int} NOT NULL, PRIMARY KEY (deployment_id, seq));
    """,
    # version 15: spaces (decision 660). A zone holds spaces, Default always; trust rules, projects
    # and targets belong to one (``in_space``; a project's own ``space`` stays what its source wrote).
    # Everything there was before belongs to Default.
    """
    CREATE TABLE spaces (name TEXT PRIMARY KEY {nocase}, added {int} NOT NULL);
    INSERT INTO spaces(name, added) VALUES ('Default', 0);
    ALTER TABLE trusted_zones ADD COLUMN in_space TEXT NOT NULL DEFAULT 'Default' {nocase};
    ALTER TABLE projects ADD COLUMN in_space TEXT NOT NULL DEFAULT 'Default' {nocase};
    ALTER TABLE targets ADD COLUMN in_space TEXT NOT NULL DEFAULT 'Default' {nocase};
    """,
    # version 16: retention policies belong to a space (decision 750): the key becomes (space,
    # environment), and every policy there was is Default's.
    """
    CREATE TABLE retention_rules (
        space TEXT NOT NULL {nocase},
        environment TEXT NOT NULL {nocase},
        keep_releases {int},
        keep_days {int},
        auto_prune {int} NOT NULL,
        updated {int} NOT NULL,
        PRIMARY KEY (space, environment)
    );
    INSERT INTO retention_rules(space, environment, keep_releases, keep_days, auto_prune, updated)
        SELECT 'Default', environment, keep_releases, keep_days, auto_prune, updated FROM retention;
    DROP TABLE retention;
    """,
    # version 17: the few fields of a reported deployment's receipt entry a dashboard's grid shows,
    # in columns of their own (zone/remote.py GRID_COLUMNS, decision 870), so the grid parses no
    # entry; rows recorded before are filled from their entries by remote.fill_grid_columns (FILLS).
    (_GRID_FIELDS := """
    ALTER TABLE remote_deployments ADD COLUMN project_name TEXT NOT NULL DEFAULT '';
    ALTER TABLE remote_deployments ADD COLUMN space TEXT NOT NULL DEFAULT 'Default';
    ALTER TABLE remote_deployments ADD COLUMN tenant TEXT;
    ALTER TABLE remote_deployments ADD COLUMN partial {int} NOT NULL DEFAULT 0;
    ALTER TABLE remote_deployments ADD COLUMN waived TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE remote_deployments ADD COLUMN waivers TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE remote_deployments ADD COLUMN variables_updated {int};
    ALTER TABLE remote_deployments ADD COLUMN sequence {int} NOT NULL DEFAULT 0;
    """),
]

#: Steps in Python that follow a migration's SQL in the same transaction, by that migration's
#: script (so they stay with it whatever its number): data SQL cannot derive the same way on
#: both engines (parsing JSON).
FILLS: dict[str, Callable[[Writer], object]] = {_GRID_FIELDS: remote.fill_grid_columns}


SCHEMA_VERSION = len(MIGRATIONS)


def schema_tables() -> list[str]:
    """The schema's tables in the order the migrations create them (a referenced table first),
    less those a later migration drops."""
    names: list[str] = []
    for script in MIGRATIONS:
        for match in _TABLE_DDL.finditer(script):
            verb, name = match.group(1).upper(), match.group(2).lower()
            if verb == "CREATE" and name not in names:
                names.append(name)
            elif verb == "DROP" and name in names:
                names.remove(name)
    return names


def migrate(db: Database) -> None:
    """Bring ``db`` to :data:`SCHEMA_VERSION`; a database already there is only read.

    Raises ``StateError`` ``state_too_new`` for a database written by a newer bundlekit.
    """
    if _checked_version(db, db.schema_version(db)) == SCHEMA_VERSION:
        return
    with db.transaction() as tx:
        version = _checked_version(db, db.schema_version(tx))  # another process may have migrated it
        if version == 0:
            db.prepare_schema(tx)
        for script in MIGRATIONS[version:]:
            for statement in db.ddl(script):
                tx.run(statement)
            if script in FILLS:
                FILLS[script](tx)
        if version < SCHEMA_VERSION:
            db.set_schema_version(tx, SCHEMA_VERSION)


def _checked_version(db: Database, version: int) -> int:
    if version > SCHEMA_VERSION:
        raise StateError(f"{db.location}: state schema {version} is newer than this bundlekit understands "
                         f"({SCHEMA_VERSION}); upgrade bundlekit", code="state_too_new",
                         details={"schema": version, "understands": SCHEMA_VERSION})
    return version
