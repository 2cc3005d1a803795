"""Deployments other zones reported, as the dashboard reads them (decision 870): every row from
the few columns its grid shows (``remote.grid_rows``: no receipt entry read or parsed, a tuple
per row), and the entries of only those it shows with their steps (a page's details, ``--json``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bundlekit.errors import StateError
from bundlekit.zone import remote
from bundlekit.zone.db import Reader
from bundlekit.zone.deployments import deployment_number

__all__ = ["Reported", "reported_rows", "read_entries", "entry_of", "ZONE_ID", "DEPLOYMENT_ID", "BUNDLE_ID",
           "RECEIPT_ID", "SLUG", "RELEASE", "ENVIRONMENT", "STATE", "ENDED", "RECEIVED", "PROJECT_NAME", "SPACE",
           "PARTIAL", "WAIVED", "WAIVERS", "VARIABLES_UPDATED", "SEQUENCE"]

#: Where each value is in a :attr:`Reported.values` tuple (``remote.GRID_ROW``).
(ZONE_ID, DEPLOYMENT_ID, BUNDLE_ID, RECEIPT_ID, SLUG, RELEASE, ENVIRONMENT, STATE, ENDED, RECEIVED, PROJECT_NAME,
 SPACE, PARTIAL, WAIVED, WAIVERS, VARIABLES_UPDATED, SEQUENCE) = (remote.GRID_ROW.index(c) for c in (
    "source_zone_id", "deployment_id", "bundle_id", "receipt_bundle_id", "project_slug", "release", "environment",
    "state", "ended", "received", "project_name", "space", "partial", "waived", "waivers", "variables_updated",
    "sequence"))
_STARTED, _TENANT = remote.GRID_ROW.index("started"), remote.GRID_ROW.index("tenant")


@dataclass(slots=True)
class Reported:
    """A deployment another zone reported: its row without the entry (``values``, in the order of
    ``remote.GRID_ROW``), its view built only when the grid shows it (decision 741), its entry
    read (``entry``: text, then parsed) only when it is shown with its steps (decision 870)."""

    values: tuple[Any, ...]
    zone: str
    tenant: str | None
    number: int
    ok: bool
    started: float
    entry: Any = None


def reported_rows(db: Reader, zone_of: Callable[[str], str]) -> list[Reported]:
    """Every reported deployment, oldest first, from the columns the grid needs (no entry read);
    ``zone_of`` names a reporting zone from its id."""
    return [Reported(v, zone_of(v[ZONE_ID]), v[_TENANT], deployment_number(v[DEPLOYMENT_ID]), v[STATE] == "Success",
                     float(v[_STARTED])) for v in remote.grid_rows(db)]


def read_entries(db: Reader, shown: list[Reported]) -> None:
    """Give each of ``shown`` its receipt entry (as text, None if it is gone): one query per
    reporting zone and 500 deployments."""
    texts = remote.entries_of(db, [(r.values[ZONE_ID], r.values[DEPLOYMENT_ID]) for r in shown])
    for r in shown:
        r.entry = texts.get((r.values[ZONE_ID], r.values[DEPLOYMENT_ID]))


def entry_of(r: Reported) -> dict[str, Any]:
    """A reported deployment's receipt entry (read by :func:`read_entries`), parsed once.
    ``StateError`` ``state_damaged`` when it no longer reads as a JSON object."""
    if isinstance(r.entry, dict):
        return r.entry
    try:
        r.entry = json.loads(r.entry)
    except (TypeError, ValueError):
        r.entry = None
    if not isinstance(r.entry, dict):
        raise StateError(f"the receipt entry of deployment {r.values[DEPLOYMENT_ID]} reported by zone {r.zone} is "
                         "damaged in the state (remote_deployments.entry): the grid still shows its cell, but its "
                         "steps cannot be read. Restore the state from a backup of the home, or show the dashboard "
                         "without the deployment's details (`bundlekit dashboard` in a terminal)",
                         code="state_damaged")
    return r.entry
