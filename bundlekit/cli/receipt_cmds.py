"""`outbox`, `outputs`, `dashboard` and `serve`: what travels back, and what the dashboard shows."""

from __future__ import annotations

import os
import shutil
import sys
from collections import Counter
from pathlib import Path

import click

from bundlekit.cli import cli
from bundlekit.cli.common import (ASCII_INT, echo, emit_json, home_option, json_option, overwrite_needs,
                                  overwrite_option, resolve_home)
from bundlekit.cli.egress_cmds import echo_contents
from bundlekit.cli.space_cmds import space_column
from bundlekit.cli.zones import open_home
from bundlekit.core import clock
from bundlekit.core.clock import EpochSeconds
from bundlekit.core.text import dumps, shell_word
from bundlekit.dashboard.html import detailed, render_html
from bundlekit.dashboard.model import build_view
from bundlekit.dashboard.server import serve as serve_dashboard
from bundlekit.dashboard.text import render_text
from bundlekit.dashboard.spacefilter import SpaceFilter
from bundlekit.dashboard.view import DashboardView
from bundlekit.errors import UsageError
from bundlekit.receipt.ingest import reported_outputs
from bundlekit.receipt.build import ReceiptContents
from bundlekit.receipt.outbox import empty_listing, list_outbox, pack, pack_command, preview, previews
from bundlekit.zone import truststore
from bundlekit.zone.home import Zone
from bundlekit.zone.outputs import check_output, write_output
from bundlekit.zone.spaces import resolve_space


@cli.group(epilog="bundlekit outbox pack --home ./prod -o prod-receipts-2026-12-01.bundle")
def outbox() -> None:
    """Receipts waiting to travel back to the zones releases came from."""


@outbox.command("list", epilog="bundlekit outbox list --home ./prod --json")
@home_option
@json_option
def outbox_list(home: str | None, as_json: bool) -> None:
    """List receipts not yet packed, and receipt files written."""
    with open_home(home) as z:
        info = list_outbox(z)
    if as_json:
        emit_json(info)
        return
    refused = [r for r in info["refusals"] if r["packed_in"] is None]
    if not info["pending"] and not refused:
        echo("no receipts waiting to be packed")
    for e in info["pending"]:
        echo(f"pending  {e['deployment_id']:<16} {e['project']} {e['release']} to {e['environment']}: "
             f"{e['state']} (for {e['destination']})")
    for r in refused:
        echo(f"pending  {r['refusal_id']:<16} {r['project']} {r['release']} refused: {r['code']} "
             f"(for {r['destination']})")
    for f in info["files"]:
        echo(f"written  {f['path']} (sequence {f['sequence']}, {len(f['deployments'])} deployment(s))")


@outbox.command("pack", epilog="bundlekit outbox pack --home ./prod -o prod-receipts-2026-12-01.bundle\n"
                               "bundlekit outbox pack --home ./prod --dry-run")
@home_option
@click.option("-o", "--output", "output", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the receipt bundle (not with --dry-run).")
@click.option("--to", "to", default=None, help="Only receipts for this zone (needed to pack when several zones wait; "
              "--dry-run without it lists each zone's).")
@click.option("--dry-run", "dry_run", is_flag=True,
              help="List exactly what the receipt would carry (the egress policy applied); write nothing.")
@json_option
def outbox_pack(home: str | None, output: Path | None, to: str | None, dry_run: bool, as_json: bool) -> None:
    """Pack every receipt not yet packed into one signed receipt bundle.

    What leaves is what the zone's egress policy lets leave (`bundlekit egress show`): by default
    sensitive output variables are withheld, named only. --dry-run lists every entry, every output
    (leaving, sealed or withheld), the log sizes and the package inventory; when nothing waits it
    says so and exits 0 (--json: empty lists, totals 0). A receipt goes to one zone: when receipts
    wait for several, packing needs --to ZONE, and --dry-run without --to lists what waits for
    each zone (--json: {"receipts": [one listing per zone]}).

    -o never replaces an existing file (it may be a receipt not carried yet): give each pack
    its own name, for instance with the date.
    """
    if dry_run:
        if output is not None:
            raise UsageError("--dry-run writes nothing: drop -o/--output, or drop --dry-run to write the receipt",
                             code="usage")
        with open_home(home) as z:
            every = previews(z) if to is None else None
            if every is not None and len(every) > 1:  # one listing per zone, where packing asks for --to
                _echo_previews(every, as_json)
                return
            contents = (every[0] if every else None) if every is not None else preview(z, to=to)
            dest = truststore.get_zone(z, to) if contents is None and to is not None else None
        if contents is None:  # nothing waits: an empty listing, exit 0 (a dry run asks, it is not refused)
            listing = {"destination": None if dest is None else {"name": dest.name, "zone_id": dest.zone_id},
                       **empty_listing()}
            if as_json:
                emit_json(listing)
            else:
                echo("nothing would leave: no receipt waits to be packed" + (f" for zone {dest.name}" if dest else ""))
            return
        listing = {"destination": {"name": contents.dest.name, "zone_id": contents.dest.zone_id},
                   **contents.listing()}
        if as_json:
            emit_json(listing)
        else:
            echo_contents(listing, f"a receipt for zone {contents.dest.name} would carry (nothing written):")
        return
    if output is None:
        raise UsageError("say where to write the receipt: -o FILE (or list what it would carry: --dry-run)",
                         code="usage")
    with open_home(home) as z:
        rf = pack(z, output, to=to, now=clock.now())
    if as_json:
        emit_json({"path": str(rf.path), "digest": rf.digest, "sequence": rf.sequence,
                   "deployments": list(rf.deployments), "refusals": list(rf.refusals), "withheld": rf.withheld})
    else:
        extra = f" and {len(rf.refusals)} refused import(s)" if rf.refusals else ""
        echo(f"packed {len(rf.deployments)} receipt(s){extra} into {rf.path} (sequence {rf.sequence})")
        if rf.withheld:
            echo(f"  the egress policy withheld {rf.withheld} output variable(s), named in the receipt only: "
                 f"`bundlekit inspect {shell_word(str(rf.path))} --contents` lists them")


def _echo_previews(every: list[ReceiptContents], as_json: bool) -> None:
    """``outbox pack --dry-run`` when receipts wait for several zones: each zone's listing, and
    the command that packs it (decision 977)."""
    listings = [{"destination": {"name": c.dest.name, "zone_id": c.dest.zone_id}, **c.listing()} for c in every]
    if as_json:
        emit_json({"receipts": listings})
        return
    echo(f"receipts wait for {len(every)} zones ({', '.join(c.dest.name for c in every)}); a receipt goes to one "
         "zone, so each is packed on its own (nothing written):")
    for c, listing in zip(every, listings):
        echo("")
        echo_contents(listing, f"a receipt for zone {c.dest.name} would carry (`{pack_command(c.dest.name)}`):")


@cli.command(epilog="bundlekit outputs acme-web --zone prod --home ./dev --reveal")
@click.argument("project")
@click.option("--zone", "zone_name", required=True, help="The zone whose deployments reported the outputs.")
@home_option
@click.option("--reveal", is_flag=True, help="Unseal sensitive outputs (sealed to this zone's key).")
@click.option("--space", "space", default=None, metavar="NAME",
              help="The space the zone's receipts belong to here (its trust rule's); another space's zone is "
                   "unknown there (default: any).")
@json_option
def outputs(project: str, zone_name: str, home: str | None, reveal: bool, space: str | None, as_json: bool) -> None:
    """Output variables that came back in receipts: the latest deployment per environment. The
    receipts of a zone belong to the space its trust rule is in here, which the output names."""
    with open_home(home) as z:
        if space is not None:
            space = resolve_space(z.db, space)
        entry = truststore.get_zone(z, zone_name)
        if space is not None and entry.space.casefold() != space.casefold():
            raise truststore.unknown_zone(z.db, zone_name, f"no trusted zone named {zone_name!r} in space {space}")
        result = reported_outputs(z, project, zone_name, reveal=reveal)
        spaces = space_column(z.db, None)  # a zone of one space: every zone's receipts are Default's
    if as_json:
        emit_json({"project": project, "zone": zone_name, "space": entry.space, "outputs": result})
        return
    if spaces:
        echo(f"outputs of {project} reported by zone {entry.name} (space {entry.space}):")
    for o in result:
        shown = f"(withheld by zone {zone_name})" if o["withheld"] else f"= {o['value']}"
        echo(f"{o['environment']:<12} {o['release']:<8} Octopus.Action[{o['step']}].Output"
             + (f"[{o['target']}]" if o["target"] else "") + f".{o['name']} {shown}")


@cli.command(epilog="bundlekit dashboard --home ./dev\nbundlekit dashboard --home ./dev --html dashboard.html\n"
                    "bundlekit dashboard --space Payments --home ./prod")
@home_option
@click.option("--html", "html_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write one self-contained HTML file instead of the terminal table (outside the zone's home; a new "
                   "file unless --overwrite; '-': the page on standard output).")
@overwrite_option
@click.option("--space", "space", default=None, metavar="NAME",
              help="Show one space only (default: every space, each project under its space).")
@json_option
def dashboard(home: str | None, html_file: Path | None, overwrite: bool, space: str | None, as_json: bool) -> None:
    """The deployment dashboard: projects x (zone, environment), latest release and state, of every
    space or of --space only. --html writes a new file; --overwrite lets it replace the page an earlier
    run wrote."""
    piped = html_file is not None and str(html_file) == "-"  # as '-' means elsewhere (new-user review 38, F18)
    if piped and (as_json or overwrite):
        raise UsageError(f"--html - writes the page on standard output: drop {'--json' if as_json else '--overwrite'}, "
                         "or give --html a file", code="usage")
    overwrite_needs(html_file, "--html", overwrite)
    now = clock.now()
    with open_home(home) as z:
        if html_file is not None and not piped:
            check_output(html_file, "--html", z, overwrite=overwrite)
        # Steps are the costly part: the terminal shows none, the page details some (decision 741).
        steps = True if as_json and html_file is None else detailed if html_file is not None else False
        view = build_view(z, now, space=space, steps=steps)
        if space is not None and not view.projects:
            # A space this zone has (or that the release files it exported name) may be empty; any
            # other name is most likely a typo.
            space = resolve_space(z.db, space)
        only = _space_filter(z, now, space, view)
    if piped:
        sys.stdout.buffer.write(render_html(view, now, only=only).encode("utf-8"))
        sys.stdout.flush()
        return
    if html_file is not None:
        write_output(html_file, "--html", render_html(view, now, only=only).encode("utf-8"), overwrite=overwrite)
        if as_json:
            emit_json({"html": str(html_file.resolve())})
        else:
            echo(f"dashboard written to {html_file.resolve()}")
        return
    if as_json:
        emit_json(view.to_dict())
        return
    # A terminal's width (or $COLUMNS); piped into a file or a pager nothing is cut (finding 10.5)
    width = shutil.get_terminal_size().columns if os.environ.get("COLUMNS") or sys.stdout.isatty() else None
    click.echo(render_text(view, now, width=width, only=only), nl=False)  # escapes what it shows itself


def _space_filter(z: Zone | None, now: EpochSeconds, space: str | None, view: DashboardView) -> SpaceFilter | None:
    """What the header and an empty view of ``dashboard --space`` say (review newuser finding 4):
    the space, and when it shows nothing, the projects the other spaces of zone ``z`` show (the
    whole dashboard, without steps, is read again only then: ``z`` may be None otherwise)."""
    if space is None:
        return None
    if view.projects:
        return SpaceFilter(view.spaces[0])
    assert z is not None
    rows = {(p.space, p.slug): p.space for p in build_view(z, now, steps=False).projects}
    return SpaceFilter(space, dict(Counter(rows.values())))


@cli.command(epilog="bundlekit serve --home ./dev --port 8080\nbundlekit serve --space Payments --home ./prod")
@home_option
@click.option("--port", type=ASCII_INT, default=8080, show_default=True, help="Port on 127.0.0.1 (0 picks a free one).")
@click.option("--space", "space", default=None, metavar="NAME",
              help="Serve one space only (default: every space, each project under its space).")
@json_option
def serve(home: str | None, port: int, space: str | None, as_json: bool) -> None:
    """Serve the dashboard on 127.0.0.1, re-reading the zone's state on every request: of every
    space, or of --space only (as `bundlekit dashboard`).

    With --json, one line {"url": ..., "port": ...} is printed on stdout once it listens.
    """
    zone_home = resolve_home(home)
    with open_home(zone_home) as z:  # fail early on a wrong --home, or on a typo of a space (as `dashboard`)
        if space is not None and not build_view(z, clock.now(), space=space).projects:
            space = resolve_space(z.db, space)

    def build():  # type: ignore[no-untyped-def]
        with open_home(zone_home) as z:
            return build_view(z, clock.now(), space=space)

    def page(view: DashboardView, now: EpochSeconds) -> str:
        if space is None or view.projects:
            return render_html(view, now, only=_space_filter(None, now, space, view))
        with open_home(zone_home) as z:
            return render_html(view, now, only=_space_filter(z, now, space, view))

    def ready(p: int) -> None:
        url = f"http://127.0.0.1:{p}/"
        if as_json:
            click.echo(dumps({"url": url, "port": p}, sort_keys=True))  # one line, for scripts that wait on it
            sys.stdout.flush()
        else:
            echo(f"serving the dashboard on {url} (Ctrl-C to stop)", err=True)

    serve_dashboard(build, "127.0.0.1", port, ready=ready, page=page)
