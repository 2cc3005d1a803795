"""The dashboard as ONE self-contained HTML5 page.

The page must work from a USB stick on an offline machine, so it has no external assets
(no fonts, scripts, images or stylesheets), inline CSS only, no JavaScript (details open
with ``<details>``), and a Content-Security-Policy ``<meta>`` that forbids loading
anything even if some text slipped through. Every string from a project, release, step,
target, output or log is HTML-escaped, control characters are shown escaped, and a sensitive
output is always printed as the mask, whatever the model holds
(``docs/decisions/051-dashboard-html.md``).

The grid is one table per zone, with hooks for tests and scripts where thousands of cells
cost them nothing (decision 875): the table and each of its column headers carry
``data-zone``, a column header ``data-environment``, a row ``data-project`` (slug),
``data-space`` and ``data-tenant`` when it has one. A cell is found by its row and its column
(the row's child at its header's index); it carries ``data-state`` (a deployment state, or
``none``), its release in ``<b>``, then the state as a word and the age as text, the last
success beside a failure (class ``prev``) and its earlier failures as the items of its list.
"""

from __future__ import annotations

import gc
import hashlib
import heapq
import re
import time
from collections import Counter
from functools import lru_cache
from itertools import chain
from typing import Mapping, Sequence

from bundlekit.core.clock import EpochSeconds
from bundlekit.core.text import MASK, html_text
from bundlekit.dashboard.selfsent import html_section
from bundlekit.dashboard.style import CSS
from bundlekit.dashboard.spacefilter import SpaceFilter
from bundlekit.dashboard.view import (
    FAILURE_STATES,
    CellView,
    DashboardView,
    DeploymentView,
    OutputView,
    ProjectRow,
    StepView,
    cell_time,
    format_duration,
    format_utc,
    format_utc_seconds,
    recorded_age,
)

__all__ = ["render_html", "detailed", "CSP", "LOG_TAIL_CHARS", "DETAIL_LIMIT", "deployment_anchor"]

CSP = "default-src 'none'; style-src 'unsafe-inline'"
#: A step's log is shown up to its last this-many characters: failures are at the end, and
#: one runaway log must not make the page unusable.
LOG_TAIL_CHARS = 200_000
#: The most deployments the page details (steps, logs, outputs): a zone with thousands keeps a
#: page people can open (decision 741); the others are in the grid and counted.
DETAIL_LIMIT = 50

# Also the order of the summary chips: what needs attention first.
_LABELS = {"failed": "Failed", "partial": "Partial", "refused": "Refused", "running": "Running",
           "exported": "Awaiting receipt", "succeeded": "Succeeded"}
_ICONS = {"exported": "\u25f7", "succeeded": "\u2714", "failed": "\u2716", "partial": "\u25d1",
          "running": "\u25b6", "refused": "\u2298"}
_STEP_CLASS = {"Success": "succeeded", "Failed": "failed", "TimedOut": "failed", "Canceled": "partial",
               "Skipped": "muted", "Pending": "muted"}
_STEP_LABELS = {"TimedOut": "Timed out"}

_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,100}")


@lru_cache(maxsize=4096)  # a grid of thousands repeats its releases, environments and zones
def _e(s: str) -> str:
    """Escape one line of untrusted text for element content and quoted attributes."""
    return html_text(s, multiline=False)


def _reason(s: str) -> str:
    """A reason bundlekit wrote (a refusal's message, which may list one item per line): each line
    escaped as :func:`_e` does, the line feeds between them as ``<br>`` (newuser36 finding 6);
    every other control character is still shown escaped."""
    return "<br>".join(_e(line) for line in s.split("\n"))


def deployment_anchor(deployment_id: str, zone: str = "") -> str:
    """The fragment id of a deployment's section (ids are unique per zone: ``zone/id``); names
    that are not plain get a hash."""
    if _SAFE_ID.fullmatch(deployment_id) and (not zone or _SAFE_ID.fullmatch(zone)):
        return f"deployment-{zone}/{deployment_id}" if zone else f"deployment-{deployment_id}"
    key = f"{zone}\n{deployment_id}" if zone else deployment_id
    return "deployment-h" + hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()[:16]


def _anchor(d: DeploymentView) -> str:
    return deployment_anchor(d.deployment_id, d.zone)


def _time(t: float, now: EpochSeconds, text: str | None = None) -> str:
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
    return f'<time datetime="{iso}" title="{format_utc(t)}">{_e(text or recorded_age(t, now))}</time>'


def detailed(deployments: Sequence[DeploymentView]) -> set[tuple[str, str]]:
    """The keys of the deployments the page details, of those ``deployments`` (each once): every
    one up to :data:`DETAIL_LIMIT`; beyond, the failures, then the others, newest first. Refused
    imports and exports awaiting a receipt (no steps) are always detailed and not counted."""
    ran = [d for d in deployments if d.state not in ("refused", "exported")]
    if len(ran) <= DETAIL_LIMIT:
        return {d.key for d in ran}
    # Failures first, then the newest: every failure when there are no more than the limit, then
    # the newest others; else the newest failures (at thousands of deployments, a heap of the
    # failures alone: the same pick as of every deployment by failure, start and key).
    failures = [d for d in ran if d.state in FAILURE_STATES]
    top = heapq.nlargest(DETAIL_LIMIT, failures, key=_newest)
    if len(top) < DETAIL_LIMIT:
        top += heapq.nlargest(DETAIL_LIMIT - len(top), (d for d in ran if d.state not in FAILURE_STATES), key=_newest)
    return {d.key for d in top}


def _newest(d: DeploymentView) -> tuple[float, tuple[str, str]]:
    return (d.started or 0, d.key)


def render_html(view: DashboardView, now: EpochSeconds, *, only: SpaceFilter | None = None) -> str:
    """The whole page as a string (UTF-8 when written). Deployments beyond :func:`detailed`'s
    pick are in the grid and the counts, and named in a note, without a section of their own.
    ``only``: the view is of that one space, which the title and the heading name."""
    # As while the view is built and the terminal grid rendered (decisions 741, 870): tens of
    # thousands of strings and no cycle among them; a collection would walk the whole view.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _render(view, now, only)
    finally:
        if collecting:
            gc.enable()


def _render(view: DashboardView, now: EpochSeconds, only: SpaceFilter | None) -> str:
    every = _sections(view)
    keys = detailed(every)
    # (zone, id) as DeploymentView.key, without making one per deployment of thousands
    sections = [d for d in every if (d.zone, d.deployment_id) in keys or d.state in ("refused", "exported")]
    anchors = {d.key for d in sections}
    space = "" if only is None else f", space {only.name} only"
    parts = [_head(_e(f"Deployments \u00b7 zone {view.zone_name}{space}"))]
    parts.append('<header class="top" id="top"><div>')
    parts.append(f'<h1>Deployments <span class="zone">zone {_e(view.zone_name)}{_e(space)}</span></h1>')
    parts.append(f'<p class="sub">Zone id <code>{_e(view.zone_id)}</code> \u00b7 generated '
                 f'{_time(view.generated, now, format_utc(view.generated))}</p></div>')
    parts.append(_summary(every, view.older))
    parts.append("</header><main>")
    if not view.projects or not view.columns:
        other = " of a project" if view.self_sent else ""  # bundlekit's own is listed apart (decision 947)
        parts.append(f'<p class="empty">Nothing to show yet: no release{other} has been exported or deployed from '
                     f'zone {_e(view.zone_name)}. Export one with <code>bundlekit export</code>, deploy it, '
                     'then generate this page again.</p>' if only is None else
                     f'<p class="empty">{_e(only.empty_text(view.zone_name, "generate this page again"))}</p>')
    else:
        parts.append(_grid(view, now, anchors))
        parts.append(_failures(every, anchors))
        parts.append('<h2 class="deps-title">Deployments</h2>')
        if len(sections) < len(every) or view.older:
            parts.append(f'<p class="omitted-deps">{len(every) - len(sections) + sum(view.older.values())} more '
                         'deployment(s) are in the grid and the counts without their steps here: '
                         '<code>bundlekit dashboard --json</code> has those the grid shows, '
                         '<code>bundlekit deployments show ID</code> or the receipt any one.</p>')
        exported, previous = _cell_facts(view, {d.key for d in sections})
        parts.extend(_deployment(d, now, exported.get(d.key), previous.get(d.key)) for d in sections)
    parts.append(html_section(view.self_sent, now))
    parts.append('</main><footer>bundlekit dashboard \u00b7 self-contained page, no network needed'
                 '</footer></body></html>\n')
    return "".join(parts)


def _cell_facts(view: DashboardView, keys: set[tuple[str, str]]
                ) -> tuple[dict[tuple[str, str], float], dict[tuple[str, str], str]]:
    """By the key of each cell's latest deployment among ``keys`` (those with a section): when its
    export left (while awaiting a receipt), and what its section says of the cell's last success
    before it (the grid says it only beside a failure, decision 875)."""
    exported: dict[tuple[str, str], float] = {}
    previous: dict[tuple[str, str], str] = {}
    for c in (c for p in view.projects for c in p.cells if c is not None):
        latest, prev = c.latest, c.previous_success
        if latest is None or (latest.zone, latest.deployment_id) not in keys:
            continue
        if c.exported_at is not None:
            exported[latest.key] = c.exported_at
        if prev is not None and prev.key != latest.key and (prev.release != latest.release
                                                            or latest.state in FAILURE_STATES):
            previous[latest.key] = (f"{_e(prev.release)} (<code>{_e(prev.deployment_id)}</code>"
                                    + (f", ended {format_utc(prev.ended)}" if prev.ended is not None else "") + ")")
    return exported, previous


def _sections(view: DashboardView) -> list[DeploymentView]:
    """Every deployment listed by the view, plus any a cell shows that the list lacks (one per zone and id)."""
    seen: dict[tuple[str, str], DeploymentView] = {}
    for d in view.deployments:
        seen.setdefault((d.zone, d.deployment_id), d)
    listed = {id(d) for d in view.deployments}  # a cell's deployments are listed: no key to make for them
    cells = [c for p in view.projects for c in p.cells if c is not None]
    for d in chain((x for c in cells for x in (c.latest, c.previous_success)), (f for c in cells for f in c.failures)):
        if d is not None and id(d) not in listed:
            seen.setdefault((d.zone, d.deployment_id), d)
    return list(seen.values())


def _summary(sections: list[DeploymentView], older: Mapping[str, int]) -> str:
    """Every deployment, refusal and export awaiting a receipt, counted by state (``older``: the
    superseded attempts not listed); failures link to their list."""
    counts = Counter(older)
    # a refusal a later success settled is listed, not counted (decision 723)
    counts.update(d.state for d in sections if d.superseded_by is None)
    items = []
    for s, n in ((s, counts.get(s, 0)) for s in _LABELS):
        if not n:
            continue
        text = f'<span aria-hidden="true">{_ICONS[s]}</span> {n} {_LABELS[s].lower()}'
        items.append(f'<li class="chip state-{s}">' + (f'<a href="#failures">{text}</a>' if s in FAILURE_STATES
                                                        else text) + "</li>")
    return f'<ul class="summary" aria-label="Every deployment by state">{"".join(items)}</ul>'


def _failures(sections: list[DeploymentView], anchors: set[tuple[str, str]]) -> str:
    """The failed and partial deployments and refused imports nothing since settled: counted, and
    listed with a link to their section when the page details them (failures first, decision
    741). The others are each in their cell of the grid and named where to read them: a list of
    thousands repeated what the grid shows (decision 875)."""
    failed = [d for d in sections if d.to_look_at]
    if not failed:
        return ""
    items = "".join(f'<li>{_open_link(d, anchors)}{_ICONS[d.state]} {_e(d.project)} {_e(d.release)}'
                    f'{_e(" for " + d.tenant) if d.tenant else ""} in {_e(d.zone)}'
                    f'{" (import)" if d.state == "refused" else " / " + _e(d.environment)}: '
                    f'{_LABELS[d.state].lower()} ({_e(d.deployment_id)})</a></li>'
                    for d in failed if d.key in anchors)
    more = sum(d.key not in anchors for d in failed)
    note = (f'<p class="omitted-fails">{more} more are not detailed on this page: each is in its cell of the '
            'grid (its state, or the cell\'s list of earlier failures); <code>bundlekit dashboard --json</code> '
            'lists them with their ids.</p>' if more else "")
    return (f'<section class="failures" id="failures"><h2>Failures ({len(failed)})</h2>'
            + (f"<ul>{items}</ul>" if items else "") + f"{note}</section>")


def _grid(view: DashboardView, now: EpochSeconds, anchors: set[tuple[str, str]]) -> str:
    """One table per zone: its caption names the zone (and the relays all its releases came
    through), its header cells the environments (``data-zone``, ``data-environment``), its rows
    the projects (``data-project``, ``data-space``, ``data-tenant``); a cell carries only its state
    (decision 875)."""
    zones: dict[str, list[int]] = {}
    for i, (zone, _env) in enumerate(view.columns):
        zones.setdefault(zone, []).append(i)
    routes = _routes(view)
    spaces = view.spaces
    paths = [_row_paths(project) for project in view.projects]
    out = []
    for zone, indexes in zones.items():
        z = _e(zone)
        # Fixed layout and width give every environment the same width in every zone's table; many
        # columns scroll sideways instead of squeezing the cells.
        out.append(f'<div class="grid-wrap"><table class="grid" data-zone="{z}" style="width:'
                   f'{210 + 190 * len(indexes)}px"><caption class="zone-h">zone {z}'
                   + (f' <span class="via">via {_e(", ".join(routes[zone]))}</span>' if routes.get(zone) else "")
                   + '</caption><thead><tr><th scope="col" class="corner">Project</th>')
        out.extend(f'<th scope="col" class="env-h" data-zone="{z}" data-environment="{_e(view.columns[i][1])}">'
                   f'{_e(view.columns[i][1])}</th>' for i in indexes)
        out.append("</tr></thead><tbody>")
        route = routes.get(zone)
        for n, project in enumerate(view.projects):
            if len(spaces) > 1 and (n == 0 or view.projects[n - 1].space != project.space):
                out.append(f'<tr class="space-h" data-space="{_e(project.space)}"><th scope="rowgroup" '
                           f'colspan="{len(indexes) + 1}">space {_e(project.space)}</th></tr>')
            tenant = f'<span class="tenant">tenant {_e(project.tenant)}</span>' if project.tenant else ""
            space = f'<span class="space">space {_e(project.space)}</span>' if project.space != "Default" else ""
            out.append(f'<tr data-project="{_e(project.slug)}"'
                       + (f' data-tenant="{_e(project.tenant)}"' if project.tenant else "")
                       + f' data-space="{_e(project.space)}"><th scope="row">'
                       f'<span class="pname">{_e(project.name)}</span><span class="slug">{_e(project.slug)}</span>'
                       f'{tenant}{space}{paths[n].get(zone, "")}</th>')
            cells = project.cells
            out.extend(_cell(cells[i], now, anchors, route) for i in indexes)
            out.append("</tr>")
        out.append("</tbody></table></div>")
    return "".join(out)


def _row_paths(project: ProjectRow) -> dict[str, str]:
    """By zone, what goes under a project's name in the zone's table: the path of each release that
    reached the zone through relays and is the latest in one of the row's cells there, once per
    release (its cells share the export and the relayed receipt), each hop with its time to the
    second, the deployed hop the first start among those cells (each cell shows its own age).
    Every cell's path is on the page, not only those of the deployments it details (decision 840)."""
    seen: dict[tuple[str, str], list[DeploymentView]] = {}
    for cell in project.cells:
        d = cell.latest if cell is not None else None
        if d is not None and len(d.path) > 2:
            seen.setdefault((d.zone, d.release), []).append(d)
    items: dict[str, list[str]] = {}
    for (zone, release), ds in seen.items():
        first = min(ds, key=lambda d: d.path[-1].at or 0)
        hops = " \u2192 ".join(f"{_e(h.zone)} {_HOP_WORDS[h.event]}" + (f" {format_utc_seconds(h.at)}" if h.at is not None
                                                                                         else "") for h in first.path)
        items.setdefault(zone, []).append(f"<li>{_e(release)} to {_e(zone)}: {hops}</li>")
    return {zone: f'<ul class="paths">{"".join(lines)}</ul>' for zone, lines in items.items()}


def _relays(d: DeploymentView) -> tuple[str, ...]:
    path = d.path
    if len(path) == 3:  # the usual relayed path: one relay
        return (path[1].zone,)
    return tuple([h.zone for h in path[1:-1]])


def _routes(view: DashboardView) -> dict[str, tuple[str, ...]]:
    """Per zone, the relays every latest release shown in its columns came through, when they
    all came through the same ones (its header says so once, not every cell; decision 740)."""
    seen: dict[str, set[tuple[str, ...]]] = {}
    for p in view.projects:
        for (zone, _env), cell in zip(view.columns, p.cells):
            if cell is not None and cell.latest is not None and cell.latest.path:
                seen.setdefault(zone, set()).add(_relays(cell.latest))
    return {z: next(iter(r)) for z, r in seen.items() if len(r) == 1 and next(iter(r))}


def _cell(cell: CellView | None, now: EpochSeconds, anchors: set[tuple[str, str]],
          route: tuple[str, ...] | None = None) -> str:
    """One grid cell: ``data-state``, the release in ``<b>``, the state as a word and the age as
    text (``Succeeded, 2d ago``), the last success when the latest failed, and every earlier
    failure in a list; the absolute time and the previous release are in the deployment's section
    when the page details it (decision 875)."""
    latest = cell.latest if cell is not None else None
    fails = _cell_failures(cell, anchors) if cell is not None and cell.failures else ""
    if cell is None or latest is None:
        return f'<td data-state="none">Not deployed{fails}</td>'
    state = latest.state
    body = f"<b>{_e(latest.release)}</b> {_LABELS[state]}"
    when = cell_time(cell)
    if when is not None:  # the age's text escaped once per distinct age, not once per cell
        body += f", {_VERBS.get(state, '')}{_e(recorded_age(when, now))}"
    if state == "refused" and latest.reason:
        body += f' <span class="why">{_e(latest.reason.split("]")[0].lstrip("["))}</span>'
    if latest.variables_updated is not None:  # it ran values its earlier phases did not test (decision 722)
        body += ' <span class="why">variables updated</span>'
    if len(latest.path) > 2 and _relays(latest) != route:  # the zone's caption names the usual relays
        body += f' <span class="via">via {_e(", ".join(_relays(latest)))}</span>'
    prev = cell.previous_success
    if state in FAILURE_STATES and prev is not None and prev.key != latest.key:
        body += f'<span class="prev">last success: {_e(prev.release)}</span>'
    if (latest.zone, latest.deployment_id) in anchors:  # as DeploymentView.key, without making one per cell
        body = f'<a href="#{_e(_anchor(latest))}">{body}</a>'
    return f'<td data-state="{state}">{body}{fails}</td>'


_VERBS = {"exported": "exported ", "running": "started "}  # "Refused, just now": the state word says it


def _open_link(d: DeploymentView, anchors: set[tuple[str, str]]) -> str:
    return f'<a href="#{_e(_anchor(d))}">' if d.key in anchors else ""


def _cell_failures(cell: CellView | None, anchors: set[tuple[str, str]]) -> str:
    """Earlier failures in a cell, each a link when the page details it: a later success never hides one."""
    if cell is None or not cell.failures:
        return ""
    items = "".join(f'<li>{_open_link(f, anchors)}{_e(f.release)} {_LABELS[f.state].lower()}'
                    f'{"</a>" if f.key in anchors else ""}</li>' for f in cell.failures)
    return f"<ul>{items}</ul>"


def _deployment(d: DeploymentView, now: EpochSeconds, exported_at: float | None, previous: str | None = None) -> str:
    tenant = f" for tenant {_e(d.tenant)}" if d.tenant else ""
    out = [f'<section class="deployment" id="{_e(_anchor(d))}">',
           f'<div class="dep-head state-{d.state}"><h3>{_e(d.project)} <span class="release">{_e(d.release)}</span>'
           f' <span class="arrow" aria-label="to">\u2192</span> {_e(d.zone)}'
           f'{" (import)" if d.state == "refused" else " / " + _e(d.environment)}{tenant}</h3>'
           f'<span class="badge"><span aria-hidden="true">{_ICONS[d.state]}</span> {_LABELS[d.state]}</span></div>',
           '<dl class="meta">']
    meta = [("Refusal" if d.state == "refused" else "Deployment", f"<code>{_e(d.deployment_id)}</code>")]
    if d.receipt_received is not None:  # another zone's word: whose, and who carried it (issue 11)
        back = [h.zone for h in d.path if h.event == "relayed_back"]
        carried = f", carried back by {_e(', '.join(back))}" if back else ""
        meta.append(("Reported by", f"zone {_e(d.zone)}, in a receipt it signed{carried}"))
    if d.reason and d.state == "refused":
        meta.append(("Refused", _reason(d.reason)))
    if d.superseded_by is not None:
        meta.append(("Settled", f"by <code>{_e(d.superseded_by)}</code>: {_e(d.release)} later succeeded in zone "
                                f"{_e(d.zone)}"))
    if d.waived:
        notes = [f"{w.text()}, {format_utc(w.created)}" if w.created else w.text() for w in d.waivers]
        meta.append(("Waived phases", _e("; ".join(notes or d.waived))))
    if d.variables_updated is not None:
        meta.append(("Variables", f"updated {format_utc(d.variables_updated)} (<code>releases update-variables</code>) "
                                  "before this deployment: the phases it passed earlier ran the earlier values"))
    if exported_at is not None:
        meta.append(("Exported", f"{format_utc(exported_at)} ({_time(exported_at, now)})"))
    if d.state == "refused" and d.ended is not None:
        meta.append(("Refused at", f"{format_utc(d.ended)} ({_time(d.ended, now)})"))
    else:
        if d.started is not None:
            meta.append(("Started", f"{format_utc(d.started)} ({_time(d.started, now)})"))
        if d.ended is not None:
            meta.append(("Ended", format_utc(d.ended)))
        if format_duration(d.started, d.ended):
            meta.append(("Duration", format_duration(d.started, d.ended)))
    if previous is not None:
        meta.append(("Last success" if d.state in FAILURE_STATES else "Previous success", previous))
    if d.path:
        meta.append(("Path", _path(d, now)))
    if d.receipt_received is not None:
        meta.append(("Receipt", f"received {format_utc(d.receipt_received)}"))
    elif d.state == "exported":
        meta.append(("Receipt", f"awaiting the signed receipt from zone {_e(d.zone)}"))
    out.extend(f"<div><dt>{k}</dt><dd>{v}</dd></div>" for k, v in meta)
    out.append("</dl>")
    if not d.steps:
        msg = ("The bundle was exported; its steps appear here once the receipt comes back and is imported."
               if d.state == "exported" else f"Zone {_e(d.zone)} refused to import this release bundle; nothing "
               "was deployed. Its receipt says why (above)." if d.state == "refused"
               else "No step records for this deployment.")
        out.append(f'<p class="nosteps">{msg}</p>')
    else:
        out.append('<table class="steps"><thead><tr><th scope="col">Step</th><th scope="col">Target</th>'
                   '<th scope="col">State</th><th scope="col">Duration</th><th scope="col">Exit code</th>'
                   '<th scope="col">Output variables</th></tr></thead><tbody>')
        out.extend(_step(s, d.zone) for s in d.steps)
        out.append("</tbody></table>")
    out.append('<p class="back"><a href="#top">Back to the dashboard</a></p></section>')
    return "".join(out)


_HOP_WORDS = {"exported": "exported", "relayed": "relayed it on", "relayed_back": "relayed the receipt back",
              "deployed": "deployed"}


def _path(d: DeploymentView, now: EpochSeconds) -> str:
    """The zones the release went through, source first, each with what it did and when (decision 740)."""
    items = "".join(f'<li data-zone="{_e(h.zone)}" data-event="{h.event}"><span class="hop-zone">{_e(h.zone)}</span> '
                    + _HOP_WORDS[h.event] + (f" {format_utc_seconds(h.at)} ({_time(h.at, now)})" if h.at is not None
                                             else "") + "</li>" for h in d.path)
    return f'<ol class="path">{items}</ol>'


def _output(o: OutputView, zone: str) -> str:
    """One output variable: its value (the mask when sensitive), or, withheld by the deploying
    zone's egress policy, its name and the word withheld only."""
    if o.withheld:
        return (f'<li><code>{_e(o.name)}</code> <span class="withheld" title="the egress policy of zone {_e(zone)} '
                f'kept it there: no value, no length">withheld by zone {_e(zone)}</span></li>')
    value = f'<code class="sensitive" title="sensitive">{MASK}</code>' if o.sensitive else f"<code>{_e(o.value)}</code>"
    return f"<li><code>{_e(o.name)}</code> = {value}</li>"


def _step(s: StepView, zone: str) -> str:
    cls = _STEP_CLASS[s.state]
    target = _e(s.target) if s.target is not None else '<span class="muted">(once, no target)</span>'
    reason = f'<span class="reason">{_reason(s.reason)}</span>' if s.reason else ""
    code = "" if s.exit_code is None else str(s.exit_code)
    items = "".join(_output(o, zone) for o in s.outputs)
    outputs = f'<ul class="outputs">{items}</ul>' if items else ""
    row = (f'<tr class="step state-{cls}"><td class="step-name">{_e(s.step)}</td><td>{target}</td>'
           f'<td><span class="step-state">{_STEP_LABELS.get(s.state, s.state)}</span>{reason}</td>'
           f'<td class="num">{format_duration(s.started, s.ended)}</td><td class="num">{code}</td>'
           f"<td>{outputs}</td></tr>")
    if not s.log:
        return row
    log, omitted = s.log, 0
    if len(log) > LOG_TAIL_CHARS:
        omitted = len(log) - LOG_TAIL_CHARS
        log = log[-LOG_TAIL_CHARS:]
    log = log.replace("\r\n", "\n").replace("\r", "\n")
    lines = log.count("\n") + (0 if log.endswith("\n") else 1)
    note = f'<p class="omitted">{omitted:,} earlier characters not shown.</p>' if omitted else ""
    opened = " open" if cls == "failed" else ""
    where = f" on {_e(s.target)}" if s.target is not None else ""
    return (row + f'<tr class="log-row"><td colspan="6"><details{opened}><summary>Log of {_e(s.step)}{where} '
            f'({lines} line{"s" if lines != 1 else ""})</summary>{note}<pre>{html_text(log)}</pre></details></td></tr>')


def _head(title: str) -> str:
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
            '<meta name="referrer" content="no-referrer">\n'
            f"<title>{title}</title>\n<style>{CSS}</style></head><body>\n")
