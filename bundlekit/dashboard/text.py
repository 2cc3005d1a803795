"""The dashboard as a terminal grid: one row per project, one column per (zone, environment).

Each cell reads ``1.4.0 exported 3h ago`` on its first line and ``prev ok 1.3.0`` on the
second when an earlier release succeeded there; a refused import reads ``1.2.0 refused in
staging: rollback`` (never a failed deployment), earlier failed deployments ``+2 failed before``,
a run that relied on a lifecycle waiver ``waived: Staging``. Columns are as wide as their content and
shrink (cells end in ``…``) to fit ``width``; columns that still do not fit are listed in a
note instead of being cut in half. Every string that came from a project, a zone or a
release has its control characters shown escaped, so a hostile name cannot drive the terminal
with escape sequences. Colour (ANSI) only when the caller asks for it.
"""

from __future__ import annotations

import gc
import textwrap
from collections import Counter
from functools import lru_cache

from bundlekit.core.hints import home_flag
from bundlekit.core.clock import EpochSeconds
from bundlekit.core.text import cell_width, char_cells, terminal_text
from bundlekit.dashboard.selfsent import text_lines
from bundlekit.dashboard.spacefilter import SpaceFilter
from bundlekit.dashboard.view import (
    DEPLOYMENT_STATES,
    FAILURE_STATES,
    CellView,
    DashboardView,
    DeploymentView,
    cell_time,
    format_utc,
    format_utc_seconds,
    recorded_age,
)

__all__ = ["render_text"]

_SEP = "  "
_MIN_COL = 10
_ELLIPSIS = "…"
_COLORS = {"succeeded": "32", "failed": "31", "partial": "33", "exported": "36", "running": "34", "refused": "35"}
_RESET = "\x1b[0m"


def render_text(view: DashboardView, now: EpochSeconds, width: int | None = None, color: bool = False, *,
                only: SpaceFilter | None = None) -> str:
    """The grid as text ending in a newline; no line is wider than ``width`` columns. ``only``:
    the view is of that one space, which the title names."""
    # As while the view is built (decision 741): tens of thousands of small lists and strings, no
    # cycle among them, and a view of as many objects the collector would walk for nothing.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _render(view, now, width, color, only)
    finally:
        if collecting:
            gc.enable()


def _render(view: DashboardView, now: EpochSeconds, width: int | None, color: bool, only: SpaceFilter | None) -> str:
    space = "" if only is None else f", space {_clean(only.name)} only"
    title = f"Zone {_clean(view.zone_name)} ({_clean(view.zone_id)}){space}, generated {format_utc(view.generated)}"
    if not view.projects or not view.columns:
        other = " of a project" if view.self_sent else ""  # bundlekit's own is listed apart (decision 947)
        empty = (f"Nothing to show yet: no release{other} has been exported or deployed from zone "
                 f"{_clean(view.zone_name)}. Export one with `bundlekit export RELEASE_FILE --to ZONE -o OUT{home_flag()}`, deploy it, then run this again."
                 if only is None else _clean(only.empty_text(view.zone_name, "run this again")))
        # wrapped, not cut like the grid's lines: the sentence says what to do
        return _finish([title, "", *(textwrap.wrap(empty, width, break_on_hyphens=False) if width else [empty]),
                        *text_lines(view.self_sent, now)], width)

    headers = ["Project"] + [f"{_clean(z)}/{_clean(e)}" for z, e in view.columns]
    rows: list[list[list[str]]] = []  # row -> column -> lines
    states: list[list[str | None]] = []
    for project in view.projects:
        label = [_clean(project.name)] + ([f"tenant {_clean(project.tenant)}"] if project.tenant else [])
        cells = [label]
        row_states: list[str | None] = [None]
        for cell in project.cells:
            cells.append(_cell_lines(cell, now))
            row_states.append(cell.latest.state if cell and cell.latest else None)
        rows.append(cells)
        states.append(row_states)

    widths = [_width(h) for h in headers]
    for row in rows:
        for i, col in enumerate(row):
            for line in col:
                w = len(line) if line.isascii() else _width(line)
                if w > widths[i]:
                    widths[i] = w
    shown = _fit_columns(widths, width)
    hidden = headers[shown:]
    if width is not None and sum(widths[:shown]) + len(_SEP) * (shown - 1) > width:
        color = False  # even the project column is too wide: lines get cut, and a cut escape would bleed

    out = [title, _counts(view), ""]
    out.append(_join([_pad(_truncate(headers[i], widths[i]), widths[i]) for i in range(shown)]))
    out.append(_join(["-" * widths[i] for i in range(shown)]))
    multi = any(len(col) > 1 for row in rows for col in row)
    spaces = view.spaces
    cut = width is not None  # without a width no column was narrowed: no line is cut
    for r, row in enumerate(rows):
        space = view.projects[r].space
        if len(spaces) > 1 and (r == 0 or view.projects[r - 1].space != space):
            out.extend(([""] if r else []) + [f"Space {_clean(space)}"])  # every space's projects under its name
        elif multi and r:
            out.append("")
        for k in range(max(len(col) for col in row)):
            parts = []
            for i in range(shown):
                col, w = row[i], widths[i]
                text = col[k] if k < len(col) else ""
                if cut:
                    text = _truncate(text, w)
                text = text.ljust(w) if text.isascii() else _pad(text, w)
                if color and k == 0 and states[r][i] in _COLORS:
                    text = f"\x1b[{_COLORS[states[r][i]]}m{text}{_RESET}"
                parts.append(text)
            out.append(_join(parts))
    if hidden:
        out.append("")
        out.append(f"{len(hidden)} more column(s) not shown: {', '.join(hidden)}; widen the terminal "
                   "or use --json.")
    out.extend(_paths(view))
    out.extend(text_lines(view.self_sent, now))
    return _finish(out, width, colored=color)


_SUPERSEDED = "superseded"  # a refusal's count state once a later success of its release settled it


def _counts(view: DashboardView) -> str:
    """Deployments by state, then refused imports and exports awaiting their receipt, each
    counted on its own (an export is not a deployment); failures (failed, partial and refused)
    are never only the ones that happen to be latest in a cell."""
    # by (zone, deployment id), as DeploymentView.key, without making a key per lookup; a refusal a
    # later success settled is no longer one to look at (decision 723)
    seen: dict[tuple[str, str], str] = {(d.zone, d.deployment_id): d.state if d.superseded_by is None
                                        else _SUPERSEDED for d in view.deployments}
    listed = {id(d) for d in view.deployments}  # a cell's deployments are listed: no key to make for them
    for p in view.projects:
        for c in p.cells:
            if c is not None:
                for d in (c.latest, *c.failures):
                    if d is not None and id(d) not in listed and (d.zone, d.deployment_id) not in seen:
                        seen[(d.zone, d.deployment_id)] = d.state if d.superseded_by is None else _SUPERSEDED
    count = Counter(seen.values())
    count.update(view.older)  # earlier attempts a later one superseded: counted, not listed
    not_run = ("exported", "refused", _SUPERSEDED)
    parts = [f"{count[s]} {s}" for s in DEPLOYMENT_STATES if s not in not_run and count[s]]
    line = f"{sum(n for s, n in count.items() if s not in not_run)} deployment(s): {', '.join(parts) or 'none'}"
    if count["refused"]:
        line += f"; {count['refused']} import(s) refused"
    if count[_SUPERSEDED]:
        line += f"; {count[_SUPERSEDED]} refusal(s) settled by a later success"
    if count["exported"]:
        line += f"; {count['exported']} export(s) awaiting a receipt"
    failing = [f"{count[s]} {s}" for s in FAILURE_STATES if count[s]]
    if failing:  # one total, broken down by the very words used above (finding 10.5)
        total = sum(count[s] for s in FAILURE_STATES)
        line += f"; to look at: {total}" + (f" ({', '.join(failing)})" if len(failing) > 1 else "")
    return line


def _cell_lines(cell: CellView | None, now: EpochSeconds) -> list[str]:
    if cell is None or cell.latest is None:
        return ["-"] + (_earlier(cell) if cell is not None else [])
    latest = cell.latest
    when = cell_time(cell)
    first = f"{_clean(latest.release)} {latest.state}"
    if when is not None:
        age = recorded_age(when, now)
        first += f", started {age}" if latest.state == "running" else f" {age}"
    lines = [first]
    if latest.waived:  # it ran on a zone's waiver, not on passed phases (finding 10.2)
        lines.append(f"waived: {_clean(', '.join(latest.waived))}")
    if latest.variables_updated is not None:  # ran values its earlier phases did not test (decision 722)
        lines.append("variables updated")
    if latest.state == "refused":
        lines.append(_refused_in(latest))
    path = latest.path
    if len(path) == 3:  # came through a relay (the usual case): the whole path is listed under the grid
        lines.append("via " + _clean(path[1].zone))
    elif len(path) > 3:
        lines.append("via " + ", ".join(_clean(h.zone) for h in path[1:-1]))
    prev = cell.previous_success
    if prev is not None and (prev.deployment_id != latest.deployment_id or prev.zone != latest.zone) and (
            prev.release != latest.release or latest.state in FAILURE_STATES):
        lines.append(f"prev ok {_clean(prev.release)}")
    return lines + _earlier(cell) if cell.failures else lines


def _paths(view: DashboardView) -> list[str]:
    """Under the grid, the path of each release that reached a zone through relays and is the
    latest in one of its cells (decision 740): one line per project, tenant, release and zone
    (its environments together, the first start), each hop with its time."""
    seen: dict[tuple[str, str | None, str, str], list[DeploymentView]] = {}
    for project in view.projects:
        for cell in project.cells:
            d = cell.latest if cell is not None else None
            if d is not None and len(d.path) > 2:
                seen.setdefault((project.name, project.tenant, d.release, d.zone), []).append(d)
    lines = []
    for (name, tenant, release, zone), ds in seen.items():
        first = min(ds, key=lambda d: d.path[-1].at or 0)
        hops = " -> ".join(f"{_clean(h.zone)} {h.event.replace('_', ' ')}" + (f" {format_utc_seconds(h.at)}" if
                                                                                 h.at is not None else "") for h in first.path)
        envs = ", ".join(_clean(d.environment) for d in ds)
        who = _clean(name) + (f" (tenant {_clean(tenant)})" if tenant else "")
        lines.append(f"  {who} {_clean(release)} to {_clean(zone)} ({envs}): {hops}")
    if not lines:
        return []
    back = any(h.event == "relayed_back" for ds in seen.values() for h in ds[0].path)
    note = ("a relay's time: when it relayed the release on; 'relayed back': when it relayed a receipt that did not "
            "carry the release's hops" if back else "a relay's time: when it relayed the release on")
    return ["", f"Paths through relays ({note}):", *lines]


def _refused_in(d: DeploymentView) -> str:
    """``refused in staging: rollback``: which zone refused the import, and its error code."""
    code = d.reason.split("]")[0].lstrip("[") if d.reason and d.reason.startswith("[") else "refused"
    return f"refused in {_clean(d.zone)}: {_clean(code)}"


def _earlier(cell: CellView) -> list[str]:
    """Earlier refusals, each on its line with its release (a refused import is not a failed
    deployment), then a count of earlier failed deployments."""
    if not cell.failures:
        return []
    lines = [f"{_clean(f.release)} {_refused_in(f)}" for f in cell.failures if f.state == "refused"]
    failed = sum(1 for f in cell.failures if f.state != "refused")
    if failed:
        lines.append(f"+{failed} failed before")
    return lines


def _fit_columns(widths: list[int], limit: int | None) -> int:
    """Shrink the widest columns (never below their minimum) until the row fits ``limit``;
    returns how many leading columns are shown. ``widths`` is changed in place."""
    if limit is None:
        return len(widths)

    def total(n: int) -> int:
        return sum(widths[:n]) + len(_SEP) * (n - 1)

    while total(len(widths)) > limit:
        i = max(range(len(widths)), key=lambda j: widths[j])
        if widths[i] <= _MIN_COL:
            break
        widths[i] -= 1
    shown = len(widths)
    while shown > 1 and total(shown) > limit:
        shown -= 1
    return shown


def _finish(lines: list[str], width: int | None, colored: bool = False) -> str:
    if width is not None:
        # Only the fallback for absurdly narrow terminals: the grid itself already fits.
        lines = [line if colored and "\x1b[" in line else _truncate(line, width) for line in lines]
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _join(parts: list[str]) -> str:
    return _SEP.join(parts)


@lru_cache(maxsize=4096)  # a grid repeats few names and releases in thousands of cells
def _clean(s: str) -> str:
    """One line of untrusted text with control characters, escape sequences and bidi controls
    shown escaped (:func:`bundlekit.core.text.terminal_text`), so it cannot steer the terminal
    or reorder what is shown."""
    return terminal_text(s)


_char_width = char_cells  # one reading of display width for every table (core/text.py)
_width = cell_width


def _truncate(s: str, width: int) -> str:
    if _width(s) <= width:
        return s
    if width <= 0:
        return ""
    out, used = [], 0
    for ch in s:
        w = _char_width(ch)
        if used + w > width - 1:
            break
        out.append(ch)
        used += w
    return "".join(out) + _ELLIPSIS


def _pad(s: str, width: int) -> str:
    if s.isascii():
        return s.ljust(width)
    return s + " " * max(0, width - _width(s))
