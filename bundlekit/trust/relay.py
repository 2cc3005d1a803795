"""Whom to believe about a relayed bundle: its hops, their countersignatures, the chain and the
path a source's trust policy demands (spec/relay.md §4, §6; pure: no I/O, no clock).

The origin bundle is verified as any bundle (its source's signatures, trust and threshold); this
module checks what the relays added. Every relay must be a trusted zone, countersigning with a
current key (``untrusted_relay``): a relay re-seals the release's sensitive values, so its word
is part of what the destination accepts. The hops must form one chain from the zone the origin
was addressed to, hop by hop, to the verifier (``invalid_relay``, ``wrong_destination``), and a
source whose policy names relays (``SourcePolicy.via``) is believed only through them, in that
order (``relay_required``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from bundlekit.errors import TrustError, VerificationError
from bundlekit.format.crypto import key_id, seal_label, verify_signature
from bundlekit.format.manifest import Manifest, scope_to_dict
from bundlekit.format.relay import Hop, hop_message, parse_hop, split_hops
from bundlekit.trust.policy import TrustedSource

__all__ = ["RelayPath", "check_relay", "check_relay_destination", "check_path"]


@dataclass(frozen=True, slots=True)
class RelayPath:
    """The verified hops of a relayed bundle, with the trusted zone that countersigned each."""

    hops: tuple[Hop, ...]
    relays: tuple[TrustedSource, ...]

    @property
    def last(self) -> Hop:
        return self.hops[-1]

    def zone_ids(self) -> tuple[str, ...]:
        return tuple(h.zone["zone_id"] for h in self.hops)

    def names(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.relays)

    def to_dict(self) -> list[dict[str, object]]:
        return [{"zone": h.zone["name"], "zone_id": h.zone["zone_id"], "to": h.to["name"], "relayed": h.relayed,
                 "checks": list(h.checks)} for h in self.hops]


def _relay_zone(public: bytes, sources: Iterable[TrustedSource], revoked: frozenset[str], where: str,
                n: int) -> TrustedSource:
    kid = key_id("ed25519", public)
    for src in sources:
        if public in src.zone_keys:
            if kid in revoked:
                raise TrustError(f"{where}: relay hop {n} is countersigned by zone {src.name!r} with its revoked key "
                                 f"{kid}; ask that zone to relay the bundle again with its current key",
                                 code="untrusted_relay")
            return src
    raise TrustError(f"{where}: relay hop {n} is countersigned by key {kid}, which belongs to no zone trusted here; "
                     "a relay re-seals the release's secrets, so only a trusted zone may relay. Trust its card with "
                     "`bundlekit trust add CARD` if it should, or carry the bundle through a trusted relay",
                     code="untrusted_relay")


def check_relay(hops_raw: bytes, origin_digest: str, manifest: Manifest, sources: Sequence[TrustedSource],
                revoked: frozenset[str], where: str) -> RelayPath:
    """Steps 4-8 and the sealed entries' shape (spec/relay.md §4) of the hops section ``hops_raw``
    behind the origin bundle of digest ``origin_digest`` and verified ``manifest``.

    Raises ``FormatError`` (``truncated``, ``limit_exceeded`` and the decoder's codes),
    ``VerificationError`` ``invalid_signature`` (a countersignature that does not verify: a hop
    altered) or ``invalid_relay``, ``TrustError`` ``untrusted_relay``."""
    raw_hops = split_hops(hops_raw, where)
    for n, raw in enumerate(raw_hops, 1):  # every countersignature first (step 5), then whose they are (6)
        if not verify_signature(raw.signature.public_key, "relay", hop_message(origin_digest, raw.signed),
                                raw.signature.signature):
            raise VerificationError(
                f"{where}: the countersignature of relay hop {n} (key {key_id('ed25519', raw.signature.public_key)}) "
                "does not match: the relay record, an earlier hop or the origin bundle was altered after that zone "
                "relayed it", code="invalid_signature")
    relays = [_relay_zone(raw.signature.public_key, sources, revoked, where, n) for n, raw in enumerate(raw_hops, 1)]
    hops = [parse_hop(raw.record, f"{where}: relay hop {n}") for n, raw in enumerate(raw_hops, 1)]
    origin = {"bundle_id": manifest.bundle_id, "digest": origin_digest, "kind": manifest.kind}
    seen: set[str] = set()
    for i, (hop, raw, relay) in enumerate(zip(hops, raw_hops, relays)):
        w = f"{where}: relay hop {i + 1}"
        if hop.hop != i or dict(hop.origin) != origin:
            raise _invalid(w, f"it says it is hop {hop.hop} of bundle {hop.origin['bundle_id']} "
                              f"({hop.origin['digest'][:16]}...), it is hop {i} of {manifest.bundle_id}")
        if hop.zone["zone_id"] != relay.zone_id or hop.zone["key_id"] != key_id("ed25519", raw.signature.public_key):
            raise _invalid(w, f"it names zone {hop.zone['name']!r} and key {hop.zone['key_id']}, but zone "
                              f"{relay.name!r} countersigned it")
        expected = manifest.destination.zone_id if i == 0 else hops[i - 1].to["zone_id"]
        if (i > 0 or manifest.kind == "release") and hop.zone["zone_id"] != expected:
            raise _invalid(w, f"zone {relay.name!r} relayed a bundle that was not addressed to it (the chain is "
                              "broken)")
        if hop.zone["zone_id"] in seen | {manifest.source.zone_id} \
                or hop.to["zone_id"] in (hop.zone["zone_id"], manifest.source.zone_id):
            raise _invalid(w, "the chain goes through a zone twice, or through the source")
        seen.add(hop.zone["zone_id"])
        _check_sealed(hop, manifest, w)
    return RelayPath(tuple(hops), tuple(relays))


def _invalid(where: str, what: str) -> VerificationError:
    return VerificationError(f"{where}: {what}; refusing the relayed bundle", code="invalid_relay")


def _check_sealed(hop: Hop, manifest: Manifest, where: str) -> None:
    """A release hop re-seals every sensitive variable once, in order; a receipt hop re-seals nothing."""
    wanted = [(i, seal_label("variable", v.name, scope_to_dict(v.scope)))
              for i, v in enumerate(manifest.variables) if v.sensitive] if manifest.kind == "release" else []
    found = [(s.variable, s.label) for s in hop.sealed]
    if found != wanted:
        raise _invalid(where, f"it carries {len(found)} re-sealed value(s) that do not match the origin's "
                              f"{len(wanted)} sensitive variable(s) one for one, in order")


def check_relay_destination(path: RelayPath, manifest: Manifest, zone_id: str, zone_name: str, sealing_key_id: str,
                            where: str, *, relaying: bool) -> None:
    """Step 9 (spec/relay.md §4): the last hop is addressed to this zone, and sealed to its key for a
    release; a receipt is also addressed to this zone unless this zone relays it on
    (``relaying``). ``VerificationError`` ``wrong_destination``."""
    to = path.last.to
    if to["zone_id"] != zone_id:
        raise VerificationError(f"{where}: relayed by zone {path.last.zone['name']!r} to zone {to['name']!r} "
                                f"({to['zone_id']}), this is zone {zone_name!r} ({zone_id}); carry it to the right "
                                "zone", code="wrong_destination")
    if manifest.kind == "release" and to["key_id"] != sealing_key_id:
        raise VerificationError(f"{where}: relayed with its secrets sealed to key {to['key_id']}, this zone's sealing "
                                f"key is {sealing_key_id}", code="wrong_destination")
    if manifest.kind == "receipt" and not relaying and manifest.destination.zone_id != zone_id:
        raise VerificationError(f"{where}: a receipt for zone {manifest.destination.name!r}, relayed here; only "
                                "that zone imports it", code="wrong_destination")


def check_path(source: TrustedSource, path: RelayPath | None, manifest: Manifest, names: dict[str, str],
               where: str) -> None:
    """Step 10 (spec/relay.md §6): a release of a source whose policy names relays (``via``, zone
    ids in order) came through each of them, in that order. ``names``: zone id -> name, for the
    message. ``TrustError`` ``relay_required``."""
    via = source.policy.via
    if not via or manifest.kind != "release":
        return
    hops = list(path.zone_ids()) if path is not None else []
    pos = 0
    for zone in hops:
        if pos < len(via) and zone == via[pos]:
            pos += 1
    if pos == len(via):
        return
    wanted = " -> ".join(names.get(z, z) for z in via)
    came = " -> ".join([source.name, *(names.get(z, z) for z in hops)]) if hops else f"directly from {source.name}"
    raise TrustError(f"{where}: this zone accepts releases of zone {source.name!r} only when relayed through "
                     f"{wanted}; this one came {came}. Nothing was imported: carry the release through "
                     f"{names.get(via[pos], via[pos])} (`bundlekit relay` there), or change the policy with "
                     f"`bundlekit trust set {source.name} --via ZONE`", code="relay_required",
                     details={"via": [names.get(z, z) for z in via], "came_through": [names.get(z, z) for z in hops]})
