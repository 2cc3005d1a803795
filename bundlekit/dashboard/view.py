"""The dashboard view model: what a person is shown about a zone's deployments.

A builder (another module) reads a zone's SQLite state into these frozen models;
the renderers (:mod:`.text`, :mod:`.html`) and the server (:mod:`.server`) turn them into
a terminal grid, a self-contained HTML page or JSON. Nothing here reads files or the clock:
the reference time is always passed in.

A model that exists is valid: states come from a fixed vocabulary, grid rows line up with
the columns, and an :class:`OutputView` marked sensitive can only ever hold the mask, so no
renderer and no JSON export can show a secret (``docs/decisions/050-dashboard-view-model.md``).
``from_dict`` turns anything malformed into an :class:`~bundlekit.errors.InputError` with
code ``invalid_dashboard_view`` naming the key path.

The small formatting helpers at the end (ages, durations, UTC times) are shared by both
renderers so the terminal and the browser say the same thing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, Mapping, TypeVar

from bundlekit.core.clock import recorded_age, relative_age
from bundlekit.core.text import MASK
from bundlekit.dashboard.fields import (as_map as _map, check_time as _check_time, get_key as _get, invalid as _invalid,
                                        list_of as _list, opt_string as _opt_str, opt_time as _opt_time,
                                        plain_time as _plain_time, string as _str)
from bundlekit.dashboard.selfsent import SelfSentView, list_from_dict as _self_sent_from

__all__ = [
    "STEP_STATES",
    "DEPLOYMENT_STATES",
    "FAILURE_STATES",
    "OutputView",
    "StepView",
    "DeploymentView",
    "WaiverView",
    "HopView",
    "HOP_EVENTS",
    "CellView",
    "ProjectRow",
    "DashboardView",
    "relative_age",
    "recorded_age",
    "format_duration",
    "format_utc",
    "format_utc_seconds",
    "cell_time",
    "trusted_maker",
]

_Model = TypeVar("_Model")

STEP_STATES = ("Success", "Failed", "Skipped", "Canceled", "TimedOut", "Pending")
DEPLOYMENT_STATES = ("exported", "succeeded", "failed", "partial", "running", "refused")
#: States that count as a failure: on the grid, in the header and in the failures list.
FAILURE_STATES = ("failed", "partial", "refused")
#: What a zone on a release's path did (decisions 740, 906): the source exported it, a relay
#: relayed the release on (its countersigned hop, which the deploying zone's receipt carries), or,
#: for a receipt that carried no such hops, relayed the receipt back; the last zone deployed it.
HOP_EVENTS = ("exported", "relayed", "relayed_back", "deployed")

@dataclass(frozen=True, slots=True)
class OutputView:
    """An output variable a step set. ``value`` is :data:`MASK` whenever ``sensitive``.

    ``withheld``: the deploying zone's egress policy kept the output in that zone, and its
    receipt named it only (``spec/egress.md``): there is no value, not even its length or
    whether it was sensitive, so ``value`` is ``""`` and ``sensitive`` False, and every page
    shows it as withheld, never as empty or absent."""

    name: str
    value: str
    sensitive: bool
    withheld: bool = False

    def __post_init__(self) -> None:
        # Defence in depth: even if a caller forgets to mask, the model cannot carry the secret.
        if self.sensitive and self.value != MASK:
            object.__setattr__(self, "value", MASK)
        if self.withheld and (self.value or self.sensitive):
            object.__setattr__(self, "value", "")
            object.__setattr__(self, "sensitive", False)

    def to_dict(self) -> dict[str, Any]:
        """``{name, value, sensitive, withheld}``; a withheld output's ``value`` is None."""
        return {"name": self.name, "value": None if self.withheld else self.value, "sensitive": self.sensitive,
                "withheld": self.withheld}

    @classmethod
    def from_dict(cls, d: Any, where: str = "output") -> "OutputView":
        d = _map(d, where)
        sensitive = _get(d, "sensitive", where)
        if not isinstance(sensitive, bool):
            raise _invalid(f"{where}.sensitive", "true or false")
        withheld = d.get("withheld", False)
        if not isinstance(withheld, bool):
            raise _invalid(f"{where}.withheld", "true or false")
        if withheld:
            if d.get("value") is not None:
                raise _invalid(f"{where}.value", "null for a withheld output")
            return cls(_str(d, "name", where), "", False, True)
        return cls(_str(d, "name", where), _str(d, "value", where), sensitive)


@dataclass(frozen=True, slots=True)
class StepView:
    """One step on one target (``target`` None: the step ran once, not on a target)."""

    step: str
    target: str | None
    state: str
    started: float | None
    ended: float | None
    exit_code: int | None
    log: str
    outputs: tuple[OutputView, ...]
    reason: str | None

    def __post_init__(self) -> None:
        if self.state not in STEP_STATES:
            raise _invalid(f"step {self.step!r}.state", f"one of {', '.join(STEP_STATES)}, not {self.state!r}")
        _check_time(self.started, f"step {self.step!r}.started")
        _check_time(self.ended, f"step {self.step!r}.ended")
        if self.exit_code is not None and (isinstance(self.exit_code, bool) or not isinstance(self.exit_code, int)):
            raise _invalid(f"step {self.step!r}.exit_code", "an integer or None")

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "target": self.target, "state": self.state, "started": self.started,
                "ended": self.ended, "exit_code": self.exit_code, "log": self.log,
                "outputs": [o.to_dict() for o in self.outputs], "reason": self.reason}

    @classmethod
    def from_dict(cls, d: Any, where: str = "step") -> "StepView":
        d = _map(d, where)
        code = d.get("exit_code")
        if code is not None and (isinstance(code, bool) or not isinstance(code, int)):
            raise _invalid(f"{where}.exit_code", "an integer or null")
        state = _str(d, "state", where)
        if state not in STEP_STATES:
            raise _invalid(f"{where}.state", f"one of {', '.join(STEP_STATES)}")
        outputs = tuple(OutputView.from_dict(o, f"{where}.outputs[{i}]")
                        for i, o in enumerate(_list(d, "outputs", where)))
        return cls(_str(d, "step", where), _opt_str(d, "target", where), state, _opt_time(d, "started", where),
                   _opt_time(d, "ended", where), code, _str(d, "log", where), outputs,
                   _opt_str(d, "reason", where))


@dataclass(frozen=True, slots=True)
class WaiverView:
    """A lifecycle waiver a deployment relied on, as it recorded it (decision 391): the phase,
    the release it covered (a version or ``*``), why, who, and when (Unix seconds; ``None``
    with an empty reason for a deployment recorded before waivers kept more than the phase)."""

    phase: str
    release: str = "*"
    reason: str = ""
    author: str | None = None
    created: int | None = None

    def text(self) -> str:
        """For people: ``Staging: CAB-1234 (waived by alice)``, or the phase alone."""
        by = f" (waived by {self.author})" if self.author else ""
        return f"{self.phase}: {self.reason}{by}" if self.reason else self.phase

    def to_dict(self) -> dict[str, Any]:
        return {"phase": self.phase, "release": self.release, "reason": self.reason, "author": self.author,
                "created": self.created}

    @classmethod
    def from_dict(cls, d: Any, where: str) -> "WaiverView":
        d = _map(d, where)
        created = _opt_time(d, "created", where)
        return cls(_str(d, "phase", where), d.get("release") or "*", _opt_str(d, "reason", where) or "",
                   _opt_str(d, "author", where), None if created is None else int(created))


@dataclass(frozen=True, slots=True)
class HopView:
    """One zone on the path a release took to the zone that deployed it, in path order
    (dev, staging, prod), with what the source knows of it: ``event`` one of
    :data:`HOP_EVENTS`, ``at`` Unix seconds (the export, the relay's hop record for the
    release it relayed on, or for the receipt it carried back, the deployment's start), None when
    not known (decisions 740, 906)."""

    zone: str
    event: str
    at: float | None

    def __post_init__(self) -> None:
        if self.event not in HOP_EVENTS:
            raise _invalid(f"path {self.zone!r}.event", f"one of {', '.join(HOP_EVENTS)}, not {self.event!r}")
        if not _plain_time(self.at):
            _check_time(self.at, f"path {self.zone!r}.at")

    def to_dict(self) -> dict[str, Any]:
        return {"zone": self.zone, "event": self.event, "at": self.at}

    @classmethod
    def from_dict(cls, d: Any, where: str) -> "HopView":
        d = _map(d, where)
        event = _str(d, "event", where)
        if event not in HOP_EVENTS:
            raise _invalid(f"{where}.event", f"one of {', '.join(HOP_EVENTS)}")
        return cls(_str(d, "zone", where), event, _opt_time(d, "at", where))


@dataclass(frozen=True, slots=True)
class DeploymentView:
    """One release sent to (or deployed in, or refused by) one (zone, environment).

    ``tenant`` is None for an untenanted deployment; ``reason`` says why a refused import was
    refused (``[code] message``); ``waived`` names lifecycle phases a zone waiver let it skip and
    ``waivers`` are the waivers it relied on (phase, release, reason, who, when; decision 391).
    ``variables_updated`` (Unix seconds): the release's variables had been refreshed then, before
    this deployment, so it ran values its earlier phases did not test (decisions 682, 722).
    ``superseded_by``: for a refused import, the later successful deployment of that same release
    in that zone that settled it (decision 723): no longer a failure to look at, still listed.
    ``path`` is the way a release another zone reported went, source first (empty for this
    zone's own deployments and for refusals; decision 740).
    Deployment ids are unique per zone only: :attr:`key` is (zone, deployment id).
    """

    deployment_id: str
    project: str
    project_slug: str
    release: str
    zone: str
    environment: str
    state: str
    started: float | None
    ended: float | None
    steps: tuple[StepView, ...]
    receipt_received: float | None
    space: str = "Default"
    tenant: str | None = None
    reason: str | None = None
    waived: tuple[str, ...] = ()
    waivers: tuple[WaiverView, ...] = ()
    variables_updated: float | None = None
    superseded_by: str | None = None
    path: tuple[HopView, ...] = ()

    @property
    def to_look_at(self) -> bool:
        """A failure nothing since has settled: failed, partial, or a refusal no later success superseded."""
        return self.state in FAILURE_STATES and self.superseded_by is None

    def __post_init__(self) -> None:
        if self.state not in DEPLOYMENT_STATES:
            raise _invalid(f"deployment {self.deployment_id!r}.state",
                           f"one of {', '.join(DEPLOYMENT_STATES)}, not {self.state!r}")
        for name in ("started", "ended", "receipt_received", "variables_updated"):
            if not _plain_time(getattr(self, name)):
                _check_time(getattr(self, name), f"deployment {self.deployment_id!r}.{name}")

    @property
    def key(self) -> tuple[str, str]:
        return (self.zone, self.deployment_id)

    def to_dict(self) -> dict[str, Any]:
        return {"deployment_id": self.deployment_id, "project": self.project, "project_slug": self.project_slug,
                "release": self.release, "zone": self.zone, "environment": self.environment, "state": self.state,
                "started": self.started, "ended": self.ended, "steps": [s.to_dict() for s in self.steps],
                "receipt_received": self.receipt_received, "space": self.space, "tenant": self.tenant,
                "reason": self.reason, "waived": list(self.waived), "waivers": [w.to_dict() for w in self.waivers],
                "variables_updated": self.variables_updated, "superseded_by": self.superseded_by,
                "path": [h.to_dict() for h in self.path]}

    @classmethod
    def from_dict(cls, d: Any, where: str = "deployment") -> "DeploymentView":
        d = _map(d, where)
        state = _str(d, "state", where)
        if state not in DEPLOYMENT_STATES:
            raise _invalid(f"{where}.state", f"one of {', '.join(DEPLOYMENT_STATES)}")
        steps = tuple(StepView.from_dict(s, f"{where}.steps[{i}]") for i, s in enumerate(_list(d, "steps", where)))
        waived = d.get("waived", [])
        if not isinstance(waived, list) or not all(isinstance(w, str) for w in waived):
            raise _invalid(f"{where}.waived", "a list of phase names")
        items = d.get("waivers", [])
        if not isinstance(items, list):
            raise _invalid(f"{where}.waivers", "a list of waivers")
        waivers = [WaiverView.from_dict(w, f"{where}.waivers[{i}]") for i, w in enumerate(items)]
        hops = d.get("path", [])
        if not isinstance(hops, list):
            raise _invalid(f"{where}.path", "a list of hops")
        path = tuple(HopView.from_dict(h, f"{where}.path[{i}]") for i, h in enumerate(hops))
        return cls(_str(d, "deployment_id", where), _str(d, "project", where), _str(d, "project_slug", where),
                   _str(d, "release", where), _str(d, "zone", where), _str(d, "environment", where), state,
                   _opt_time(d, "started", where), _opt_time(d, "ended", where), steps,
                   _opt_time(d, "receipt_received", where), d.get("space") or "Default",
                   _opt_str(d, "tenant", where), _opt_str(d, "reason", where), tuple(waived), tuple(waivers),
                   _opt_time(d, "variables_updated", where), _opt_str(d, "superseded_by", where),
                   path)


@dataclass(frozen=True, slots=True)
class CellView:
    """One grid cell: the latest attempt there, the last successful one before it, and every
    earlier failed attempt (newest first), so no failure is hidden behind a later run."""

    zone: str
    environment: str
    latest: DeploymentView | None
    previous_success: DeploymentView | None
    exported_at: float | None
    failures: tuple[DeploymentView, ...] = ()

    def __post_init__(self) -> None:
        if not _plain_time(self.exported_at):
            _check_time(self.exported_at, f"cell {self.zone}/{self.environment}.exported_at")

    def to_dict(self) -> dict[str, Any]:
        return {"zone": self.zone, "environment": self.environment,
                "latest": self.latest.to_dict() if self.latest else None,
                "previous_success": self.previous_success.to_dict() if self.previous_success else None,
                "exported_at": self.exported_at, "failures": [f.to_dict() for f in self.failures]}

    @classmethod
    def from_dict(cls, d: Any, where: str = "cell") -> "CellView":
        d = _map(d, where)
        latest, prev = d.get("latest"), d.get("previous_success")
        failures = d.get("failures", [])
        if not isinstance(failures, list):
            raise _invalid(f"{where}.failures", "a list")
        return cls(_str(d, "zone", where), _str(d, "environment", where),
                   DeploymentView.from_dict(latest, f"{where}.latest") if latest is not None else None,
                   DeploymentView.from_dict(prev, f"{where}.previous_success") if prev is not None else None,
                   _opt_time(d, "exported_at", where),
                   tuple(DeploymentView.from_dict(f, f"{where}.failures[{i}]") for i, f in enumerate(failures)))


@dataclass(frozen=True, slots=True)
class ProjectRow:
    """A grid row: a project in a space, and one of its tenants when the project uses tenants
    (``tenant`` None: its untenanted deployments and the releases it sent).
    ``cells`` line up with :attr:`DashboardView.columns` (None: not deployed there)."""

    name: str
    slug: str
    cells: tuple[CellView | None, ...]
    space: str = "Default"
    tenant: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "slug": self.slug, "space": self.space, "tenant": self.tenant,
                "cells": [c.to_dict() if c is not None else None for c in self.cells]}

    @classmethod
    def from_dict(cls, d: Any, where: str = "project") -> "ProjectRow":
        d = _map(d, where)
        cells = tuple(CellView.from_dict(c, f"{where}.cells[{i}]") if c is not None else None
                      for i, c in enumerate(_list(d, "cells", where)))
        return cls(_str(d, "name", where), _str(d, "slug", where), cells, d.get("space") or "Default",
                   _opt_str(d, "tenant", where))


@dataclass(frozen=True, slots=True)
class DashboardView:
    """Everything one zone's dashboard shows, as of ``generated`` (Unix seconds).

    ``deployments`` are those the grid shows (each cell's latest attempt, the last success
    before it and every earlier failure), refusals and exports awaiting a receipt; ``older``
    counts, by state, the earlier attempts a later one superseded, which are not listed
    (decision 741); ``self_sent``, bundlekit's own releases sent from here, apart from the grid
    (decision 947)."""

    zone_name: str
    zone_id: str
    generated: float
    columns: tuple[tuple[str, str], ...]
    projects: tuple[ProjectRow, ...]
    deployments: tuple[DeploymentView, ...]
    older: Mapping[str, int] = field(default_factory=dict)
    self_sent: tuple[SelfSentView, ...] = ()

    def __post_init__(self) -> None:
        _check_time(self.generated, "generated")
        for row in self.projects:
            if len(row.cells) != len(self.columns):
                raise _invalid(f"project {row.slug!r}.cells",
                               f"{len(self.columns)} cells, one per column, not {len(row.cells)}")

    @property
    def spaces(self) -> tuple[str, ...]:
        """The spaces of the rows, in row order (rows are grouped by space), each once."""
        return tuple(dict.fromkeys(p.space for p in self.projects))

    def to_dict(self) -> dict[str, Any]:
        """The view as JSON; ``spaces`` (the row groups, in order) is derived and not read back;
        ``bundlekit_sent`` only when this zone sent bundlekit's release somewhere."""
        out = {"zone_name": self.zone_name, "zone_id": self.zone_id, "generated": self.generated,
               "columns": [list(c) for c in self.columns], "spaces": list(self.spaces),
               "projects": [p.to_dict() for p in self.projects],
               "deployments": [d.to_dict() for d in self.deployments], "older": dict(self.older)}
        if self.self_sent:
            out["bundlekit_sent"] = [s.to_dict() for s in self.self_sent]
        return out

    @classmethod
    def from_dict(cls, d: Any, where: str = "dashboard") -> "DashboardView":
        d = _map(d, where)
        generated = _opt_time(d, "generated", where)
        if generated is None:
            raise _invalid(f"{where}.generated", "a Unix time in seconds")
        columns = []
        for i, c in enumerate(_list(d, "columns", where)):
            if not (isinstance(c, list) and len(c) == 2 and all(isinstance(x, str) for x in c)):
                raise _invalid(f"{where}.columns[{i}]", "a [zone, environment] pair of strings")
            columns.append((c[0], c[1]))
        projects = tuple(ProjectRow.from_dict(p, f"{where}.projects[{i}]")
                         for i, p in enumerate(_list(d, "projects", where)))
        deployments = tuple(DeploymentView.from_dict(x, f"{where}.deployments[{i}]")
                            for i, x in enumerate(_list(d, "deployments", where)))
        older = d.get("older", {})
        if not isinstance(older, dict) or not all(
                k in DEPLOYMENT_STATES and isinstance(n, int) and not isinstance(n, bool) and n >= 0
                for k, n in older.items()):
            raise _invalid(f"{where}.older", "a map of deployment states to counts")
        return cls(_str(d, "zone_name", where), _str(d, "zone_id", where), generated, tuple(columns),
                   projects, deployments, dict(older), _self_sent_from(d, where))


def trusted_maker(cls: type[_Model]) -> Callable[..., _Model]:
    """A function making a ``cls`` (one of the frozen models above) from the values of all its
    fields, in the order they are declared, without the checks of its ``__post_init__``. Only for
    a builder whose values are already known good: a reported deployment the grid shows, read
    from the zone's own state, its state word chosen from :data:`DEPLOYMENT_STATES` and its times
    checked finite by the builder (decision 900). The model stays frozen: nothing else sets a field.

    How, as the dashboard makes tens of thousands (decision 940): the values are stored on an
    instance of a plain class with the very same slots (ordinary attribute stores, the quickest
    Python has), which then becomes a ``cls`` by ``__class__`` assignment, which Python allows
    only between classes of the same layout, and checks. A frozen dataclass sets each field
    through ``object.__setattr__``; setting each slot through its descriptor (decision 900) took
    about three times as long as this. Raises ``TypeError`` (when this module is imported) for a
    ``cls`` whose slots are not exactly its fields."""
    names = tuple(f.name for f in fields(cls))  # type: ignore[arg-type]
    blank = type(f"Unfrozen{cls.__name__}", (), {"__slots__": names, "__module__": __name__})
    scope: dict[str, Any] = {"_blank": blank, "_cls": cls}
    source = (f"def make({', '.join(names)}):\n    model = _blank()\n"
              + "".join(f"    model.{name} = {name}\n" for name in names)
              + "    model.__class__ = _cls\n    return model\n")
    exec(source, scope)  # the names are the dataclass's own field names: identifiers, nothing read from outside
    make: Callable[..., _Model] = scope["make"]
    make.__qualname__ = f"trusted_maker.<{cls.__name__}>"
    make(*(None for _ in names))  # the layouts differ: refused now, by Python, not at the first dashboard
    return make


# -- shared formatting -----------------------------------------------------------------------
# (relative_age lives in core.clock: the CLI prints ages the same way)

def format_duration(started: float | None, ended: float | None) -> str:
    """``"850ms"``, ``"42s"``, ``"3m 05s"``, ``"1h 02m"``; ``""`` when either end is unknown."""
    if started is None or ended is None or ended < started:
        return ""
    d = ended - started
    if d < 1:
        return f"{int(d * 1000)}ms"
    s = int(d)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {s % 3600 // 60:02d}m"


def format_utc(t: float) -> str:
    """An absolute time people in any zone read the same way: ``2024-05-01 12:00 UTC``."""
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(t))


def format_utc_seconds(t: float) -> str:
    """To the second, for times a minute apart or less (a path's hops): ``2024-05-01 12:00:05 UTC``."""
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t))


def cell_time(cell: CellView) -> float | None:
    """The moment a cell's age is measured from: export time while awaiting a receipt, else
    when the deployment ended (or started, while it runs)."""
    d = cell.latest
    if d is None:
        return None
    if d.state == "exported":
        return cell.exported_at if cell.exported_at is not None else d.started
    if d.state == "running":
        return d.started
    return d.ended if d.ended is not None else d.started
