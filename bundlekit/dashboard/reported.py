"""Deployments other zones reported, as the dashboard reads them (decision 870): every row from
the few columns its grid shows (``remote.grid_rows``: no receipt entry read or parsed), and the
entries of only those it shows with their steps (a page's details, ``--json``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bundlekit.errors import StateError
from bundlekit.zone import remote
from bundlekit.zone.db import Reader, Row
from bundlekit.zone.deployments import deployment_number

__all__ = ["Reported", "reported_rows", "read_entries", "entry_of"]


@dataclass(slots=True)
class Reported:
    """A deployment another zone reported: its row without the entry (``remote.grid_rows``),
    its view built only when the grid shows it (decision 741), its entry read and parsed only
    when it is shown with its steps (decision 870)."""

    row: Row
    zone: str
    tenant: str | None
    number: int
    ok: bool
    started: float


def reported_rows(db: Reader, zone_of: Callable[[Row], str]) -> list[Reported]:
    """Every reported deployment, from the columns the grid needs (no entry read)."""
    return [Reported(row, zone_of(row), row["tenant"], deployment_number(row["deployment_id"]),
                     row["state"] == "Success", float(row["started"])) for row in remote.grid_rows(db)]


def read_entries(db: Reader, shown: list[Reported]) -> None:
    """Give each of ``shown`` its receipt entry (as text, in its row's ``entry``): one query per
    reporting zone and 500 deployments."""
    texts = remote.entries_of(db, [(r.row["source_zone_id"], r.row["deployment_id"]) for r in shown])
    for r in shown:
        r.row["entry"] = texts.get((r.row["source_zone_id"], r.row["deployment_id"]))


def entry_of(row: Row, zone: str) -> dict[str, Any]:
    """A reported deployment's receipt entry (read by :func:`read_entries`), parsed once.
    ``StateError`` ``state_damaged`` when it no longer reads as a JSON object."""
    if isinstance(row["entry"], dict):
        return row["entry"]  # type: ignore[no-any-return]
    try:
        row["entry"] = json.loads(row["entry"])
    except (TypeError, ValueError):
        row["entry"] = None
    if not isinstance(row["entry"], dict):
        raise StateError(f"the receipt entry of deployment {row['deployment_id']} reported by zone {zone} is damaged "
                         "in the state (remote_deployments.entry): the grid still shows its cell, but its steps "
                         "cannot be read. Restore the state from a backup of the home, or show the dashboard "
                         "without the deployment's details (`bundlekit dashboard` in a terminal)",
                         code="state_damaged")
    return row["entry"]  # type: ignore[no-any-return]
