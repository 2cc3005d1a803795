"""The ``bundlekit`` command line: thin click commands over the workflow layers."""

from __future__ import annotations

import sys

import click

from bundlekit import __version__
from bundlekit.cli.common import BundleGroup

__all__ = ["main", "cli"]


@click.group(cls=BundleGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="bundlekit")
def cli() -> None:
    """Move releases across an air gap as signed, sealed bundles, and bring receipts back.

    Start with `bundlekit init --zone dev --home ./dev`, then `bundlekit --help` on any command.
    """


def _register() -> None:
    # Each module adds its commands to `cli` when imported; importing them here completes it.
    from bundlekit.cli import (bundle_cmds, deploy_cmds, import_cmds, node_cmds, receipt_cmds,  # noqa: F401
                               release_cmds, render_cmd, target_cmds, transport_cmds, zone_cmds)
    from bundlekit.cli import egress_cmds, lint_cmd, retention_cmds, self_cmds  # noqa: F401
    from bundlekit.cli import backup_cmds, key_cmds  # noqa: F401
    from bundlekit.cli import audit_cmds  # noqa: F401
    from bundlekit.cli import relay_cmd  # noqa: F401
    from bundlekit.cli import space_cmds  # noqa: F401
    from bundlekit.cli.completion import install

    install(cli)  # completion of projects, versions, environments and targets from the zone


_register()


def main() -> None:
    try:
        cli.main(prog_name="bundlekit", standalone_mode=True)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
