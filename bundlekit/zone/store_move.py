"""Moving a zone's package store out of its home into a folder every node mounts (decision 317).

``bundlekit zone migrate-state --package-store DIR``: a zone made with its packages in
``HOME/packages`` gets a shared store, the step before other nodes can ``join``.

1. **Check.** The home's store must be the home's own (not already shared); ``DIR`` must be new
   or empty (``check_new_store``). ``--dry-run`` stops here.
2. **Copy.** Under the state's write lock (no import publishes meanwhile), every object is
   streamed through SHA-256 into ``DIR`` and published atomically (write, fsync, rename); a
   damaged object stops the move (``package_hash_mismatch``) with nothing switched.
3. **Switch.** ``DIR`` is marked as the zone's store, ``bundlekit.conf`` names it
   (``BUNDLEKIT_PACKAGE_STORE``), and ``HOME/packages`` is renamed ``HOME/packages.moved``, kept as
   a backup that is never read again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from bundlekit.core.hints import home_flag
from bundlekit.core.atomic import AtomicFile, fsync_dir
from bundlekit.core.tree import remove_tree
from bundlekit.errors import StateError, UsageError, VerificationError
from bundlekit.zone.home import Zone
from bundlekit.zone.location import Settings, write_settings
from bundlekit.zone.store import CHUNK, check_new_store, mark_store

__all__ = ["StoreMove", "move_packages"]


@dataclass
class StoreMove:
    """What a move did (or would do): object count, total bytes, the two folders."""

    source: str
    target: str
    objects: int = 0
    bytes: int = 0
    switched: bool = False

    def to_dict(self) -> dict[str, object]:
        return {"from": self.source, "to": self.target, "objects": self.objects, "bytes": self.bytes,
                "switched": self.switched}


def _objects(root: Path) -> list[Path]:
    return sorted(p for p in (root / "sha256").glob("*/*") if p.is_file()) if (root / "sha256").is_dir() else []


def _copy(src: Path, dest: Path) -> int:
    digest = hashlib.sha256()
    size = 0
    with open(src, "rb") as fh, AtomicFile(dest, 0o644) as out:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            out.write(chunk)
            size += len(chunk)
        if digest.hexdigest() != src.name:
            raise VerificationError(f"{src}: the package object does not match its SHA-256; nothing was moved. Import "
                                    f"its release's bundle again (`bundlekit import BUNDLE{home_flag()}`) to restore it, then move "
                                    "the store", code="package_hash_mismatch")
    return size


def move_packages(zone: Zone, target: Path, *, dry_run: bool = False) -> StoreMove:
    """Move ``zone``'s packages from its home to the shared folder ``target``; see the module docstring.

    Raises ``UsageError`` ``usage`` (the store is already a shared folder), ``StateError``
    ``store_mismatch`` (``target`` is not new or empty), ``VerificationError``
    ``package_hash_mismatch`` (a damaged object), ``StateError`` ``store_write_failed`` (the
    folder refused a write). On a refusal the home is as it was; ``target`` may hold copies.
    """
    if zone.settings.package_store is not None:
        raise UsageError(f"{zone.home}: the zone's packages are already in {zone.settings.package_store} "
                         "(BUNDLEKIT_PACKAGE_STORE in bundlekit.conf); nothing to move", code="usage")
    target = target.resolve()
    home_store = zone.home / "packages"
    check_new_store(target, "--package-store")
    if target == home_store.resolve() or home_store.resolve() in target.parents or zone.home.resolve() in target.parents:
        raise UsageError(f"--package-store {target} is inside the home {zone.home}; give a folder every node mounts",
                         code="usage")
    plan = StoreMove(str(home_store), str(target))
    if dry_run:
        for obj in _objects(home_store):
            plan.objects += 1
            plan.bytes += obj.stat().st_size
        return plan
    with zone.db.transaction():  # the write lock: no import publishes into the home's store meanwhile
        try:
            target.mkdir(parents=True, exist_ok=True)
            for obj in _objects(home_store):
                dest = target / "sha256" / obj.parent.name / obj.name
                dest.parent.mkdir(parents=True, exist_ok=True)
                plan.bytes += _copy(obj, dest)
                plan.objects += 1
            for folder in {target / "sha256", *(p for p in (target / "sha256").glob("*") if p.is_dir())}:
                if folder.is_dir():
                    fsync_dir(folder)
            mark_store(target, zone.zone_id, zone.name)
        except OSError as error:
            raise StateError(f"{target}: the folder refused a write ({error.strerror or error}); nothing was "
                             "switched. Free space or fix its permissions, empty the folder, then run the command again",
                             code="store_write_failed") from None
        settings = Settings(zone.settings.state, target)
        write_settings(zone.home, settings)
        zone.settings = settings
    if home_store.exists():
        home_store.rename(zone.home / "packages.moved")
    remove_tree(zone.home / "staging", ignore_errors=True)
    fsync_dir(zone.home)
    plan.switched = True
    return plan
