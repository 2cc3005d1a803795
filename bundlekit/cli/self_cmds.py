"""`export-self` and `self-update`: bundlekit crosses the gap as an ordinary release (decisions 560, 561)."""

from __future__ import annotations

from pathlib import Path

import click

from bundlekit.cli import cli
from bundlekit.cli.common import (echo, emit_json, home_option, interrupted_note, json_option, overwrite_option,
                                  quiet_option, resolve_home)
from bundlekit.cli.progress import Bars
from bundlekit.cli.zones import open_home
from bundlekit.core import clock
from bundlekit.core.clock import when_text
from bundlekit.core.names import check_one_name
from bundlekit.core.text import shell_word, size_text, terminal_text
from bundlekit.errors import UsageError
from bundlekit.export.exporter import DEFAULT_EXPIRY, parse_duration
from bundlekit.selfupdate.export_self import export_self
from bundlekit.selfupdate.install import rollback, self_dir, self_update
from bundlekit.selfupdate.links import home_option_of
from bundlekit.selfupdate.wheels import Target
from bundlekit.zone.home import open_zone


def _python_version(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    parts = text.split(".")
    if len(parts) != 2 or not all(p.isascii() and p.isdigit() for p in parts):
        raise UsageError(f"--python-version {text!r}: give the destination's Python as MAJOR.MINOR, like 3.11",
                         code="usage")
    return int(parts[0]), int(parts[1])


@cli.command("export-self", epilog="bundlekit export-self --to prod -o bundlekit.bundle --wheelhouse ./wheelhouse "
                                   "--home ./dev")
@click.option("--to", "to", required=True, help="The trusted destination zone's name.")
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the bundle (outside the zone's home; a new file unless --overwrite).")
@overwrite_option
@click.option("--wheelhouse", type=click.Path(path_type=Path), default=None,
              help="The folder of wheels: bundlekit's and its dependencies' (default: HOME/wheelhouse).")
@click.option("--python-version", "python_version", default=None,
              help="The destination's Python, like 3.11 (default: this machine's).")
@click.option("--platform", "platforms", multiple=True,
              help="A platform tag of the destination, like manylinux_2_17_x86_64 (repeatable; default: this "
                   "machine's), as pip download takes it.")
@click.option("--expires", default=None, help="Validity, like 12h, 30d, 2w (default 30d).")
@click.option("--full", is_flag=True, help="Include every wheel, even those the destination reported holding "
              "(for a relay, or a zone that pruned them).")
@home_option
@quiet_option
@json_option
def export_self_cmd(to: str, output: Path, overwrite: bool, wheelhouse: Path | None, python_version: str | None,
                    platforms: tuple[str, ...], expires: str | None, full: bool, home: str | None, quiet: bool,
                    as_json: bool) -> None:
    """Pack bundlekit's own wheel and its dependencies' into one signed bundle for a zone.

    The wheelhouse holds bundlekit's wheel (`pip wheel --no-deps -w DIR SOURCE`) and its
    dependencies' for the destination (`pip download --only-binary=:all: -d DIR ...`); the missing
    ones are refused together, naming one pip command that fetches them all, and a wheel whose
    Requires-Python excludes the destination's Python is never packed. The destination installs
    the bundle offline with `bundlekit self-update`, and must trust this zone for the project
    `bundlekit`.
    """
    for platform in platforms:  # a tag never holds a comma: a list typed into one --platform (decision 976)
        check_one_name(platform, option="--platform", error=UsageError)
    expires_in = parse_duration(expires) if expires else DEFAULT_EXPIRY
    target = Target(_python_version(python_version), tuple(platforms))
    now = clock.now()
    with open_home(home) as z, Bars("export", quiet=quiet, as_json=as_json) as bars:
        res = export_self(z, to, output, wheelhouse=wheelhouse or z.home / "wheelhouse", target=target, now=now,
                          expires_in=expires_in, progress=bars, overwrite=overwrite, full=full)
    m = res.result.manifest
    held = [f"{p.id} {p.version}" for p in m.packages if not p.included]
    if as_json:
        emit_json({"path": str(res.result.path), "digest": res.result.digest, "size": res.result.size,
                   "version": m.release["version"], "sequence": m.sequence, "destination": m.destination.name,
                   "expires": m.expires, "target": target.describe(),
                   "wheels": [w.path.name for w in res.wheels], "not_included": held})
        return
    echo(f"exported bundlekit {m.release['version']} and {len(res.wheels) - 1} dependencies for zone "
         f"{m.destination.name} ({target.describe()}): {res.result.path}")
    echo(f"  sequence {m.sequence}, {size_text(res.result.size)}, digest {res.result.digest}, expires "
         f"{when_text(m.expires, now)}")
    if held:
        echo(f"  {len(held)} of {len(m.packages)} wheels by reference or as changes (zone {m.destination.name} "
             "reported holding them); `--full` sends every one whole, as a relay or a zone that pruned them needs")
    echo(f"  there: bundlekit self-update {shell_word(res.result.path.name)} --home DIR")


@cli.command("self-update", epilog="bundlekit self-update bundlekit.bundle --home ./prod --dry-run\n"
                                   "bundlekit self-update --rollback --home ./prod")
@click.argument("bundle", type=click.Path(path_type=Path), required=False)
@home_option
@click.option("--dry-run", is_flag=True, help="Check the bundle and say what would be installed; change nothing.")
@click.option("--rollback", "back", is_flag=True, help="Switch back to the installation used before the last switch.")
@json_option
def self_update_cmd(bundle: Path | None, home: str | None, dry_run: bool, back: bool, as_json: bool) -> None:
    """Install the bundlekit release a bundle carries, offline, beside the current one.

    The bundle is checked as `import` checks any release. A new virtual environment under
    HOME/self/venvs gets its wheels (pip --no-index); HOME/self/current is switched to it only
    when its `bundlekit --version` runs. HOME/self/previous keeps the one before (--rollback).
    """
    if back == (bundle is not None):
        raise UsageError("self-update: give a BUNDLE to install, or --rollback (not both)", code="usage")
    if back:
        if dry_run:
            raise UsageError("self-update --rollback has no --dry-run: it only swaps two links", code="usage")
        # The zone, not its state: a rollback swaps two links, and must work when the running
        # bundlekit is older than the state (it reads the state's schema only; decision 951).
        with open_zone(resolve_home(home)) as z:
            used = home_option_of(self_dir(z))  # the hints name the home this run used (finding 18)
            res = rollback(z)
    else:
        assert bundle is not None
        if dry_run:
            interrupted_note("a dry run changes nothing: nothing was changed")
        else:
            interrupted_note("the running bundlekit stays current unless the switch had begun (the next self-update "
                             "or --rollback finishes a begun switch); what this run began is removed now or swept by "
                             "the next self-update. Run the same command again")
        with open_home(home) as z:
            used = home_option_of(self_dir(z))
            res = self_update(z, bundle, now=clock.now(), dry_run=dry_run)
    if as_json:
        emit_json(res.to_dict())
        return
    run = shell_word(str(res.current / "bin" / "bundlekit"))  # a command to paste (finding newuser35 #2)
    if back:
        before = (f"{res.previous} is kept as previous: `bundlekit self-update --rollback {used}` switches back to it"
                  if res.previous_gone is None else f"{_gone(res.previous, res.previous_gone, res.previous_again)}")
        echo(f"rolled back: {res.current} now names {res.venv} (bundlekit {res.version or 'of unknown version'}); "
             f"{before}")
    elif res.already:
        echo(f"bundlekit {res.version} from this bundle is already current: {run}")
    elif res.dry_run:
        echo(f"would install bundlekit {res.version} ({len(res.wheels)} wheels, offline) into {res.venv}, then switch "
             f"{res.current} to it; previous: {res.previous} (nothing was changed)")
        if res.downgrade_from:
            echo(f"  a downgrade from {res.downgrade_from} to {res.version}: the source zone sent an older version as "
                 "its newest (a higher sequence)")
    else:
        echo(f"installed bundlekit {res.version} into {res.venv}; {res.current} names it now: run {run}")
        if res.downgrade_from:
            echo(f"  a downgrade from {res.downgrade_from} to {res.version}: the source zone sent an older version as "
                 "its newest (a higher sequence)")
        if res.previous_gone is None:
            echo(f"  the installation before ({res.previous}) is kept: bundlekit self-update --rollback {used}")
        else:
            echo(f"  the installation before: {_gone(res.previous, res.previous_gone, res.previous_again)}")


def _gone(previous: str | None, why: str, again: str | None) -> str:
    """The success line's words for an installation switched away from that ``--rollback`` cannot
    switch back to (``why``: "which ..." words): no promise that it is kept, and how to make it
    again (``again``, after "with": the bundle it came from, or the new export its source must make
    once that bundle is refused as a rollback; atk36 finding 4, newuser36 finding 5)."""
    return (f"{previous}, which {terminal_text(why)}, cannot be switched back to; to go back to that release, make "
            f"it again here with {again}")
