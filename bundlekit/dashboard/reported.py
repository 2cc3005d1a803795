"""Deployments other zones reported, as the dashboard reads them (decision 870): every row from
the few columns its grid shows (``remote.grid_rows``: no receipt entry read or parsed, a tuple
per row), a view made only for the rows the grid shows (decision 900), and the entries of only
those it shows with their steps (a page's details, ``--json``)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from math import isfinite
from typing import Any

from bundlekit.dashboard.relaynames import RelayNames
from bundlekit.dashboard.view import DeploymentView, HopView, WaiverView, trusted_maker
from bundlekit.errors import StateError
from bundlekit.zone import remote
from bundlekit.zone.db import Reader, Row

__all__ = ["Paths", "from_columns", "from_rows", "shown_state", "waiver_notes", "read_entries", "entry_of", "ZONE_ID",
           "DEPLOYMENT_ID", "BUNDLE_ID", "RECEIPT_ID", "SLUG", "RELEASE", "ENVIRONMENT", "STATE", "STARTED",
           "ENDED", "RECEIVED", "PROJECT_NAME", "SPACE", "TENANT", "WAIVED", "WAIVERS", "VARIABLES_UPDATED"]

#: Where each value is in a row of ``remote.grid_rows`` (``remote.GRID_ROW``); ``STATE`` is the
#: shown state (``succeeded``, ``running``, ``partial``, ``failed``).
(ZONE_ID, DEPLOYMENT_ID, BUNDLE_ID, RECEIPT_ID, SLUG, RELEASE, ENVIRONMENT, STATE, STARTED, ENDED, RECEIVED,
 PROJECT_NAME, SPACE, TENANT, WAIVED, WAIVERS, VARIABLES_UPDATED) = (remote.GRID_ROW.index(c) for c in (
    "source_zone_id", "deployment_id", "bundle_id", "receipt_bundle_id", "project_slug", "release", "environment",
    "shown_state", "started", "ended", "received", "project_name", "space", "tenant", "waived", "waivers",
    "variables_updated"))
_deployment, _hop = trusted_maker(DeploymentView), trusted_maker(HopView)
#: The model's own string for each state word the query gives: renderers compare and look up a
#: state tens of thousands of times, which is quickest with the very same string object.
_WORDS = {word: word for word in ("succeeded", "running", "partial", "failed")}


def shown_state(record_state: str, mixed: bool) -> str:
    """The shown state of a deployment recorded ``record_state`` whose runs are ``mixed`` or not
    (:func:`~bundlekit.zone.deployments.mixed_runs`): ``succeeded``, ``running`` (still running,
    or the process died before recording the outcome), ``partial`` or ``failed``."""
    if record_state == "Success":
        return "succeeded"
    if record_state == "Executing":
        return "running"
    return "partial" if mixed else "failed"


def waiver_notes(items: Iterable[dict[str, Any]]) -> tuple[WaiverView, ...]:
    """Each waiver a deployment relied on, with its phase, release, reason, author and time."""
    out = []
    for w in items:  # a receipt carries the format's created_ms, the zone's record Unix seconds
        created = w["created_ms"] // 1000 if isinstance(w.get("created_ms"), int) else w.get("created")
        out.append(WaiverView(str(w["phase"]), w.get("release") or "*", w.get("reason") or "", w.get("author"),
                              int(created) if created is not None else None))
    return tuple(out)


class Paths:
    """The paths of releases other zones reported deploying (decisions 740, 906): this zone
    (``source``), which exported the release (``export_of``: export records by bundle id; the
    time is None when the export is no longer recorded); each zone that relayed the release on, at
    the time of its hop (``release_paths``: by receipt bundle id, then release bundle id, the hops
    the receipt's entries carried), or, for a receipt whose entries carried none, each zone that
    relayed the receipt back (``relays`` by receipt bundle id, in the order they relayed it, so the
    path runs the other way; event ``relayed_back``), each relay named by ``zone_names``
    (:class:`RelayNames`); the deploying zone, when the deployment
    started. The hops before the last are made once per bundle and receipt, and shared (they are
    frozen)."""

    def __init__(self, source: str, export_of: dict[str, Row], relays: dict[str, list[dict[str, Any]]],
                 zone_names: RelayNames,
                 release_paths: dict[str, dict[str, list[dict[str, Any]]]] | None = None) -> None:
        self.source, self.export_of, self.relays, self.zone_names = source, export_of, relays, zone_names
        self.release_paths = release_paths or {}
        self._before: dict[tuple[str, str], tuple[HopView, ...]] = {}

    def __call__(self, v: tuple[Any, ...], zone: str, started: float) -> tuple[HopView, ...]:
        """The path of the reported deployment of row ``v`` (zone ``zone``, started at ``started``):
        its bundle's, through the relays of its receipt, to its zone when it started."""
        # the builder checked ``started`` finite (from_columns), so the hop is made unchecked
        return self.before(v[BUNDLE_ID], v[RECEIPT_ID]) + (_hop(zone, "deployed", started),)

    def before(self, bundle_id: str, receipt_id: str) -> tuple[HopView, ...]:
        """The hops of a path before the deployed one: the export of release bundle ``bundle_id``
        and the relays of receipt ``receipt_id``; made once, then the same tuple."""
        key = (bundle_id, receipt_id)
        before = self._before.get(key)
        if before is None:
            exp = self.export_of.get(bundle_id)
            forward = self.release_paths.get(receipt_id, {}).get(bundle_id)
            named = self.zone_names.shown  # never a record's own name for a relay no longer trusted (decision 958)
            relays = ((HopView(named(h), "relayed", h["relayed"]) for h in forward)
                      if forward else
                      (HopView(named(h), "relayed_back", h["relayed"])
                       for h in reversed(self.relays.get(receipt_id, []))))
            before = (HopView(self.source, "exported", exp["exported_at"] if exp is not None else None), *relays)
            self._before[key] = before
        return before


def from_columns(v: tuple[Any, ...], zone: str, environment: str, started: float,
                 path: tuple[HopView, ...]) -> DeploymentView:
    """A reported deployment as the grid shows it, from its row ``v``'s columns alone (no entry
    parsed, no steps; decision 870): reported by ``zone``, in ``environment``'s shown spelling,
    ``started`` (Unix seconds, as a float), with its ``path``. The same view as the one made from
    its entry, without steps."""
    waived_text, waivers_text = v[WAIVED], v[WAIVERS]
    if waived_text is None and waivers_text is None:  # nearly every deployment: nothing to parse
        waived: tuple[str, ...] = ()
        notes: tuple[WaiverView, ...] = ()
    else:
        waived = tuple(json.loads(waived_text)) if waived_text is not None else ()
        notes = waiver_notes((json.loads(waivers_text) if waivers_text is not None else [])
                             or [{"phase": w} for w in waived])
    ended, updated = float(v[ENDED]), v[VARIABLES_UPDATED]
    # Every value is a column of the zone's own state and the state word is one of the model's:
    # the view is made without its checks, but for a time that is not finite (then they refuse it).
    make = _deployment if isfinite(started) and isfinite(ended) and (updated is None or type(updated) is int) \
        else DeploymentView
    return make(v[DEPLOYMENT_ID], v[PROJECT_NAME], v[SLUG], v[RELEASE], zone, environment,
                _WORDS[v[STATE]], started, ended, (), int(v[RECEIVED]), v[SPACE], v[TENANT], None, waived, notes, updated, None, path)


def from_rows(rows: Iterable[tuple[Any, ...]], zone: str, environment: str, paths: Paths) -> list[DeploymentView]:
    """:func:`from_columns` of each of ``rows`` (reported by ``zone``, in ``environment``'s shown
    spelling), with its path (``paths``), in one pass: the grid shows tens of thousands (decision
    940). A row with waivers, or a time :func:`from_columns` would refuse, is made by it."""
    out = []
    made = paths._before  # the hops before the deployed one, looked up here: a call per row costs at this scale
    for v in rows:
        started, ended, updated = float(v[STARTED]), float(v[ENDED]), v[VARIABLES_UPDATED]
        before = made.get((v[BUNDLE_ID], v[RECEIPT_ID])) or paths.before(v[BUNDLE_ID], v[RECEIPT_ID])
        path = before + (_hop(zone, "deployed", started),)  # quicker than (*before, hop)
        if v[WAIVED] is None and v[WAIVERS] is None and isfinite(started) and isfinite(ended) and (
                updated is None or type(updated) is int):
            out.append(_deployment(v[DEPLOYMENT_ID], v[PROJECT_NAME], v[SLUG], v[RELEASE], zone, environment,
                                   _WORDS[v[STATE]], started, ended, (), int(v[RECEIVED]), v[SPACE], v[TENANT], None,
                                   (), (), updated, None, path))
        else:
            out.append(from_columns(v, zone, environment, started, path))
    return out


def read_entries(db: Reader, shown: Iterable[tuple[Any, ...]]) -> dict[tuple[str, str], str]:
    """The receipt entries (as text) of the rows ``shown``, by (reporting zone id, deployment id);
    one that is gone is absent. One query per reporting zone and 500 deployments."""
    return remote.entries_of(db, [(v[ZONE_ID], v[DEPLOYMENT_ID]) for v in shown])


def entry_of(texts: dict[tuple[str, str], Any], v: tuple[Any, ...], zone: str) -> dict[str, Any]:
    """The receipt entry of row ``v`` (reported by ``zone``), parsed from ``texts`` (read by
    :func:`read_entries`) once. ``StateError`` ``state_damaged`` when it no longer reads as a
    JSON object."""
    key = (v[ZONE_ID], v[DEPLOYMENT_ID])
    entry = texts.get(key)
    if isinstance(entry, dict):
        return entry
    try:
        entry = json.loads(entry)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        entry = None
    if not isinstance(entry, dict):
        raise StateError(f"the receipt entry of deployment {v[DEPLOYMENT_ID]} reported by zone {zone} is "
                         "damaged in the state (remote_deployments.entry): the grid still shows its cell, but its "
                         "steps cannot be read. Restore the state from a backup of the home, or show the dashboard "
                         "without the deployment's details (bundlekit dashboard in a terminal)",
                         code="state_damaged")
    texts[key] = entry
    return entry
