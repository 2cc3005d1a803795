"""Receipts, source side: verify a receipt bundle and record what production did.

Refused: an untrusted or forged signer, another destination, a replayed or reused sequence
(``replay``, ``sequence_reused``), and any entry that does not answer a release bundle this
zone exported to the receipt's signer (``unknown_bundle``). Re-importing the same receipt,
or an entry already recorded from an earlier receipt, changes nothing.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from bundlekit.errors import VerificationError
from bundlekit.format import crypto
from bundlekit.importer.verify import VerifiedBundle, verify_bundle
from bundlekit.receipt.build import output_seal_ad
from bundlekit.zone import sequences, state
from bundlekit.zone.logs import put_log
from bundlekit.zone.home import Zone

__all__ = ["ReceiptImport", "import_receipt", "reveal_output"]


@dataclass
class ReceiptImport:
    verified: VerifiedBundle
    noop: bool = False
    recorded: list[str] = field(default_factory=list)
    already_known: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        m = self.verified.manifest
        return {"kind": "receipt", "bundle": str(self.verified.path), "digest": self.verified.digest,
                "source": self.verified.source.name, "sequence": m.sequence, "noop": self.noop,
                "recorded": self.recorded, "already_known": self.already_known,
                "deployments": [{"deployment_id": e["deployment_id"], "project": e["project"]["name"],
                                 "release": e["release"], "environment": e["environment"], "state": e["state"]}
                                for e in m.receipts]}


def import_receipt(zone: Zone, path: Path, *, now: int, dry_run: bool = False,
                   progress: Callable[[int], None] | None = None) -> ReceiptImport:
    logs: dict[str, io.BytesIO] = {}

    def sink_for(digest: str) -> Callable[[bytes], object]:
        logs[digest] = io.BytesIO()
        return logs[digest].write

    v = verify_bundle(zone, path, now=now, progress=progress, sink_for=sink_for)
    m = v.manifest
    where = str(path)
    db = zone.db
    if m.kind != "receipt":
        raise VerificationError(f"{where}: expected a receipt bundle, found {m.kind}", code="wrong_kind")
    if sequences.already_imported(db, v.digest):
        return ReceiptImport(v, noop=True)
    key = f"receipt/{v.source.zone_id}"
    sequences.check_incoming(
        db, key, m.sequence, older_code="replay",
        older=f"{where}: receipt sequence {m.sequence} from zone {v.source.name!r} is older than the last received "
              "({last}); refusing a replayed receipt",
        reused=f"{where}: receipt sequence {m.sequence} from zone {v.source.name!r} was already received with "
               "other content")
    result = ReceiptImport(v)
    for i, e in enumerate(m.receipts):
        rb = e["release_bundle"]
        issued = db.execute("SELECT 1 FROM exports WHERE bundle_id = ? AND digest = ? AND dest_zone_id = ?",
                            (rb["bundle_id"], rb["digest"], v.source.zone_id)).fetchone()
        if issued is None:
            raise VerificationError(
                f"{where}: receipts[{i}] (deployment {e['deployment_id']}) answers release bundle "
                f"{rb['bundle_id']} which this zone never exported to {v.source.name!r}", code="unknown_bundle")
        known = db.execute("SELECT 1 FROM remote_deployments WHERE source_zone_id = ? AND deployment_id = ?",
                           (v.source.zone_id, e["deployment_id"])).fetchone()
        (result.already_known if known else result.recorded).append(e["deployment_id"])
    if dry_run:
        return result
    with state.transaction(db):
        for digest, buf in logs.items():
            put_log(db, digest, buf.getvalue())
        for e in m.receipts:
            if e["deployment_id"] not in result.recorded:
                continue
            db.execute(
                "INSERT INTO remote_deployments(source_zone_id, deployment_id, bundle_id, receipt_bundle_id, "
                "project_slug, release, environment, state, started, ended, entry, received) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (v.source.zone_id, e["deployment_id"], e["release_bundle"]["bundle_id"], m.bundle_id,
                 e["project"]["slug"], e["release"], e["environment"], e["state"], e["started_ms"] / 1000,
                 e["ended_ms"] / 1000, json.dumps(e), now))
        db.execute("DELETE FROM inventory WHERE zone_id = ?", (v.source.zone_id,))
        for item in m.inventory:
            db.execute("INSERT OR REPLACE INTO inventory(zone_id, id, version, sha256, reported) VALUES (?,?,?,?,?)",
                       (v.source.zone_id, item["id"], item["version"], item["sha256"], now))
        sequences.record_incoming(db, key, m.sequence, v.digest, bundle_id=m.bundle_id,
                                  source_zone_id=v.source.zone_id, project_slug="", release="", now=now,
                                  plan=json.dumps({"receipt": result.recorded}))
    return result


def reveal_output(zone: Zone, deployment_id: str, step: str, target: str | None, output: dict[str, Any]) -> str:
    """Open a sensitive output that production sealed to this zone."""
    ad = output_seal_ad(deployment_id, zone.sealing_key_id, step, target, output["name"])
    sealed = crypto.unb64(output["sealed"], f"output {output['name']}")
    return crypto.open_sealed(zone.sealing_key(), sealed, ad, f"output {output['name']}").decode("utf-8")
