"""Receipts, secure side: a deployment record becomes a receipt entry; entries become a bundle.

An entry is what travels back about one deployment: which release bundle it answers
(bundle id, digest, sequence), the environment, per step and target the state, times, exit
code, the masked log (a compressed blob), and the output variables, sensitive ones sealed
to the *source* zone's key (only the source can read them). Entries wait in the outbox;
a receipt bundle (kind ``receipt``, its own signature domain and sequence per destination)
carries one or many of them, and the inventory of the packages the destination delivered (or
a source sharing its packages with it did): nothing about other sources (decision 290).

Direction of the dependency: the deploy workflow calls this module (to build an entry from
its record and queue it, and for ``deploy --receipt-out``); this module never imports the
deploy package. It reads a deployment's outcome through the :class:`DeploymentOutcome`
protocol, which ``bundlekit.deploy.model.DeploymentRecord`` satisfies (decision 111).
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, Sequence

from bundlekit.core.hints import home_flag
from bundlekit.core.text import shell_word
from bundlekit.core.atomic import commit_parked
from bundlekit.core.clock import EpochSeconds
from bundlekit.errors import FormatError, InputError, StateError
from bundlekit.format import crypto
from bundlekit.format.audit import carried
from bundlekit.format.bundleid import receipt_bundle_id
from bundlekit.format.container import BundleWriter
from bundlekit.format.manifest import FORMAT_ID, Manifest, ZoneRef, writer_record
from bundlekit.trust.policy import package_owners
from bundlekit.receipt import egress
from bundlekit.zone import egress as zone_egress
from bundlekit.zone import audit, outbox, packages, refusals, sequences, truststore
from bundlekit.zone.home import Zone
from bundlekit.zone.truststore import TrustEntry
from bundlekit.zone.logs import get_log
from bundlekit.zone.outputs import refuse_in_home
from bundlekit.zone.rotation import signing_at_commit, zone_signing

__all__ = ["RECEIPT_EXPIRY", "DeploymentOutcome", "output_seal_ad", "make_entry", "gather", "ReceiptContents",
           "write_receipt", "ReceiptFile", "parked_name", "finish_parked", "refuse_existing", "pack_command"]

RECEIPT_EXPIRY = 365 * 86400
#: What this zone tells its sources it can read beyond format 1.1 (spec/bundle-format.md §7): delta
#: packages with recipes in list form (1.2) and packed (1.3).
RECEIPT_FEATURES = ("delta/1", "delta/2")


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
    """Unix seconds (a fraction kept) as the format's whole milliseconds (``started_ms``)."""
    return None if t is None else int(round(t * 1000))


class OutputValue(Protocol):
    """One output variable a run set (plain value; sealed here when ``sensitive``)."""

    @property
    def name(self) -> str: ...
    @property
    def value(self) -> str: ...
    @property
    def sensitive(self) -> bool: ...


class RunOutcome(Protocol):
    """What one step did on one target (``target`` None: on the zone); times in Unix seconds (to the millisecond)."""

    @property
    def step(self) -> str: ...
    @property
    def target(self) -> str | None: ...
    @property
    def state(self) -> str: ...
    @property
    def started(self) -> float | None: ...
    @property
    def ended(self) -> float | None: ...
    @property
    def exit_code(self) -> int | None: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def log(self) -> str: ...
    @property
    def outputs(self) -> Sequence[OutputValue]: ...


class DeploymentOutcome(Protocol):
    """A finished deployment as a receipt needs it (``spec/deploy.md`` section 9, *Records*)."""

    @property
    def deployment_id(self) -> str: ...
    @property
    def environment(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def started(self) -> float: ...
    @property
    def ended(self) -> float: ...
    @property
    def runs(self) -> Sequence[RunOutcome]: ...


def make_entry(record: DeploymentOutcome, *, release: dict[str, Any], project: dict[str, str],
               recipient_public: bytes, recipient_key_id: str, tenant: str | None = None,
               waivers: Sequence[dict[str, Any]] = (), relay_hops: str | None = None,
               ) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The receipt entry for a deployment, and its logs by digest (already masked by the engine).

    Format 1.1 fields: the release digest (so another zone can count the entry as lifecycle
    evidence), the tenant, and the lifecycle phases a waiver let the deployment skip
    (``waived``); ``waivers`` (decision 391) are those waivers as the deployment recorded them,
    ``{phase, release, reason, author?, created_ms}``, for the source's people. Format 1.7: a
    ``release`` whose ``variables_updated`` (Unix seconds) is set had its variables refreshed
    before this deployment (``releases update-variables``, decision 682); the entry says when
    (``variables_updated_ms``), so the source's dashboard can say what ran (decision 722). Format
    1.8: ``relay_hops`` (base64), the hops section of the relayed release this zone imported, is
    carried as ``release_bundle.relay_hops``: the countersigned proof that the release reached this
    zone, which the source checks (spec/relay.md §7, decision 906)."""
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
                           "sequence": release["sequence"], **({"relay_hops": relay_hops} if relay_hops else {})},
        "project": {"name": project["name"], "slug": project["slug"], "space": project["space"]},
        "release": release["version"], "environment": record.environment,
        # The receipt format knows Success and Failed: a canceled deployment travels as Failed, its
        # runs saying Canceled (decision 402), so a source zone of any version reads it.
        "state": "Success" if record.state == "Success" else "Failed",
        "started_ms": _ms(record.started), "ended_ms": _ms(record.ended), "runs": runs,
    }
    if release.get("release_digest"):
        entry["release_digest"] = release["release_digest"]
    if release.get("variables_updated") is not None:
        entry["variables_updated_ms"] = _ms(release["variables_updated"])
    if tenant is not None:
        entry["tenant"] = tenant
    if waivers:
        entry["waived"] = [w["phase"] for w in waivers]
        known = [w for w in waivers if "reason" in w]  # deployments recorded before decision 391: names only
        if known:
            entry["waivers"] = [{"phase": w["phase"], "release": w["release"], "reason": w["reason"],
                                 **({"author": w["author"]} if w.get("author") else {}),
                                 "created_ms": int(w["created"]) * 1000} for w in known]
    return entry, logs


def _checked(manifest: Manifest) -> bytes:
    """The receipt manifest's bytes once its reader accepts them: a receipt the source zone
    would refuse is never signed, and its entries are never marked packed (decision 125)."""
    try:
        return manifest.checked_bytes("the receipt being written")
    except FormatError as err:
        if err.code != "invalid_manifest":
            raise
        found = err.details if isinstance(err.details, list) else [err.message]
        entries = manifest.receipts
        bad = sorted({str(entries[int(m.group(1))].get("deployment_id")) for m in map(_ENTRY.match, found)
                      if m and int(m.group(1)) < len(entries)})
        which = f"the outbox entries of {', '.join(bad)}" if bad else "entries in the outbox"
        raise StateError(
            f"{which} would make a receipt the source zone refuses ({'; '.join(found[:3])}); nothing was packed. "
            "Bundlekit refuses such names where they enter (`targets add`, `variables set`, a script's output "
            "variables), so only entries queued by an earlier version hold them", code="invalid_receipt_entry",
            details={"deployments": bad, "problems": found}) from None


_ENTRY = re.compile(r"^receipts\.(\d+)\.")


@dataclass(frozen=True, slots=True)
class ReceiptFile:
    path: Path
    digest: str
    sequence: int
    deployments: tuple[str, ...]
    bundle_id: str
    refusals: tuple[str, ...] = ()
    #: Output variables the zone's egress policy kept out of the receipt (named in it only).
    withheld: int = 0
    #: Each of them: ``{deployment_id, step, target, name}`` (no value, no length).
    withheld_outputs: tuple[dict[str, Any], ...] = ()


def receipt_id_for(source_zone: str, dest_zone: str, sequence: int) -> str:
    """The bundle id of the receipt ``sequence`` from ``source_zone`` to ``dest_zone``."""
    return receipt_bundle_id(source_zone, dest_zone, sequence)


def pack_command(dest: str) -> str:
    """The command that packs what waits for zone ``dest`` (its name) into a receipt, as a hint
    prints it: with ``--to``, which packing needs as soon as receipts wait for another zone too
    (newuser36 finding 3), and this run's ``--home``."""
    return f"bundlekit outbox pack --to {shell_word(dest)} -o FILE{home_flag()}"


def _taken(ids: Sequence[str], where: str | None, dest: str) -> StateError:
    return StateError(f"{', '.join(ids)}: packed into another receipt{f' ({where})' if where else ''} by another "
                      "process of this zone while this one was written; nothing was recorded. Carry that receipt, "
                      f"or run `{pack_command(dest)}` again for what is still waiting", code="outbox_entry_packed")


def refuse_existing(out: Path, *, recorded: bool = False) -> None:
    """Refuse (``InputError`` ``file_exists``) to write a receipt at ``out`` when something is
    already there (a file, a folder, a link), or, ``recorded``, when this zone recorded a receipt
    written there that is still parked beside it (decision 460): the file there may be a receipt
    that has not travelled yet, and replacing it would lose every deployment it carries."""
    if not (os.path.lexists(out) or recorded):
        return
    raise InputError(f"{out}: already exists; a receipt is never written over a file, which may be a receipt not "
                     "carried yet (the deployments it carries would never reach their source). Carry it and import "
                     "it first, or move it away, or choose another name (for instance with the date); nothing was "
                     "packed or recorded", code="file_exists", details={"path": str(out)})


@dataclass(frozen=True, slots=True)
class ReceiptContents:
    """What one receipt to ``dest`` carries, the zone's egress policy applied (``receipt/egress.py``):
    its deployment ``entries``, refused imports, package ``inventory``, and the bytes of every log
    the entries name, by SHA-256 digest."""

    dest: TrustEntry
    entries: list[dict[str, Any]]
    refusals: list[dict[str, Any]]
    inventory: list[dict[str, Any]]
    logs: dict[str, bytes]

    def listing(self) -> dict[str, Any]:
        """:func:`bundlekit.receipt.egress.contents` of this receipt."""
        return egress.contents(self.entries, self.refusals, self.inventory, RECEIPT_FEATURES,
                               {d: len(b) for d, b in self.logs.items()})


def gather(zone: Zone, dest_zone_id: str, deployment_ids: Sequence[str], *, refusal_ids: Sequence[str] = (),
           local: Sequence[tuple[dict[str, Any], dict[str, bytes]]] = ()) -> ReceiptContents:
    """Read what a receipt to ``dest_zone_id`` would carry: the outbox entries of ``deployment_ids``
    and ``local`` entries (with their logs by digest), under the zone's egress policy; the refused
    imports ``refusal_ids``; the inventory the destination may see (decision 290). Writes nothing.
    Raises ``StateError`` ``unknown_zone`` (the destination is no longer trusted),
    ``unknown_deployment``, and ``state_damaged`` (a stored policy that no longer reads)."""
    dest = truststore.entry_for_id(zone.db, dest_zone_id)
    if dest is None:
        raise StateError(f"receipts wait for zone {dest_zone_id}, which this zone no longer trusts; trust its card "
                         f"again (`bundlekit trust add CARD{home_flag()}`) to send them", code="unknown_zone")
    queued = outbox.entries(zone.db, dest_zone_id, deployment_ids) + [e for e, _ in local]
    local_logs = {digest: data for _, logs in local for digest, data in logs.items()}
    entries, logs = egress.apply_policy(zone_egress.get_policy(zone.db), queued,
                                        lambda digest: local_logs.get(digest) or get_log(zone.db, digest) or b"",
                                        lambda deployment_id: carried(audit.for_deployment(zone.db, deployment_id)))
    refused = refusals.entries(zone.db, dest_zone_id, refusal_ids)
    # Only what concerns the destination (decision 290): the packages it delivered, or a source
    # sharing its packages with it did, whose bytes are in the store (it may rebuild a delta from
    # any of them); never what other sources sent.
    owners = package_owners(dest_zone_id, truststore.sources(zone))
    inventory = [item for item in packages.inventory(zone.db, owners) if zone.store.has(item["sha256"])]
    return ReceiptContents(dest, entries, refused, inventory, logs)


def write_receipt(zone: Zone, dest_zone_id: str, deployment_ids: list[str], out: Path, *, now: EpochSeconds,
                  refusal_ids: Sequence[str] = (),
                  local: Sequence[tuple[dict[str, Any], dict[str, bytes]]] = ()) -> ReceiptFile:
    """Sign a receipt bundle carrying the given outbox entries (deployments and refused imports)
    to zone ``dest_zone_id``, as the zone's egress policy lets them leave (:func:`gather`);
    ``local``: entries (with their logs by digest) of deployments of releases this zone created,
    which no outbox holds (``receipt/evidence.py``; decision 393).

    Checks first (``UsageError`` ``output_in_home`` when ``out`` lies in a zone's home, decision
    942; ``InputError`` ``file_exists`` when something is at ``out``: a receipt is never
    written over a file, decision 460; ``StateError`` ``unknown_zone`` when the destination is no longer trusted,
    ``unknown_deployment`` when an id has no entry for it), then writes the logs, then one
    transaction allocates the receipt's sequence, checks the manifest as its reader will
    (``StateError`` ``invalid_receipt_entry`` naming the deployments whose entries it would
    refuse), records the file and claims the entries (``StateError`` ``outbox_entry_packed``
    when another process packed one of them since they were read: two receipts never carry one
    entry); the file appears at ``out`` once that transaction has committed. On any error
    nothing is recorded or marked packed, and ``out`` is untouched.
    """
    refuse_in_home(out, "-o", zone)
    refuse_existing(out)
    found = gather(zone, dest_zone_id, deployment_ids, refusal_ids=refusal_ids, local=local)
    dest, entries, refused, inventory = found.dest, found.entries, found.refusals, found.inventory
    zone_signing(zone, now)  # the keys and statements are usable, before any work (read again at the commit)
    writer = BundleWriter(out, "receipt")
    minor = egress.minor_for(entries, refused)
    if minor is not None:
        writer.minor = minor  # only a receipt that needs 1.4 (1.5: audit entries, 1.8: relay hops) says so
    try:
        for digest in sorted({run["log"] for e in entries for run in e["runs"] if "log" in run}):
            data = found.logs[digest]
            writer.add_blob(io.BytesIO(data), len(data))
        with zone.db.transaction() as tx:
            # Again under the write lock: another process may have written there since (decision 460).
            refuse_existing(out, recorded=_parked_there(tx, out))
            # the key valid when the receipt is recorded; a zone that rotated its key co-signs with the retired one
            signing = signing_at_commit(zone, now)
            seq = sequences.next_outgoing(tx, sequences.receipt_key(dest_zone_id))
            bundle_id = receipt_id_for(zone.zone_id, dest_zone_id, seq)
            manifest = Manifest(
                kind="receipt", bundle_id=bundle_id,
                source=ZoneRef(zone.zone_id, zone.name, signing.key_id),
                destination=ZoneRef(dest_zone_id, dest.name, dest.sealing_key_id),
                sequence=seq, created=now, expires=now + RECEIPT_EXPIRY, blobs=tuple(writer.blobs),
                receipts=tuple(entries), inventory=tuple(inventory), refusals=tuple(refused),
                rotations=signing.rotations(),
                raw={"format": FORMAT_ID, "features": list(RECEIPT_FEATURES), "writer": writer_record()})
            digest = writer.finish(_checked(manifest), signing.signers("receipt"), commit=False)
            # On disk under a name found again from the record, before the record commits: a
            # process killed between the commit and the rename loses no receipt (finish_parked).
            writer.park(parked_name(out.resolve(), bundle_id))
            outbox.record_receipt_file(tx, path=str(out.resolve()), bundle_id=bundle_id, dest_zone_id=dest_zone_id,
                                       sequence=seq, deployment_ids=[e["deployment_id"] for e in entries], now=now)
            taken = outbox.mark_packed(tx, bundle_id, deployment_ids)
            taken_refusals = refusals.mark_packed(tx, bundle_id, refusal_ids)
            if taken or taken_refusals:  # another process packed them after we read them: write nothing
                raise _taken(taken + taken_refusals, outbox.packed_into(tx, taken[0]) if taken else None, dest.name)
    except BaseException:
        writer.abort()
        raise
    try:
        writer.commit()
    except FileNotFoundError:
        if not out.exists():  # another process finished it for us (finish_parked) if it is there
            raise
    withheld = tuple({"deployment_id": e["deployment_id"], "step": run["step"], "target": run.get("target"),
                      "name": name} for e in entries for run in e["runs"] for name in run.get("withheld", ()))
    return ReceiptFile(out, digest, seq, tuple(e["deployment_id"] for e in entries), bundle_id, tuple(refusal_ids),
                       len(withheld), withheld)


def _parked_there(db: Any, out: Path) -> bool:
    """Whether a receipt this zone recorded at ``out`` still waits parked beside it."""
    where = out.resolve()
    return any(parked_name(where, row["bundle_id"]).exists() for row in outbox.receipt_files(db)
               if row["path"] == str(where))


def parked_name(out: Path, bundle_id: str) -> Path:
    """Where the receipt ``bundle_id`` waits, complete, until it is renamed to ``out``."""
    return out.parent / f".{out.name}.{bundle_id}.receipt"


def finish_parked(zone: Zone) -> list[Path]:
    """Rename to its path every receipt file recorded as written that a killed process left parked
    (``parked_name``); returns the paths finished. A file carried away (its path gone, nothing
    parked) is left alone."""
    done = []
    for row in outbox.receipt_files(zone.db):
        path = Path(row["path"])
        parked = parked_name(path, row["bundle_id"])
        if not path.exists() and commit_parked(parked, path):
            done.append(path)
    return done
