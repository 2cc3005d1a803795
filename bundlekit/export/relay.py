"""Relay a bundle on to the next zone (spec/relay.md): the origin untouched, one hop more.

A zone that verified a bundle (a release addressed to it, or a receipt on its way back to a
release's source) writes it again for a zone it trusts: the origin bundle byte for byte behind a
relay header, the hops it already had, and its own hop: a record naming it, the next zone, the
time and the checks it made, countersigned with its signing key. A release's sensitive values,
opened with this zone's sealing key by the verification, are sealed to the next zone's key in
memory: no clear value is written anywhere, and a value this zone cannot open stops the relay
(``invalid_seal``) before any file is created. Relaying changes nothing in the zone's home.

The bytes copied are the bytes verified, up to a race with another writer of the input file; the
next zone verifies every byte of the origin again itself, so such a race can only make it refuse
the relayed bundle, never accept bytes its source did not sign (decision 620).
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from bundlekit.core.atomic import AtomicFile
from bundlekit.core.clock import EpochSeconds
from bundlekit.core.hints import home_flag
from bundlekit.core.selfproject import export_command
from bundlekit.core.text import shell_word
from bundlekit.errors import BundleError, FormatError, TrustError, UsageError
from bundlekit.format import crypto
from bundlekit.format.container import HEADER_SIZE, MAGIC, BundleFile, SignatureRecord
from bundlekit.format.manifest import scope_to_dict, writer_record
from bundlekit.format.relay import (RELAY_KIND, RELAY_MINOR, Hop, SealedCopy, encode_hop, frame_hop, hop_message,
                                    relay_seal_ad)
from bundlekit.importer.state_rules import check_sequence, check_space
from bundlekit.importer.verify import VerifiedBundle, verify_bundle
from bundlekit.zone import sequences, truststore
from bundlekit.zone.home import Zone
from bundlekit.zone.outputs import check_output, exists_refusal
from bundlekit.zone.spaces import answers_for, move_trust
from bundlekit.zone.truststore import TrustEntry

__all__ = ["RelayResult", "relay_bundle", "check_packages_travel"]

_HEADER = struct.Struct(">8sHHB3sQQ")


@dataclass(frozen=True, slots=True)
class RelayResult:
    """What ``relay_bundle`` wrote: the relayed bundle at ``path``, its origin, the hops it now has."""

    path: Path
    verified: VerifiedBundle
    hop: Hop
    hops: int

    def to_dict(self) -> dict[str, Any]:
        m = self.verified.manifest
        previous = self.verified.relay.to_dict() if self.verified.relay is not None else []
        out: dict[str, Any] = {
            # "path": absolute, as export gives it; "relayed": the same, as typed (kept for scripts)
            "path": str(self.path.absolute()), "relayed": str(self.path), "kind": m.kind, "origin": {"bundle_id": m.bundle_id,
                                                                  "digest": self.verified.digest,
                                                                  "source": self.verified.source.name},
            "to": self.hop.to["name"], "checks": list(self.hop.checks), "sealed_values": len(self.hop.sealed),
            "hops": previous + [{"zone": self.hop.zone["name"], "zone_id": self.hop.zone["zone_id"],
                                 "to": self.hop.to["name"], "relayed": self.hop.relayed,
                                 "checks": list(self.hop.checks)}]}
        if m.kind == "release":
            out["project"], out["release"] = m.project.get("name"), m.release.get("version")
        return out


def relay_bundle(zone: Zone, path: Path, to: str, out: Path, *, now: EpochSeconds,
                 progress: Callable[[int], None] | None = None, allow_by_reference: bool = False,
                 overwrite: bool = False) -> RelayResult:
    """Verify the bundle at ``path`` in ``zone`` and write it, relayed to the trusted zone ``to``,
    at ``out``.

    A release must be addressed to this zone (directly, or by its last relay hop); a receipt may
    be addressed to another zone (the source of the release it reports on) and is verified as a
    third zone verifies one. A release must also pass the space rule an import here applies
    (``TrustError`` ``space_denied``: its ``project.space`` is not the space its source is trusted
    in, decision 660), so a hop's ``verified`` never covers a release this zone would refuse for
    its space (review v33-11a F7), and ``to`` must answer here for the space the release entered
    in (the space its source is trusted in): a zone trusted in that space or in ``Default``
    (``TrustError`` ``space_denied``, decisions 915 and 941), as ``export`` requires of its
    destination; a receipt is relayed whatever the spaces (decision 941: its sealed outputs stay
    sealed to its destination). A release this zone did not import must also be newer than what
    it imported of its source and project (``VerificationError`` ``rollback`` or
    ``sequence_reused``, as its import would refuse it). Raises what verification raises (exit 3), ``StateError``
    ``unknown_zone`` (``to`` is not trusted here), ``UsageError`` ``usage`` (``to`` is this zone,
    by name or id, refused before anything is read; the bundle's source, or a zone it already went
    through), ``UsageError`` ``relay_by_reference``
    (a release listing packages by reference or as changes, unless ``allow_by_reference``:
    decision 950), ``VerificationError`` ``invalid_seal`` (a sealed value this zone cannot open)
    and ``FormatError`` ``input_changed`` (the file changed while it was read); on any of them
    nothing is written. Before any of them, ``out`` inside a zone's home is refused
    (``UsageError`` ``output_in_home``), and so is a file already at ``out`` unless ``overwrite``
    (``InputError`` ``file_exists``, decision 942).
    """
    check_output(out, "-o", zone, overwrite=overwrite)
    _refuse_self(zone, to)
    target = truststore.get_zone(zone, to)
    # A value this zone cannot open is refused by the verification (invalid_seal), which says
    # that nothing is relayed and whom to ask (importer/contents.py).
    verified = verify_bundle(zone, path, now=now, progress=progress, rebuild=False, relaying=True)
    m = verified.manifest
    where = str(path)
    if m.kind == "release":  # what an import here would check of its space: `verified` must not mean less
        check_space(zone.db, verified, verified.source.space, where)
        _refuse_superseded(zone, verified, where)
        _refuse_other_space(verified, target, where)
    went = {m.source.zone_id, zone.zone_id, *(verified.relay.zone_ids() if verified.relay else ())}
    if target.zone_id in went:
        raise UsageError(f"{where}: --to {target.name}: the bundle comes from that zone or already went through it; "
                         "relay it to the next zone on its way", code="usage")
    if m.kind == "release" and not allow_by_reference:
        check_packages_travel(verified, zone.name, target.name, where)
    sealed = _reseal(verified, target.sealing_key, target.sealing_key_id)
    checks = {"verified"} | ({"opened"} if sealed else set())
    if sequences.already_imported(zone.db, verified.digest):
        checks.add("imported")
    index = len(verified.relay.hops) if verified.relay is not None else 0
    hop = Hop(index, {"bundle_id": m.bundle_id, "digest": verified.digest, "kind": m.kind},
              {"zone_id": zone.zone_id, "name": zone.name, "key_id": zone.signing_key_id},
              {"zone_id": target.zone_id, "name": target.name, "key_id": target.sealing_key_id},
              now, tuple(sorted(checks)), tuple(sealed), writer_record())
    _write_relayed(zone, path, out, verified.digest, encode_hop(hop), overwrite)
    return RelayResult(out, verified, hop, index + 1)


def _refuse_self(zone: Zone, to: str) -> None:
    """``UsageError`` ``usage`` when ``to`` names this zone itself (its name, any letter case, or
    its zone id; review atk35 F10): a zone relays a bundle on to another zone, and a release
    addressed to it is imported. The message names the zones it could relay to."""
    if to.casefold() != zone.name.casefold() and to != zone.zone_id:
        return
    others = sorted(truststore.zone_names(zone.db).values(), key=str.casefold)
    shown = ", ".join(others[:10]) + (f" and {len(others) - 10} more" if len(others) > 10 else "")
    where = f"a zone it trusts: {shown}" if others else f"a zone it trusts (it trusts none yet: `bundlekit trust add CARD{home_flag()}`)"
    raise UsageError(f"--to {shell_word(to)}: that is this zone ({zone.name}) itself. bundlekit relay writes a bundle "
                     f"for the next zone on its way, {where}; name that zone with --to. A release addressed to this "
                     f"zone that ends its way here is imported (`bundlekit import BUNDLE{home_flag()}`), not relayed. Nothing was "
                     "written", code="usage", details={"to": to, "zones": others})


def _refuse_superseded(zone: Zone, v: VerifiedBundle, where: str) -> None:
    """Refuse (``VerificationError`` ``rollback`` or ``sequence_reused``, exit 3) to relay the
    release ``v`` when this zone's import would refuse it so: a bundle this zone did not import
    whose sequence is not above the newest of its source and project this zone imported (review
    atk35 F12; decision 957). A hop's ``verified`` says the release passed what an import here checks; the
    next zone, whose policy may require this zone on the path, believes it."""
    if sequences.already_imported(zone.db, v.digest):
        return
    try:
        check_sequence(zone.db, v, where)
    except BundleError as err:
        raise type(err)(f"{err.message}. This zone would refuse to import it, so it does not relay it either: "
                                "nothing was written; relay the newest export instead", code=err.code,
                                details=err.details) from None


def _refuse_other_space(v: VerifiedBundle, target: TrustEntry, where: str) -> None:
    """``TrustError`` ``space_denied`` when the release ``v``, which enters this zone in the space
    its source is trusted in, would be relayed to ``target``, a zone trusted here in another space
    than that one and ``Default`` (decisions 915, 941): relaying seals the release's secrets to
    ``target``, so one space's trust rule would decide where another space's secrets go."""
    entered = v.source.space
    if answers_for(target.space, entered):
        return
    m = v.manifest
    raise TrustError(f"{where}: {m.project['name']} {m.release['version']} entered this zone in space {entered} (zone "
                     f"{v.source.name!r} is trusted here in that space), but zone {target.name!r} is trusted here in "
                     f"space {target.space}, so it answers for that space's projects only: relaying would seal this "
                     f"release's secrets to a zone trusted for another space. Nothing was written. To relay space "
                     f"{entered}'s releases to it, {move_trust(target.name, entered)}", code="space_denied",
                     details={"space": entered, "trusted_in": target.space, "zone": target.name})


def check_packages_travel(v: VerifiedBundle, here: str, to: str, where: str) -> None:
    """Refuse (``UsageError`` ``relay_by_reference``) to relay the release ``v`` from zone ``here``
    to zone ``to`` when it lists a package by reference or as changes to another (decision 950):
    zone ``to`` can use it only if the source delivered that package (or the delta's base) to
    ``to`` itself, which this zone cannot know, and a relay carries no package bytes
    (spec/relay.md §6). The message names the packages and both ways forward."""
    m = v.manifest
    held = [f"{p.id} {p.version}" + (f" (as changes to {p.delta.base.id} {p.delta.base.version})" if p.delta is not None else "")
            for p in m.packages if not p.included]
    if not held:
        return
    source = v.source.name
    raise UsageError(
        f"{where}: {m.project['name']} {m.release['version']} lists {len(held)} package(s) without their bytes: "
        f"{', '.join(held)}. Zone {source} sent only what zone {here} already held; zone {to} can use them only if "
        f"zone {source} delivered them to it too, which {here} cannot know, and a relay carries no package bytes. "
        f"Nothing was written. Ask zone {source} to export the release again with every package's file "
        f"(`{export_command(m.project['slug'], shell_word(here), full=True)}`) and relay that; or, if zone {to} already holds these "
        f"packages from zone {source}, relay with --allow-by-reference", code="relay_by_reference",
        details={"packages": held, "source": source, "to": to})


def _reseal(v: VerifiedBundle, recipient: bytes, recipient_key_id: str) -> list[SealedCopy]:
    """Each sensitive value of the release ``v`` (which the verification opened with this zone's
    key, ``importer/contents.py``) sealed to ``recipient``: the clear values stay in memory."""
    m = v.manifest
    if m.kind != "release":
        return []
    out = []
    for i, var in enumerate(m.variables):
        if var.sensitive:
            label = crypto.seal_label("variable", var.name, scope_to_dict(var.scope))
            sealed = crypto.seal(recipient, v.opened[i].encode("utf-8"), relay_seal_ad(m.bundle_id, recipient_key_id,
                                                                                     label))
            out.append(SealedCopy(i, label, crypto.b64(sealed)))
    return out


def _write_relayed(zone: Zone, path: Path, out: Path, digest: str, record: bytes, overwrite: bool) -> None:
    """The relayed bundle at ``out``, atomically: relay header, origin as stored, earlier hops, the
    new hop countersigned with this zone's signing key. ``input_changed`` when the origin's signed
    part read now is not the one verified; ``file_exists`` when a file appeared at ``out`` while
    it was written (unless ``overwrite``): it is left as it is."""
    key = zone.signing_key()
    with BundleFile(path) as bundle:
        hops = bundle.hops_raw or b""
        origin_length = bundle.file_size
        framed = frame_hop(record)
        signed = hops + framed
        signature = crypto.sign(key, "relay", hop_message(digest, signed))
        new_hops = signed + SignatureRecord(crypto.raw_public(key), signature).public_key + signature
        header = _HEADER.pack(MAGIC, 1, RELAY_MINOR, RELAY_KIND, b"\0\0\0", origin_length, len(new_hops))
        signed_part = bundle.header.blobs_length, bundle.header.manifest_length
        try:
            with AtomicFile(out, sweep=True, exclusive=not overwrite) as f:
                f.write(header)
                seen = hashlib.sha256()
                pos = 0
                for chunk in bundle.origin_chunks():
                    _hash_signed(seen, chunk, pos, signed_part)
                    pos += len(chunk)
                    f.write(chunk)
                if pos != origin_length or seen.hexdigest() != digest:
                    raise FormatError(f"{path}: the bundle changed while it was relayed; nothing was written. Relay "
                                      "it again", code="input_changed")
                f.write(new_hops)
        except FileExistsError:
            raise exists_refusal(out, "-o") from None


def _hash_signed(h: "hashlib._Hash", chunk: bytes, pos: int, sizes: tuple[int, int]) -> None:
    """Feed ``h`` the bytes of ``chunk`` (at ``pos`` in the origin) that belong to its signed
    message: the header and the manifest (``sizes``: blobs and manifest lengths)."""
    blobs, manifest = sizes
    for start, end in ((0, HEADER_SIZE), (HEADER_SIZE + blobs, HEADER_SIZE + blobs + manifest)):
        lo, hi = max(start, pos), min(end, pos + len(chunk))
        if lo < hi:
            h.update(chunk[lo - pos:hi - pos])
