"""`init`, `identity` and `trust`: creating a zone and deciding whom it trusts."""

from __future__ import annotations

import time
from pathlib import Path

import click

from bundlekit.cli import cli
from bundlekit.cli.common import emit_json, home_option, json_option, resolve_home
from bundlekit.errors import InputError
from bundlekit.format.card import parse_card
from bundlekit.fsutil import atomic_write_bytes
from bundlekit.trust.policy import SourcePolicy
from bundlekit.zone import truststore
from bundlekit.zone.home import init_zone, open_zone


@cli.command(epilog="bundlekit init --zone prod --home /srv/bundlekit/prod")
@click.option("--zone", "zone_name", required=True, help="The zone's name (letters, digits, '.', '_', '-').")
@home_option
@json_option
def init(zone_name: str, home: str | None, as_json: bool) -> None:
    """Create a zone: signing and sealing keys, a zone id and the state database."""
    z = init_zone(resolve_home(home), zone_name, int(time.time()))
    info = {"name": z.name, "zone_id": z.zone_id, "home": str(z.home), "signing_key_id": z.signing_key_id,
            "sealing_key_id": z.sealing_key_id}
    if as_json:
        emit_json(info)
    else:
        click.echo(f"created zone {z.name} ({z.zone_id}) in {z.home}")
        click.echo(f"next: bundlekit identity --home {z.home} -o {z.name}.card")


@cli.command(epilog="bundlekit identity --home ./dev -o dev.card")
@home_option
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the card ('-' for stdout).")
def identity(home: str | None, output: Path) -> None:
    """Write this zone's public identity card (name, id, public keys; self-signed)."""
    with open_zone(resolve_home(home)) as z:
        data = z.card_bytes()
    if str(output) == "-":
        click.echo(data.decode(), nl=False)
    else:
        atomic_write_bytes(output, data)
        click.echo(f"wrote identity card of zone {z.name} to {output}", err=True)


@cli.group(epilog="bundlekit trust add prod.card --home ./dev\nbundlekit trust list --home ./dev --json")
def trust() -> None:
    """The zones this zone accepts bundles or receipts from and seals secrets to."""


def _patterns(values: tuple[str, ...]) -> tuple[str, ...]:
    out = tuple(p.strip() for v in values for p in v.split(",") if p.strip())
    return out or ("*",)


@trust.command("add", epilog="bundlekit trust add dev.card --home ./prod --projects 'acme-*' --threshold 2")
@click.argument("card", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@home_option
@click.option("--spaces", multiple=True, help="Glob(s) of spaces this zone may send (default all).")
@click.option("--projects", multiple=True, help="Glob(s) of project names or slugs (default all).")
@click.option("--environments", multiple=True, help="Glob(s) of environments (default all).")
@click.option("--threshold", type=int, default=1, show_default=True,
              help="Distinct trusted signatures required (the zone key plus approvers).")
@json_option
def trust_add(card: Path, home: str | None, spaces: tuple[str, ...], projects: tuple[str, ...],
              environments: tuple[str, ...], threshold: int, as_json: bool) -> None:
    """Trust another zone's identity card."""
    parsed = parse_card(card.read_bytes(), str(card))
    policy = SourcePolicy(_patterns(spaces), _patterns(projects), _patterns(environments), threshold)
    if threshold < 1:
        raise InputError("--threshold must be at least 1", code="invalid_policy")
    with open_zone(resolve_home(home)) as z:
        entry = truststore.add_zone(z, parsed, policy, int(time.time()))
    if as_json:
        emit_json(entry.to_dict())
    else:
        click.echo(f"trusting zone {entry.name} ({entry.zone_id}), signing key {entry.signing_key_id}")


@trust.command("list", epilog="bundlekit trust list --home ./prod --json")
@home_option
@json_option
def trust_list(home: str | None, as_json: bool) -> None:
    """List trusted zones with their keys and policy."""
    with open_zone(resolve_home(home)) as z:
        entries = truststore.list_zones(z)
    if as_json:
        emit_json({"zones": [e.to_dict() for e in entries]})
        return
    if not entries:
        click.echo("no trusted zones; add one with `bundlekit trust add CARD`")
    for e in entries:
        p = e.policy
        click.echo(f"{e.name:<16} {e.zone_id}  key {e.signing_key_id}  threshold {p.threshold}  "
                   f"spaces {','.join(p.spaces)}  projects {','.join(p.projects)}  "
                   f"environments {','.join(p.environments)}")
        for kid, label in e.signers:
            click.echo(f"{'':<16} approver {label} ({kid})")


@trust.command("remove", epilog="bundlekit trust remove dev --home ./prod")
@click.argument("name")
@home_option
@json_option
def trust_remove(name: str, home: str | None, as_json: bool) -> None:
    """Stop trusting a zone."""
    with open_zone(resolve_home(home)) as z:
        entry = truststore.remove_zone(z, name)
    if as_json:
        emit_json({"removed": entry.to_dict()})
    else:
        click.echo(f"no longer trusting zone {entry.name} ({entry.zone_id})")
