"""Receipts, secure side: a deployment record becomes a receipt entry; entries become a bundle.

An entry is what travels back about one deployment: which release bundle it answers
(bundle id, digest, sequence), the environment, per step and target the state, times, exit
code, the masked log (a compressed blob), and the output variables, sensitive ones sealed
to the *source* zone's key (only the source can read them). Entries wait in the outbox;
a receipt bundle (kind ``receipt``, its own signature domain and sequence per destination)
carries one or many of them.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bundlekit.deploy.model import DeploymentRecord
from bundlekit.format import crypto
from bundlekit.format.container import BundleWriter, SignatureRecord
from bundlekit.format.manifest import FORMAT_ID, Manifest, ZoneRef
from bundlekit.zone import state
from bundlekit.zone.logs import get_log, put_log
from bundlekit.zone.sequences import reserve_outgoing
from bundlekit.zone.home import Zone

__all__ = ["RECEIPT_EXPIRY", "output_seal_ad", "make_entry", "queue_entry", "write_receipt", "ReceiptFile"]

RECEIPT_EXPIRY = 365 * 86400


def output_seal_ad(deployment_id: str, recipient_key_id: str, step: str, target: str | None, name: str) -> bytes:
    """Sealed outputs bind to their deployment (not the carrying bundle) so entries can be re-packed."""
    label = crypto.seal_label("output", f"{step}/{target or ''}/{name}", {})
    return crypto.seal_ad(f"deployment:{deployment_id}", recipient_key_id, label)


def _clip(text: str | None, limit: int = 9000) -> str | None:
    """Reasons are bounded in the format (spec: 10 000 characters); keep the start, say so."""
    if text is None or len(text) <= limit:
        return text
    return text[:limit] + " ... (truncated)"


def _ms(t: float | None) -> int | None:
    return None if t is None else int(round(t * 1000))


def make_entry(record: DeploymentRecord, *, release: dict[str, Any], project: dict[str, str],
               recipient_public: bytes, recipient_key_id: str) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The receipt entry for a deployment, and its logs by digest (already masked by the engine)."""
    logs: dict[str, bytes] = {}
    runs = []
    for run in record.runs:
        r: dict[str, Any] = {"step": run.step, "state": run.state, "outputs": []}
        if run.target is not None:
            r["target"] = run.target
        for key, value in (("started_ms", _ms(run.started)), ("ended_ms", _ms(run.ended)),
                           ("exit_code", run.exit_code), ("reason", _clip(run.reason))):
            if value is not None:
                r[key] = value
        if run.log:
            data = run.log.encode("utf-8")
            digest = hashlib.sha256(data).hexdigest()
            logs[digest] = data
            r["log"] = digest
        for o in run.outputs:
            if o.sensitive:
                ad = output_seal_ad(record.deployment_id, recipient_key_id, run.step, run.target, o.name)
                sealed = crypto.seal(recipient_public, o.value.encode("utf-8"), ad)
                r["outputs"].append({"name": o.name, "sensitive": True, "sealed": crypto.b64(sealed)})
            else:
                r["outputs"].append({"name": o.name, "sensitive": False, "value": o.value})
        runs.append(r)
    entry = {
        "deployment_id": record.deployment_id,
        "release_bundle": {"bundle_id": release["bundle_id"], "digest": release["bundle_digest"],
                           "sequence": release["sequence"]},
        "project": {"name": project["name"], "slug": project["slug"], "space": project["space"]},
        "release": release["version"], "environment": record.environment, "state": record.state,
        "started_ms": _ms(record.started), "ended_ms": _ms(record.ended), "runs": runs,
    }
    return entry, logs


def queue_entry(zone: Zone, dest_zone_id: str, entry: dict[str, Any], logs: dict[str, bytes], now: int) -> None:
    """Put an entry in the outbox (call inside the caller's transaction)."""
    for digest, data in logs.items():
        put_log(zone.db, digest, data)
    zone.db.execute("INSERT INTO outbox(deployment_id, dest_zone_id, entry, created) VALUES (?,?,?,?)",
                    (entry["deployment_id"], dest_zone_id, json.dumps(entry), now))


@dataclass(frozen=True, slots=True)
class ReceiptFile:
    path: Path
    digest: str
    sequence: int
    deployments: tuple[str, ...]
    bundle_id: str


def write_receipt(zone: Zone, dest_zone_id: str, deployment_ids: list[str], out: Path, *, now: int) -> ReceiptFile:
    """Sign a receipt bundle carrying the given outbox entries to the destination zone."""
    db = zone.db
    dest = db.execute("SELECT name, sealing_key FROM trusted_zones WHERE zone_id = ?", (dest_zone_id,)).fetchone()
    entries = []
    for dep in deployment_ids:
        row = db.execute("SELECT entry FROM outbox WHERE deployment_id = ?", (dep,)).fetchone()
        entries.append(json.loads(row[0]))
    seq = reserve_outgoing(db, f"receipt/{dest_zone_id}")
    bundle_id = hashlib.sha256(f"bundlekit receipt id\n{zone.zone_id}\n{dest_zone_id}\n{seq}".encode()).hexdigest()[:32]
    inventory = [{"id": r[0], "version": r[1], "sha256": r[2]}
                 for r in db.execute("SELECT id, version, sha256 FROM packages ORDER BY id, version")]
    signing = zone.signing_key()
    writer = BundleWriter(out, "receipt")
    try:
        for digest in sorted({run["log"] for e in entries for run in e["runs"] if "log" in run}):
            data = get_log(db, digest) or b""
            writer.add_blob(io.BytesIO(data), len(data))
        manifest = Manifest(
            kind="receipt", bundle_id=bundle_id,
            source=ZoneRef(zone.zone_id, zone.name, zone.signing_key_id),
            destination=ZoneRef(dest_zone_id, dest["name"], crypto.key_id("x25519", bytes(dest["sealing_key"]))),
            sequence=seq, created=now, expires=now + RECEIPT_EXPIRY, blobs=tuple(writer.blobs),
            receipts=tuple(entries), inventory=tuple(inventory), raw={"format": FORMAT_ID})
        digest = writer.finish(manifest.encode(), [lambda m: SignatureRecord(crypto.raw_public(signing),
                                                                            crypto.sign(signing, "receipt", m))])
    except BaseException:
        writer.abort()
        raise
    with state.transaction(db):
        db.execute("INSERT OR REPLACE INTO receipt_files(path, bundle_id, dest_zone_id, sequence, deployments, "
                   "created) VALUES (?,?,?,?,?,?)", (str(out.resolve()), bundle_id, dest_zone_id, seq,
                                                    json.dumps(deployment_ids), now))
    return ReceiptFile(out, digest, seq, tuple(deployment_ids), bundle_id)
