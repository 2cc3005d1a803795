"""`init`, `identity` and `trust`: creating a zone and deciding whom it trusts."""

from __future__ import annotations

import os
from pathlib import Path

import click
from click.core import ParameterSource

from bundlekit.cli import cli
from bundlekit.cli.common import ASCII_INT, echo, emit_json, home_option, json_option, overwrite_option, resolve_home
from bundlekit.cli.zones import open_home
from bundlekit.cli.node_cmds import password_file_option, password_from, state_url
from bundlekit.cli.passphrase import install as install_passphrase_source
from bundlekit.cli.passphrase import new_passphrase_file, passphrase_file_option
from bundlekit.core import clock
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bundlekit.core.files import read_user_file
from bundlekit.deploy.worker_admin import worker_notice
from bundlekit.errors import InputError, UsageError
from bundlekit.format.card import MAX_CARD_BYTES, parse_card
from bundlekit.format.container import SignatureRecord, add_signature
from bundlekit.format.crypto import key_id, raw_public
from bundlekit.format.crypto import sign as crypto_sign
from bundlekit.format.keyfile import MAX_KEY_FILE_BYTES, parse_private, parse_public, render_private, render_public
from bundlekit.trust.policy import SourcePolicy
from bundlekit.trust.relay import trust_add_command
from bundlekit.core.hints import in_space, here_flags, home_flag
from bundlekit.core.text import shell_word
from bundlekit.zone.spaces import resolve_space, space_names, told_apart
from bundlekit.zone.trust_rules import apply_change, plan_change, relay_warnings, set_command, space_warnings
from bundlekit.zone import truststore
from bundlekit.zone.environments import resolve_environment
from bundlekit.zone.home import Zone, init_zone
from bundlekit.zone.keyfiles import set_passphrase_source
from bundlekit.zone.outputs import check_output, refuse_in_home, write_output
from bundlekit.zone.rotation import rotate_key


@cli.command(epilog="bundlekit init --zone prod --home /srv/bundlekit/prod\n"
                    "bundlekit init --zone prod --home /srv/bundlekit/prod-a --state postgresql://bundlekit@db1:5432/prod "
                    "--package-store /mnt/bundlekit/prod")
@click.option("--zone", "zone_name", required=True, help="The zone's name (letters, digits, '.', '_', '-').")
@home_option
@click.option("--state", "state", default=None,
              help="Keep the state in this PostgreSQL database (postgresql://USER@HOST:PORT/DB, no password) "
                   "instead of HOME/state.db, so other nodes can join.")
@click.option("--package-store", "package_store", default=None, type=click.Path(file_okay=False, path_type=Path),
              help="Keep packages in this folder (new or empty; one every node mounts) instead of HOME/packages; "
                   "it is marked as this zone's.")
@password_file_option
@passphrase_file_option("Protect the zone's private keys with the passphrase in this file (one line; "
                        "bundlekit keys protect does it later). Commands that need a key then read it from "
                        "the file BUNDLEKIT_PASSPHRASE_FILE names, or ask on a terminal.")
@json_option
def init(zone_name: str, home: str | None, state: str | None, package_store: Path | None,
         password_file: Path | None, passphrase_file: Path | None, as_json: bool) -> None:
    """Create a zone: signing and sealing keys, a zone id and the state database."""
    if state is None and password_file is not None:
        raise UsageError("--state-password-file is the password of a PostgreSQL state: give --state "
                         "postgresql://USER@HOST:PORT/DB with it, or leave it out for a zone on SQLite", code="usage")
    if state is None and os.environ.get("BUNDLEKIT_STATE"):
        echo("warning: init ignores the BUNDLEKIT_STATE environment variable; this zone's state is HOME/state.db "
             "(SQLite). To put it in PostgreSQL, give --state URL", err=True)
    passphrase = new_passphrase_file(passphrase_file) if passphrase_file is not None else None
    if passphrase is not None:
        set_passphrase_source(lambda why: passphrase)  # the keys just made, for the ids below
    try:
        z = init_zone(resolve_home(home), zone_name, clock.now(), state=state_url(state, "--state"),
                      password=password_from(password_file), package_store=package_store, passphrase=passphrase)
        info: dict[str, str | None] = {"name": z.name, "zone_id": z.zone_id, "home": str(z.home),
                                       "signing_key_id": z.signing_key_id, "sealing_key_id": z.sealing_key_id,
                                       "state": str(z.settings.state or "state.db"), "package_store": str(z.store.base),
                                       "keys_protected": "yes" if passphrase is not None else "no"}
    finally:
        install_passphrase_source()
    with z:
        info["worker_warning"] = notice = worker_notice(z)
    if as_json:
        emit_json(info)
    else:
        echo(f"created zone {z.name} ({z.zone_id}) in {z.home}")
        # the hint is pasted: the home quoted for the shell (finding newuser35 #1)
        echo(f"next: bundlekit identity --home {shell_word(str(z.home))} -o {shell_word(z.name + '.card')}")
    if z.settings.state is not None and z.settings.package_store is None:
        echo(f"note: packages stay in this home ({z.home / 'packages'}); other nodes cannot join until they are in a "
             f"folder every node mounts: bundlekit zone migrate-state --package-store DIR --home {shell_word(str(z.home))}",
             err=True)
    if notice:
        echo(notice, err=True)


@cli.command(epilog="bundlekit identity --home ./dev -o dev.card")
@home_option
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the card ('-' for stdout; outside the zone's home; a new file unless "
                   "--overwrite).")
@overwrite_option
@json_option
def identity(home: str | None, output: Path, overwrite: bool, as_json: bool) -> None:
    """Write this zone's public identity card (name, id, public keys; self-signed).

    With --json the card's description is printed (and with -o - the card's text in "card").
    """
    to_file = str(output) != "-"
    with open_home(home) as z:
        if to_file:
            check_output(output, "-o", z, overwrite=overwrite)
        data = z.card_bytes()
        info = {"zone": z.name, "zone_id": z.zone_id, "signing_key_id": z.signing_key_id,
                "sealing_key_id": z.sealing_key_id, "path": str(output) if to_file else None}
    if to_file:
        write_output(output, "-o", data, overwrite=overwrite)
    if as_json:
        emit_json({**info, **({"card": data.decode()} if str(output) == "-" else {})})
    elif str(output) == "-":
        click.echo(data.decode(), nl=False)  # the card's exact bytes: its signature covers them
    else:
        echo(f"wrote identity card of zone {z.name} to {output}", err=True)


@cli.group(epilog="bundlekit trust add prod.card --home ./dev\nbundlekit trust list --home ./dev --json")
def trust() -> None:
    """The zones this zone accepts bundles or receipts from and seals secrets to."""


EVIDENCE_HELP = ("Glob(s) of the environments whose deployments this zone's receipts and the attestations in its "
                 "releases may prove to a lifecycle (repeat for several). By default its word proves none: "
                 "name the environments it deploys to, e.g. --evidence-for Staging. A plain name close to a "
                 "known environment but not equal is refused as a typo unless --new.")
VIA_HELP = ("A trusted zone this zone's releases must be relayed through (bundlekit relay there); repeat in the "
            "order the releases take (--via staging --via dmz). A release that skipped one, or came through them in "
            "another order, is refused (relay_required).")
SHARE_HELP = ("A trusted zone whose releases may use this zone's packages by hash, and whose receipts list them "
              "(repeat for several). By default a zone's packages are its own.")


def _patterns(values: tuple[str, ...]) -> tuple[str, ...]:
    out = tuple(p.strip() for v in values for p in v.split(",") if p.strip())
    return out or ("*",)


def _evidence_patterns(z: Zone, values: tuple[str, ...], new: bool) -> tuple[str, ...]:
    """The --evidence-for globs; a plain name (no glob character) takes the spelling the zone
    knows it by, and one close to a known environment but not equal is refused as a typo with
    the closest names unless ``new`` (finding 10.7, the rule of decision 394)."""
    out = []
    for p in (p.strip() for v in values for p in v.split(",") if p.strip()):
        out.append(p if any(c in p for c in "*?[") else
                   resolve_environment(z.db, p, option="--evidence-for", new=new))
    return tuple(out)


@trust.command("add", epilog="bundlekit trust add dev.card --home ./prod --projects 'acme-*' --threshold 2\n"
                             "bundlekit trust add staging.card --home ./prod --evidence-for Staging\n"
                             "bundlekit trust add dev.card --via staging --home ./prod")
@click.argument("card", type=click.Path(path_type=Path))
@home_option
@click.option("--space", "space", default="Default", show_default=True, metavar="NAME",
              help="The space of this zone the source's releases enter (bundlekit spaces list shows them); the only one.")
@click.option("--spaces", multiple=True, help="Glob(s) of the project.space values its bundles may give "
                                               "(default all).")
@click.option("--projects", multiple=True, help="Glob(s) of project names or slugs (default all).")
@click.option("--environments", multiple=True, help="Glob(s) of environments (default all).")
@click.option("--threshold", type=ASCII_INT, default=1, show_default=True,
              help="Distinct trusted signatures required (the zone key plus approvers).")
@click.option("--share-packages-with", "share", multiple=True, metavar="ZONE", help=SHARE_HELP)
@click.option("--evidence-for", "evidence_for", multiple=True, metavar="ENV-GLOB", help=EVIDENCE_HELP)
@click.option("--new", is_flag=True, help="An --evidence-for name close to a known environment is a new one, not a typo.")
@click.option("--via", "via", multiple=True, metavar="ZONE", help=VIA_HELP)
@json_option
def trust_add(card: Path, home: str | None, space: str, spaces: tuple[str, ...], projects: tuple[str, ...],
              environments: tuple[str, ...], threshold: int, share: tuple[str, ...], evidence_for: tuple[str, ...],
              new: bool, via: tuple[str, ...], as_json: bool) -> None:
    """Trust another zone's identity card. A zone already trusted keeps its one rule: change it
    with `bundlekit trust set NAME` (every option here but the card)."""
    parsed = parse_card(read_user_file(card, what=f"identity card {card}", limit=MAX_CARD_BYTES), str(card))
    given = _given_options(click.get_current_context())
    with open_home(home) as z:
        space = resolve_space(z.db, space)
        policy = SourcePolicy(_patterns(spaces), _patterns(projects), _patterns(environments), threshold,
                              truststore.zone_ids(z, share, what="--share-packages-with"),
                              _evidence_patterns(z, evidence_for, new),
                              truststore.via_ids(z, via, source=parsed.zone_id, space=space))
        entry = truststore.add_zone(z, parsed, policy, clock.now(), space=space,
                                    instead=set_command(parsed.name, given) if given else None)
        warnings = space_warnings(z, entry.name, entry.space, entry.policy.spaces,
                                  space_given=any(g.startswith("--space ") for g in given))
        warnings += relay_warnings(z, entry.zone_id)  # a relay a --via rule names, trusted again (decision 961)
    if as_json:
        emit_json({**entry.to_dict(), "warnings": warnings})
    else:
        echo(f"trusting zone {entry.name} ({entry.zone_id}) in space {entry.space}, signing key {entry.signing_key_id}"
             + (f"; its releases only when relayed through {entry.relays()}" if entry.via else ""))
    for w in warnings:
        echo(f"warning: {w}", err=True)


#: trust add's options in the order a suggested `trust set` names them.
_RULE_OPTIONS = (("space", "--space"), ("spaces", "--spaces"), ("projects", "--projects"),
                 ("environments", "--environments"), ("threshold", "--threshold"),
                 ("share", "--share-packages-with"), ("evidence_for", "--evidence-for"), ("new", "--new"),
                 ("via", "--via"))


def _given_options(ctx: click.Context) -> list[str]:
    """The rule's options as the command line gave them (not their defaults), shell-quoted: what a
    `trust set` must be given to make the same change (review newuser finding 2)."""
    out: list[str] = []
    for param, flag in _RULE_OPTIONS:
        if ctx.get_parameter_source(param) in (None, ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP):
            continue
        value = ctx.params[param]
        if isinstance(value, bool):
            out += [flag] if value else []
        else:
            out += [f"{flag} {shell_word(str(v))}" for v in (value if isinstance(value, tuple) else (value,))]
    return out


@trust.command("set", epilog="bundlekit trust set dev --projects 'acme-*,bundlekit' --home ./prod\n"
                             "bundlekit trust set dev --via staging --home ./prod\n"
                             "bundlekit trust set dev-payments --share-packages-with dev-web --home ./prod\n"
                             "bundlekit trust set dev-payments --no-package-sharing --home ./prod\n"
                             "bundlekit trust set staging --evidence-for Staging --home ./prod")
@click.argument("name")
@click.option("--space", "space", default=None, metavar="NAME",
              help="Move the rule to this space of this zone: the zone's later releases enter it (bundlekit "
                   "spaces list shows them). The projects it created stay where they are.")
@click.option("--spaces", multiple=True, help="Glob(s) of the project.space values its bundles may give; "
                                               "replaces the globs given before.")
@click.option("--projects", multiple=True, help="Glob(s) of project names or slugs; replaces the globs given before.")
@click.option("--environments", multiple=True, help="Glob(s) of environments; replaces the globs given before.")
@click.option("--threshold", type=ASCII_INT, default=None,
              help="Distinct trusted signatures required (the zone key plus approvers).")
@click.option("--share-packages-with", "share", multiple=True, metavar="ZONE",
              help=SHARE_HELP + " Replaces the zones named before.")
@click.option("--no-package-sharing", is_flag=True, help="Share this zone's packages with no other zone.")
@click.option("--evidence-for", "evidence_for", multiple=True, metavar="ENV-GLOB",
              help=EVIDENCE_HELP + " Replaces the globs given before.")
@click.option("--no-evidence", is_flag=True, help="This zone's word proves no deployment to any lifecycle.")
@click.option("--new", is_flag=True, help="An --evidence-for name close to a known environment is a new one, not a typo.")
@click.option("--via", "via", multiple=True, metavar="ZONE", help=VIA_HELP + " Replaces the relays named before.")
@click.option("--no-via", is_flag=True, help="Accept this zone's releases directly or through any trusted relays.")
@home_option
@json_option
def trust_set(name: str, space: str | None, spaces: tuple[str, ...], projects: tuple[str, ...],
              environments: tuple[str, ...], threshold: int | None, share: tuple[str, ...],
              no_package_sharing: bool, evidence_for: tuple[str, ...], no_evidence: bool, new: bool,
              via: tuple[str, ...], no_via: bool, home: str | None, as_json: bool) -> None:
    """Change a trusted zone's rule in place, keeping what is not given: the space its releases
    enter, the spaces, projects and environments it may send, its threshold, which other zones
    may use the packages it delivered, which environments its receipts and attestations may
    prove, and which relays its releases must come through."""
    sharing, proving, routing = bool(share) or no_package_sharing, bool(evidence_for) or no_evidence, bool(via) or no_via
    ruling = space is not None or bool(spaces or projects or environments) or threshold is not None
    if (share and no_package_sharing) or (evidence_for and no_evidence) or (via and no_via) \
            or not (sharing or proving or routing or ruling):
        raise UsageError("give --space NAME, --spaces/--projects/--environments GLOB (repeat for several), "
                         "--threshold N, --share-packages-with ZONE (repeat for several) or --no-package-sharing, "
                         "--evidence-for ENV-GLOB (repeat for several) or --no-evidence, and/or --via ZONE (repeat, "
                         "in order) or --no-via", code="usage")
    warnings: list[str] = []
    with open_home(home) as z:
        source = truststore.get_zone(z, name)
        moved_to = resolve_space(z.db, space) if space is not None else source.space
        moving = moved_to.casefold() != source.space.casefold()
        # an unknown zone, space or environment, and a rule that could not work, are refused before
        # anything changes; of the writes below only the first (sharing) can still refuse
        patterns = _evidence_patterns(z, evidence_for, new) if proving else ()
        if routing:
            truststore.via_ids(z, via, source=source.zone_id, space=moved_to)
        plan = plan_change(z, name, spaces=_patterns(spaces) if spaces else None,
                           projects=_patterns(projects) if projects else None,
                           environments=_patterns(environments) if environments else None, threshold=threshold,
                           space=moved_to if space is not None else None,
                           via=via if routing and moving else None) if ruling else None
        entry = truststore.share_packages(z, name, share) if sharing else truststore.get_zone(z, name)
        if proving:
            entry = truststore.set_evidence_for(z, name, patterns)
        if routing and not moving:  # a moving rule gets its relays with the move
            entry = truststore.set_via(z, name, via)
        if plan is not None:
            entry, warnings = apply_change(z, plan)
    if as_json:
        emit_json({**entry.to_dict(), "warnings": warnings})
        return
    for w in warnings:
        echo(f"warning: {w}", err=True)
    if ruling:
        p = entry.policy
        echo(f"zone {entry.name}'s rule: space {entry.space}, threshold {p.threshold}, spaces {','.join(p.spaces)}, "
             f"projects {','.join(p.projects)}, environments {','.join(p.environments)}")
    if ruling and not (sharing or proving or routing):
        return
    if routing and not (sharing or proving):
        echo(f"zone {entry.name}'s releases are accepted "
             + (f"only when relayed through {entry.relays()}" if entry.via else "directly or through any "
                "trusted relays"))
    elif proving and not sharing:
        echo(f"zone {entry.name}'s receipts and attestations now prove deployments to: "
             f"{', '.join(entry.policy.evidence_for) or 'no environment'}")
    elif entry.shares_packages_with:
        echo(f"the packages zone {entry.name} delivers may now be used by zone(s) "
             f"{', '.join(entry.shares_packages_with)}")
    else:
        echo(f"the packages zone {entry.name} delivers are its own (no other zone may use them)")


@trust.command("list", epilog="bundlekit trust list --home ./prod --json")
@home_option
@click.option("--space", "space", default=None, metavar="NAME",
              help="Only the zones trusted in this space (default: every space).")
@json_option
def trust_list(home: str | None, space: str | None, as_json: bool) -> None:
    """List trusted zones with their space, keys and policy."""
    with open_home(home) as z:
        space = None if space is None else resolve_space(z.db, space)
        entries = truststore.list_zones(z, space=space)
        known = space_names(z.db)
    if as_json:
        emit_json({"zones": [e.to_dict() for e in entries]})
        return
    if not entries:
        echo(f"no trusted zones{in_space(space)}; add one with `bundlekit trust add CARD{here_flags(space)}`")
    for e in entries:
        p = e.policy
        echo(f"{e.name:<16} {e.zone_id}  key {e.signing_key_id}  space {told_apart(e.space, known)}  threshold {p.threshold}  "
             f"spaces {','.join(p.spaces)}  projects {','.join(p.projects)}  "
             f"environments {','.join(p.environments)}")
        for kid, label in e.signers:
            echo(f"{'':<16} approver {label} ({kid})")
        if e.shares_packages_with:
            echo(f"{'':<16} shares its packages with {', '.join(e.shares_packages_with)}")
        if p.evidence_for:
            echo(f"{'':<16} its receipts and attestations prove deployments to {', '.join(p.evidence_for)}")
        if e.via:
            echo(f"{'':<16} its releases only when relayed through {e.relays()}")
            if e.via_untrusted:
                echo(f"{'':<16} so none of its releases is accepted: {_reroute(e)}")


@trust.command("remove", epilog="bundlekit trust remove dev --home ./prod")
@click.argument("name")
@home_option
@json_option
def trust_remove(name: str, home: str | None, as_json: bool) -> None:
    """Stop trusting a zone.

    A zone another trust rule names with --via is removed too (at once: trusting less is never
    refused); the command then says which rules need a zone no longer trusted, and how to change
    them (decision 944)."""
    with open_home(home) as z:
        entry, relying = truststore.remove_zone(z, name)
        names = {**truststore.zone_names(z.db), **dict(zip(entry.policy.via, entry.via))}
    if as_json:
        emit_json({"removed": entry.to_dict(), "rules_needing_it": [r.to_dict() for r in relying]})
        return
    echo(f"no longer trusting zone {entry.name} ({entry.zone_id})")
    for r in relying:
        echo(f"warning: the trust rule of zone {r.name} accepts its releases only when relayed through "
             f"{r.relays()}, so none of them is accepted now: {_reroute(r, entry, names)}", err=True)


def _reroute(entry: truststore.TrustEntry, removed: truststore.TrustEntry | None = None,
             names: dict[str, str] | None = None) -> str:
    """How an operator changes ``entry``'s rule whose relays are no longer all trusted (decision 944);
    right after ``removed`` was removed, the complete ``trust add`` that restores its rule (atk36
    finding 3: "then `bundlekit trust set` as before" did not run)."""
    gone = [name for name, zid in zip(entry.via, entry.policy.via) if zid in entry.via_untrusted]
    again = (f"`{trust_add_command(removed.name, removed.space, removed.policy, names or {})}` with its card"
             if removed is not None else
             f"`bundlekit trust add CARD{here_flags(entry.space)}` with its card and the options its rule had")
    return (f"name relays it still trusts (`bundlekit trust set {shell_word(entry.name)} --via ZONE{home_flag()}`, repeated in order), "
            f"accept them directly or through any trusted relay (`bundlekit trust set {shell_word(entry.name)} --no-via{home_flag()}`), "
            f"or trust {' and '.join(gone)} again ({again})")


@trust.command("add-signer", epilog="bundlekit trust add-signer alice.pub --for dev --home ./prod")
@click.argument("public_key", type=click.Path(path_type=Path))
@click.option("--for", "source", required=True, help="The trusted zone whose threshold this key counts towards.")
@home_option
@json_option
def trust_add_signer(public_key: Path, source: str, home: str | None, as_json: bool) -> None:
    """Let an approver's key count towards a source zone's signature threshold."""
    approver = parse_public(read_user_file(public_key, what=f"public key file {public_key}", limit=MAX_KEY_FILE_BYTES),
                            str(public_key))
    with open_home(home) as z:
        entry = truststore.add_signer(z, source, approver, clock.now())
    if as_json:
        emit_json(entry.to_dict())
    else:
        echo(f"approver {approver.name} ({approver.key_id}) now counts for zone {entry.name} "
             f"(threshold {entry.policy.threshold})")


@trust.command("revoke", epilog="bundlekit trust revoke 017dae5126e0eb6b27878d9aa5d1e294 --home ./prod")
@click.argument("key_id")
@click.option("--reason", default="revoked by operator", show_default=True)
@home_option
@json_option
def trust_revoke(key_id: str, reason: str, home: str | None, as_json: bool) -> None:
    """Refuse a signing key (zone or approver) from now on."""
    with open_home(home) as z:
        truststore.revoke(z, key_id, reason, clock.now())
    if as_json:
        emit_json({"revoked": key_id, "reason": reason})
    else:
        echo(f"revoked key {key_id}; bundles signed only by it are refused")


@cli.group(epilog="bundlekit keys new --name alice -o alice")
def keys() -> None:
    """Approvers' personal signing keys, and the passphrase protecting the zone's own keys."""


@keys.command("new", epilog="bundlekit keys new --name alice -o alice   # writes alice.key and alice.pub")
@click.option("--name", required=True, help="The approver's name, shown in trust lists.")
@click.option("-o", "--output", "prefix", required=True, type=click.Path(path_type=Path),
              help="Prefix of the two files written: PREFIX.key (private, 0600) and PREFIX.pub.")
@json_option
def keys_new(name: str, prefix: Path, as_json: bool) -> None:
    """Make an approver's Ed25519 key pair."""
    priv_path, pub_path = Path(f"{prefix}.key"), Path(f"{prefix}.pub")
    for p in (priv_path, pub_path):
        refuse_in_home(p, "-o")  # an approver's key is no zone's: never among a zone's files (decision 942)
        if os.path.lexists(p):
            raise InputError(f"{p} already exists; refusing to overwrite a key", code="file_exists")
    key = Ed25519PrivateKey.generate()
    pub = render_public(name, key)
    write_output(priv_path, "-o", render_private(name, key), flag=None, mode=0o600)
    write_output(pub_path, "-o", pub, flag=None)
    kid = parse_public(pub, str(pub_path)).key_id
    if as_json:
        emit_json({"name": name, "key_id": kid, "private": str(priv_path), "public": str(pub_path)})
    else:
        echo(f"wrote {priv_path} (keep it secret) and {pub_path}; key id {kid}")


@cli.command(epilog="bundlekit sign acme-1.4.0.bundle --key alice.key")
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--key", "key_file", required=True, type=click.Path(path_type=Path),
              help="The approver's private key file (PREFIX.key from bundlekit keys new).")
@json_option
def sign(bundle: Path, key_file: Path, as_json: bool) -> None:
    """Add an approver's signature to a bundle (what was signed does not change)."""
    refuse_in_home(bundle, "BUNDLE", why=": `sign` adds the signature to the bundle file itself; copy the bundle "
                   "out of the home and sign the copy")
    name, key = parse_private(read_user_file(key_file, what=f"key file {key_file}", limit=MAX_KEY_FILE_BYTES),
                              str(key_file))

    def make(message: bytes, kind: str) -> SignatureRecord:
        return SignatureRecord(raw_public(key), crypto_sign(key, kind, message))

    added, digest = add_signature(bundle, make)
    kid = key_id("ed25519", raw_public(key))
    if as_json:
        emit_json({"bundle": str(bundle), "digest": digest, "signer": name, "key_id": kid, "added": added})
    else:
        echo(f"{'added' if added else 'already had'} the signature of {name} ({kid}) on {bundle}")


@cli.command("rotate-key", epilog="bundlekit rotate-key --home ./dev")
@home_option
@json_option
def rotate_key_cmd(home: str | None, as_json: bool) -> None:
    """Replace this zone's signing key; later bundles carry a statement signed by old and new keys."""
    with open_home(home) as z:
        st = rotate_key(z, clock.now())
    old, new = key_id("ed25519", st.old_key), key_id("ed25519", st.new_key)
    if as_json:
        emit_json({"old_key_id": old, "new_key_id": new, "issued": st.issued})
    else:
        echo(f"rotated signing key {old} -> {new}; the next bundles carry the rotation statement. "
             f"Hand out a fresh identity card (`bundlekit identity -o CARD{home_flag()}`) to zones that trust you anew.")
