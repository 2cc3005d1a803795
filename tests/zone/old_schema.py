"""A state laid down as an older bundlekit left it, for the migration tests."""

from __future__ import annotations

from bundlekit.zone.db import Database, Writer
from bundlekit.zone.schema import MIGRATIONS


def before_migration(marker: str) -> int:
    """The schema version just before the migration whose SQL contains ``marker``."""
    return next(i for i, script in enumerate(MIGRATIONS) if marker in script)


def lay_schema(db: Database, tx: Writer, version: int) -> None:
    """Create in ``tx`` the schema of ``version`` (its first ``version`` migrations) and record it."""
    db.prepare_schema(tx)
    for script in MIGRATIONS[:version]:
        for statement in db.ddl(script):
            tx.run(statement)
    db.set_schema_version(tx, version)
