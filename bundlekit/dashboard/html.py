"""The dashboard as ONE self-contained HTML5 page.

The page must work from a USB stick on an offline machine, so it has no external assets
(no fonts, scripts, images or stylesheets), inline CSS only, no JavaScript (details open
with ``<details>``), and a Content-Security-Policy ``<meta>`` that forbids loading
anything even if some text slipped through. Every string from a project, release, step,
target, output or log is HTML-escaped, control characters are shown escaped, and a sensitive
output is always printed as the mask, whatever the model holds
(``docs/decisions/051-dashboard-html.md``).

Grid cells carry stable hooks for tests and scripts: ``data-project`` (slug), ``data-zone``,
``data-environment``, ``data-state`` (a deployment state, or ``none``) and the release in
an element with class ``release``.
"""

from __future__ import annotations

import hashlib
import re
import time
from itertools import chain

from bundlekit.core.clock import EpochSeconds
from bundlekit.core.text import MASK, html_text
from bundlekit.dashboard.view import (
    CellView,
    DashboardView,
    DeploymentView,
    StepView,
    cell_time,
    format_duration,
    format_utc,
    relative_age,
)

__all__ = ["render_html", "CSP", "LOG_TAIL_CHARS", "deployment_anchor"]

CSP = "default-src 'none'; style-src 'unsafe-inline'"
#: A step's log is shown up to its last this-many characters: failures are at the end, and
#: one runaway log must not make the page unusable.
LOG_TAIL_CHARS = 200_000

# Also the order of the summary chips: what needs attention first.
_LABELS = {"failed": "Failed", "partial": "Partial", "running": "Running", "exported": "Awaiting receipt",
           "succeeded": "Succeeded"}
_ICONS = {"exported": "\u25f7", "succeeded": "\u2714", "failed": "\u2716", "partial": "\u25d1",
          "running": "\u25b6"}
_STEP_CLASS = {"Success": "succeeded", "Failed": "failed", "TimedOut": "failed", "Canceled": "partial",
               "Skipped": "muted", "Pending": "muted"}
_STEP_LABELS = {"TimedOut": "Timed out"}

_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,100}")


def _e(s: str) -> str:
    """Escape one line of untrusted text for element content and quoted attributes."""
    return html_text(s, multiline=False)


def deployment_anchor(deployment_id: str) -> str:
    """The fragment id of a deployment's section; ids that are not plain get a hash."""
    if _SAFE_ID.fullmatch(deployment_id):
        return f"deployment-{deployment_id}"
    return "deployment-h" + hashlib.sha256(deployment_id.encode("utf-8", "replace")).hexdigest()[:16]


def _time(t: float, now: EpochSeconds, text: str | None = None) -> str:
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
    return f'<time datetime="{iso}" title="{format_utc(t)}">{_e(text or relative_age(t, now))}</time>'


def render_html(view: DashboardView, now: EpochSeconds) -> str:
    """The whole page as a string (UTF-8 when written)."""
    sections = _sections(view)
    anchors = {d.deployment_id for d in sections}
    parts = [_head(_e(f"Deployments \u00b7 zone {view.zone_name}"))]
    parts.append('<header class="top" id="top"><div>')
    parts.append(f'<h1>Deployments <span class="zone">zone {_e(view.zone_name)}</span></h1>')
    parts.append(f'<p class="sub">Zone id <code>{_e(view.zone_id)}</code> \u00b7 generated '
                 f'{_time(view.generated, now, format_utc(view.generated))}</p></div>')
    parts.append(_summary(view))
    parts.append("</header><main>")
    if not view.projects or not view.columns:
        parts.append(f'<p class="empty">Nothing to show yet: no release has been exported or deployed from '
                     f'zone {_e(view.zone_name)}. Export one with <code>bundlekit export</code>, deploy it, '
                     'then generate this page again.</p>')
    else:
        parts.append(_grid(view, now, anchors))
        parts.append('<h2 class="deps-title">Deployments</h2>')
        exported = {c.latest.deployment_id: c.exported_at for p in view.projects for c in p.cells
                    if c is not None and c.latest is not None and c.exported_at is not None}
        parts.extend(_deployment(d, now, exported.get(d.deployment_id)) for d in sections)
    parts.append('</main><footer>bundlekit dashboard \u00b7 self-contained page, no network needed'
                 '</footer></body></html>\n')
    return "".join(parts)


def _sections(view: DashboardView) -> list[DeploymentView]:
    """Every deployment listed by the view, plus any a cell shows that the list lacks."""
    seen: dict[str, DeploymentView] = {}
    cells = (c for p in view.projects for c in p.cells if c is not None)
    for d in chain(view.deployments, (x for c in cells for x in (c.latest, c.previous_success))):
        if d is not None and d.deployment_id not in seen:
            seen[d.deployment_id] = d
    return list(seen.values())


def _summary(view: DashboardView) -> str:
    counts: dict[str, int] = {}
    for p in view.projects:
        for c in p.cells:
            if c is not None and c.latest is not None:
                counts[c.latest.state] = counts.get(c.latest.state, 0) + 1
    items = [f'<li class="chip state-{s}"><span aria-hidden="true">{_ICONS[s]}</span> {n} {_LABELS[s].lower()}</li>'
             for s, n in ((s, counts.get(s, 0)) for s in _LABELS) if n]
    return f'<ul class="summary" aria-label="Latest deployments by state">{"".join(items)}</ul>'


def _grid(view: DashboardView, now: EpochSeconds, anchors: set[str]) -> str:
    # Fixed layout gives every environment the same width; the minimum keeps many columns
    # readable by scrolling the grid sideways instead of squeezing the cards.
    min_width = 210 + 180 * len(view.columns)
    out = [f'<div class="grid-wrap"><table class="grid" style="min-width:{min_width}px">'
           '<caption>Latest release in each zone and environment</caption>'
           '<thead><tr><th scope="col" rowspan="2" class="corner">Project</th>']
    groups: list[tuple[str, int]] = []
    for zone, _env in view.columns:
        if groups and groups[-1][0] == zone:
            groups[-1] = (zone, groups[-1][1] + 1)
        else:
            groups.append((zone, 1))
    out.extend(f'<th scope="colgroup" colspan="{n}" class="zone-h">zone {_e(z)}</th>' for z, n in groups)
    out.append("</tr><tr>")
    out.extend(f'<th scope="col" class="env-h">{_e(env)}</th>' for _z, env in view.columns)
    out.append("</tr></thead><tbody>")
    for project in view.projects:
        out.append(f'<tr><th scope="row" class="project"><span class="pname">{_e(project.name)}</span>'
                   f'<span class="slug">{_e(project.slug)}</span></th>')
        for (zone, env), cell in zip(view.columns, project.cells):
            out.append(_cell(project.slug, zone, env, cell, now, anchors))
        out.append("</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def _cell(slug: str, zone: str, env: str, cell: CellView | None, now: EpochSeconds, anchors: set[str]) -> str:
    latest = cell.latest if cell is not None else None
    state = latest.state if latest is not None else "none"
    hooks = f'data-project="{_e(slug)}" data-zone="{_e(zone)}" data-environment="{_e(env)}" data-state="{state}"'
    if cell is None or latest is None:
        return (f'<td class="cell" {hooks}><div class="card state-none">'
                '<span class="state">Not deployed</span></div></td>')
    body = [f'<span class="release">{_e(latest.release)}</span>',
            f'<span class="state"><span aria-hidden="true">{_ICONS[state]}</span> {_LABELS[state]}</span>']
    when = cell_time(cell)
    if when is not None:
        verb = {"exported": "exported ", "running": "started "}.get(state, "")
        body.append(f'<span class="age">{verb}{_time(when, now)}</span>')
    prev = cell.previous_success
    if prev is not None and prev.deployment_id != latest.deployment_id:
        body.append(f'<span class="prev">previous: {_e(prev.release)}</span>')
    inner = "".join(body)
    if latest.deployment_id in anchors:
        inner = f'<a class="card-link" href="#{_e(deployment_anchor(latest.deployment_id))}">{inner}</a>'
    return f'<td class="cell" {hooks}><div class="card state-{state}">{inner}</div></td>'


def _deployment(d: DeploymentView, now: EpochSeconds, exported_at: float | None) -> str:
    out = [f'<section class="deployment" id="{_e(deployment_anchor(d.deployment_id))}">',
           f'<div class="dep-head state-{d.state}"><h3>{_e(d.project)} <span class="release">{_e(d.release)}</span>'
           f' <span class="arrow" aria-label="to">\u2192</span> {_e(d.zone)} / {_e(d.environment)}</h3>'
           f'<span class="badge"><span aria-hidden="true">{_ICONS[d.state]}</span> {_LABELS[d.state]}</span></div>',
           '<dl class="meta">']
    meta = [("Deployment", f"<code>{_e(d.deployment_id)}</code>")]
    if exported_at is not None:
        meta.append(("Exported", f"{format_utc(exported_at)} ({_time(exported_at, now)})"))
    if d.started is not None:
        meta.append(("Started", f"{format_utc(d.started)} ({_time(d.started, now)})"))
    if d.ended is not None:
        meta.append(("Ended", format_utc(d.ended)))
    if format_duration(d.started, d.ended):
        meta.append(("Duration", format_duration(d.started, d.ended)))
    if d.receipt_received is not None:
        meta.append(("Receipt", f"received {format_utc(d.receipt_received)}"))
    elif d.state == "exported":
        meta.append(("Receipt", f"awaiting the signed receipt from zone {_e(d.zone)}"))
    out.extend(f"<div><dt>{k}</dt><dd>{v}</dd></div>" for k, v in meta)
    out.append("</dl>")
    if not d.steps:
        msg = ("The bundle was exported; its steps appear here once the receipt comes back and is imported."
               if d.state == "exported" else "No step records for this deployment.")
        out.append(f'<p class="nosteps">{msg}</p>')
    else:
        out.append('<table class="steps"><thead><tr><th scope="col">Step</th><th scope="col">Target</th>'
                   '<th scope="col">State</th><th scope="col">Duration</th><th scope="col">Exit code</th>'
                   '<th scope="col">Output variables</th></tr></thead><tbody>')
        out.extend(_step(s) for s in d.steps)
        out.append("</tbody></table>")
    out.append('<p class="back"><a href="#top">Back to the dashboard</a></p></section>')
    return "".join(out)


def _step(s: StepView) -> str:
    cls = _STEP_CLASS[s.state]
    target = _e(s.target) if s.target is not None else '<span class="muted">(once, no target)</span>'
    reason = f'<span class="reason">{_e(s.reason)}</span>' if s.reason else ""
    code = "" if s.exit_code is None else str(s.exit_code)
    items = "".join(
        f'<li><code>{_e(o.name)}</code> = '
        + (f'<code class="sensitive" title="sensitive">{MASK}</code>' if o.sensitive else f"<code>{_e(o.value)}</code>")
        + "</li>"
        for o in s.outputs)
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
            f"<title>{title}</title>\n<style>{_CSS}</style></head><body>\n")

_CSS = """
:root{--ink:#1d2733;--muted:#66727f;--line:#dde3ea;--bg:#f4f6f9;--card:#fff;
--succeeded:#2e7d32;--succeeded-bg:#e9f5ea;--failed:#c62828;--failed-bg:#fdecec;
--partial:#a35c00;--partial-bg:#fff3e0;--exported:#4f6472;--exported-bg:#e9eef2;
--running:#1565c0;--running-bg:#e4f0fc;--none:#9aa5b1}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.45 system-ui,-apple-system,"Segoe UI",
"DejaVu Sans","Liberation Sans",Arial,sans-serif}
code,pre{font-family:ui-monospace,"DejaVu Sans Mono","Liberation Mono",Menlo,Consolas,monospace;font-size:12.5px}
.top{display:flex;flex-wrap:wrap;justify-content:space-between;align-items:center;gap:12px;
padding:16px 28px;background:#17324d;color:#fff}
.top h1{margin:0;font-size:21px;font-weight:600}
.top .zone{font-weight:400;opacity:.8;margin-left:6px}
.top .sub{margin:2px 0 0;opacity:.8;font-size:13px}
.top code{color:#fff}
.summary{display:flex;flex-wrap:wrap;gap:8px;list-style:none;margin:0;padding:0}
.chip{padding:3px 10px;border-radius:999px;font-size:13px;font-weight:600;background:#fff}
main{padding:20px 28px 40px;max-width:1500px}
.grid-wrap{overflow-x:auto;min-width:0;background:var(--card);border:1px solid var(--line);border-radius:8px}
table{border-collapse:collapse}
.grid{width:100%;table-layout:fixed}
.grid .corner{width:210px}
.grid caption{text-align:left;padding:12px 16px 4px;color:var(--muted);font-size:13px}
.grid th,.grid td{padding:8px 10px;border-bottom:1px solid var(--line);vertical-align:top}
.grid tbody tr:last-child th,.grid tbody tr:last-child td{border-bottom:0}
.grid thead th{text-align:left;font-weight:600;color:var(--muted);font-size:12px;text-transform:uppercase;
letter-spacing:.04em}
.grid .zone-h{color:var(--ink);border-bottom:1px solid var(--line)}
.grid .env-h{color:var(--ink);font-size:13px;text-transform:none;letter-spacing:0}
.grid .corner{vertical-align:bottom}
.project{text-align:left;overflow-wrap:anywhere}
.pname{display:block;font-size:15px;font-weight:600}
.slug{display:block;color:var(--muted);font-weight:400;font-size:12px}
.card{border-radius:6px;border-left:5px solid var(--none);background:#f7f8fa;min-height:86px;overflow-wrap:anywhere}
.card>.card-link,.card.state-none{display:block;padding:8px 12px;color:inherit;text-decoration:none}
.card-link:hover{background:rgba(0,0,0,.03)}
.card-link:focus-visible{outline:2px solid #17324d;outline-offset:2px}
.card .release{display:block;font-size:18px;font-weight:700}
.card .state{display:inline-block;font-weight:600;font-size:13px;margin-right:6px}
.card .age{color:var(--muted);font-size:13px;white-space:nowrap}
.card .prev{display:block;color:var(--muted);font-size:12.5px;margin-top:3px}
.card.state-none{border:1px dashed #c9d1da;background:transparent;color:var(--none);display:flex;
align-items:center;justify-content:center;font-size:13px}
.state-succeeded{--c:var(--succeeded);--cb:var(--succeeded-bg)}
.state-failed{--c:var(--failed);--cb:var(--failed-bg)}
.state-partial{--c:var(--partial);--cb:var(--partial-bg)}
.state-exported{--c:var(--exported);--cb:var(--exported-bg)}
.state-running{--c:var(--running);--cb:var(--running-bg)}
.state-muted{--c:var(--muted)}
.card[class*=state-]:not(.state-none){border-left-color:var(--c);background:var(--cb)}
.card .state,.chip{color:var(--c)}
.deps-title{margin:30px 0 10px;font-size:17px}
.deployment{background:var(--card);border:1px solid var(--line);border-radius:8px;margin:0 0 16px;
overflow:hidden}
.deployment:target{box-shadow:0 0 0 3px #8fb4d9}
.dep-head{display:flex;justify-content:space-between;align-items:center;gap:10px;padding:10px 16px;
background:var(--cb);border-left:5px solid var(--c)}
.dep-head h3{margin:0;font-size:15px;font-weight:600}
.dep-head .release{font-weight:700}
.arrow{color:var(--muted);margin:0 2px}
.badge{color:#fff;background:var(--c);padding:2px 10px;border-radius:999px;font-size:12.5px;font-weight:600;
white-space:nowrap}
.meta{display:flex;flex-wrap:wrap;gap:4px 22px;margin:10px 16px;font-size:13px}
.meta dt{color:var(--muted)}
.meta dt::after{content:":"}
.meta div{display:flex;gap:5px}
.meta dd{margin:0}
.nosteps{margin:4px 16px 12px;color:var(--muted)}
.steps{width:calc(100% - 32px);margin:4px 16px 8px;font-size:13px;table-layout:fixed}
.steps th:nth-child(1){width:22%}.steps th:nth-child(2){width:14%}.steps th:nth-child(3){width:19%}
.steps th:nth-child(4),.steps th:nth-child(5){width:9%}
.steps td{overflow-wrap:anywhere}
.steps th{text-align:left;color:var(--muted);font-weight:600;font-size:12px;border-bottom:1px solid var(--line);
padding:6px 8px}
.steps td{padding:6px 8px;border-top:1px solid var(--line);vertical-align:top}
.steps .log-row td{border-top:0;padding-top:0}
.step-name{font-weight:600}
.step-state{font-weight:600;color:var(--c)}
.reason{display:block;color:var(--muted);font-size:12px}
.num{font-variant-numeric:tabular-nums;white-space:nowrap}
.muted{color:var(--muted)}
.outputs{list-style:none;margin:0;padding:0}
.sensitive{color:var(--muted);letter-spacing:.1em}
details summary{cursor:pointer;color:#2b5a86;font-size:12.5px;padding:2px 0}
pre{margin:4px 0 6px;padding:8px 10px;background:#101820;color:#e3e8ee;border-radius:6px;max-height:360px;
overflow:auto;white-space:pre-wrap;overflow-wrap:anywhere}
.omitted{margin:4px 0;color:var(--muted);font-size:12px}
.back{margin:0 16px 12px;font-size:12.5px}
.back a{color:#2b5a86}
.empty{background:var(--card);border:1px dashed var(--line);border-radius:8px;padding:28px;color:var(--muted);
font-size:15px}
footer{padding:0 28px 24px;color:var(--muted);font-size:12px}
"""
