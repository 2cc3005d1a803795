"""How the dashboard names a zone that relayed a release or a receipt (review atk35 F11,
decision 958).

A hop's record names its relaying zone, but only that zone vouches for the name: verification
checks its zone id and key, never the name. While the zone is trusted, its name here is the
trusted name; once it is no longer trusted, the dashboard shows the name this zone knew it by
(the one recorded when the receipt was imported, from the trust list then; else the name a
``--via`` rule or an export of this zone gave it), or its zone id, and says it is no longer
trusted: never the record's own word.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bundlekit.zone import truststore
from bundlekit.zone.db import Row
from bundlekit.zone.home import Zone

__all__ = ["RelayNames", "UNTRUSTED", "former_names"]

#: Said after the name of a relay this zone no longer trusts.
UNTRUSTED = "no longer trusted here"


class RelayNames:
    """Names of relaying zones. ``trusted``: zone id -> name of every zone trusted now;
    ``former``: zone id -> a name this zone gave a zone (its ``--via`` rules' relays, its
    exports' destinations), used for one no longer trusted."""

    def __init__(self, trusted: Mapping[str, str], former: Iterable[tuple[str, str]] = ()) -> None:
        self.trusted = trusted
        self.former: dict[str, str] = {}
        for zone_id, name in former:
            self.former.setdefault(zone_id, name)

    def _name(self, hop: Mapping[str, Any]) -> str | None:
        zone_id = str(hop["zone_id"])
        name = self.trusted.get(zone_id)
        if name is not None:
            return name
        if hop.get("known"):
            return str(hop["name"])
        return self.former.get(zone_id)

    def known(self, hop: Mapping[str, Any]) -> str:
        """The name this zone knows the relay of ``hop`` (``{zone_id, name, relayed[, known]}``,
        as a receipt's import record keeps it) by, without remark: trusted now, else recorded as
        trusted when the receipt was imported (``known``), else a former name, else the zone id."""
        name = self._name(hop)
        return str(hop["zone_id"]) if name is None else name

    def shown(self, hop: Mapping[str, Any]) -> str:
        """:meth:`known`, said to be no longer trusted when it is not: ``staging (no longer
        trusted here)``, ``zone 0123... (no longer trusted here)``."""
        zone_id = str(hop["zone_id"])
        if zone_id in self.trusted:
            return self.trusted[zone_id]
        name = self._name(hop)
        return f"{name if name is not None else 'zone ' + zone_id} ({UNTRUSTED})"


def former_names(zone: Zone, exported: Iterable[Row]) -> list[tuple[str, str]]:
    """(zone id, name) ``zone`` gave zones: each relay its ``--via`` rules name (the name it had
    when the rule named it), then each destination of its ``exported`` bundles (rows of
    ``exports.list_exports``), newest first: the names a relay no longer trusted is shown by."""
    out = [(z, s.policy.relay_name(i)) for s in truststore.sources(zone) for i, z in enumerate(s.policy.via)]
    out += [(str(e["dest_zone_id"]), str(e["dest_name"])) for e in reversed(list(exported))]
    return out
