"""Rebuilding delta packages (format 1.2) from the package store and a verified bundle.

For each package that travelled as a delta and is not yet in the store, or is there but was
not delivered by the bundle's source (nor a source sharing with it), the base must be a package
that source may use (else ``package_not_shared``, decision 290) and be in the store (else
``delta_base_missing``: the source should export again with ``--full``). ``usable`` is the set of
SHA-256 the source may use (``None`` only without a zone: test vectors). The
recipe is applied in one streaming pass: base ranges are read with ``preadv`` straight into
1 MiB buffers of a small pool (no allocation or copy per piece), the data blob is decompressed
and checked again as it is read (so a file changed since the verification pass is caught too),
each filled buffer is hashed, and handed to ``out`` on a
:class:`~bundlekit.format.blobio.Stage`'s thread, which returns it to the pool (decision 780).
The package's SHA-256 and size must match the signed entry (``rebuilt_package_mismatch``)
before the caller may use what ``out`` got: an import writes to staging, which is discarded on
any refusal.
"""

from __future__ import annotations

import hashlib
import os
import queue
from pathlib import Path
from typing import Callable

from bundlekit.core.selfproject import full_export
from bundlekit.errors import TrustError, VerificationError
from bundlekit.format.blobio import Stage
from bundlekit.format.blobcheck import stream_blob
from bundlekit.format.container import BundleFile
from bundlekit.format.delta import PIECE, Rebuilder
from bundlekit.format.manifest import Manifest, PackageRef
from bundlekit.zone.store import PackageStore

__all__ = ["Usable", "delta_packages", "check_bases", "not_shared", "rebuild_package", "rebuild_all"]


Usable = frozenset[str] | None

#: Buffers of :data:`~bundlekit.format.delta.PIECE` bytes one rebuild fills and recycles (its memory).
POOL = 8


def delta_packages(m: Manifest, store: PackageStore, usable: Usable) -> list[PackageRef]:
    """The delta packages of ``m`` that must be rebuilt: those whose bytes the store does not
    hold, or holds but the source may not use (rebuilding them proves it has them)."""
    return [p for p in m.packages if p.delta is not None
            and not (store.has(p.sha256) and (usable is None or p.sha256 in usable))]


def check_shared(m: Manifest, where: str, usable: Usable) -> None:
    """Refuse (TrustError ``package_not_shared``) a package ``m`` lists by reference (neither
    included nor rebuilt from a base) that its source may not use (not in ``usable``; None: any)."""
    for p in m.packages:
        if not p.included and p.delta is None and usable is not None and p.sha256 not in usable:
            raise TrustError(not_shared(where, f"package {p.id} {p.version} is listed by reference", p.sha256,
                                        m.source.name, _full(m)), code="package_not_shared")


def check_bases(m: Manifest, store: PackageStore, where: str, usable: Usable) -> None:
    """Refuse, before any work, a delta whose base the source may not use
    (``package_not_shared``) or this zone does not hold (``delta_base_missing``), and any
    package the source may use that the zone holds, or base, that the manifest names with
    another size than the zone's copy of its SHA-256 (``package_size_mismatch``: the bundle
    describes bytes this zone does not have). Sizes are compared only for packages the source
    may use, so a refusal never tells a source what another delivered."""
    for p in delta_packages(m, store, usable):
        assert p.delta is not None
        base = p.delta.base
        if usable is not None and base.sha256 not in usable:
            raise TrustError(not_shared(where, f"package {p.id} {p.version} travelled as changes to {base.id} "
                                               f"{base.version}", base.sha256, m.source.name, _full(m)),
                             code="package_not_shared")
        if not store.has(base.sha256):
            raise VerificationError(
                f"{where}: package {p.id} {p.version} travelled as changes to {base.id} {base.version} "
                f"(SHA-256 {base.sha256[:16]}...), which this zone does not hold; ask the source zone to export "
                f"the release again with `{_full(m)}`",
                code="delta_base_missing")
        _check_size(store, base.sha256, base.size, f"{where}: package {p.id} {p.version}: its base "
                                                   f"{base.id} {base.version} (delta.base.size)", _full(m))
    for i, p in enumerate(m.packages):
        if not p.included and (usable is None or p.sha256 in usable) and store.has(p.sha256):
            _check_size(store, p.sha256, p.size, f"{where}: packages[{i}] ({p.id} {p.version}, size)", _full(m))


def _check_size(store: PackageStore, sha256: str, size: int, what: str,
                command: str = "bundlekit export --full") -> None:
    try:
        held = store.path(sha256).stat().st_size
    except FileNotFoundError:
        return  # gone meanwhile: the caller's open says so
    if held != size:
        raise VerificationError(
            f"{what}: the bundle says {size} bytes, but this zone's copy of SHA-256 {sha256[:16]}... has {held}; the "
            "bundle does not describe what this zone holds, so nothing was changed. Ask the source zone for "
            f"`{command}`", code="package_size_mismatch")


def _full(m: Manifest) -> str:
    """The export that sends every package of ``m``'s release whole (export-self's for bundlekit's)."""
    return full_export(str(m.project.get("slug", "")), m.destination.name)


def not_shared(where: str, what: str, sha256: str, source: str, command: str = "bundlekit export --full") -> str:
    """The message of ``package_not_shared``. It says the same whether or not the zone holds the
    bytes from another source: a refusal travels back to the source, which must not learn what
    other sources delivered."""
    return (f"{where}: {what} (SHA-256 {sha256[:16]}...), but zone {source!r} has not delivered a package with "
            "that SHA-256 to this zone, and no zone sharing its packages with it has: a release may use by hash only "
            "packages its own source delivered. Ask zone {source} to export the release with the package's file "
            "(`{command}`); nothing was changed").replace("{source}", source).replace("{command}", command)


def rebuild_package(bundle: BundleFile, m: Manifest, p: PackageRef, store: PackageStore,
                    out: Callable[[bytes], object] | None, where: str, usable: Usable) -> None:
    """Rebuild ``p`` into ``out`` (``None``: only check it); raise unless it hashes to ``p.sha256``."""
    assert p.delta is not None
    at = f"{where}: package {p.id} {p.version}"
    base_path = store.path(p.delta.base.sha256)
    digest = hashlib.sha256()
    try:
        fh = open(base_path, "rb")
    except FileNotFoundError:
        check_bases(m, store, where, usable)
        raise
    pool: queue.Queue[bytearray] = queue.Queue()
    for _ in range(POOL if out is not None else 1):
        pool.put(bytearray(PIECE))
    # Each piece is hashed on this thread as soon as it is filled (reading costs a tenth of
    # hashing, so a hashing thread bought little wall time and cost CPU time handing pieces
    # over), then handed to the writing thread, which gives its buffer back to the pool.
    with fh, Stage(_write_then_give_back(out, pool), name="bundlekit-rebuild-out") as writer:
        fd = fh.fileno()
        hand_on = writer.put if out is not None else pool.put

        def emit(piece: memoryview) -> None:
            digest.update(piece)
            hand_on(piece if out is not None else piece.obj)

        def take() -> bytearray:
            while True:
                try:
                    return pool.get(timeout=0.2)
                except queue.Empty:
                    writer.check()  # a failed writer drops its pieces: do not wait for them

        rebuilder = Rebuilder(p.delta, lambda offset, length: os.pread(fd, length, offset), emit, at,
                              take=take, read_into=lambda offset, view: os.preadv(fd, [view], offset))
        if p.delta.data is not None:
            blob = m.blob_for(p.delta.data)
            assert blob is not None  # the manifest's cross-check guarantees it
            stream_blob(bundle, blob, rebuilder.feed, where=f"{at}: data blob")
        rebuilder.finish()
    if rebuilder.emitted != p.size or digest.hexdigest() != p.sha256:
        raise VerificationError(
            f"{at}: rebuilt from {p.delta.base.id} {p.delta.base.version} it is {rebuilder.emitted} bytes with "
            f"SHA-256 {digest.hexdigest()[:16]}..., the bundle signs {p.size} bytes with {p.sha256[:16]}...; the "
            "base in this zone's package store is damaged or not what the source zone rebuilt from; nothing was "
            f"changed. Ask the source zone for `{_full(m)}`",
            code="rebuilt_package_mismatch")


def rebuild_all(path: Path, digest: str, m: Manifest, store: PackageStore,
                out_for: Callable[[str], Callable[[bytes], object] | None] | None, *, usable: Usable) -> None:
    """Rebuild every delta package of the verified bundle at ``path`` (bundle digest ``digest``,
    manifest ``m``) that must be (:func:`delta_packages`); ``out_for(sha256)`` gives each one's
    sink (``None``: check only)."""
    todo = delta_packages(m, store, usable)
    if not todo:
        return
    where = str(path)
    check_bases(m, store, where, usable)
    with BundleFile(path) as bundle:
        if bundle.digest != digest:
            raise VerificationError(f"{where}: the bundle changed since it was verified", code="blob_hash_mismatch")
        for p in todo:
            rebuild_package(bundle, m, p, store, out_for(p.sha256) if out_for else None, where, usable)


def _write_then_give_back(out: Callable[[memoryview], object] | None,
                          pool: "queue.Queue[bytearray]") -> Callable[[memoryview], None]:
    def step(piece: memoryview) -> None:
        if out is not None:
            out(piece)
        pool.put(piece.obj)  # type: ignore[arg-type]  # a view of a pool buffer
    return step
