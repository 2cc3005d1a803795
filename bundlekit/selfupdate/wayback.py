"""How to make an installation of ``HOME/self`` again here, in words for a hint (decision 978).

A moved, copied or restored home keeps installations that no longer run from their own folder
(decision 953); the hints of ``doctor``, ``--rollback`` and ``self-update`` then say how to make one
again. "The bundle it came from" works only while this zone would still accept that bundle: once a
newer bundlekit bundle of its source was accepted, self-update refuses it as a rollback (decision
930), and only a new export from the source zone (a new sequence) brings that release back. The
installation's folder name (and its marker) names the bundle it came from (its digest); the zone's
import record of that digest names its source and sequence; the source's trust rule names the relays a new bundle must
come through. Reads only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from bundlekit.core.selfproject import SELF_SLUG
from bundlekit.errors import VerificationError
from bundlekit.importer.verify import VerifiedBundle
from bundlekit.selfupdate.links import MARKER, home_option_of
from bundlekit.trust.relay import export_steps
from bundlekit.zone import sequences, truststore
from bundlekit.zone.home import Zone

__all__ = ["Origin", "origin_of", "remake_hint", "new_bundle_hint", "check_superseded"]


@dataclass(frozen=True, slots=True)
class Origin:
    """The bundle an installation came from, as this zone accepted it: its release, sequence and
    source, and the newest bundlekit release of that source accepted here (``newest``, its
    sequence ``last``)."""

    version: str
    sequence: int
    source_id: str
    newest: str
    last: int

    @property
    def superseded(self) -> bool:
        """Whether self-update refuses the bundle now as a rollback (a newer one was accepted)."""
        return self.sequence < self.last


def origin_of(zone: Zone, installation: Path) -> Origin | None:
    """The bundle the installation at ``installation`` came from, as this zone recorded importing
    it, or None: not one self-update made here, or no record of it. Its folder's name
    (``VERSION-DIGEST``, the bundle digest's first 12 characters) says which, so it is known also
    when the installation was removed; its marker, when present, names the whole digest."""
    try:
        words = (installation / MARKER).read_text("utf-8").split()
    except (OSError, UnicodeDecodeError):
        words = []
    digest = words[1] if len(words) == 2 else installation.name.rpartition("-")[2]
    if len(digest) < 12 or not all(c in "0123456789abcdef" for c in digest):
        return None
    row = sequences.import_by_digest_prefix(zone.db, digest, SELF_SLUG)
    if row is None:
        return None
    newest = sequences.last_import(zone.db, row["source_zone_id"], SELF_SLUG)
    if newest is None:
        return None
    return Origin(str(row["release"]), int(row["sequence"]), str(row["source_zone_id"]), str(newest["release"]),
                  int(newest["sequence"]))


def new_bundle_hint(zone: Zone, root: Path, version: str, source_id: str) -> str:
    """The steps that bring this zone a new bundle of bundlekit ``version`` from zone ``source_id``
    (along the relays its trust rule names) and install it: a phrase that follows "with"."""
    entry = truststore.entry_for_id(zone.db, source_id)
    if entry is None:
        return (f"a new bundle of bundlekit {version} from a zone this zone trusts (made there by bundlekit export-self), "
                f"then here `bundlekit self-update OUT {home_option_of(root)}`")
    steps = export_steps(entry.name, SELF_SLUG, entry.via, zone.name, full=bool(entry.via))
    return (f"a new bundle of bundlekit {version} from zone {entry.name} (a new sequence): {'; then '.join(steps)} "
            f"(DIR: a wheelhouse holding bundlekit {version}'s wheel and its dependencies'); then here "
            f"`bundlekit self-update OUT {home_option_of(root)}`")


def remake_hint(zone: Zone, root: Path, name: str) -> str:
    """How to make the installation ``name`` (as a link of ``root``, ``HOME/self``, names it) again
    here: a phrase that follows "with". The bundle it came from while self-update would accept it;
    once a newer bundlekit bundle of its source was accepted, a new export from that source."""
    origin = origin_of(zone, root / name)
    home = home_option_of(root)
    if origin is None:
        return (f"`bundlekit self-update BUNDLE {home}` (BUNDLE: a bundle of the release wanted, which "
                "bundlekit export-self makes in a source zone)")
    if not origin.superseded:
        return (f"`bundlekit self-update BUNDLE {home}` (BUNDLE: the bundle it came from, bundlekit {origin.version} "
                f"with sequence {origin.sequence})")
    return (new_bundle_hint(zone, root, origin.version, origin.source_id)
            + f" (the bundle it came from, sequence {origin.sequence}, is refused as a rollback: this zone has since "
              f"accepted bundlekit {origin.newest}, sequence {origin.last}, from the same zone)")


def check_superseded(zone: Zone, v: VerifiedBundle, bundle: Path, rollback_works: Callable[[], bool]) -> None:
    """Refuse (``VerificationError`` ``rollback``) the accepted bundlekit bundle ``v`` when its
    source's bundlekit has a higher sequence here: installing it again would undo that update
    (decision 930). The refusal offers ``--rollback`` only when ``rollback_works()`` (newuser36
    finding 5), and names the new export that brings this release again."""
    m = v.manifest
    last = sequences.last_incoming(zone.db, sequences.release_key(v.source.zone_id, m.project["space"],
                                                                  m.project["slug"]))
    if last is None or m.sequence >= last:
        return
    newest = sequences.last_import(zone.db, v.source.zone_id, m.project["slug"])
    release = newest["release"] if newest else "a newer release"
    root = zone.home / "self"
    back = ("To go back to the installation used before the last switch, run `bundlekit self-update --rollback "
            f"{home_option_of(root)}`. " if rollback_works() else "")
    raise VerificationError(
        f"{bundle}: bundlekit {m.release['version']} has sequence {m.sequence} from zone {v.source.name!r}, and this "
        f"zone has since accepted bundlekit {release} (sequence {last}) from it; installing the older bundle again "
        f"would undo that update, so it is refused as a rollback. Nothing was changed. {back}To install bundlekit "
        f"{m.release['version']} (or another version) again, this zone needs "
        f"{new_bundle_hint(zone, root, m.release['version'], v.source.zone_id)}", code="rollback",
        details={"project": m.project["slug"], "sequence": m.sequence, "last_sequence": last,
                 "last_release": newest["release"] if newest else None})
