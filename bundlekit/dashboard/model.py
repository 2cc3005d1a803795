"""Build the dashboard view model from a zone's state (decision 158).

What a zone shows: its own deployments (of releases it imported, and of releases it created
and deploys itself), the deployments other zones reported in receipts, the releases it
exported that await a receipt, and the imports other zones refused.

* **Columns** are (zone, environment), grouped by zone (zones in the order of their earliest
  environment), environments in promotion order: the lifecycles of the
  releases the zone holds merged into one order that keeps each lifecycle's (:func:`merge_orders`:
  Development before Staging before Production even when one project starts at Staging), then environments no
  lifecycle names (alphabetically), then a zone's ``(awaiting)`` column while a release sent
  to it awaits its receipt. Environment names are compared
  case-insensitively and shown in the release's spelling, so ``production`` and
  ``Production`` are one column.
* **Rows** are (space, project, tenant): a project that deployed for tenants gets a row per
  tenant beside its untenanted row (which also shows what was exported and refused).
* **Cells** show the latest attempt (in the deploying zone's own order, its deployment numbers,
  never its wall clock: decision 680); the last success before it; every earlier failure there
  (newest first). An export is not an attempt: the latest export to a zone shows in that
  zone's ``(awaiting)`` cell, ``exported`` while its receipt is awaited or ``refused`` when the
  zone reported refusing the import, and never in place of an environment's cell (decision 392).
* Every deployment and refusal is listed in :attr:`DashboardView.deployments`, so each failure
  is reachable and counted, and a deployment id is unique per zone only (views are keyed by
  zone and id).
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any

from bundlekit.core.clock import EpochSeconds
from bundlekit.core.selfproject import is_self_project
from bundlekit.core.text import MASK
from bundlekit.dashboard.columns import AWAITING, Environments, merge_orders
from bundlekit.dashboard.relaynames import RelayNames, former_names
from bundlekit.dashboard.reported import (BUNDLE_ID, DEPLOYMENT_ID, ENVIRONMENT, RECEIPT_ID, RECEIVED, SLUG,
                                          SPACE, STARTED, STATE, TENANT, ZONE_ID, Paths, entry_of, from_columns,
                                          from_rows, read_entries, shown_state, waiver_notes)
from bundlekit.dashboard.selfsent import self_sent
from bundlekit.dashboard.view import (
    FAILURE_STATES,
    CellView,
    DashboardView,
    DeploymentView,
    HopView,
    OutputView,
    ProjectRow,
    StepView,
    trusted_maker,
)
from bundlekit.zone import exports, projects, refusals, remote, truststore
from bundlekit.zone.db import Reader, Row
from bundlekit.zone.deployments import deployment_number, deployments_by_start, mixed_runs
from bundlekit.zone.home import Zone
from bundlekit.zone.logs import get_log

__all__ = ["build_view", "merge_orders", "AWAITING"]

_make_cell = trusted_maker(CellView)



def _log(db: Reader, digest: str | None, cache: dict[str, str]) -> str:
    if not digest:
        return ""
    if digest not in cache:
        cache[digest] = (get_log(db, digest) or b"").decode("utf-8", "replace")
    return cache[digest]


def outcome(record_state: str, runs: list[dict[str, Any]]) -> str:
    """How every dashboard shows a deployment recorded ``record_state`` with ``runs`` (their
    ``step`` and ``state``): ``succeeded``, ``running``, ``partial`` (a step succeeded on some
    targets and failed on others) or ``failed``. ``deployments show`` prints the same word."""
    return _state(record_state, runs)


def _state(record_state: str, runs: list[dict[str, Any]]) -> str:
    if record_state in ("Success", "Executing"):
        return shown_state(record_state, False)
    return shown_state(record_state, mixed_runs(runs))


def _outputs(items: Iterable[dict[str, Any]], withheld: Iterable[str] = ()) -> tuple[OutputView, ...]:
    """A run's outputs, sensitive values masked, then those the deploying zone withheld (a
    receipt's ``withheld`` names, format 1.4), by name only."""
    return (tuple(OutputView(o["name"], MASK if o["sensitive"] else o["value"], o["sensitive"]) for o in items)
            + tuple(OutputView(name, "", False, withheld=True) for name in withheld))


def _remote(db: Reader, e: dict[str, Any], received: int, zone_name: str, cache: dict[str, str],
            path: tuple[HopView, ...] = (), with_steps: bool = True) -> DeploymentView:
    """A reported deployment read from its receipt entry ``e`` (received at ``received``)."""
    steps = () if not with_steps else tuple(StepView(
        step=r["step"], target=r.get("target"), state=r["state"],
        started=r["started_ms"] / 1000 if "started_ms" in r else None,
        ended=r["ended_ms"] / 1000 if "ended_ms" in r else None, exit_code=r.get("exit_code"),
        log=_log(db, r.get("log"), cache), outputs=_outputs(r["outputs"], r.get("withheld", ())),
        reason=r.get("reason")) for r in e["runs"])
    return DeploymentView(deployment_id=e["deployment_id"], project=e["project"]["name"],
                          project_slug=e["project"]["slug"], release=e["release"], zone=zone_name,
                          environment=e["environment"], state=_state(e["state"], e["runs"]),
                          started=e["started_ms"] / 1000, ended=e["ended_ms"] / 1000, steps=steps,
                          receipt_received=int(received), space=e["project"]["space"],
                          tenant=e.get("tenant"), waived=tuple(e.get("waived", ())),
                          waivers=waiver_notes(e.get("waivers") or [{"phase": w} for w in e.get("waived", ())]),
                          variables_updated=(e["variables_updated_ms"] // 1000  # format 1.7, whole seconds (722)
                                             if isinstance(e.get("variables_updated_ms"), int) else None),
                          path=path)


def _local(row: Row, zone_name: str, project: tuple[str, str], with_steps: bool = True) -> DeploymentView:
    rec = dict(row["record"])
    rec.setdefault("runs", [])
    steps = () if not with_steps else tuple(
        StepView(step=r["step"], target=r["target"], state=r["state"], started=r["started"], ended=r["ended"],
                 exit_code=r["exit_code"], log=r["log"], outputs=_outputs(r["outputs"]), reason=r["reason"])
        for r in rec["runs"])
    return DeploymentView(deployment_id=row["id"], project=project[0], project_slug=row["project_slug"],
                          release=row["release"], zone=zone_name, environment=row["environment"],
                          state=_state(row["state"], rec["runs"]), started=row["started"], ended=row["ended"],
                          steps=steps, receipt_received=None, space=project[1], tenant=row["tenant"],
                          waived=tuple(row["waived"]),
                          waivers=waiver_notes(row.get("waivers") or [{"phase": w} for w in row["waived"]]))


def _refusal(row: Row, zone_name: str) -> DeploymentView:
    e = row["entry"]
    return DeploymentView(deployment_id=e["refusal_id"], project=e["project"]["name"],
                          project_slug=e["project"]["slug"], release=e["release"], zone=zone_name,
                          environment=AWAITING, state="refused", started=row["refused"], ended=row["refused"],
                          steps=(), receipt_received=int(row["received"]), space=e["project"]["space"],
                          reason=f"[{e['code']}] {e['message']}")


#: Which deployments a view carries with their steps (logs and outputs): all, none, or those
#: a function of every deployment the grid shows picks (the page details only some, decision 741).
Steps = bool | Callable[[Sequence[DeploymentView]], set[tuple[str, str]]]


def build_view(zone: Zone, now: EpochSeconds, *, space: str | None = None, steps: Steps = True) -> DashboardView:
    """The dashboard of ``zone`` at ``now`` (Unix seconds), read from one consistent state: of
    every space, or only of ``space`` (compared without case; decision 660). A project's space is
    the space of this zone it belongs to for what deployed here, and what its release file said
    for what this zone sent and the receipts that answered it.

    ``steps``: which deployments carry their steps, the costly part to read: True all, False none
    (the terminal shows none), or a function given the deployments the grid shows (without
    steps) that returns the keys of those to read in full (the page's details)."""
    # Tens of thousands of small objects and no cycle among them: the collector's passes while
    # they are made cost a third of the time and free nothing (decision 741).
    collecting = gc.isenabled()
    gc.disable()
    try:
        with zone.db.read() as db:
            return _build(zone, db, now, space, steps)
    finally:
        if collecting:
            gc.enable()


def _choose(group: list[Any]) -> tuple[list[Any], list[Any], bool]:
    """Of one cell's attempts (reported rows, then :class:`DeploymentView` of this zone's own;
    one zone's, one environment's), those the grid shows (the latest, then the last success before
    it and every earlier failure, oldest first), the rest (earlier attempts a later one superseded,
    decision 741), and whether the shown are in their zone's order with no two in the same place
    (then the cell is read from them as they are; otherwise :func:`_cell` sorts them again)."""
    if len(group) == 1:
        return group, [], True
    if type(group[-1]) is tuple:  # reported rows only (a zone's own deployments come after them)
        number = -2  # below any id's (-1: an id of another form)
        for v in group:  # read by start: usually in their zone's order already, each id parsed once
            n = deployment_number(v[DEPLOYMENT_ID])
            if n <= number:
                return (*_shown_rows(sorted(group, key=_attempt_order)), False)
            number = n
        return (*_shown_rows(group), True)
    ordered = sorted(group, key=_attempt_order)
    ok = [d[STATE] == "succeeded" if type(d) is tuple else d.state == "succeeded" for d in ordered]
    last = len(ordered) - 1
    prev = next((i for i in range(last - 1, -1, -1) if ok[i]), -1)
    shown, rest = [ordered[last]], []
    for i in range(last):
        d = ordered[i]
        failed = not ok[i] if type(d) is tuple else d.state in FAILURE_STATES
        (shown if i == prev or failed else rest).append(d)
    return shown, rest, False


def _shown_rows(ordered: list[tuple[Any, ...]]) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """:func:`_choose` of reported rows in their zone's order: the shown (the latest first) and the rest."""
    last = len(ordered) - 1
    prev = last - 1
    while prev >= 0 and ordered[prev][STATE] != "succeeded":
        prev -= 1
    shown, rest = [ordered[last]], []
    for i in range(last):
        v = ordered[i]
        (shown if i == prev or v[STATE] != "succeeded" else rest).append(v)
    return shown, rest


def _attempt_order(d: DeploymentView | tuple[Any, ...]) -> tuple[int, float]:
    """An attempt's place among its cell's: its zone's deployment number, then its start."""
    if type(d) is tuple:
        return (deployment_number(d[DEPLOYMENT_ID]), d[STARTED])
    return (deployment_number(d.deployment_id), d.started or 0)


#: A cell's shown attempts, ``deployments[start:end]`` of the view being built (the latest first,
#: then the others oldest first), with its row and column and whether they are ``plain``
#: (:func:`_choose`): (slug, tenant, zone, environment, start, end, plain).
_Group = tuple[str, "str | None", str, str, int, int, bool]


def _build(zone: Zone, db: Reader, now: EpochSeconds, space: str | None, steps: Steps) -> DashboardView:
    cache: dict[str, str] = {}
    zone_names = truststore.zone_names(db)
    known = projects.project_labels(db)

    def zone_of(row: Row) -> str:
        return name_of(row["source_zone_id"])

    def name_of(zone_id: str) -> str:
        return zone_names.get(zone_id, zone_id)

    exported = exports.list_exports(db)
    # bundlekit's own releases are installed with self-update, never deployed: apart from the grid (decision 947)
    sent_self = [e for e in exported if is_self_project(e["project_slug"])]
    exported = [e for e in exported if not is_self_project(e["project_slug"])] if sent_self else exported
    export_of = {e["bundle_id"]: e for e in exported}
    relays, release_paths = remote.receipt_relays(db)
    hop_names = RelayNames(zone_names, former_names(zone, exports.list_exports(db) if sent_self else exported))
    paths = Paths(zone.name, export_of, relays, hop_names, release_paths)
    counted: set[tuple[str, str]] = set()  # (bundle id, receipt id): its receipt's relays already counted
    reported: set[tuple[str, str]] = set()  # (bundle id, zone): bundles a receipt reported a deployment of
    last_start: dict[tuple[str, str], float] = {}  # (slug, zone): the latest start of a deployment there
    groups: dict[tuple[str, str | None, str, str], list[Any]] = {}
    seen_envs: dict[str, None] = {}  # in the order deployments are read: the first spelling wins
    named: dict[str, str] = {}  # reporting zone id -> name, each looked up once
    carried: set[tuple[str, str, str]] = set()  # (bundle id, receipt id, zone) of every reported deployment
    for v in remote.grid_rows(db):  # a tuple a row; a view only for those the grid shows (decision 900)
        zone_id, env = v[ZONE_ID], v[ENVIRONMENT]
        zname = named.get(zone_id)
        if zname is None:
            zname = named[zone_id] = name_of(zone_id)
        carried.add((v[BUNDLE_ID], v[RECEIPT_ID], zname))
        seen_envs.setdefault(env)
        groups.setdefault((v[SLUG], v[TENANT], zname, env.casefold()), []).append(v)
    for bundle, receipt, zname in carried:
        reported.add((bundle, zname))
        # The relays that carried the receipt back answer the export too: the first is the zone
        # this zone sent the release to (decision 620), which would otherwise await for ever.
        if (bundle, receipt) not in counted:
            counted.add((bundle, receipt))
            reported.update((bundle, hop_names.known(h)) for h in relays.get(receipt, []))
            # so do the relays the release itself went through (decision 906), however the receipt came
            reported.update((bundle, hop_names.known(h)) for h in release_paths.get(receipt, {}).get(bundle, []))
    for group_key, group in groups.items():  # rows are read by start: a group's last started last
        key, started = (group_key[0], group_key[2]), float(group[-1][STARTED])
        if started > last_start.get(key, started - 1):
            last_start[key] = started
    local: dict[tuple[str, str], Row] = {}  # a local deployment's row, to read it again with its steps
    for row in deployments_by_start(db):
        slug = row["project_slug"]
        d = _local(row, zone.name, known.get(slug, (slug, "Default")), with_steps=False)
        local[d.key] = row
        key = (slug, zone.name)
        last_start[key] = max(last_start.get(key, d.started or 0), d.started or 0)
        seen_envs.setdefault(d.environment)
        groups.setdefault((slug, d.tenant, zone.name, d.environment.casefold()), []).append(d)
    envs = Environments()
    envs.learn(projects.lifecycles(db), seen_envs)
    deployments: list[DeploymentView] = []
    sources: list[Any] = []  # what each of deployments was read from: its row
    cells: list[_Group] = []
    older: dict[str, int] = {}
    spelled: dict[str, str] = {}  # an environment as read -> as shown
    for (slug, tenant, zname, _folded), group in groups.items():
        if is_self_project(slug):
            continue  # what a zone running an older bundlekit recorded as a deployment of it (finding 5)
        shown, rest, plain = _choose(group)
        latest = shown[0]
        start = len(deployments)
        if type(group[-1]) is tuple:  # reported rows only: views from their columns (decision 870)
            if space is not None and latest[SPACE].casefold() != space.casefold():
                continue  # one space: what belongs to another is not even counted
            env = spelled.get(latest[ENVIRONMENT])
            if env is None:
                env = spelled[latest[ENVIRONMENT]] = envs.show(latest[ENVIRONMENT])
            deployments += from_rows(shown, zname, env, paths)  # every attempt the grid shows, its earlier success
            if rest:  # only successes are ever superseded
                older["succeeded"] = older.get("succeeded", 0) + len(rest)
        else:
            if space is not None and (latest[SPACE] if type(latest) is tuple else latest.space).casefold() \
                    != space.casefold():
                continue
            env = envs.show(latest[ENVIRONMENT] if type(latest) is tuple else latest.environment)
            for d in shown:
                if type(d) is tuple:
                    started = float(d[STARTED])
                    deployments.append(from_columns(d, zname, env, started, paths(d, zname, started)))
                else:
                    deployments.append(_respell(d, envs))
            for d in rest:
                state = d.state if isinstance(d, DeploymentView) else "succeeded"
                older[state] = older.get(state, 0) + 1
        sources += shown
        cells.append((slug, tenant, zname, env, start, len(deployments), plain))
    wanted = steps(deployments) if callable(steps) else {d.key for d in deployments} if steps else set()
    if wanted:
        full = [(i, v) for i, (d, v) in enumerate(zip(deployments, sources)) if (d.zone, d.deployment_id) in wanted]
        texts = read_entries(db, [v for _, v in full if type(v) is tuple])
        for i, v in full:
            d = deployments[i]
            if type(v) is tuple:
                started = float(v[STARTED])
                d = _remote(db, entry_of(texts, v, d.zone), v[RECEIVED], d.zone, cache,
                            paths(v, d.zone, started), True)
            else:
                d = _local(local[d.key], zone.name, (d.project, d.space))
            deployments[i] = _respell(d, envs)
    refused_rows = refusals.remote_refusals(db)
    refused_self = [r for r in refused_rows if is_self_project(r["entry"]["project"]["slug"])]
    refused_rows = [r for r in refused_rows if not is_self_project(r["entry"]["project"]["slug"])]
    # (zone, deployment id): the sequence of the bundle a shown reported deployment deployed (decision 723)
    deployed = remote.grid_sequences(db) if refused_rows else {}  # only refusals need them
    sequences = {d.key: deployed[(v[ZONE_ID], v[DEPLOYMENT_ID])] for d, v in zip(deployments, sources)
                 if type(v) is tuple} if refused_rows else {}
    refused = _superseded([_refusal(r, zone_of(r)) for r in refused_rows], refused_rows, deployments, sequences)
    refusal_of = {(str(r["bundle_id"]), zone_of(r)): v for r, v in zip(refused_rows, refused)}
    for r in refused_rows:  # a refusal relayed back, or of a release relayed there, answers the export to the relays too
        reported.update((r["bundle_id"], hop_names.known(h))
                        for h in [*relays.get(r["receipt_bundle_id"], []),
                                  *release_paths.get(r["receipt_bundle_id"], {}).get(r["bundle_id"], [])])
    if space is not None:
        refused = [r for r in refused if r.space.casefold() == space.casefold()]
        exported = [e for e in exported if str(e["space"]).casefold() == space.casefold()]
        sent_self = [e for e in sent_self if str(e["space"]).casefold() == space.casefold()]
    latest_export: dict[tuple[str, str], Row] = {}
    for e in exported:
        latest_export[(e["project_slug"], e["dest_name"])] = e
    names = {d.project_slug: (d.project, d.space) for d in deployments + refused}
    names.update({e["project_slug"]: (e["project"], e["space"]) for e in exported})
    columns = {(g[2], g[3]) for g in cells}
    awaiting = {(slug, dest) for (slug, dest), exp in latest_export.items()
                if _awaits(exp, dest, last_start.get((slug, dest)), reported)}
    columns |= {(dest, AWAITING) for _, dest in awaiting}
    for r in refused:
        if not any(c[0] == r.zone for c in columns):
            columns.add((r.zone, AWAITING))
    # Zones in the order of their earliest environment, each zone's columns together (one zone
    # header over them, finding 10.5), environments in promotion order within it.
    first: dict[str, tuple[Any, ...]] = {}
    for z, e in columns:
        first[z] = min(first.get(z, (envs.rank(e), z != zone.name, z)), (envs.rank(e), z != zone.name, z))
    ordered = sorted(columns, key=lambda c: (first[c[0]], envs.rank(c[1])))
    first_column = {}
    for c in ordered:
        first_column.setdefault(c[0], c)
    by_row: dict[str, dict[str | None, dict[tuple[str, str], CellView]]] = {}
    for g in cells:
        by_row.setdefault(g[0], {}).setdefault(g[1], {})[(g[2], g[3])] = _cell_of(g, deployments)
    refused_at: dict[tuple[str, str], list[DeploymentView]] = {}
    for r in refused:
        refused_at.setdefault((r.project_slug, r.zone), []).append(r)
    exported_slugs = {slug for slug, _ in latest_export}
    sent = set(latest_export) | set(refused_at)  # (slug, zone): what _sent may add to; elsewhere it adds nothing
    rows: list[ProjectRow] = []
    extra: list[DeploymentView] = []
    for slug in sorted(names, key=lambda s: (names[s][1].casefold(), names[s][0].casefold())):
        name, space_name = names[slug]
        mine = by_row.get(slug, {})
        tenants = sorted((t for t in mine if t is not None), key=str.casefold)
        for tenant in [None, *tenants]:
            group_at = mine.get(tenant, {})
            if tenant is None and tenants and not group_at and slug not in exported_slugs:
                continue  # a tenants-only project with nothing sent from here: no untenanted row
            cells = []
            for zname, env in ordered:
                cell = group_at.get((zname, env))
                if tenant is None and (slug, zname) in sent:
                    cell = _sent(cell, zname, env, slug, name, space_name, latest_export, refusal_of, awaiting,
                                 [r for r in refused_at.get((slug, zname), []) if r.superseded_by is None],
                                 first_column[zname], extra)
                cells.append(cell)
            rows.append(ProjectRow(name, slug, tuple(cells), space_name, tenant))
    listed = extra + sorted(deployments + refused, key=lambda d: d.started or 0, reverse=True)
    return DashboardView(zone_name=zone.name, zone_id=zone.zone_id, generated=now, columns=tuple(ordered),
                         projects=tuple(rows), deployments=tuple(listed), older=older,
                         self_sent=self_sent(sent_self, refused_self, zone_names))


def _superseded(refused: list[DeploymentView], rows: list[Row], deployments: list[DeploymentView],
                sequences: dict[tuple[str, str], int]) -> list[DeploymentView]:
    """The refusals, each marked ``superseded_by`` the first successful deployment of the same
    project and release in the same zone that came after it (decision 723): one that deployed a
    bundle sent after the refused one (a higher sequence: ``sequences`` by zone and deployment
    id), or that started after the refusal by that zone's own clock."""
    out = []
    for view, row in zip(refused, rows):
        seq = int(row["entry"]["release_bundle"]["sequence"])
        later = [d for d in deployments
                 if d.state == "succeeded" and d.zone == view.zone and d.project_slug == view.project_slug
                 and d.release.casefold() == view.release.casefold()
                 and (sequences.get(d.key, 0) > seq or (d.started or 0) > (view.started or 0))]
        first = min(later, key=_zone_order, default=None)
        out.append(view if first is None else replace(view, superseded_by=first.deployment_id))
    return out


def _respell(d: DeploymentView, envs: Environments) -> DeploymentView:
    shown = envs.show(d.environment)
    return d if shown == d.environment else replace(d, environment=shown)


def _cell_of(g: _Group, deployments: list[DeploymentView]) -> CellView:
    """The cell of the shown attempts ``g``: when they are in their zone's order (``plain``), read
    as they are (the latest first, then the others oldest first); else by :func:`_cell`."""
    _slug, _tenant, zone, env, start, end, plain = g
    if not plain:
        return _cell(zone, env, deployments[start:end])
    if end - start == 1:
        return _make_cell(zone, env, deployments[start], None, None, ())  # no export time to check
    if end - start == 2:  # the latest and one other: its last success or a failure
        d = deployments[start + 1]
        return _make_cell(zone, env, deployments[start], d if d.state == "succeeded" else None, None,
                          (d,) if d.state in FAILURE_STATES else ())
    earlier = deployments[start + 1:end]
    prev = next((d for d in reversed(earlier) if d.state == "succeeded"), None)
    failures = tuple(d for d in reversed(earlier) if d.state in FAILURE_STATES)
    return _make_cell(zone, env, deployments[start], prev, None, failures)


def _cell(zname: str, env: str, here: list[DeploymentView]) -> CellView:
    # One zone's attempts in that zone's own order (its deployment numbers, decision 680), never by
    # its wall clock: a deploy stamped while the clock ran ahead is not "latest" for ever.
    here = sorted(here, key=_zone_order)
    latest = here[-1]
    prev = next((d for d in reversed(here[:-1]) if d.state == "succeeded"), None)
    failures = tuple(d for d in reversed(here[:-1]) if d.state in FAILURE_STATES)
    return CellView(zname, env, latest, prev, None, failures)


def _zone_order(d: DeploymentView) -> tuple[int, int, float]:
    """A deployment's place among its zone's: refusals first (they never are "latest" over a run),
    then by the zone's number; the start only breaks ties of ids of another form."""
    return (0 if d.state == "refused" else 1, deployment_number(d.deployment_id), d.started or 0)


def _awaits(exp: Row, zname: str, last_start: float | None, reported: set[tuple[str, str]]) -> bool:
    """Whether the export ``exp`` to ``zname`` still awaits its receipt: no receipt reported a
    deployment of that very bundle (``reported``: bundle id and zone) and no deployment of the
    project started there (the latest at ``last_start``) after it was exported (one started in
    the same second, by another zone's clock, does not count)."""
    if (exp["bundle_id"], zname) in reported:
        return False
    # Exports are recorded in whole seconds, deployments to the millisecond (decision 430): compare seconds.
    return last_start is None or int(last_start) <= exp["exported_at"]


def _sent(cell: CellView | None, zname: str, env: str, slug: str, name: str, space: str,
          latest_export: dict[tuple[str, str], Row], refusal_of: dict[tuple[str, str], DeploymentView],
          awaiting: set[tuple[str, str]], zone_refusals: list[DeploymentView],
          first_column: tuple[str, str], extra: list[DeploymentView]) -> CellView | None:
    """Add what this zone sent to ``zname`` to the untenanted row: every refusal among the
    failures of the zone's first cell, and the latest export while its receipt is awaited
    (``awaiting``: project slug and zone; :func:`_awaits`) in the zone's ``(awaiting)`` column.

    An export is not an attempt in an environment: it never replaces a cell's latest attempt or
    last success (decision 392, amending 323). Until a receipt answers it, the zone's
    ``(awaiting)`` column shows it, once, with the time it was exported: ``exported``, or
    ``refused`` when the zone reported refusing the import."""
    exp = latest_export.get((slug, zname))
    first_of_zone = first_column == (zname, env)
    failures = list(cell.failures) if cell is not None else []
    if first_of_zone:
        failures += [r for r in reversed(zone_refusals) if r not in failures]
    if env != AWAITING or exp is None or (slug, zname) not in awaiting:
        if cell is None:
            return CellView(zname, env, None, None, None, tuple(failures)) if failures else None
        return CellView(zname, env, cell.latest, cell.previous_success, None, tuple(failures))
    overlay = refusal_of.get((exp["bundle_id"], zname))
    if overlay is None:
        overlay = DeploymentView(deployment_id=f"export-{slug}-{exp['release']}-{zname}", project=name,
                                 project_slug=slug, release=exp["release"], zone=zname, environment=env,
                                 state="exported", started=None, ended=None, steps=(), receipt_received=None,
                                 space=space)
        if all(d.key != overlay.key for d in extra):
            extra.append(overlay)
    return CellView(zname, env, overlay, None, int(exp["exported_at"]),
                    tuple(f for f in failures if f.key != overlay.key))
