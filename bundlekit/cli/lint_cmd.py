"""``bundlekit lint``: every problem of a release file, before it crosses the air gap.

A thin command over :func:`bundlekit.export.lint.lint_release`. Exit 0 when there is no
error (warnings allowed), 2 when there is one, 1 for a file it cannot read (decision 571);
``--json`` prints every finding. It needs no
zone home: a release file and, with ``--targets``, the deploying zone's target inventory
(``bundlekit targets export-inventory`` writes it there).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from bundlekit.cli import cli
from bundlekit.cli.common import counted, echo, emit_json, json_option
from bundlekit.errors import FAMILIES
from bundlekit.export.inventory import load_inventory
from bundlekit.export.lint import lint_release

__all__ = ["lint"]


@cli.command(epilog="bundlekit lint release.toml\nbundlekit lint release.toml --targets prod-targets.json --json")
@click.argument("release_file", type=click.Path(path_type=Path))
@click.option("--targets", "targets_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The deploying zone's target inventory (what bundlekit targets export-inventory wrote there): steps "
                   "whose role no target has are errors.")
@json_option
def lint(release_file: Path, targets_file: Path | None, as_json: bool) -> None:
    """Check a release file for everything that would fail in the deploying zone, all at once.

    Templates that do not parse, names nothing defines (with "did you mean"), substitution
    patterns that match no file, package members a deploy would refuse, step names outputs
    cannot be read from, unknown environments and roles, unused placeholders, misspelt keys.
    Exit 0 when there are no errors (warnings allowed), 2 when there are; 1 when the release
    file or the --targets file cannot be read at all (file_not_found, unreadable, not_a_file,
    input_too_large), as for every command."""
    inventory = load_inventory(targets_file) if targets_file is not None else None
    report = lint_release(release_file, inventory)
    if as_json:
        emit_json(report.to_dict())
    else:
        for finding in report.findings:
            echo(finding.text())
        echo(f"{release_file}: {counted(len(report.errors), 'error')}, {counted(len(report.warnings), 'warning')}")
    if report.errors:
        sys.exit(FAMILIES["usage"][0])
