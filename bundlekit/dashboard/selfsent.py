"""bundlekit's own releases on the dashboard, apart from the grid (decision 947).

The grid is projects x (zone, environment): where releases were deployed. A release of the
reserved project ``bundlekit`` (``export-self``) is never deployed to an environment: a zone
installs it with ``self-update``, which sends nothing back. As a grid row it could only read
"not deployed" and "awaiting receipt" for ever. So the builder keeps it out of the grid, the
counts and the deployments, and the dashboard says instead what this zone sent: per destination
zone the latest bundlekit version exported there, when, and the refusal that zone reported, if
any. What a zone runs is only known there (``HOME/self/current/bin/bundlekit --version``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from bundlekit.core.clock import EpochSeconds, recorded_age
from bundlekit.core.text import html_text, terminal_text
from bundlekit.dashboard.fields import as_map, check_time, invalid, list_of, opt_string, opt_time, string
from bundlekit.zone.db import Row

__all__ = ["SelfSentView", "self_sent", "list_from_dict", "text_lines", "html_section", "NOTE"]

#: Where the answer is, since no receipt carries it (one line, under 80 columns).
NOTE = "what a zone runs: `HOME/self/current/bin/bundlekit --version` there"


@dataclass(frozen=True, slots=True)
class SelfSentView:
    """The latest bundlekit release this zone exported to ``zone``: its ``release`` (bundlekit's
    version), when it was ``exported`` (Unix seconds) and ``refused``, the code of the refusal a
    zone reported for that very bundle (None: none reported)."""

    zone: str
    release: str
    exported: float
    refused: str | None = None
    refused_in: str | None = None

    def __post_init__(self) -> None:
        check_time(self.exported, f"bundlekit sent to {self.zone!r}.exported")

    def to_dict(self) -> dict[str, Any]:
        """``{zone, release, exported, refused, refused_in}``."""
        return {"zone": self.zone, "release": self.release, "exported": self.exported, "refused": self.refused,
                "refused_in": self.refused_in}

    @classmethod
    def from_dict(cls, d: Any, where: str) -> "SelfSentView":
        d = as_map(d, where)
        exported = opt_time(d, "exported", where)
        if exported is None:
            raise invalid(f"{where}.exported", "a Unix time in seconds")
        return cls(string(d, "zone", where), string(d, "release", where), exported, opt_string(d, "refused", where),
                   opt_string(d, "refused_in", where))


def list_from_dict(d: Any, where: str) -> tuple[SelfSentView, ...]:
    """The views a dashboard's JSON lists under ``bundlekit_sent`` (absent: none)."""
    if "bundlekit_sent" not in d:
        return ()
    return tuple(SelfSentView.from_dict(x, f"{where}.bundlekit_sent[{i}]")
                 for i, x in enumerate(list_of(d, "bundlekit_sent", where)))


def self_sent(exported: Iterable[Row], refused: Iterable[Row], zone_names: dict[str, str]) -> tuple[SelfSentView, ...]:
    """From this zone's exports of bundlekit (``exports.list_exports`` rows, oldest first) and the
    refusals other zones reported of them (``refusals.remote_refusals`` rows; ``zone_names``: zone
    id -> name), the latest export to each zone, in the order of the zones' names."""
    latest: dict[str, Row] = {}
    for e in exported:
        latest[e["dest_name"]] = e
    refusal = {r["bundle_id"]: r for r in refused}
    out = []
    for zone in sorted(latest, key=str.casefold):
        e = latest[zone]
        r = refusal.get(e["bundle_id"])
        out.append(SelfSentView(zone, e["release"], float(e["exported_at"]), None if r is None else r["code"],
                                None if r is None else zone_names.get(r["source_zone_id"], r["source_zone_id"])))
    return tuple(out)


def _refused(s: SelfSentView) -> str:
    return f", refused in {s.refused_in}: {s.refused}" if s.refused else ""


def text_lines(sent: tuple[SelfSentView, ...], now: EpochSeconds) -> list[str]:
    """The terminal's lines (none when nothing was sent), untrusted text shown escaped."""
    if not sent:
        return []
    return ["", "bundlekit sent with export-self (self-update reports nothing back):",
            *(terminal_text(f"  {s.zone}: {s.release} exported {recorded_age(s.exported, now)}{_refused(s)}")
              for s in sent), NOTE]


def html_section(sent: tuple[SelfSentView, ...], now: EpochSeconds) -> str:
    """The page's section (empty when nothing was sent)."""
    if not sent:
        return ""
    items = "".join(f"<li><strong>{html_text(s.zone, multiline=False)}</strong>: "
                    + html_text(f"{s.release} exported {recorded_age(s.exported, now)}{_refused(s)}", multiline=False)
                    + "</li>" for s in sent)
    return ('<section class="self-sent"><h2>bundlekit sent with export-self</h2><p>self-update reports nothing '
            'back; in each zone, <code>HOME/self/current/bin/bundlekit --version</code> says which bundlekit it '
            f'runs.</p><ul>{items}</ul></section>')
