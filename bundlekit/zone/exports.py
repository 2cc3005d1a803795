"""What a source zone sent, and what its destinations reported holding.

``exports`` has one row per release bundle written (the receipt import checks that every
entry answers one of them; the dashboard shows releases awaiting a receipt). ``inventory``
is, per destination zone, the package list its latest receipt reported; later exports
leave out a package the destination already holds with the same bytes. ``zone_features`` is
what the same receipt said the destination can read beyond format 1.1 (``delta/1``, ``delta/2``:
delta packages with list and packed recipes, spec/bundle-format.md §5.1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from bundlekit.core.clock import EpochSeconds
from bundlekit.zone.db import Reader, Row, Writer

__all__ = ["ExportRecord", "record_export", "exported", "export_of", "list_exports", "latest_export_of", "reported_inventory",
           "replace_inventory", "reported_features", "replace_features", "bundle_paths"]


@dataclass(frozen=True, slots=True)
class ExportRecord:
    """One release bundle written: times are Unix seconds, ``path`` the absolute output path."""

    bundle_id: str
    digest: str
    dest_zone_id: str
    dest_name: str
    sequence: int
    project: str
    project_slug: str
    space: str
    release: str
    channel: str
    created: int
    expires: int
    exported_at: int
    path: str


def record_export(tx: Writer, rec: ExportRecord) -> None:
    """Record a written bundle (inside the transaction that allocated its sequence)."""
    tx.run("INSERT INTO exports(bundle_id, digest, dest_zone_id, dest_name, sequence, project, project_slug, space, "
           "release, channel, created, expires, exported_at, path) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
           "ON CONFLICT(bundle_id) DO UPDATE SET digest = excluded.digest, dest_name = excluded.dest_name, "
           "project = excluded.project, project_slug = excluded.project_slug, space = excluded.space, "
           "release = excluded.release, channel = excluded.channel, created = excluded.created, "
           "expires = excluded.expires, exported_at = excluded.exported_at, path = excluded.path",
           (rec.bundle_id, rec.digest, rec.dest_zone_id, rec.dest_name, rec.sequence, rec.project, rec.project_slug,
            rec.space, rec.release, rec.channel, rec.created, rec.expires, rec.exported_at, rec.path))


def exported(db: Reader, bundle_id: str, digest: str, dest_zone_id: str) -> Row | None:
    """The record of the bundle ``bundle_id`` with ``digest`` this zone wrote for ``dest_zone_id``
    (sequence, project, project_slug, space, release), or None when it wrote no such bundle."""
    return db.one("SELECT sequence, project, project_slug, space, release FROM exports "
                  "WHERE bundle_id = ? AND digest = ? AND dest_zone_id = ?", (bundle_id, digest, dest_zone_id))


def export_of(db: Reader, bundle_id: str) -> Row | None:
    """The record of the bundle ``bundle_id`` this zone wrote, whatever its digest: digest,
    dest_name, sequence, project_slug, release, exported_at, path; None when it wrote none.
    Export refuses to write a second bundle under an id it recorded (decision 800)."""
    return db.one("SELECT digest, dest_name, sequence, project_slug, release, exported_at, path FROM exports "
                  "WHERE bundle_id = ?", (bundle_id,))


def list_exports(db: Reader) -> list[Row]:
    """Every export, oldest first: bundle_id, project, project_slug, space, release, dest_zone_id,
    dest_name, exported_at."""
    return db.all("SELECT bundle_id, project, project_slug, space, release, dest_zone_id, dest_name, exported_at "
                  "FROM exports ORDER BY exported_at, sequence")


def latest_export_of(db: Reader, project_slug: str, release: str, dest_zone_id: str) -> Row | None:
    """The newest bundle of one release written for ``dest_zone_id``: bundle_id, digest, sequence,
    exported_at; None when the release was never exported there."""
    return db.one("SELECT bundle_id, digest, sequence, exported_at FROM exports WHERE project_slug = ? AND "
                  "release = ? AND dest_zone_id = ? ORDER BY exported_at DESC, sequence DESC LIMIT 1",
                  (project_slug, release, dest_zone_id))


def reported_inventory(db: Reader, zone_id: str) -> dict[tuple[str, str], str]:
    """What zone ``zone_id``'s receipts said it holds: (id, version), lower case -> sha256."""
    rows = db.all("SELECT id, version, sha256 FROM inventory WHERE zone_id = ?", (zone_id,))
    return {(r["id"].lower(), r["version"].lower()): r["sha256"] for r in rows}


def replace_inventory(tx: Writer, zone_id: str, items: Iterable[Mapping[str, Any]], now: EpochSeconds) -> None:
    """Replace what zone ``zone_id`` holds by ``items`` ({id, version, sha256}) from its latest receipt."""
    tx.run("DELETE FROM inventory WHERE zone_id = ?", (zone_id,))
    for item in items:
        tx.run("INSERT INTO inventory(zone_id, id, version, sha256, reported) VALUES (?,?,?,?,?) "
               "ON CONFLICT(zone_id, id, version) DO UPDATE SET sha256 = excluded.sha256, "
               "reported = excluded.reported", (zone_id, item["id"], item["version"], item["sha256"], now))


def reported_features(db: Reader, zone_id: str) -> frozenset[str]:
    """What zone ``zone_id``'s latest receipt said it can read (``{"delta/1", "delta/2"}``, or empty)."""
    return frozenset(str(r["feature"]) for r in db.all("SELECT feature FROM zone_features WHERE zone_id = ?",
                                                       (zone_id,)))


def replace_features(tx: Writer, zone_id: str, features: Iterable[str], now: EpochSeconds) -> None:
    """Replace what zone ``zone_id`` can read by ``features`` from its latest receipt."""
    tx.run("DELETE FROM zone_features WHERE zone_id = ?", (zone_id,))
    for feature in sorted(set(features)):
        tx.run("INSERT INTO zone_features(zone_id, feature, reported) VALUES (?,?,?)", (zone_id, feature, now))


def bundle_paths(db: Reader, dest_zone_id: str) -> list[str]:
    """Where this zone wrote its bundles for ``dest_zone_id``, newest first (the files may be gone)."""
    return [str(r["path"]) for r in db.all("SELECT path FROM exports WHERE dest_zone_id = ? "
                                           "ORDER BY sequence DESC", (dest_zone_id,))]
