"""`join` and `zone migrate-state`: a zone on PostgreSQL state, served by several nodes.

``init --state`` (in ``zone_cmds``) creates such a zone; these commands add a node to it and
move an existing SQLite zone there. URLs are printed with their password masked; a URL on
the command line may not carry one (``--state-password-file``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable, TypeVar

import click

from bundlekit.cli import cli
from bundlekit.cli.common import counted, echo, emit_json, home_option, json_option, resolve_home, stdin_bytes
from bundlekit.cli.secret_input import prompted, stdin_is_terminal
from bundlekit.cli.zones import open_home
from bundlekit.core.text import size_text
from bundlekit.errors import InputError, UsageError
from bundlekit.zone.join import join_zone
from bundlekit.zone.location import StateURL, load_password_file, parse_state_url
from bundlekit.zone.migrate_state import migrate_state
from bundlekit.zone.store_move import move_packages

__all__ = ["state_url", "password_file_option", "password_from"]

F = TypeVar("F", bound=Callable[..., Any])
#: Bytes of the longest password line read from standard input (a password is short; a stream is no password).
_MAX_PASSWORD = 4096


def state_url(value: str | None, option: str) -> StateURL | None:
    """A ``--state``/``--to`` value checked (``invalid_state_url``, ``password_in_url``), or None."""
    return None if value is None else parse_state_url(value, where=option, allow_password=False)


def password_file_option(f: F) -> F:
    return click.option("--state-password-file", "password_file", default=None,
                        type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
                        help="A file whose first line is the state database's password (kept in the home's "
                             "keys/state.password, 0600); '-' reads it from standard input (a prompt that does "
                             "not echo on a terminal). Without it libpq's ~/.pgpass or PGPASSFILE is used.")(f)


def password_from(path: Path | None) -> str | None:
    """The password ``--state-password-file`` gives: a file's first line, or with ``-`` standard
    input's (asked for without echo when it is a terminal). Never a command line or an
    environment variable, which other users of the machine can read (decision 310).

    Raises ``InputError`` ``invalid_input`` for empty or unusable input, standard input closed
    (``<&-``) or a prompt answered with Ctrl-D included; ``UsageError`` ``usage`` for a file
    that cannot be read or is empty (:func:`load_password_file`). Never a traceback.
    """
    if path is None:
        return None
    if str(path) != "-":
        return load_password_file(path)
    if stdin_is_terminal():
        password = prompted("password of the state database: ")
    else:
        line = stdin_bytes().readline(_MAX_PASSWORD + 1)
        if len(line) > _MAX_PASSWORD:
            raise InputError(f"--state-password-file -: the first line of standard input is over {_MAX_PASSWORD} "
                             "bytes; give the password alone on it", code="invalid_input")
        try:
            password = line.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            raise InputError("--state-password-file -: standard input is not UTF-8 text", code="invalid_input") from None
    if not password:
        closed = " (it is closed)" if sys.stdin is None else ""
        raise InputError(f"--state-password-file -: standard input{closed} gave no password; pipe it in (e.g. "
                         "`... --state-password-file - < db.password`) or type it at the prompt", code="invalid_input")
    return password


@cli.command(epilog="bundlekit join --home /srv/bundlekit/prod-b --state postgresql://bundlekit@db1:5432/prod "
                    "--package-store /mnt/bundlekit/prod --from /mnt/handover/prod-a")
@home_option
@click.option("--state", "state", required=True, help="The zone's PostgreSQL state: postgresql://USER@HOST:PORT/DB.")
@click.option("--package-store", "package_store", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="The zone's package store folder, as this machine mounts it (it must carry the zone's "
                   "mark, bundlekit-store.json, written by init).")
@click.option("--from", "source", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="The home of an existing node of the zone (its keys are copied, 0600).")
@password_file_option
@json_option
def join(home: str | None, state: str, package_store: Path, source: Path, password_file: Path | None,
         as_json: bool) -> None:
    """Make this home another node of an existing zone (same keys, state and package store)."""
    url = state_url(state, "--state")
    assert url is not None
    z = join_zone(resolve_home(home), state=url, password=password_from(password_file),
                  package_store=package_store, source=source)
    info = {"name": z.name, "zone_id": z.zone_id, "home": str(z.home), "state": url.masked,
            "package_store": str(z.store.base)}
    if as_json:
        emit_json(info)
    else:
        echo(f"{z.home} is now a node of zone {z.name} ({z.zone_id}): state {url.masked}, packages {z.store.base}")


@cli.group(epilog="bundlekit zone migrate-state --to postgresql://bundlekit@db1:5432/prod --home ./prod --dry-run")
def zone() -> None:
    """The zone's own storage: where its state lives."""


@zone.command("migrate-state", epilog="bundlekit zone migrate-state --to postgresql://bundlekit@db1:5432/prod "
                                      "--home ./prod --dry-run\n"
                                      "bundlekit zone migrate-state --to postgresql://bundlekit@db1:5432/prod "
                                      "--package-store /mnt/bundlekit/prod --home ./prod")
@click.option("--to", "to", default=None, help="The empty PostgreSQL database: postgresql://USER@HOST:PORT/DB.")
@click.option("--package-store", "package_store", default=None, type=click.Path(file_okay=False, path_type=Path),
              help="Also move the home's packages to this folder (new or empty; one every node mounts): copied "
                   "hash-checked, marked as the zone's, recorded in bundlekit.conf; HOME/packages is kept as "
                   "HOME/packages.moved.")
@home_option
@click.option("--dry-run", is_flag=True, help="Check the target and print what would be copied; change nothing.")
@password_file_option
@json_option
def migrate_state_cmd(to: str | None, package_store: Path | None, home: str | None, dry_run: bool,
                      password_file: Path | None, as_json: bool) -> None:
    """Move this zone's SQLite state to PostgreSQL, verified (row counts and digests) before switching,
    and with --package-store its packages to a folder every node mounts: the steps before `join`."""
    if to is None and package_store is None:
        raise UsageError("give --to postgresql://USER@HOST:PORT/DB (the state), --package-store DIR (the "
                         "packages), or both", code="usage")
    if to is None and password_file is not None:
        raise UsageError("--state-password-file goes with --to (the state database's password)", code="usage")
    url = state_url(to, "--to")
    info: dict[str, Any] = {"dry_run": dry_run}
    with open_home(home) as z:
        if package_store is not None:
            move_packages(z, package_store, dry_run=True)  # the folder checked before the state moves
        plan = migrate_state(z, url, password_from(password_file), dry_run=dry_run) if url is not None else None
    moved = None
    if package_store is not None:
        with open_home(home) as z:
            moved = move_packages(z, package_store, dry_run=dry_run)
    with open_home(home) as z:
        settings = z.settings
        home_path = z.home
    if plan is not None:
        info.update(plan.to_dict())
    if moved is not None:
        info["packages"] = moved.to_dict()
    nxt = None
    if not dry_run and settings.state is not None and settings.package_store is not None:
        nxt = (f"bundlekit join --home NEW_NODE_HOME --state {settings.state.masked} --package-store "
               f"{settings.package_store} --from {home_path}")
    elif not dry_run and settings.state is not None:
        nxt = (f"packages stay in {home_path / 'packages'}: before other nodes join, move them to a folder every node "
               f"mounts: bundlekit zone migrate-state --package-store DIR --home {home_path}")
    info["next"] = nxt
    if as_json:
        emit_json(info)
        return
    if plan is not None:
        verb = "would copy" if dry_run else ("verified" if plan.resume else "copied and verified")
        echo(f"{verb} {counted(sum(t.rows for t in plan.tables), 'row')} in {counted(len(plan.tables), 'table')} "
             f"from {plan.source} to {plan.target}" + (" (an earlier run's copy)" if plan.resume else ""))
        for t in plan.tables:
            echo(f"  {t.name:<20} {t.rows:>8} {'row ' if t.rows == 1 else 'rows'}  sha256 {t.digest[:16]}...")
        if plan.switched:
            echo(f"the home now uses {plan.target}; the SQLite file is kept as state.db.migrated")
    if moved is not None:
        verb = "would copy" if dry_run else "copied and verified"
        echo(f"{verb} {counted(moved.objects, 'package object')} ({size_text(moved.bytes)}) from {moved.source} to "
             f"{moved.target}")
        if moved.switched:
            echo(f"the home now keeps packages in {moved.target} (BUNDLEKIT_PACKAGE_STORE in bundlekit.conf); the old "
                 "folder is kept as packages.moved")
    if nxt:
        echo(f"next: {nxt}")
