"""What the releases of a zone use, as prune reads it: which packages and bytes the kept releases
need, and which releases name each package and each SHA-256 (for the plan, and for the check
the apply step makes again under the prune claim, decision 197)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bundlekit.retention.rules import Keep, ReleaseKey
from bundlekit.zone import retention as state
from bundlekit.zone.db import Reader
from bundlekit.zone.home import Zone

__all__ = ["Uses", "zone_releases"]


def zone_releases(zone: Zone, db: Reader) -> list[dict[str, Any]]:
    """The zone's releases as the rules read them (``created``: made in this zone, not imported)."""
    return [dict(x, created=x["source_zone_id"] == zone.zone_id) for x in state.releases(db)]


@dataclass
class Uses:
    """Which packages and bytes the kept releases use, and which releases use each package or bytes."""

    kept_pairs: set[tuple[str, str]] = field(default_factory=set)
    kept_digests: set[str] = field(default_factory=set)
    used_by: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    releases_of: dict[tuple[str, str], set[ReleaseKey]] = field(default_factory=dict)
    bytes_of: dict[str, set[ReleaseKey]] = field(default_factory=dict)  # every digest any release names

    @classmethod
    def of(cls, releases: list[dict[str, Any]], keep: Keep) -> "Uses":
        out = cls()
        for x in releases:
            key: ReleaseKey = (x["project_slug"].lower(), x["version"].lower())
            for p in x["packages"]:
                pair = (p["id"].lower(), p["version"].lower())
                out.used_by.setdefault(pair, []).append(f"{x['project']} {x['version']}")
                out.releases_of.setdefault(pair, set()).add(key)
                out.bytes_of.setdefault(p["sha256"], set()).add(key)
                if keep.kept(key):
                    out.kept_pairs.add(pair)
                    out.kept_digests.add(p["sha256"])
        return out
