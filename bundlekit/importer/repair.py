"""Restoring the package objects of an already-imported bundle that the store lost or damaged.

Importing a bundle the zone already imported changes no state; it is also the way to mend the
package store (decision 315): every package object the bundle names is hash-checked, and each
one missing, unreadable or damaged is written again from the bundle's own verified bytes
(delta packages rebuilt from their base), published atomically over the bad copy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from bundlekit.core.clock import EpochSeconds
from bundlekit.errors import VerificationError
from bundlekit.format.container import BundleFile
from bundlekit.format.manifest import Manifest, PackageRef
from bundlekit.importer.rebuild import rebuild_package
from bundlekit.importer.verify import usable_packages, verifier_for, verify_bundle
from bundlekit.zone.home import Zone
from bundlekit.zone.store import PackageStore, Staging

__all__ = ["damaged_packages", "repair_store"]


def damaged_packages(store: PackageStore, m: Manifest) -> list[PackageRef]:
    """The packages of ``m`` (one per SHA-256, manifest order) whose store object is missing,
    unreadable, or does not hash to its SHA-256."""
    bad: list[PackageRef] = []
    seen: set[str] = set()
    for p in m.packages:
        if p.sha256 in seen:
            continue
        seen.add(p.sha256)
        try:
            store.verify(p.sha256)
        except (OSError, VerificationError):
            bad.append(p)
    return bad


class _RepairStaging(Staging):
    """Staging that takes exactly the ``wanted`` digests, even when the store has a (bad) copy."""

    def __init__(self, store: PackageStore, wanted: set[str]) -> None:
        super().__init__(store)
        self.wanted = wanted

    def sink_for(self, digest: str) -> Callable[[bytes], object] | None:
        if digest not in self.wanted or digest in self._files:
            return None
        out = self._open(self.store.path(digest), f"{digest}.")
        self._files[digest] = out
        return self._writer(out)


def repair_store(zone: Zone, path: Path, m: Manifest, *, now: EpochSeconds,
                 progress: Callable[[int], None] | None = None) -> tuple[list[PackageRef], list[PackageRef]]:
    """Restore from the bundle at ``path`` (already verified and imported, manifest ``m``) every
    package object of it the store lost or damaged. Returns ``(restored, not_carried)``: the
    packages written again, and the bad ones the bundle does not carry (neither included nor a
    delta; they came in an earlier bundle). Raises what verification raises, and ``StateError``
    ``store_write_failed`` when the store refuses the write; the state is never touched."""
    store = zone.store
    bad = damaged_packages(store, m)
    if not bad:
        return [], []
    staging = _RepairStaging(store, {p.sha256 for p in bad})
    try:
        verified = verify_bundle(zone, path, now=now, progress=progress, sink_for=staging.sink_for, rebuild=False)
        deltas = [p for p in bad if p.delta is not None and p.sha256 not in staging._files]
        if deltas:
            usable = usable_packages(zone, verified.source, verifier_for(zone, now).sources)
            with BundleFile(path) as bundle:
                for p in deltas:
                    rebuild_package(bundle, m, p, store, staging.sink_for(p.sha256), str(path), usable)
        restored = set(staging.commit())
    finally:
        staging.cleanup()
    return [p for p in bad if p.sha256 in restored], [p for p in bad if p.sha256 not in restored]
