"""Delta exports: which package the destination holds to rebuild from, and writing the delta.

A package can travel as a delta when the destination's latest receipt said it reads them with
packed recipes (``delta/2``, format 1.3; a zone that reads only the list recipes of 1.2 gets whole
packages, decision 440) and that it holds another version of the same package id, and this zone has
that version's chunk list: from ``HOME/chunks`` (kept by every earlier delta export), or made
now from the copy in this zone's own package store (where export keeps what the zone
authored), or from an earlier bundle this zone wrote for that destination that still sits where
it was written and carries the version whole (its blob is verified while it is chunked). Decision 201
records why the lists live here and not in receipts.

Among several held versions the one with the highest version (compared part by part,
numbers as numbers) whose list is available is the base. A delta is used only when it ships
less than half of the package; otherwise the package travels whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sized

from bundlekit.core.names import version_order
from bundlekit.errors import BundleError, FormatError
from bundlekit.export.chunking import ChunkList, RangeReader, chunk_pushed, chunk_stream, plan_delta
from bundlekit.format.blobcheck import stream_blob
from bundlekit.format.container import DEFAULT_LIMITS, BlobRecord, BundleFile, BundleWriter
from bundlekit.format.delta import MAX_RECIPE_OPS, BaseRef, DeltaRef
from bundlekit.format.recipe import RECORD
from bundlekit.format.manifest import PackageRef, parse_manifest
from bundlekit.zone import exports
from bundlekit.zone.chunks import ChunkListStore
from bundlekit.zone.home import Zone

__all__ = ["DELTA_FEATURE", "DeltaSource", "write_delta", "recipe_bytes", "MAX_DELTA_SHARE", "RECIPE_ROOM"]

#: The receipt feature that says a zone rebuilds delta packages whose recipes are packed, which is
#: the only form this writer produces (spec/bundle-format.md §5.1, §7).
DELTA_FEATURE = "delta/2"
#: A delta that would ship more than this share of the package is not worth a recipe.
MAX_DELTA_SHARE = 0.5
#: The part of the manifest (whose size a reader limits to 16 MiB) that the recipes of one bundle may
#: take together; beyond it the next changed package travels whole (decision 301).
RECIPE_ROOM = DEFAULT_LIMITS.max_manifest // 2


@dataclass
class DeltaSource:
    """What one export knows for deltas to one destination (empty when it cannot send any)."""

    zone: Zone
    dest_zone_id: str
    held: dict[str, list[tuple[str, str]]]  # package id (lower case) -> [(version, sha256)]
    lists: ChunkListStore

    @classmethod
    def for_destination(cls, zone: Zone, dest_zone_id: str, reported: dict[tuple[str, str], str],
                        enabled: bool) -> "DeltaSource":
        held: dict[str, list[tuple[str, str]]] = {}
        if enabled and DELTA_FEATURE in exports.reported_features(zone.db, dest_zone_id):
            for (pid, version), sha in reported.items():
                held.setdefault(pid, []).append((version, sha))
        return cls(zone, dest_zone_id, held, ChunkListStore(zone.home))

    def base_for(self, package_id: str, version: str) -> tuple[BaseRef, ChunkList] | None:
        """The held version of ``package_id`` to rebuild ``version`` from, with its chunk list."""
        candidates = [(v, sha) for v, sha in self.held.get(package_id.lower(), []) if v != version.lower()]
        for held_version, sha in sorted(candidates, key=lambda c: version_order(c[0]), reverse=True):
            chunks = self.chunk_list(sha)
            if chunks is not None:
                return BaseRef(package_id, held_version, sha, chunks.size), chunks
        return None

    def chunk_list(self, sha256: str) -> ChunkList | None:
        data = self.lists.read(sha256)
        if data is not None:
            found = ChunkList.decode(data)
            if found is not None:
                return found
        made = self._from_own_store(sha256) or self._from_earlier_bundle(sha256)
        if made is not None:
            self.lists.write(sha256, made.encode())
        return made

    def _from_own_store(self, sha256: str) -> ChunkList | None:
        """This zone keeps what it authored in its package store: chunk the base from there."""
        path = self.zone.store.path(sha256)
        try:
            with open(path, "rb") as fh:
                made = chunk_stream(fh, None)
        except FileNotFoundError:
            return None
        return made if made.size == path.stat().st_size else None

    def _from_earlier_bundle(self, sha256: str) -> ChunkList | None:
        for path in exports.bundle_paths(self.zone.db, self.dest_zone_id):
            if not Path(path).is_file():
                continue
            try:
                with BundleFile(path) as bundle:
                    blob = parse_manifest(bundle.manifest_bytes, path).blob_for(sha256)
                    if blob is None:
                        continue
                    return chunk_pushed(_blob_source(bundle, blob, path))
            except BundleError:
                continue  # a damaged or replaced file: try an older one
        return None


def _blob_source(bundle: BundleFile, blob: BlobRecord, where: str) -> Callable[[Callable[[bytes], object]], None]:
    def produce(sink: Callable[[bytes], object]) -> None:
        stream_blob(bundle, blob, sink, where=where)
    return produce


def recipe_bytes(recipe: Sized) -> int:
    """How many bytes a recipe of ``len(recipe)`` operations takes in the manifest, packed: its
    base64 text and the msgpack string header before it."""
    text = 4 * -(-RECORD * len(recipe) // 3)
    return text + (1 if text < 32 else 2 if text < 1 << 8 else 3 if text < 1 << 16 else 5)


def write_delta(writer: BundleWriter, package_id: str, version: str, file_name: str, path: Path, base: BaseRef,
                chunks: ChunkList, lists: ChunkListStore,
                progress: Callable[[int], None] | None = None, *,
                max_ops: int = MAX_RECIPE_OPS, max_bytes: int = RECIPE_ROOM) -> PackageRef | None:
    """Add the delta of the package at ``path`` against ``base`` to ``writer``.

    Returns the package entry, or ``None`` (nothing written) when the delta would not save
    enough, or when its recipe would have more than ``max_ops`` operations or take more than
    ``max_bytes`` of the manifest (a reader refuses a recipe over :data:`MAX_RECIPE_OPS`
    operations and a manifest over its size limit: the package then travels whole). Keeps the
    package's chunk list for the next delta either way. Raises ``FormatError``
    ``input_changed`` when the file changes between the two reads.
    """
    plan = plan_delta(path, chunks, progress)
    lists.write(plan.sha256, plan.chunks.encode())
    if plan.sha256 == base.sha256 or plan.data_size > MAX_DELTA_SHARE * plan.size or not plan.recipe:
        return None
    if len(plan.recipe) > min(max_ops, MAX_RECIPE_OPS) or recipe_bytes(plan.recipe) > max_bytes:
        return None
    data = None
    if plan.data_size:
        with open(path, "rb") as fh:
            blob = writer.add_blob(RangeReader(fh, plan.data_ranges), plan.data_size)  # type: ignore[arg-type]
        if blob.digest != plan.data_sha256:
            raise FormatError(f"{path}: the file changed while it was exported; export again",
                             code="input_changed")
        data = blob.digest
    delta = DeltaRef(base, data, plan.recipe)
    return PackageRef(package_id, version, file_name, plan.size, plan.sha256, included=False, delta=delta)
