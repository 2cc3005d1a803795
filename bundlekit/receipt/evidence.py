"""Signed proof of a deployment of a release this zone created, for another zone's lifecycle.

A zone that authors a release deploys it to its own environments; those deployments travel
to other zones as attestations in the release bundle, but only in bundles exported after
they ran. :func:`write_evidence` gives a zone that already holds the release the same proof
afterwards: a receipt bundle addressed to it, carrying the deployment's entry and naming the
bundle of the release last exported to it (decision 393). The zone offers it with
``deploy --evidence`` or ``import --evidence``, which verify it as third-party evidence.

No outbox holds such a deployment (nothing is owed to another zone), so nothing is queued or
marked packed; the receipt takes the destination's next receipt sequence number. Sensitive
output values are not in it: the deployment record keeps them masked, and proof of a
deployment does not need them. Each is named in its run's ``withheld`` list (format 1.4), as
the egress policy names what it keeps back, so the other zone shows it as withheld, never as
absent; the zone's egress policy then applies as to every receipt.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from bundlekit.core.hints import home_flag
from bundlekit.core.clock import EpochSeconds
from bundlekit.core.selfproject import refuse_self_project
from bundlekit.core.text import shell_word
from bundlekit.errors import StateError
from bundlekit.receipt.build import ReceiptFile, make_entry, pack_command, refuse_existing, write_receipt
from bundlekit.zone import exports, projects, truststore
from bundlekit.zone.deployments import get_deployment
from bundlekit.zone.home import Zone
from bundlekit.zone.outputs import refuse_in_home

__all__ = ["write_evidence"]


def _outcome(row: dict[str, Any]) -> Any:
    """The stored deployment as :class:`~bundlekit.receipt.build.DeploymentOutcome` (masked
    sensitive outputs left out)."""
    rec = row["record"]
    runs = [SimpleNamespace(step=r["step"], target=r["target"], state=r["state"], started=r["started"],
                            ended=r["ended"], exit_code=r["exit_code"], reason=r["reason"], log=r["log"] or "",
                            outputs=[SimpleNamespace(**o) for o in r["outputs"] if not o["sensitive"]])
            for r in rec.get("runs", [])]
    return SimpleNamespace(deployment_id=row["id"], environment=row["environment"], state=row["state"],
                           started=row["started"], ended=row["ended"], runs=runs)


def write_evidence(zone: Zone, deployment_id: str, to: str, out: Path, *, now: EpochSeconds) -> ReceiptFile:
    """Sign a receipt for zone ``to`` at ``out`` reporting this zone's deployment ``deployment_id``
    of a release it created.

    Raises ``StateError`` ``unknown_deployment`` (no such id, or still running), ``unknown_zone``
    (``to`` is not trusted), ``not_local`` (the release came from another zone: its receipts go
    back there, `outbox pack`) and ``not_exported`` (the release was never exported to ``to``,
    so that zone cannot hold it: export it there, which also carries the proof), and
    ``UsageError`` ``self_not_deployable`` for a deployment of the reserved project bundlekit.
    Nothing is recorded on a refusal and ``out`` is untouched. ``out`` is checked first, as
    :func:`~bundlekit.receipt.build.write_receipt` checks it (``output_in_home``, ``file_exists``).
    """
    refuse_in_home(out, "-o", zone)
    refuse_existing(out)
    row = get_deployment(zone.db, deployment_id)
    if row is None or row["state"] == "Executing":
        raise StateError(f"no finished deployment {deployment_id!r} in zone {zone.name}; see `bundlekit deployments "
                         f"list{home_flag()}`", code="unknown_deployment")
    dest = truststore.get_zone(zone, to)
    project = projects.find_project(zone.db, row["project_slug"], zone.name)
    # a deployment of bundlekit's release (an older bundlekit allowed it) installed nothing: no proof of it
    refuse_self_project(project.slug, zone.home, asked=f"deployments receipt {deployment_id}")
    if project.source_zone_id != zone.zone_id:
        source = truststore.entry_for_id(zone.db, project.source_zone_id)
        back = source.name if source is not None else "ZONE"
        raise StateError(f"{deployment_id} deployed {project.name} {row['release']}, a release from another zone; its "
                         f"receipt goes back there (`{pack_command(back)}`)", code="not_local")
    sent = exports.latest_export_of(zone.db, project.slug, row["release"], dest.zone_id)
    if sent is None:
        raise StateError(f"{project.name} {row['release']} was never exported to zone {dest.name}, so no proof of "
                         f"its deployments can serve there; export it: `bundlekit export RELEASE.toml --to "
                         f"{shell_word(dest.name)} -o FILE{home_flag()}` (the bundle carries this zone's successful deployments of it)",
                         code="not_exported")
    release = {"bundle_id": sent["bundle_id"], "bundle_digest": sent["digest"], "sequence": sent["sequence"],
               "version": row["release"], "release_digest": row["release_digest"]}
    entry, logs = make_entry(_outcome(row), release=release,
                             project={"name": project.name, "slug": project.slug, "space": project.space},
                             recipient_public=dest.sealing_key, recipient_key_id=dest.sealing_key_id,
                             tenant=row["tenant"], waivers=row["waivers"])
    for run, recorded in zip(entry["runs"], row["record"].get("runs", [])):
        kept = {o["name"].casefold(): o["name"] for o in recorded["outputs"] if o["sensitive"]}
        if kept:  # a name set sensitive once is withheld whole, as the egress policy withholds it
            run["outputs"] = [o for o in run["outputs"] if o["name"].casefold() not in kept]
            run["withheld"] = list(kept.values())
    return write_receipt(zone, dest.zone_id, [], out, now=now, local=[(entry, logs)])
