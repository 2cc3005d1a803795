"""Volume files and what a set of them rebuilds, read from the volumes themselves.

A stick may hold an old set beside a new one; to let the operator choose, each set is
described by the bundle it rebuilds (kind, project, version, created, bundle digest), read
unverified from the bundle's header and manifest inside its data volumes. Decision 193.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bundlekit.core.clock import utc_text
from bundlekit.errors import BundleError
from bundlekit.format.container import DEFAULT_LIMITS
from bundlekit.format.container import HEADER_SIZE as BUNDLE_HEADER_SIZE
from bundlekit.format.container import Header as BundleHeader
from bundlekit.format.manifest import parse_manifest
from bundlekit.transport.volume import HEADER_SIZE, VolumeHeader, data_payload_length

__all__ = ["VolumeFile", "BundleSeen", "read_bundle_range", "about_set"]


@dataclass(slots=True, frozen=True)
class VolumeFile:
    """A file that starts with the volume magic; ``header`` is None when the header is unreadable."""

    path: Path
    header: VolumeHeader | None
    problem: str | None = None


@dataclass(slots=True, frozen=True)
class BundleSeen:
    """One set of volumes found: the file it rebuilds and, when its volumes hold them, what the
    bundle says about itself (``about``: kind, project, version, created, digest; unverified)."""

    name: str
    sha256: str
    size: int
    volumes: int
    needed: int = 0
    about: dict[str, Any] | None = None

    @property
    def complete(self) -> bool:
        return self.volumes >= self.needed

    def describe(self) -> str:
        """``acme.bundle: acme-web 1.4.0 created 2026-11-26 14:03:07Z, SHA-256 ab12... (3 found, 3 needed)``:
        volumes found (data and parity) and the data volumes needed to rebuild it."""
        a = self.about or {}
        if a.get("kind") == "release":
            what = f"{a.get('project')} {a.get('version')} created {utc_text(a['created'])}"
        elif a.get("kind"):
            what = f"{a['kind']} bundle created {utc_text(a['created'])}"
        else:
            what = "contents unknown (not a bundle, or the volume holding its manifest is missing)"
        return (f"{self.name}: {what}, sha256 {self.sha256[:16]}... ({self.volumes} found, {self.needed} "
                f"needed{'' if self.complete else ', incomplete'})")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "sha256": self.sha256, "size": self.size, "volumes_found": self.volumes,
                "volumes_needed": self.needed, "complete": self.complete, "about": self.about}


def read_bundle_range(vols: Sequence[VolumeFile], offset: int, length: int) -> bytes | None:
    """Bytes ``offset .. offset+length`` of the bundle, read from its data volumes; None if a
    volume that holds them is missing or short."""
    h = vols[0].header
    assert h is not None
    by_index = {v.header.index: v for v in reversed(vols) if v.header is not None and v.problem is None}
    out = bytearray()
    while length > 0:
        j, within = divmod(offset, h.nominal_payload)
        v = by_index.get(j)
        if v is None or j >= h.data_count:
            return None
        take = min(length, data_payload_length(h.bundle_size, h.nominal_payload, h.data_count, j) - within)
        try:
            with open(v.path, "rb") as f:
                f.seek(HEADER_SIZE + within)
                data = f.read(take)
        except OSError:
            return None
        if len(data) != take or take <= 0:
            return None
        out += data
        offset += take
        length -= take
    return bytes(out)


def about_set(vols: Sequence[VolumeFile]) -> dict[str, Any] | None:
    """What the bundle a set rebuilds says about itself, read unverified from its volumes."""
    head = read_bundle_range(vols, 0, BUNDLE_HEADER_SIZE)
    if head is None:
        return None
    try:
        header = BundleHeader.parse(head, "volume set")
        if header.manifest_length > DEFAULT_LIMITS.max_manifest:
            return None
        raw = read_bundle_range(vols, BUNDLE_HEADER_SIZE + header.blobs_length, header.manifest_length)
        if raw is None:
            return None
        m = parse_manifest(raw, "volume set manifest")
    except BundleError:
        return None
    about: dict[str, Any] = {"kind": m.kind, "created": m.created, "source": m.source.name,
                             "digest": hashlib.sha256(head + raw).hexdigest()}
    if m.kind == "release":
        about.update(project=m.project.get("name"), version=m.release.get("version"))
    return about
