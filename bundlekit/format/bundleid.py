"""Bundle ids: how a writer derives a manifest's ``bundle_id`` and how a verifier checks it
(spec/bundle-format.md §4, ``bundle_id``, and §6.2 step 18). Pure: no files, no clock.

A bundle id is the first 16 bytes, in lowercase hex, of SHA-256 over UTF-8 text:

* a release of format 1.1 or later (header minor >= 1):
  ``"bundlekit bundle id\\n" source "\\n" destination "\\n" space "\\n" slug "\\n" sequence``;
* a release of format 1.0 (header minor 0): the same without the space and slug lines;
* a receipt (any minor): ``"bundlekit receipt id\\n" source "\\n" destination "\\n" sequence``;

with ``source`` and ``destination`` the zone ids, ``space`` and ``slug`` the manifest's
``project.space`` and ``project.slug`` as written, ``sequence`` in decimal without leading zeros.
"""

from __future__ import annotations

import hashlib

from bundlekit.errors import VerificationError
from bundlekit.format.manifest import Manifest

__all__ = ["release_bundle_id", "release_bundle_id_1_0", "receipt_bundle_id", "bundle_id_of", "expected_bundle_id",
           "check_bundle_id"]


def _id(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def release_bundle_id(source_zone: str, dest_zone: str, space: str, slug: str, sequence: int) -> str:
    """The bundle id (32 hex) of a release bundle written by format 1.1 or later: it names the
    project, whose sequence numbers it is counted in."""
    return _id(f"bundlekit bundle id\n{source_zone}\n{dest_zone}\n{space}\n{slug}\n{sequence}")


def release_bundle_id_1_0(source_zone: str, dest_zone: str, sequence: int) -> str:
    """The bundle id (32 hex) of a release bundle of format 1.0 (header minor version 0)."""
    return _id(f"bundlekit bundle id\n{source_zone}\n{dest_zone}\n{sequence}")


def receipt_bundle_id(source_zone: str, dest_zone: str, sequence: int) -> str:
    """The bundle id (32 hex) of the receipt ``sequence`` from ``source_zone`` to ``dest_zone``."""
    return _id(f"bundlekit receipt id\n{source_zone}\n{dest_zone}\n{sequence}")


def bundle_id_of(kind: str, minor: int, source_zone: str, dest_zone: str, sequence: int, space: str,
                 slug: str) -> str:
    """The id a bundle of ``kind`` whose header states minor version ``minor`` must carry
    (``space`` and ``slug`` count for a release of minor 1 or later only)."""
    if kind == "receipt":
        return receipt_bundle_id(source_zone, dest_zone, sequence)
    if minor == 0:
        return release_bundle_id_1_0(source_zone, dest_zone, sequence)
    return release_bundle_id(source_zone, dest_zone, space, slug, sequence)


def expected_bundle_id(m: Manifest, minor: int) -> str:
    """The id the manifest ``m`` of a bundle whose header states minor version ``minor`` must carry."""
    return bundle_id_of(m.kind, minor, m.source.zone_id, m.destination.zone_id, m.sequence,
                        str(m.project.get("space", "")), str(m.project.get("slug", "")))


def check_bundle_id(m: Manifest, minor: int, where: str) -> None:
    """Refuse (``bundle_id_mismatch``) a manifest whose ``bundle_id`` is not the one derived from
    its kind, zones, project and sequence: state keyed by the id (exports, receipts, refusals)
    would otherwise let one bundle pass for another."""
    want = expected_bundle_id(m, minor)
    if m.bundle_id != want:
        form = "receipt" if m.kind == "receipt" else ("format 1.0 release" if minor == 0 else "release")
        raise VerificationError(
            f"{where}: bundle_id {m.bundle_id} is not the {form} id of its source, destination"
            f"{'' if m.kind == 'receipt' or minor == 0 else ', project'} and sequence {m.sequence} "
            f"(that is {want}); the writer that made it does not follow the format: ask the source zone "
            "for a fresh export", code="bundle_id_mismatch")
