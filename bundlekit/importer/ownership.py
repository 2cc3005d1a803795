"""Package ids belong to the sources that delivered them: checked before anything else about a package.

Decision 290 made a package's *bytes* belong to the source that delivered them; its *id* was still
one namespace for every source, so a source could deliver another source's next version first
(which the real one then could not replace: a package version is immutable) and learn from the
refusal which versions of another source's package the zone held. Here (decision 472):

* A package listed by reference whose SHA-256 its source may not use is refused
  (``package_not_shared``) before anything is said about the id and version it names, so the
  answer is the same whether the zone holds them or not.
* A package id that sources have delivered may be delivered again only by one of them (or a
  source sharing its packages with it, decision 290), or with the very bytes the zone records
  for that id and version (two sources shipping the same third-party package). Otherwise the
  import is refused (``package_not_shared``), with the same message whatever versions the zone
  holds, naming neither the other source nor its versions or digests.
"""

from __future__ import annotations

from collections.abc import Iterable

from bundlekit.core.hints import home_flag
from bundlekit.core.text import shell_word
from bundlekit.errors import TrustError
from bundlekit.format.manifest import PackageRef
from bundlekit.importer.rebuild import not_shared
from bundlekit.zone import packages
from bundlekit.zone.db import Reader

__all__ = ["check_package_ids"]


def _taken(where: str, p: PackageRef, source: str) -> str:
    return (f"{where}: package {p.id} {p.version}: in this zone the package id {p.id} belongs to the sources that "
            f"delivered it first, and zone {source!r} is not one of them (nor shares their packages): a source may "
            "deliver only its own package ids, so that no source can take another's next version. Rename the "
            "package (for example with your project's prefix), or ask this zone's operator to share the packages "
            f"of the source that owns the id with zone {source} (`bundlekit trust set ZONE --share-packages-with "
            f"{shell_word(source)}{home_flag()}`); nothing was changed")


def check_package_ids(db: Reader, items: Iterable[PackageRef], where: str, source: str, owners: frozenset[str],
                      usable: frozenset[str], export: str = "bundlekit export --full") -> None:
    """Refuse (:class:`TrustError` ``package_not_shared``) the first package of ``items`` that
    source zone ``source`` (named in messages; its package owners' zone ids ``owners``, the
    SHA-256 it may use ``usable``) lists by reference without owning its bytes, or delivers
    under a package id only other sources delivered, with bytes other than those recorded.
    ``export``: the command that sends every package whole, for the message."""
    for p in items:
        if not p.included and p.delta is None and p.sha256 not in usable:
            raise TrustError(not_shared(where, f"package {p.id} {p.version} is listed by reference", p.sha256,
                                        source, export), code="package_not_shared")
        holders = packages.id_holders(db, p.id)
        if holders and not holders & owners and packages.recorded_digest(db, p.id, p.version) != p.sha256:
            raise TrustError(_taken(where, p, source), code="package_not_shared")
