"""The ``bundlekit`` command line: thin click commands over the workflow layers.

A command's module is imported only when that command is used (``cli/lazy.py``), so
``bundlekit --version`` and ``bundlekit --help`` load no workflow. A new command is one line in
:data:`COMMANDS`; its module adds it to :data:`cli` with ``@cli.command`` as before.
"""

from __future__ import annotations

import sys

import click

from bundlekit import __version__
from bundlekit.cli.lazy import Entry, LazyGroup

__all__ = ["main", "cli", "COMMANDS"]

#: Every top-level command: name -> (the module(s) under ``bundlekit/cli/`` that define it, the
#: first holding the command and any later one adding subcommands to it; its short help for
#: ``bundlekit --help``: the first sentence of its help, or the start of a long one).
#: ``tests/cli/test_lazy_commands.py`` checks each line against the command it names.
COMMANDS: dict[str, Entry] = {
    "audit": ("audit_cmds", "Who changed what in this zone: one signed, chained entry per committed change."),
    "dashboard": ("receipt_cmds", "The deployment dashboard: projects x (zone, environment), latest release and state, of"),
    "deploy": ("deploy_cmds", "Deploy a release (imported, or created here) of a project of --space to an environment's"),
    "deployments": ("deploy_cmds", "Deployments recorded in this zone."),
    "diode": ("transport_cmds", "Send bundles one way through a data diode (UDP, or a folder the diode mirrors)."),
    "doctor": ("key_cmds", "Check the zone's home for risky settings (unprotected keys, an open home folder)"),
    "egress": ("egress_cmds", "What this zone's receipts carry back: the egress policy (file format: spec/egress.md)."),
    "export": ("bundle_cmds", "Turn a release file into one signed bundle for a trusted zone."),
    "export-self": ("self_cmds", "Pack bundlekit's own wheel and its dependencies' into one signed bundle for a zone."),
    "identity": ("zone_cmds", "Write this zone's public identity card (name, id, public keys; self-signed)."),
    "import": ("import_cmds", "Verify a bundle and merge it into this zone, atomically."),
    "init": ("zone_cmds", "Create a zone: signing and sealing keys, a zone id and the state database."),
    "inspect": ("bundle_cmds", "Show what a bundle holds without any keys (nothing is verified; see `verify`)."),
    "join": ("node_cmds", "Make this home another node of an existing zone (same keys, state and package store)."),
    "keys": ("zone_cmds key_cmds", "Approvers' personal signing keys, and the passphrase protecting the zone's own keys."),
    "lifecycle": ("release_cmds", "Where a release's lifecycle lets it go, and the zone's waivers."),
    "lint": ("lint_cmd", "Check a release file for everything that would fail in the deploying zone, all at once."),
    "media": ("transport_cmds", "Carry a bundle on removable media as self-checking volumes (optionally with parity)."),
    "outbox": ("receipt_cmds", "Receipts waiting to travel back to the zones releases came from."),
    "outputs": ("receipt_cmds", "Output variables that came back in receipts: the latest deployment per environment."),
    "prune": ("retention_cmds", "Remove what the retention policy no longer keeps: packages in the store, staging"),
    "relay": ("relay_cmd", "Relay a bundle this zone verified to the next zone, keeping its source's signatures."),
    "releases": ("release_cmds", "Releases in this zone: imported from another zone, or created here."),
    "render": ("render_cmd", "Substitute #{...} variables into FILE (or stdin with '-' or no FILE) and print the result."),
    "render-config": ("render_cmd", "Print FILE with structured configuration variables applied (Octopus's Structured"),
    "retention": ("retention_cmds", "How many releases this zone keeps per project and environment (Octopus's retention"),
    "rotate-key": ("zone_cmds", "Replace this zone's signing key; later bundles carry a statement signed by old and new"),
    "self-update": ("self_cmds", "Install the bundlekit release a bundle carries, offline, beside the current one."),
    "serve": ("receipt_cmds", "Serve the dashboard on 127.0.0.1, re-reading the zone's state on every request: of every"),
    "show": ("import_cmds", "Show a project (by name or slug) of a space and one of its releases (default: the latest)."),
    "sign": ("zone_cmds", "Add an approver's signature to a bundle (what was signed does not change)."),
    "spaces": ("space_cmds", "The spaces of this zone: teams kept apart inside one zone."),
    "steps": ("import_cmds", "Enable or disable a project's steps in this zone."),
    "targets": ("target_cmds", "Deployment targets: machines reached over SSH, or folders on this machine."),
    "trust": ("zone_cmds", "The zones this zone accepts bundles or receipts from and seals secrets to."),
    "variables": ("import_cmds", "A project's variables in this zone, including values only production knows."),
    "verify": ("bundle_cmds", "Check signatures, trust, destination, expiry and every blob of a bundle."),
    "worker": ("target_cmds", "As whom, and where, steps on this machine run (zone-level steps, local folder targets)."),
    "zone": ("node_cmds backup_cmds", "The zone's own storage: where its state lives."),
}


@click.group(cls=LazyGroup, registry=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="bundlekit")
def cli() -> None:
    """Move releases across an air gap as signed, sealed bundles, and bring receipts back.

    Start with `bundlekit init --zone dev --home ./dev`, then `bundlekit --help` on any command.
    """


def main() -> None:
    try:
        cli.main(prog_name="bundlekit", standalone_mode=True)
    except KeyboardInterrupt:  # before a command's own handling (common.py) was in place
        from bundlekit.cli.common import report_interrupt

        sys.exit(report_interrupt(None))
