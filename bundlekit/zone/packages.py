"""The package records of a zone: which (id, version) is which SHA-256 in the package store.

A package version is immutable: once recorded, the same id and version with other bytes is
refused by the import plan. The bytes themselves live in ``zone/store.py``.
"""

from __future__ import annotations

from typing import Iterable

from bundlekit.core.clock import EpochSeconds
from bundlekit.format.manifest import PackageRef
from bundlekit.zone.db import Reader, Writer

__all__ = ["recorded_digest", "add_packages", "inventory"]


def recorded_digest(db: Reader, package_id: str, version: str) -> str | None:
    """The SHA-256 recorded for ``package_id`` ``version`` (case-insensitive), or ``None``."""
    value = db.scalar("SELECT sha256 FROM packages WHERE id = ? AND version = ?", (package_id, version))
    return None if value is None else str(value)


def add_packages(tx: Writer, packages: Iterable[PackageRef], now: EpochSeconds) -> None:
    """Record packages not yet known (inside the import's transaction); known ones are left as they are."""
    for p in packages:
        tx.run("INSERT INTO packages(id, version, sha256, size, file, added) VALUES (?,?,?,?,?,?) "
               "ON CONFLICT(id, version) DO NOTHING", (p.id, p.version, p.sha256, p.size, p.file, now))


def inventory(db: Reader) -> list[dict[str, str]]:
    """Every package this zone holds, {id, version, sha256}, ordered by id and version (for receipts)."""
    return [{"id": r["id"], "version": r["version"], "sha256": r["sha256"]}
            for r in db.all("SELECT id, version, sha256 FROM packages ORDER BY id, version")]
