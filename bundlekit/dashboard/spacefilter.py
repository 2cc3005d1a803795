"""A dashboard shown for one space (``dashboard --space``, ``serve --space``): what its header and
an empty view say, for both renderers (review newuser finding 4)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from bundlekit.core.hints import home_flag

__all__ = ["SpaceFilter"]


@dataclass(frozen=True, slots=True)
class SpaceFilter:
    """A dashboard shown for one space (``dashboard --space``): the space, as the zone or the
    rows spell it, and the projects the zone's other spaces show, by space (counted only when
    this one shows none). The renderers name it in the header, and an empty view says where the
    rest is instead of "nothing exported or deployed" (review newuser finding 4). Not part of
    the view's JSON: a script knows the space it asked for."""

    name: str
    elsewhere: Mapping[str, int] = field(default_factory=dict)

    def empty_text(self, zone_name: str, action: str) -> str:
        """What an empty view of this space says, in plain text; ``action``: how to show the view
        again once a release exists (``run this again``)."""
        n = sum(self.elsewhere.values())
        if not n:
            return (f"Nothing to show yet in space {self.name}, nor in any other space: no release has been "
                    f"exported or deployed from zone {zone_name}. Export one with `bundlekit export RELEASE_FILE --to ZONE -o OUT{home_flag()}`, "
                    f"deploy it, then {action}.")
        where = ", ".join(f"{k} project(s) in space {s}" for s, k in self.elsewhere.items())
        return (f"Nothing exported or deployed in space {self.name} yet; zone {zone_name} shows {where}: drop "
                "--space to see every space.")
