"""The package records of a zone: which (id, version) is which SHA-256 in the package store,
and which source zone delivered each.

A package version is immutable: once recorded, the same id and version with other bytes is
refused by the import plan. The bytes themselves live in ``zone/store.py``.

Packages belong to who sent them (decision 290): ``package_sources`` records every source zone
that delivered a package, its bytes carried in one of its bundles (included, or rebuilt from a
delta and checked), or listed by reference when that source had delivered those bytes itself.
A release may reference by hash only packages its own source delivered, or a source sharing its
packages with it (``trust/policy.py`` :func:`~bundlekit.trust.policy.package_owners`), and a
receipt's inventory lists only those. The records outlive a prune: they say who delivered the
bytes, not that the zone still holds them.
"""

from __future__ import annotations

from typing import Iterable

from bundlekit.core.clock import EpochSeconds
from bundlekit.format.manifest import PackageRef
from bundlekit.zone.db import Reader, Writer

__all__ = ["recorded_digest", "id_holders", "add_packages", "record_deliveries", "delivered_by", "inventory"]


def recorded_digest(db: Reader, package_id: str, version: str) -> str | None:
    """The SHA-256 recorded for ``package_id`` ``version`` (case-insensitive), or ``None``."""
    value = db.scalar("SELECT sha256 FROM packages WHERE id = ? AND version = ?", (package_id, version))
    return None if value is None else str(value)


def id_holders(db: Reader, package_id: str) -> frozenset[str]:
    """The zone ids of the sources that delivered any version of ``package_id`` (case-insensitive)."""
    return frozenset(str(r["source_zone_id"]) for r in
                     db.all("SELECT DISTINCT source_zone_id FROM package_sources WHERE id = ?", (package_id,)))


def add_packages(tx: Writer, packages: Iterable[PackageRef], now: EpochSeconds) -> None:
    """Record packages not yet known (inside the import's transaction); known ones are left as they are."""
    for p in packages:
        tx.run("INSERT INTO packages(id, version, sha256, size, file, added) VALUES (?,?,?,?,?,?) "
               "ON CONFLICT(id, version) DO NOTHING", (p.id, p.version, p.sha256, p.size, p.file, now))


def record_deliveries(tx: Writer, source_zone_id: str, packages: Iterable[PackageRef], now: EpochSeconds) -> None:
    """Record that zone ``source_zone_id`` delivered ``packages`` (inside the import's transaction)."""
    for p in packages:
        tx.run("INSERT INTO package_sources(id, version, sha256, source_zone_id, added) VALUES (?,?,?,?,?) "
               "ON CONFLICT(id, version, source_zone_id) DO NOTHING", (p.id, p.version, p.sha256, source_zone_id, now))


def _among(zone_ids: Iterable[str]) -> tuple[str, tuple[str, ...]]:
    ids = tuple(sorted(set(zone_ids)))
    return ",".join("?" for _ in ids) or "NULL", ids


def delivered_by(db: Reader, zone_ids: Iterable[str]) -> frozenset[str]:
    """The SHA-256 of every package one of ``zone_ids`` delivered to this zone (held or pruned since)."""
    marks, ids = _among(zone_ids)
    return frozenset(str(r["sha256"]) for r in
                     db.all(f"SELECT DISTINCT sha256 FROM package_sources WHERE source_zone_id IN ({marks})", ids))


def inventory(db: Reader, zone_ids: Iterable[str]) -> list[dict[str, str]]:
    """The packages this zone holds records of that one of ``zone_ids`` delivered, {id, version,
    sha256}, ordered by id and version (a receipt's inventory, for the zones a receipt goes to)."""
    marks, ids = _among(zone_ids)
    rows = db.all("SELECT p.id, p.version, p.sha256 FROM packages p WHERE EXISTS (SELECT 1 FROM package_sources s "
                  "WHERE s.id = p.id AND s.version = p.version AND s.sha256 = p.sha256 AND s.source_zone_id IN "
                  f"({marks})) ORDER BY p.id, p.version", ids)
    return [{"id": r["id"], "version": r["version"], "sha256": r["sha256"]} for r in rows]
