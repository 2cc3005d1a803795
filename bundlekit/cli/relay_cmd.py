"""`relay`: pass a verified bundle on to the next zone, countersigned (spec/relay.md)."""

from __future__ import annotations

from pathlib import Path

import click

from bundlekit.cli import cli
from bundlekit.cli.common import echo, emit_json, home_option, json_option, overwrite_option, quiet_option
from bundlekit.cli.progress import Bars
from bundlekit.cli.zones import open_home
from bundlekit.core import clock
from bundlekit.export.relay import relay_bundle


@cli.command(epilog="bundlekit relay acme-1.4.0.bundle --to prod -o acme-1.4.0.prod.bundle --home ./staging\n"
                    "bundlekit relay receipt-3.bundle --to dev -o receipt-3.dev.bundle --home ./staging")
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--to", "to", required=True, metavar="ZONE", help="The trusted zone to relay the bundle to.")
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the relayed bundle (outside the zone's home; a new file unless --overwrite).")
@click.option("--allow-by-reference", is_flag=True,
              help="Relay a release that lists packages by reference or as changes (sent without their bytes "
                   "because this zone held them): only when ZONE already holds them from the release's source. "
                   "Without it such a release is refused; export it with `--full` for a chain.")
@overwrite_option
@home_option
@quiet_option
@json_option
def relay(bundle: Path, to: str, output: Path, allow_by_reference: bool, overwrite: bool, home: str | None,
          quiet: bool, as_json: bool) -> None:
    """Relay a bundle this zone verified to the next zone, keeping its source's signatures.

    A release addressed to this zone (by its source or by the relay before) is verified, its
    secrets are sealed again to ZONE's key in memory, and this zone's countersignature and relay
    record are added. ZONE must be trusted here in the space the release enters here, or in
    Default (decision 941). A receipt on its way back to the release's source is verified as a third
    zone verifies one and relayed the same way (its secrets stay sealed to that source). Nothing
    in this zone's home changes. A release whose packages are not all in it (by reference, as
    changes) is refused unless --allow-by-reference: a relay carries no package bytes.
    """
    now = clock.now()
    with open_home(home) as z, Bars("verify", quiet=quiet, as_json=as_json) as bars:
        result = relay_bundle(z, bundle, to, output, now=now, progress=bars, allow_by_reference=allow_by_reference,
                              overwrite=overwrite)
    if as_json:
        emit_json(result.to_dict())
        return
    d = result.to_dict()
    what = f"{d['project']} {d['release']}" if result.verified.manifest.kind == "release" else "receipt"
    path = " -> ".join([d["origin"]["source"], *(h["zone"] for h in d["hops"]), d["to"]])
    echo(f"relayed {what} ({path}) to {output}; checks: {', '.join(d['checks'])}; "
         f"{d['sealed_values']} secret(s) sealed again for {d['to']}")
