"""`spaces list|add`, and the `--space` option the commands of one space take (decision 660)."""

from __future__ import annotations

from typing import Callable, TypeVar

import click

from bundlekit.core.hints import home_flag
from bundlekit.cli import cli
from bundlekit.cli.common import echo, emit_json, home_option, json_option
from bundlekit.cli.zones import open_home
from bundlekit.core import clock
from bundlekit.core.text import pad_cells, shell_word, terminal_text
from bundlekit.zone.db import Reader
from bundlekit.zone.spaces import DEFAULT, add_space, list_spaces, space_names, told_apart

__all__ = ["space_option", "space_filter_option", "space_column"]

F = TypeVar("F", bound=Callable[..., object])


def space_option(f: F) -> F:
    """``--space NAME`` (default ``Default``): the space of the zone a command works in."""
    return click.option("--space", "space", default=DEFAULT, show_default=True, metavar="NAME",
                        help="The space of this zone to work in (bundlekit spaces list shows them).")(f)


def space_filter_option(f: F) -> F:
    """``--space NAME`` (default: every space) on a command that lists things: only that space's
    rows; without it every row names its space (decision 750)."""
    return click.option("--space", "space", default=None, metavar="NAME",
                        help="Only what belongs to this space (default: every space, each row naming its "
                             "space).")(f)


def space_column(db: Reader, space: str | None) -> bool:
    """Whether a listing's text shows a space column: when it shows every space of a zone that
    has more than one (with ``--space``, or in a zone of one space, every row's is the same)."""
    return space is None and len(space_names(db)) > 1


@cli.group(epilog="bundlekit spaces add Payments --home ./prod\nbundlekit spaces list --home ./prod --json")
def spaces() -> None:
    """The spaces of this zone: teams kept apart inside one zone.

    Trust rules, projects, their variables and targets belong to one space; a source trusted in
    one space never changes another, and a deployment only sees its space's targets. `Default`
    always exists and holds everything made before spaces."""


@spaces.command("list", epilog="bundlekit spaces list --home ./prod --json")
@home_option
@json_option
def spaces_list(home: str | None, as_json: bool) -> None:
    """List the spaces with how many trusted zones, projects and targets each holds."""
    with open_home(home) as z:
        rows = list_spaces(z.db)
    if as_json:
        emit_json({"spaces": rows})
        return
    names = [s["name"] for s in rows]
    for s in rows:
        echo(f"{pad_cells(terminal_text(told_apart(s['name'], names)), 24)} trusted zones {s['trusted_zones']:>3}  projects {s['projects']:>4}  "
             f"targets {s['targets']:>4}")


@spaces.command("add", epilog="bundlekit spaces add Payments --home ./prod")
@click.argument("name")
@home_option
@json_option
def spaces_add(name: str, home: str | None, as_json: bool) -> None:
    """Add a space (a name people read: any text on one line). A name that reads like a space the
    zone has (another case, small capitals, fullwidth or look-alike letters of another script,
    invisible characters, a run of white space for one space) is refused as that space."""
    with open_home(home) as z:
        row = add_space(z, name, clock.now())
    if as_json:
        emit_json(row)
    else:
        echo(f"added space {terminal_text(row['name'])}; trust a source in it with `bundlekit trust add CARD "
             f"--space {terminal_text(shell_word(row['name']))}{home_flag()}`")
