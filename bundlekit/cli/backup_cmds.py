"""`zone backup` and `zone restore`: a zone home in one encrypted file, and back (decision 581).

The work is in ``zone/backup.py``; these commands read the backup's passphrase
(``cli/passphrase.py``: ``--passphrase-file`` or a prompt, never ``BUNDLEKIT_PASSPHRASE_FILE``, which
is the zone keys' passphrase, decision 677) and report. :func:`backup_home` and :func:`restore_home` do one operation each and return what
was done, so a caller that records operations can wrap them.
"""

from __future__ import annotations

from pathlib import Path

import click

from bundlekit.cli.common import echo, emit_json, home_option, json_option, resolve_home
from bundlekit.cli.node_cmds import zone
from bundlekit.cli.passphrase import given_passphrase, new_passphrase, passphrase_file_option
from bundlekit.cli.zones import open_home
from bundlekit.core import clock
from bundlekit.zone.backup import SELF_NOTE, BackupResult, RestoreResult, backup_zone, check_backup_path, restore_zone

__all__ = ["backup_home", "restore_home"]


def backup_home(home: Path, output: Path, passphrase_file: Path | None) -> BackupResult:
    """Back the zone at ``home`` up into the new file ``output``."""
    with open_home(home) as z:
        check_backup_path(z, output)  # before the passphrase is asked
        passphrase = new_passphrase(passphrase_file, f"the backup of zone {z.name}", from_env=False)
        return backup_zone(z, output, passphrase, clock.now())


def restore_home(backup: Path, home: Path, passphrase_file: Path | None, replace: bool) -> RestoreResult:
    """Restore ``backup`` into ``home`` (new, empty, or with ``replace`` the same zone's)."""
    return restore_zone(backup, home, lambda: given_passphrase(passphrase_file, f"backup {backup}"),
                        replace=replace, now=clock.now())


@zone.command("backup", epilog="bundlekit zone backup -o /mnt/offsite/prod-2026-12-01.zbak --home ./prod")
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The backup file to write (new; never overwritten; outside any zone's home).")
@passphrase_file_option("A file holding the backup's passphrase on one line, at least 8 characters (else it is asked twice "
                        "on the terminal; BUNDLEKIT_PASSPHRASE_FILE is the keys' passphrase, never the backup's). Keep "
                        "it apart from the machine: it alone opens the backup.")
@home_option
@json_option
def zone_backup(output: Path, passphrase_file: Path | None, home: str | None, as_json: bool) -> None:
    """Write the whole zone home (state, keys, packages, outbox) into one encrypted, authenticated file."""
    done = backup_home(resolve_home(home), output, passphrase_file)
    if as_json:
        emit_json(done.to_dict())
        return
    echo(f"backed up zone {done.zone} ({done.zone_id}): {done.files} files, {done.bytes} bytes, into {done.path}")
    for path in done.skipped:
        echo(f"warning: skipped {path} (not a regular file or folder)", err=True)
    if done.left_out:
        echo(f"note: {SELF_NOTE}", err=True)
    if done.missing:
        echo(f"warning: the state lists {len(done.missing)} package(s) whose file is not in the package store "
             f"(first: {done.missing[0]}); deployments of them will fail after a restore too. If a prune ran "
             "meanwhile, back up again", err=True)


@zone.command("restore", epilog="bundlekit zone restore /mnt/offsite/prod-2026-12-01.zbak --home ./prod")
@click.argument("backup", type=click.Path(dir_okay=False, path_type=Path))
@passphrase_file_option("A file holding the backup's passphrase on one line (else it is asked on the terminal; "
                        "BUNDLEKIT_PASSPHRASE_FILE is the zone keys' passphrase, used to sign the restore's audit "
                        "entry).")
@click.option("--replace", is_flag=True, help="Replace the zone's existing home (it is kept beside it as "
                                              "HOME.replaced-TIME); a home of another zone is never replaced.")
@home_option
@json_option
def zone_restore(backup: Path, passphrase_file: Path | None, replace: bool, home: str | None, as_json: bool) -> None:
    """Restore a zone home from `zone backup`'s file, verified whole before anything is written."""
    done = restore_home(backup, resolve_home(home), passphrase_file, replace)
    if as_json:
        emit_json(done.to_dict())
        return
    echo(f"restored zone {done.zone} ({done.zone_id}), backed up at {clock.when_text(done.made, clock.now())}: {done.files} files into {done.home}")
    if done.replaced:
        echo(f"the home it replaced is kept as {done.replaced}; delete it once the zone works (it holds keys)")
    for line in done.notes:
        echo(f"note: {line}")
