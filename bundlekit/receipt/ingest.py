"""Receipts, source side: verify a receipt bundle and record what production did.

Refused: an untrusted or forged signer, another destination, a replayed or reused sequence
(``replay``: older than the last received *and* adding no entry; ``sequence_reused``), and
any entry (deployment or refused import) that does not
answer a release bundle this zone exported to the receipt's signer, or exported to another zone
whose countersigned relay hops, carried by the entry, lead to the signer (``unknown_bundle``,
decision 906), or that misreports its project, release or sequence (``receipt_mismatch``).
Re-importing the same receipt, or an entry already recorded from an earlier receipt, changes
nothing, also when two processes or nodes import at once: what to record is decided again
inside the write transaction (decision 312). A receipt that arrives after a newer one (``late``) is accepted for the entries it
adds; it never lowers the high-water mark nor replaces the inventory a newer receipt reported.
A receipt from a zone that rotated its signing key carries the rotation statement and is
co-signed by the retired key (``zone/rotation.py``): importing it trusts the new key and
revokes the old one, as importing a release bundle does (spec/bundle-format.md §6.4).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from bundlekit.core.clock import EpochSeconds
from bundlekit.core.hints import home_flag
from bundlekit.core.text import MASK, shell_word
from bundlekit.errors import BundleError, StateError, TrustError, VerificationError
from bundlekit.format import crypto
from bundlekit.format.crypto import unb64
from bundlekit.format.manifest_checks import contradicted_success
from bundlekit.importer.verify import VerifiedBundle, verify_bundle
from bundlekit.receipt.build import output_seal_ad
from bundlekit.trust.policy import TrustedSource
from bundlekit.trust.relay import RelayPath, check_delivery
from bundlekit.zone import exports, projects, refusals, remote, sequences, truststore
from bundlekit.zone.db import Reader, Row
from bundlekit.zone.home import Zone
from bundlekit.zone.logs import put_log
from bundlekit.zone.rotation import apply_rotations
from bundlekit.zone.spaces import answers_for, move_trust

__all__ = ["ReceiptImport", "import_receipt", "decide_receipt", "reveal_output", "reported_outputs"]


@dataclass
class ReceiptImport:
    verified: VerifiedBundle
    noop: bool = False
    recorded: list[str] = field(default_factory=list)
    already_known: list[str] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    late: bool = False
    #: Signing keys of the source trusted from its rotation statements by this import (key ids).
    new_keys: list[str] = field(default_factory=list)
    #: The relays each relayed release took to the signer, by release bundle id, from the hops its
    #: entries carry: ``[{zone_id, name, relayed}, ...]`` in hop order (the dashboard's path).
    release_paths: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: Refusal entries about a release bundle this zone has no record of sending the signer, by
    #: refusal id: why each was skipped (recorded nowhere; the other entries are, decision 969).
    skipped: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        m = self.verified.manifest
        return {"kind": "receipt", "bundle": str(self.verified.path), "digest": self.verified.digest,
                "source": self.verified.source.name, "sequence": m.sequence, "noop": self.noop,
                "late": self.late,
                "relayed_by": list(self.verified.relay.names()) if self.verified.relay is not None else [],
                "recorded": self.recorded, "already_known": self.already_known, "new_keys": self.new_keys,
                "deployments": [{"deployment_id": e["deployment_id"], "project": e["project"]["name"],
                                 "release": e["release"], "environment": e["environment"], "state": e["state"]}
                                for e in m.receipts],
                "refusals": [{"refusal_id": r["refusal_id"], "project": r["project"]["name"], "release": r["release"],
                              "code": r["code"], "message": r["message"], "new": r["refusal_id"] in self.refusals,
                              "skipped": self.skipped.get(r["refusal_id"])}
                             for r in m.refusals]}


def import_receipt(zone: Zone, path: Path, *, now: EpochSeconds, dry_run: bool = False,
                   progress: Callable[[int], None] | None = None, space: str | None = None,
                   skip_unknown_refusals: bool = False) -> ReceiptImport:
    """Verify the receipt bundle at ``path`` and record what it reports, in one transaction.

    ``skip_unknown_refusals``: a refusal entry about a bundle this zone has no record of sending
    the signer is skipped (``ReceiptImport.skipped``) instead of refusing the receipt (decision 969).

    With ``space`` (a space of this zone, in its spelling) the receipt's source must be trusted
    in that space: receipts belong to the space of the zone that sent them (``TrustError``
    ``space_denied``, decision 660). Raises what verification raises (exit 3), ``VerificationError`` ``wrong_kind``,
    ``invalid_rotation``, ``unknown_bundle`` and ``receipt_mismatch``, and the sequence refusals (``replay``,
    ``sequence_reused``); on any of them nothing is written. ``dry_run`` checks everything and
    writes nothing.
    """
    logs: dict[str, io.BytesIO] = {}

    def sink_for(digest: str) -> Callable[[bytes], object]:
        logs[digest] = io.BytesIO()
        return logs[digest].write

    v = verify_bundle(zone, path, now=now, progress=progress, sink_for=sink_for)
    m = v.manifest
    where = str(path)
    if m.kind != "receipt":
        raise VerificationError(f"{where}: expected a receipt bundle, found {m.kind}", code="wrong_kind")
    _check_entry_spaces(zone.db, v, where)
    if space is not None:
        _check_space(zone.db, v.source.zone_id, v.source.name, space, where)
    trust = {"sources": truststore.sources(zone), "revoked": truststore.revoked_key_ids(zone),
             "skip_unknown_refusals": skip_unknown_refusals, "home": zone.home}
    result = decide_receipt(zone.db, v, where, **trust)
    if result.noop:
        return result
    # Every statement was checked by the verification (``invalid_rotation``), before anything is written.
    rotations = list(v.rotations)
    if dry_run:
        return result
    with zone.db.transaction() as tx:
        # Decided again under the write lock: another process (this node's or another node's) may
        # have imported this receipt, or a newer one, since the first decision (decision 312).
        _check_entry_spaces(tx, v, where)
        if space is not None:
            _check_space(tx, v.source.zone_id, v.source.name, space, where)
        result = decide_receipt(tx, v, where, **trust)
        if result.noop:
            return result
        key = sequences.receipt_key(v.source.zone_id)
        for digest, buf in logs.items():
            put_log(tx, digest, buf.getvalue())
        for e in m.receipts:
            if e["deployment_id"] in result.recorded:
                remote.record_remote(tx, v.source.zone_id, m.bundle_id, e, now)
        for r in m.refusals:
            if r["refusal_id"] not in result.skipped:
                refusals.record_remote(tx, v.source.zone_id, m.bundle_id, r, now)
        if not result.late:  # what a zone holds now comes from its newest receipt, never a late one
            exports.replace_inventory(tx, v.source.zone_id, m.inventory, now)
            exports.replace_features(tx, v.source.zone_id, m.raw.get("features", ()), now)
        sequences.record_incoming(tx, key, m.sequence, v.digest, bundle_id=m.bundle_id,
                                  source_zone_id=v.source.zone_id, project_slug="", release="", now=now,
                                  plan=remote.receipt_plan(result.recorded, _relayed(v), result.release_paths),
                                  high_water=not result.late)
        result.new_keys = apply_rotations(tx, v.source.zone_id, rotations, now)
    return result


def _relayed(v: VerifiedBundle) -> list[dict[str, Any]]:
    """The zones that relayed the receipt ``v`` back, in hop order, as the import record keeps them."""
    if v.relay is None:
        return []
    return _kept(v.relay)


def _kept(path: RelayPath) -> list[dict[str, Any]]:
    """The hops of ``path`` as a receipt's import record keeps them: each relay's zone id, the
    name this zone trusts it by (``known``: never the name its own record gives itself, which only
    that zone vouches for; decision 958) and its ``relayed`` time."""
    return [{"zone_id": h.zone["zone_id"], "name": r.name, "relayed": h.relayed, "known": True}
            for h, r in zip(path.hops, path.relays)]


def decide_receipt(db: Reader, v: VerifiedBundle, where: str, *, sources: Sequence[TrustedSource] = (),
                   revoked: frozenset[str] = frozenset(), skip_unknown_refusals: bool = False,
                   home: Path | None = None) -> ReceiptImport:
    """What importing the verified receipt ``v`` would record on the state ``db`` shows: a no-op
    (imported already), or the entries it adds and whether it is late. Raises, in this order
    (spec/bundle-format.md §6.6), ``VerificationError`` ``sequence_reused``, ``unknown_bundle`` (or
    ``TrustError`` ``untrusted_relay`` for an entry's relay hop of a zone not in ``sources``, the
    zones trusted here; ``revoked``: the revoked key ids), or
    ``receipt_mismatch`` (the first entry that fails, deployments before refusals; then a
    deployment entry whose Success contradicts its own runs) and
    ``replay``, each message naming ``where``. A refusal entry's ``unknown_bundle`` or
    ``untrusted_relay`` is worded for a refusal and names ``--skip-unknown-refusals`` (with
    ``--home home``); with ``skip_unknown_refusals`` the entry is skipped instead (``skipped``:
    refusal id -> why). Reads ``db`` only."""
    m = v.manifest
    if sequences.already_imported(db, v.digest):
        return ReceiptImport(v, noop=True)
    key = sequences.receipt_key(v.source.zone_id)
    last = sequences.last_incoming(db, key)
    # A receipt below the high-water mark is late, not necessarily replayed: receipts are records
    # of what happened and travel by hand, out of order. It is accepted for the entries it adds
    # (each recorded once by its id) and refused only when it adds nothing (decision 153).
    late = last is not None and m.sequence < last
    if late:
        _check_late_sequence(db, v, where)
    else:
        sequences.check_incoming(
            db, key, m.sequence, older_code="replay",
            older=f"{where}: receipt sequence {m.sequence} from zone {v.source.name!r} is older than the last received "
                  "({last}); refusing a replayed receipt",
            reused=f"{where}: receipt sequence {m.sequence} from zone {v.source.name!r} was already received with "
                   "other content")
    result = ReceiptImport(v, late=late)
    entries = [(f"receipts[{i}] (deployment {e['deployment_id']})", e) for i, e in enumerate(m.receipts)]
    entries += [(f"refusals[{i}] ({r['refusal_id']})", r) for i, r in enumerate(m.refusals)]
    for what, e in entries:
        try:
            hops = _check_answers_export(db, v, where, what, e, sources, revoked)
        except BundleError as err:
            if "refusal_id" not in e or err.code not in UNMATCHED:
                raise
            why = _unmatched_refusal(v, e, err)
            if not skip_unknown_refusals:
                again = f"bundlekit import {shell_word(where)} --skip-unknown-refusals" + (
                    f" --home {shell_word(str(home))}" if home is not None else "")
                raise type(err)(f"{where}: {what}: {why}. Nothing was recorded. To record the receipt's other entries "
                                f"and skip this one: `{again}`", code=err.code, details=err.details) from None
            result.skipped[e["refusal_id"]] = why
            continue
        if hops:
            result.release_paths[e["release_bundle"]["bundle_id"]] = hops
    for what, e in entries[:len(m.receipts)]:
        _check_consistent(v, where, what, e,
                          projects.step_count(db, e["project"]["slug"], e["release"], e.get("release_digest")))
    for e in m.receipts:
        known = remote.is_recorded(db, v.source.zone_id, e["deployment_id"])
        (result.already_known if known else result.recorded).append(e["deployment_id"])
    result.refusals = [r["refusal_id"] for r in m.refusals if r["refusal_id"] not in result.skipped
                       and not refusals.is_recorded(db, v.source.zone_id, r["refusal_id"])]
    if late and not result.recorded and not result.refusals:
        raise VerificationError(
            f"{where}: receipt sequence {m.sequence} from zone {v.source.name!r} is older than the last received "
            f"({last}) and every entry it carries was already recorded; refusing a replayed receipt",
            code="replay", details={"sequence": m.sequence, "last": last})
    return result


#: Why a refusal entry may not answer an export of this zone: it is skipped, not the receipt (decision 969).
UNMATCHED = frozenset({"unknown_bundle", "untrusted_relay"})


def _unmatched_refusal(v: VerifiedBundle, e: dict[str, Any], err: BundleError) -> str:
    """Why the refusal entry ``e`` of ``v``, refused ``err`` by :func:`_check_answers_export`, is
    skipped: the signer refused a release bundle signed with this zone's key that this zone has no
    record of sending it (nor of relays leading there)."""
    name, rb = v.source.name, e["release_bundle"]
    how = (f"carried through a relay this zone does not trust ({err.message})" if err.code == "untrusted_relay" else
           f"this zone has no record of exporting it to zone {name!r}, nor to a relay whose hops lead there")
    return (f"zone {name} refused release bundle {rb['bundle_id']} (sequence {rb['sequence']}, {e['project']['name']} "
            f"{e['release']}: {e['code']}), signed by this zone, but {how}. A bundle this zone did not export was made "
            "with its signing key elsewhere: by another copy of this zone's home (a restored backup), or by someone "
            f"holding that key; if neither, replace it (`bundlekit rotate-key{home_flag()}`)")


def _check_answers_export(db: Reader, v: VerifiedBundle, where: str, what: str, e: dict[str, Any],
                          sources: Sequence[TrustedSource], revoked: frozenset[str]) -> list[dict[str, Any]]:
    """Refuse the entry ``e`` (a deployment or a refused import) unless it answers a release bundle
    this zone exported to the receipt's signer, or one it exported to another zone whose relay
    hops, carried by the entry (``release_bundle.relay_hops``), show it reached the signer
    (``unknown_bundle``, spec/relay.md §7, decision 906); and unless it says of it what the export
    recorded: the bundle's sequence, the project's slug and space, the release version
    (``receipt_mismatch``). A project's display name may change between releases and is not
    compared. ``sources`` and ``revoked``: the trusted zones and revoked key ids, to check the hops'
    countersignatures (``untrusted_relay`` for a hop of a zone not trusted here). Returns the
    relays the release took to the signer (``[{zone_id, name, relayed}, ...]``), empty when it
    was exported to the signer itself."""
    rb = e["release_bundle"]
    row, hops = exports.exported(db, rb["bundle_id"], rb["digest"], v.source.zone_id), []
    if row is None:
        row, hops = _relayed_export(db, v, f"{where}: {what}", rb, sources, revoked)
    said = {"release_bundle.sequence": rb["sequence"], "project.slug": e["project"]["slug"],
            "project.space": e["project"]["space"], "release": e["release"]}
    sent = {"release_bundle.sequence": row["sequence"], "project.slug": row["project_slug"],
            "project.space": row["space"], "release": row["release"]}
    wrong = [name for name in said if said[name] != sent[name]]
    if wrong:
        diffs = "; ".join(f"{name} is {said[name]!r}, the export has {sent[name]!r}" for name in wrong)
        raise VerificationError(
            f"{where}: {what} answers release bundle {rb['bundle_id']} but does not describe it ({diffs}); "
            f"zone {v.source.name!r} signed a receipt that misreports what was sent: nothing was recorded, "
            "ask its operators to check the zone before importing its receipts",
            code="receipt_mismatch", details={"entry": what, "fields": wrong})
    return hops


def _relayed_export(db: Reader, v: VerifiedBundle, where: str, rb: dict[str, Any],
                    sources: Sequence[TrustedSource], revoked: frozenset[str]) -> tuple[Row, list[dict[str, Any]]]:
    """The export a receipt entry of ``v`` answers through relays: ``rb``'s ``relay_hops`` are a
    countersigned chain (spec/relay.md §4 steps 4-8, sealed values aside) from the zone this zone
    exported the bundle to, to the receipt's signer. ``unknown_bundle`` when the entry carries
    no hops, they do not verify or the chain does not end at the signer; ``untrusted_relay`` when
    a hop's zone is not trusted here. Returns the export's record and the hops as
    ``[{zone_id, name, relayed}, ...]``."""
    never = (f"{where} is about release bundle {rb['bundle_id']}, which this zone never exported to "
             f"{v.source.name!r}")
    text = rb.get("relay_hops")
    if not isinstance(text, str):
        raise VerificationError(f"{never}, and the entry carries no relay hops showing the release reached that zone "
                                "through the zone it was exported to (a zone of an older bundlekit does not send "
                                "them: update it and deploy again)", code="unknown_bundle")
    try:
        path = check_delivery(unb64(text, f"{where}: release_bundle.relay_hops"), rb["bundle_id"], rb["digest"],
                              v.manifest.destination.zone_id, sources, revoked, f"{where}: release_bundle.relay_hops")
    except TrustError:
        raise
    except BundleError as err:
        raise VerificationError(f"{never}, and the relay hops the entry carries do not prove it reached that zone "
                                f"({err.message})", code="unknown_bundle") from None
    first, last = path.hops[0].zone, path.last.to
    if last["zone_id"] != v.source.zone_id:
        raise VerificationError(f"{never}: the relay hops the entry carries end at zone {last['name']!r}",
                                code="unknown_bundle")
    row = exports.exported(db, rb["bundle_id"], rb["digest"], first["zone_id"])
    if row is None:
        raise VerificationError(f"{never} nor to zone {first['name']!r}, where the relay hops it carries start",
                                code="unknown_bundle")
    return row, _kept(path)


def _check_consistent(v: VerifiedBundle, where: str, what: str, e: dict[str, Any], steps: int | None) -> None:
    """Refuse a deployment entry whose state contradicts its own runs (``receipt_mismatch``): a
    "Success" with a failed run, or with no run of a release this zone holds with ``steps``
    steps, is neither recorded as a success nor shown green."""
    why = contradicted_success(e, steps)
    if why is not None:
        raise VerificationError(
            f"{where}: {what}: {why}; zone {v.source.name!r} signed a receipt that contradicts itself: nothing was "
            "recorded, ask its operators to check the zone before importing its receipts",
            code="receipt_mismatch", details={"entry": what, "fields": ["state", "runs"]})


def _check_late_sequence(db: Reader, v: VerifiedBundle, where: str) -> None:
    """Refuse a late receipt whose sequence was already received with other bytes."""
    m = v.manifest
    if sequences.receipt_sequence_taken(db, v.source.zone_id, m.sequence):
        raise VerificationError(f"{where}: receipt sequence {m.sequence} from zone {v.source.name!r} was already "
                                "received with other content", code="sequence_reused")


def reveal_output(zone: Zone, deployment_id: str, step: str, target: str | None, output: dict[str, Any]) -> str:
    """Open a sensitive output that production sealed to this zone: its clear text.

    Raises ``FormatError`` ``malformed`` (its ``sealed`` is not canonical base64) and
    ``VerificationError`` ``invalid_seal`` (it does not open with this zone's sealing key, or
    opens to bytes that are not UTF-8 text), as an import refuses a sealed variable."""
    ad = output_seal_ad(deployment_id, zone.sealing_key_id, step, target, output["name"])
    what = f"output {output['name']}"
    return crypto.open_text(zone.sealing_key(), output["sealed"], ad, what, f"{what}: sealed")


def reported_outputs(zone: Zone, project: str, zone_name: str, *, reveal: bool = False) -> list[dict[str, Any]]:
    """The output variables zone ``zone_name`` reported for ``project`` (name or slug): for each
    environment, those of the latest deployment reported there.

    Items: {environment, deployment_id, release, step, target, name, sensitive, value, withheld};
    a sensitive value is ``********`` unless ``reveal`` (then unsealed with this zone's key); an
    output the deploying zone's egress policy withheld (format 1.4) has ``withheld`` true, ``value``
    None and ``sensitive`` false, the dashboard's shape (spec/egress.md §6): the receipt carries its
    name only, so nothing can reveal it.
    Raises ``StateError`` ``unknown_zone``, or ``no_outputs`` when no receipt reports the project.
    """
    source = truststore.get_zone(zone, zone_name)
    latest: dict[str, dict[str, Any]] = {}
    for e in remote.reported_for_project(zone.db, source.zone_id, project):
        latest[e["environment"]] = e
    if not latest:
        raise StateError(f"no receipt from zone {zone_name!r} reports a deployment of {project!r}",
                         code="no_outputs")
    result = []
    for env, e in sorted(latest.items()):
        for run in e["runs"]:
            for o in run["outputs"]:
                if o["sensitive"]:
                    value = _revealed(zone, zone_name, env, e, run, o) if reveal else MASK
                else:
                    value = o["value"]
                result.append({"environment": env, "deployment_id": e["deployment_id"], "release": e["release"],
                               "step": run["step"], "target": run.get("target"), "name": o["name"],
                               "sensitive": o["sensitive"], "value": value, "withheld": False})
            for name in run.get("withheld", ()):
                result.append({"environment": env, "deployment_id": e["deployment_id"], "release": e["release"],
                               "step": run["step"], "target": run.get("target"), "name": name,
                               "sensitive": False, "value": None, "withheld": True})
    return result


def _revealed(zone: Zone, zone_name: str, env: str, entry: dict[str, Any], run: dict[str, Any],
              output: dict[str, Any]) -> str:
    """:func:`reveal_output` for ``outputs --reveal``; its ``invalid_seal`` refusal also names the
    deployment the value came from and says what to do (the rest of the listing needs no key)."""
    try:
        return reveal_output(zone, entry["deployment_id"], run["step"], run.get("target"), output)
    except VerificationError as err:
        if err.code != "invalid_seal":
            raise
        raise VerificationError(
            f"{err.message}; it came from deployment {entry['deployment_id']} of release {entry['release']} to "
            f"{env} in zone {zone_name} (step {run['step']!r}). This zone's sealing key cannot open it: its key was "
            "replaced since (a restored or re-made home), or the state was altered. Run the command without "
            f"--reveal to list every other output, and ask zone {zone_name}'s operators for the value",
            code="invalid_seal", details={"deployment_id": entry["deployment_id"], "output": output["name"]}) from None


def _check_entry_spaces(db: Reader, v: VerifiedBundle, where: str) -> None:
    """``space_denied`` when an entry is about a project of a space the receipt's signer does not
    answer for here (:func:`~bundlekit.zone.spaces.answers_for`, decision 915): a zone trusted in
    space Payments reports on Payments' projects only, whatever ``--space`` the import names.
    Entries about bundles this zone never exported are left to :func:`decide_receipt`."""
    trusted_in = truststore.space_of(db, v.source.zone_id)
    labels = projects.project_labels(db)
    for i, e in enumerate([*v.manifest.receipts, *v.manifest.refusals]):
        slug = e["project"]["slug"]
        if slug in labels and not answers_for(trusted_in, labels[slug][1]):
            name, in_space = labels[slug]
            raise TrustError(f"{where}: zone {v.source.name!r} is trusted here in space {trusted_in}, but its receipt "
                             f"reports on project {name!r} of space {in_space}; a zone reports on the projects of the "
                             f"space it is trusted in only. Nothing was changed. To record it, "
                             f"{move_trust(v.source.name, in_space)} and import the receipt again", code="space_denied",
                             details={"space": in_space, "trusted_in": trusted_in, "project": slug, "entry": i})


def _check_space(db: Reader, zone_id: str, name: str, space: str, where: str) -> None:
    """``space_denied`` unless the trusted zone ``zone_id`` belongs to ``space`` (decision 660)."""
    trusted_in = truststore.space_of(db, zone_id)
    if trusted_in is None or trusted_in.casefold() != space.casefold():
        raise TrustError(f"{where}: zone {name!r} is trusted in space {trusted_in or '(none)'}, not in space {space}; "
                         "its receipts belong to that space. Nothing was changed. Import it with --space "
                         f"{trusted_in or 'NAME'}", code="space_denied", details={"space": space,
                                                                                  "trusted_in": trusted_in})
