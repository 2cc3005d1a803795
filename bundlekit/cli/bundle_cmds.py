"""`export`, `inspect` and `verify`: making a bundle and checking one."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import click

from bundlekit.cli import cli
from bundlekit.cli.common import (ASCII_INT, counted, echo, echo_field, emit_json, home_option, json_option,
                                  overwrite_option, quiet_option)
from bundlekit.cli.zones import open_home
from bundlekit.cli.progress import Bars
from bundlekit.core import clock
from bundlekit.core.clock import when_text
from bundlekit.core.hints import home_flag, listed
from bundlekit.core.text import shell_word, size_text
from bundlekit.errors import BundleError, FormatError, UsageError

if TYPE_CHECKING:
    from bundlekit.format.container import BundleFile
    from bundlekit.format.manifest import Manifest

# What inspect and verify alone use (reading a bundle, relay hops, a receipt's contents) is
# imported in those commands: `export` starts without it (decision 880).


def summary(m: Manifest, digest: str, signers: list[str], version: str) -> dict[str, Any]:
    """The public, secret-free description of a bundle (what `inspect` prints); ``version``:
    the format version its header gives, ``"1.2"`` (``format`` stays the family, ``bundlekit/1``);
    ``writer``: ``"bundlekit 0.1.0"``, or None for a bundle whose writer did not say (format 1.4)."""
    out: dict[str, Any] = {
        "kind": m.kind, "format": "bundlekit/1", "format_version": version, "writer": m.writer,
        "bundle_id": m.bundle_id,
        "digest": digest,
        "source": m.source.to_dict(), "destination": m.destination.to_dict(), "sequence": m.sequence,
        "created": m.created, "expires": m.expires, "signers": signers,
    }
    if m.kind == "release":
        out.update({
            "project": dict(m.project), "release": dict(m.release),
            "steps": [{"name": s.name, "type": s.type, "roles": list(s.roles)} for s in m.steps],
            "packages": [p.to_dict() for p in m.packages],
            "variables": [{"name": v.name, "scope": {k: list(x) for k, x in v.scope.items()},
                           "sensitive": v.sensitive, "value": "<sealed>" if v.sensitive else v.value}
                          for v in m.variables],
            "placeholders": [p.to_dict() for p in m.placeholders],
            "output_refs": [o.to_dict() for o in m.output_refs],
            "lifecycle": m.lifecycle.to_dict() if m.lifecycle is not None else None,
            "attestations": [_seconds(a) for a in m.attestations],
            "lint_notes": [dict(n) for n in m.raw.get("lint_notes", ())],
        })
    else:  # a receipt: what it reports, never a sealed output (finding 10.6)
        out.update({
            "deployments": [{"deployment_id": e["deployment_id"], "project": e["project"]["name"],
                             "release": e["release"], "environment": e["environment"], "tenant": e.get("tenant"),
                             "state": e["state"], "ended": _from_ms(e["ended_ms"]), "waived": list(e.get("waived", [])),
                             "waivers": [_seconds(w) for w in e.get("waivers", [])],
                             "variables_updated": (_from_ms(e["variables_updated_ms"])
                                                   if isinstance(e.get("variables_updated_ms"), int) else None)}
                            for e in m.receipts],
            "refusals": [{"refusal_id": r["refusal_id"], "project": r["project"]["name"], "release": r["release"],
                          "code": r["code"], "refused": _from_ms(r["refused_ms"])} for r in m.refusals],
        })
    return out


def _from_ms(ms: int) -> int | float:
    """A format time in milliseconds as Unix seconds: whole when it is whole, else with its
    millisecond fraction, as deployment records keep it (decisions 430, 480)."""
    return ms // 1000 if ms % 1000 == 0 else ms / 1000


def _seconds(d: Mapping[str, Any]) -> dict[str, Any]:
    """``d`` with each format time in milliseconds (``ended_ms``) as Unix seconds (:func:`_from_ms`)
    under the name without ``_ms`` (``ended``): every --json time is in seconds (decision 480)."""
    return {(k[:-3] if k.endswith("_ms") and isinstance(v, int) else k):
            (_from_ms(v) if k.endswith("_ms") and isinstance(v, int) else v) for k, v in d.items()}


@cli.command(epilog="bundlekit export release.toml --to prod -o acme-1.4.0.bundle --home ./dev --expires 14d")
@click.argument("release_file", type=click.Path(path_type=Path))
@click.option("--to", "to", required=True, help="The trusted destination zone's name.")
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the bundle (outside the zone's home; a new file unless --overwrite).")
@overwrite_option
@home_option
@click.option("--expires", default=None, help="Validity, like 12h, 30d, 2w (default 30d).")
@click.option("--sequence", type=ASCII_INT, default=None, help="Pin the sequence number (reproducible exports).")
@click.option("--full", is_flag=True, help="Include every package, even those the destination reported holding.")
@click.option("--replace", is_flag=True, help="Replace a release of the same version this zone created with other "
              "content (its deployments here then belong to a release that no longer exists as it was).")
@quiet_option
@json_option
def export(release_file: Path, to: str, output: Path, overwrite: bool, home: str | None, expires: str | None,
           sequence: int | None, full: bool, replace: bool, quiet: bool, as_json: bool) -> None:
    """Turn a release file into one signed bundle for a trusted zone."""
    from bundlekit.export.exporter import DEFAULT_EXPIRY, export_release, parse_duration  # only export needs it

    expires_in = parse_duration(expires) if expires else DEFAULT_EXPIRY
    now = clock.now()
    with open_home(home) as z, Bars("export", quiet=quiet, as_json=as_json) as bars:
        res = export_release(z, release_file, to, output, now=now, expires_in=expires_in,
                             sequence=sequence, progress=bars, delta=not full, replace=replace, overwrite=overwrite)
    m = res.manifest
    if as_json:
        emit_json({"path": str(res.path), "digest": res.digest, "size": res.size, "sequence": m.sequence,
                   "warnings": [w.to_dict() for w in res.warnings], "sequence_reused_below": res.reused_below,
                   "bundle_id": m.bundle_id, "destination": m.destination.name, "expires": m.expires,
                   "by_reference": [f"{p.id} {p.version}" for p in m.packages if not p.included and p.delta is None],
                   "delta": [{"package": f"{p.id} {p.version}", "base": f"{p.delta.base.id} {p.delta.base.version}",
                              "shipped": p.delta.data_size} for p in m.packages if p.delta is not None]})
    else:
        for w in res.warnings:  # on stderr: they travel in the bundle too (lint_notes)
            echo(w.text(), err=True)
        if res.reused_below is not None:
            echo(f"warning: --sequence {m.sequence} is not above {res.reused_below}, the highest sequence this "
                 f"project's bundles had before: a zone that imported one of them refuses this bundle as a "
                 "rollback; export without --sequence to get the next number", err=True)
        echo(f"exported {m.project['name']} {m.release['version']} for zone {m.destination.name}: {res.path}")
        echo(f"  sequence {m.sequence}, {size_text(res.size)}, digest {res.digest}, expires {when_text(m.expires, now)}")
        for p in m.packages:
            if p.delta is not None:
                echo(f"  {p.id} {p.version} as changes to {p.delta.base.id} {p.delta.base.version}, which the "
                     f"destination holds: {size_text(p.delta.data_size)} of {size_text(p.size)} shipped (`--full` ships "
                     "it whole)")
            elif not p.included:
                echo(f"  {p.id} {p.version} by reference (the destination already holds it)")


@cli.command(epilog="bundlekit inspect acme-1.4.0.bundle --json\nbundlekit inspect receipts.bundle --contents")
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--contents", is_flag=True, help="For a receipt: list everything it carries (every output leaving, "
              "sealed or withheld, log sizes, package inventory), as `outbox pack --dry-run` does.")
@json_option
def inspect(bundle: Path, contents: bool, as_json: bool) -> None:
    """Show what a bundle holds without any keys (nothing is verified; see `verify`)."""
    from bundlekit.format.crypto import key_id
    from bundlekit.format.relay_header import relay_version
    from bundlekit.importer.verify import read_unverified

    _refuse_folder(bundle)
    bf, m = read_unverified(bundle)
    with bf:
        signers = [key_id("ed25519", s.public_key) for s in bf.signatures]
        version = f"{bf.header.major}.{bf.header.minor}"
        info = summary(m, bf.digest, signers, version)
        hops = _hops(bf)
    info["verified"] = False
    if hops is not None:
        info["relay_hops"] = hops
        info["relay_version"] = relay_version(bf.relay_header)  # type: ignore[arg-type]
        if hops and "error" not in hops[-1]:  # where the bundle goes now (``destination``: the origin's)
            info["relayed_to"] = {"name": hops[-1]["to"], "zone_id": hops[-1]["to_zone_id"]}
    if contents:
        _contents(m, info, as_json)
        return
    if as_json:
        emit_json(info)
        return
    writer = f", written by {m.writer}" if m.writer else ""
    relayed = ""
    if bf.relay_header is not None:  # spec/relay.md §1: the envelope's version, then the origin's own
        relayed = f"relayed {m.kind} bundle, format {relay_version(bf.relay_header)} (origin "
    echo(f"{relayed or m.kind + ' bundle, '}format {version}{writer}{')' if relayed else ''} (bundlekit/1; "
         "unverified: bundlekit verify checks it in the destination zone)")
    echo(f"  {_way(m, hops)}")
    now = clock.now()
    echo(f"  sequence {m.sequence}, created {when_text(m.created, now)}, expires {when_text(m.expires, now)}")
    echo(f"  digest {bf.digest}")
    echo(f"  signers: {', '.join(signers)}")
    for n, h in enumerate(hops or (), 1):
        echo(f"  relay   {n}: {h['zone']} -> {h['to']}, {when_text(h['relayed'], now)}, checks {', '.join(h['checks'])}, "
             f"countersigned by {h['key_id']}" if "zone" in h else f"  relay   {n}: {h['error']}")
    if m.kind == "release":
        echo(f"  project {m.project['name']} ({m.project['slug']}) in space {m.project['space']}")
        echo(f"  release {m.release['version']} on channel {m.release['channel']}")
        if m.release.get("notes"):
            echo_field("notes", m.release["notes"], indent="  ")
        for s in m.steps:
            echo(f"  step    {s.name} [{s.type}] roles {listed(s.roles) or '-'}")
        for p in m.packages:
            how = "" if p.included else " (by reference)"
            if p.delta is not None:
                how = f" (changes to {p.delta.base.version}: {counted(p.delta.data_size, 'new byte')}, {counted(len(p.delta.recipe), 'step')})"
            echo(f"  package {p.id} {p.version} {size_text(p.size)} sha256 {p.sha256[:16]}..." + how)
        for v in m.variables:
            scope = " ".join(f"{k}={','.join(x)}" for k, x in v.scope.items())
            echo(f"  var     {v.name}{' [' + scope + ']' if scope else ''} = "
                 + ("<sealed>" if v.sensitive else repr(v.value)))
        for ph in m.placeholders:
            echo(f"  needs   {ph.name}{' (sensitive)' if ph.sensitive else ''}: value supplied in the destination")
        for o in m.output_refs:
            echo(f"  output  {o.reference} used in {', '.join(o.used_in)}")
        if m.lifecycle is not None:
            echo("  lifecycle " + " > ".join(_phase_text(p) for p in m.lifecycle.phases))
        for a in info["attestations"]:
            echo(f"  proof   {a['deployment_id']} succeeded in {a['environment']} in zone {m.source.name} "
                 f"{when_text(a['ended'], now)}")
        for n in info["lint_notes"]:
            echo(f"  lint    {_note_text(n)}")
    else:
        for d in info["deployments"]:
            echo(f"  deployment {d['deployment_id']}: {d['project']} {d['release']} to {d['environment']}"
                 + (f" for tenant {d['tenant']}" if d["tenant"] else "") + f": {d['state']}, "
                 f"{when_text(d['ended'], now)}")
            if d["variables_updated"] is not None:  # decision 722: it ran values its earlier phases did not test
                from bundlekit.cli.egress_cmds import variables_updated_line

                echo(f"    {variables_updated_line(d['release'], d['variables_updated'])}")
            for w in d["waivers"]:  # finding 10.4: what the receipt carries of each waiver relied on
                which = "every release" if w.get("release") == "*" else w.get("release")
                by = f" by {w['author']}" if w.get("author") else ""
                echo(f"    relied on a waiver of phase {w['phase']} ({which}): {w['reason']} (waived{by}, "
                     f"{when_text(w['created'], now)})")
            known = {w["phase"] for w in d["waivers"]}
            for phase in (p for p in d["waived"] if p not in known):
                echo(f"    relied on a waiver of phase {phase}")
        for r in info["refusals"]:
            echo(f"  refused import of {r['project']} {r['release']}: {r['code']}, {when_text(r['refused'], now)}")


def _note_text(n: Mapping[str, Any]) -> str:
    """A ``lint_notes`` entry as `bundlekit lint` printed it in the source zone."""
    where = str(n.get("file", "")) + "".join(f":{n[k]}" for k in ("line", "column") if n.get(k))
    at = f"{n['path']}: " if n.get("path") else ""
    fix = f" ({n['suggestion']})" if n.get("suggestion") else ""
    return f"{where}: warning [{n.get('code')}] {at}{n.get('message')}{fix}"


def _contents(m: Manifest, info: dict[str, Any], as_json: bool) -> None:
    """``inspect --contents``: a receipt's whole contents from its manifest (no key; sealed values stay sealed)."""
    from bundlekit.cli.egress_cmds import echo_contents
    from bundlekit.receipt.egress import contents as receipt_contents

    if m.kind != "receipt":
        raise UsageError(f"--contents lists what a receipt carries; this is a {m.kind} bundle (plain bundlekit "
                         "inspect shows it)", code="usage")
    listing = {"destination": {"name": m.destination.name, "zone_id": m.destination.zone_id},
               **receipt_contents(m.receipts, m.refusals, m.inventory, m.raw.get("features", ()),
                                  {b.digest: b.size for b in m.blobs})}
    if as_json:
        emit_json({"bundle_id": info["bundle_id"], "digest": info["digest"], "format_version": info["format_version"],
                   "source": info["source"], "sequence": info["sequence"], "verified": False, **listing})
        return
    echo_contents(listing, f"receipt from {m.source.name} to zone {m.destination.name}, sequence {m.sequence}, "
                           f"format {info['format_version']} (unverified) carries:")


def _refuse_folder(bundle: Path) -> None:
    """``not_a_bundle`` for a folder, saying what takes one: a folder of media volumes is
    imported whole (`import DIR`, checked first with `--dry-run`) or joined back into its bundle
    (review v33-15u F7)."""
    if bundle.is_dir():
        raise FormatError(f"{bundle}: is a folder, not a bundle file; for a folder of media volumes, `bundlekit "
                          f"import {shell_word(str(bundle))} --dry-run{home_flag()}` checks it as import would, `bundlekit media check "
                          f"{shell_word(str(bundle))}` checks the volumes and `bundlekit media join {shell_word(str(bundle))} "
                          "-o FILE` rebuilds the bundle",
                          code="not_a_bundle", details={"path": str(bundle)})


def _way(m: Manifest, hops: list[dict[str, Any]] | None) -> str:
    """The headline of where a bundle goes: ``from dev (id) to staging (id)``, and for a relayed
    bundle where it goes now, through the zones that relayed it, as their records say (unverified):
    ``from dev (id) via staging to prod (id)``, ``via dmz then staging`` for two. Hops that do not read keep the origin's words."""
    source = f"from {m.source.name} ({m.source.zone_id})"
    if not hops or any("error" in h for h in hops):
        return f"{source} to {m.destination.name} ({m.destination.zone_id})"
    return f"{source} via {' then '.join(h['zone'] for h in hops)} to {hops[-1]['to']} ({hops[-1]['to_zone_id']})"


def _hops(bf: BundleFile) -> list[dict[str, Any]] | None:
    """A relayed bundle's hops as their records say (unverified), or None for a bundle not relayed."""
    from bundlekit.format.crypto import key_id
    from bundlekit.format.relay import parse_hop, split_hops

    if bf.hops_raw is None:
        return None
    out: list[dict[str, Any]] = []
    try:
        for raw in split_hops(bf.hops_raw, str(bf.path)):
            h = parse_hop(raw.record, f"{bf.path}: relay hop {len(out) + 1}")
            out.append({"zone": h.zone["name"], "zone_id": h.zone["zone_id"], "to": h.to["name"],
                        "to_zone_id": h.to["zone_id"], "relayed": h.relayed, "checks": list(h.checks),
                        "key_id": key_id("ed25519", raw.signature.public_key)})
    except BundleError as err:
        out.append({"error": f"[{err.code}] {err.message}"})
    return out


def _phase_text(p: Any) -> str:
    """``Staging (2 of Staging-A, Staging-B)``, ``Test (Test; optional)``: a phase as its lifecycle
    states it (finding 10.5)."""
    envs = ", ".join(p.environments)
    need = f"{p.minimum_successful} of {envs}" if len(p.environments) > 1 else envs
    return f"{p.name} ({need}{'; optional' if p.optional else ''})"


@cli.command(epilog="bundlekit verify acme-1.4.0.bundle --home ./prod")
@click.argument("bundle", type=click.Path(path_type=Path))
@home_option
@quiet_option
@json_option
def verify(bundle: Path, home: str | None, quiet: bool, as_json: bool) -> None:
    """Check signatures, trust, destination, expiry and every blob of a bundle.

    In a zone it also makes every check of an import that needs nothing earlier imports
    recorded: trust policy, key rotation statements, identities, every sealed value opened, and
    delta packages rebuilt. What `verify` refuses, `import` refuses with the same code."""
    from bundlekit.importer.verify import verify_bundle

    _refuse_folder(bundle)
    now = clock.now()
    with open_home(home) as z, Bars("verify", quiet=quiet, as_json=as_json) as bars:
        v = verify_bundle(z, bundle, now=now, progress=bars)
    m = v.manifest
    if as_json:
        emit_json({"verified": True, "digest": v.digest, "kind": m.kind, "source": v.source.name,
                   "sequence": m.sequence, "signers": list(v.signer_key_ids), "approvals": v.approvals,
                   "blobs": len(m.blobs), "expires": m.expires,
                   "relay_hops": v.relay.to_dict() if v.relay is not None else None})
    else:
        via = f", relayed by {' -> '.join(v.relay.names())}" if v.relay is not None else ""
        echo(f"OK: {m.kind} bundle from {v.source.name}{via}, sequence {m.sequence}, {len(m.blobs)} blob(s) "
             f"checked, {v.approvals} trusted signature(s); expires {when_text(m.expires, now)}")
