"""Whom to believe about a relayed bundle: its hops, their countersignatures, the chain and the
path a source's trust policy demands (spec/relay.md §4, §6; pure: no I/O, no clock).

The origin bundle is verified as any bundle (its source's signatures, trust and threshold); this
module checks what the relays added. Every relay must be a trusted zone, countersigning with a
current key, and a release's relays must be trusted for it as its source is: in the space it
enters (or in ``Default``, which answers zone-wide: decision 945), under a policy admitting its
project and environments (``untrusted_relay``, decision 905): a relay re-seals the release's sensitive values, so its word is part of what the
destination accepts. The hops must form one chain from the zone the origin
was addressed to, hop by hop, to the verifier (``invalid_relay``, ``wrong_destination``), and a
source whose policy names relays (``SourcePolicy.via``) is believed only through them, in that
order (``relay_required``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from bundlekit.core.clock import CLOCK_SKEW, EpochSeconds, utc_text
from bundlekit.core.hints import DEFAULT_SPACE, home_flag
from bundlekit.core.selfproject import export_command, is_self_project
from bundlekit.core.text import shell_word, terminal_text
from bundlekit.errors import BundleError, TrustError, VerificationError
from bundlekit.format.crypto import key_id, seal_label, verify_signature
from bundlekit.format.manifest import Manifest, scope_to_dict
from bundlekit.format.relay import Hop, RawHop, hop_message, parse_hop, split_hops
from bundlekit.trust.policy import SourcePolicy, TrustedSource, glob_options, policy_denial, policy_widening, relay_spaces, relays_for

__all__ = ["RelayPath", "trust_add_command", "check_relay", "check_delivery", "check_relay_destination", "check_path",
           "export_steps", "addressed_elsewhere"]



@dataclass(frozen=True, slots=True)
class RelayPath:
    """The verified hops of a relayed bundle, with the trusted zone that countersigned each."""

    hops: tuple[Hop, ...]
    relays: tuple[TrustedSource, ...]
    #: The hops section as the bundle stores it (what a receipt entry carries back, decision 906).
    raw: bytes = b""

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


def _relay_zone(raw: RawHop, sources: Iterable[TrustedSource], revoked: frozenset[str], where: str, n: int,
                here: str, kind: str) -> TrustedSource:
    public = raw.signature.public_key
    kid = key_id("ed25519", public)
    for src in sources:
        if public in src.zone_keys:
            if kid in revoked:
                raise TrustError(f"{where}: relay hop {n} is countersigned by zone {src.name!r} with its revoked key "
                                 f"{kid}; ask that zone to relay the bundle again with its current key",
                                 code="untrusted_relay")
            return src
    rekeyed = _rekeyed(raw, sources)
    if rekeyed is not None:
        raise TrustError(f"{where}: relay hop {n} names zone {rekeyed.name!r} (zone id {rekeyed.zone_id}), trusted here, "
                         f"but is countersigned by key {kid}, which is not a key of {rekeyed.name!r} known here: that "
                         f"zone has most likely rotated its signing key (in {rekeyed.name}, `bundlekit rotate-key`), and a hop carries no "
                         f"rotation statement. Nothing was changed. If {rekeyed.name} did rotate (ask its operator; "
                         f"its new card must show signing key {kid}), trust its new key keeping the rule: in "
                         f"{rekeyed.name}, `bundlekit identity -o {_card(rekeyed.name)}`; here, "
                         f"`bundlekit trust remove {shell_word(rekeyed.name)}{home_flag()}` then "
                         f"`{_trust_again(rekeyed, sources)}` (rules that name {rekeyed.name} by --via keep it"
                         f"{_signers_again(rekeyed)}); then import the bundle again",
                         code="untrusted_relay", details={"zone": rekeyed.name, "zone_id": rekeyed.zone_id,
                                                          "key_id": kid, "rotated": True})
    if _claims_zone(raw, here):
        raise TrustError(f"{where}: relay hop {n} (key {kid}) says this zone relayed the bundle: a bundle this zone "
                         "relayed is addressed to the zone it relayed it to, not to this zone, and is not this zone's "
                         "to verify, import or relay again. Carry it to that zone, or relay the bundle this zone "
                         "received", code="untrusted_relay")
    why = ("a relay re-seals the release's secrets, so only a trusted zone may relay" if kind == "release" else
           "a relay's countersignature is part of what this zone accepts, so only a trusted zone may relay")
    claimed = _claimed_name(raw)
    named = f" (its record names zone {terminal_text(repr(claimed))}, unverified)" if claimed else ""
    raise TrustError(f"{where}: relay hop {n}{named} is countersigned by key {kid}, which belongs to no zone trusted "
                     f"here; {why}. Trust its card with `bundlekit trust add CARD{home_flag()}` if it should, or carry "
                     "the bundle through a trusted relay", code="untrusted_relay",
                     details={"hop": n, "key_id": kid, "claimed_zone": claimed})


def _claimed_name(raw: RawHop) -> str | None:
    """The zone name the (unverified) record of ``raw`` gives, so a refusal can name the zone the
    operator knows instead of a key id alone (new-user review 38); None when it does not parse."""
    try:
        name = parse_hop(raw.record, "relay hop").zone["name"]
    except BundleError:
        return None
    return name if isinstance(name, str) and name else None


def _rekeyed(raw: RawHop, sources: Iterable[TrustedSource]) -> TrustedSource | None:
    """The trusted zone that the (unverified) record of ``raw`` names as its relaying zone, when
    its countersigning key is none of that zone's: the zone rotated its key, or someone claims
    its name. Only to word a refusal (decision 959), never to decide one."""
    try:
        claimed = parse_hop(raw.record, "relay hop").zone["zone_id"]
    except BundleError:
        return None
    return next((s for s in sources if s.zone_id == claimed), None)


def _card(name: str) -> str:
    """The file name of zone ``name``'s identity card, shell-quoted for a hint."""
    return shell_word(f"{name}.card")


def _trust_again(src: TrustedSource, sources: Iterable[TrustedSource]) -> str:
    """The ``bundlekit trust add CARD ...`` that gives zone ``src``'s new card the rule ``src``
    has now (space, policy globs, threshold, package sharing, evidence, relays by name)."""
    return trust_add_command(src.name, src.space, src.policy, {s.zone_id: s.name for s in sources})


def trust_add_command(name: str, space: str, p: SourcePolicy, names: dict[str, str]) -> str:
    """``bundlekit trust add NAME.card ... --home DIR`` restoring the rule of zone ``name`` (in
    ``space``, policy ``p``; ``names``: zone id -> name of the zones it shares with or relays by),
    complete, so it runs as printed (atk36 finding 3)."""
    parts = [f"bundlekit trust add {_card(name)}"]
    if space.casefold() != DEFAULT_SPACE.casefold():
        parts.append(f"--space {shell_word(space)}")
    for flag, globs in (("--spaces", p.spaces), ("--projects", p.projects), ("--environments", p.environments)):
        if tuple(globs) != ("*",):
            parts.append(glob_options(flag, globs))
    if p.threshold != 1:
        parts.append(f"--threshold {p.threshold}")
    parts += [f"--share-packages-with {shell_word(names[z])}" for z in p.share_packages_with if z in names]
    parts += [f"--evidence-for {shell_word(e)}" for e in p.evidence_for]
    parts += [f"--via {shell_word(names.get(z, p.relay_name(i)))}" for i, z in enumerate(p.via)]
    return " ".join(parts) + home_flag()


def _signers_again(src: TrustedSource) -> str:
    return (f"; add its {len(src.signers)} approver key(s) again with `bundlekit trust add-signer KEY --for "
            f"{shell_word(src.name)}{home_flag()}`" if src.signers else "")


def _claims_zone(raw: RawHop, zone_id: str) -> bool:
    """Whether the (unverified) record of ``raw`` names ``zone_id`` as its relaying zone: only to
    word a refusal, never to decide one."""
    try:
        return bool(zone_id) and parse_hop(raw.record, "relay hop").zone["zone_id"] == zone_id
    except BundleError:
        return False


def check_relay(hops_raw: bytes, origin_digest: str, manifest: Manifest, sources: Sequence[TrustedSource],
                revoked: frozenset[str], where: str, *, now: EpochSeconds, source: TrustedSource | None = None,
                environments: Iterable[str] = (), here: str = "") -> RelayPath:
    """Steps 4-8 and the sealed entries' shape (spec/relay.md §4) of the hops section ``hops_raw``
    behind the origin bundle of digest ``origin_digest`` and verified ``manifest``.

    For a release of the trusted ``source``, each relay must also be admitted as that source is
    (step 6, decision 905): trusted in the space ``source`` is trusted in, its trust policy
    admitting the release's space, project and every environment in ``environments`` (the ones
    the release names); a relay's word decides the sensitive values it re-seals. ``here``: the
    verifying zone's id (a hop of its own is refused with a message saying so). ``now``: the
    verifier's clock; no hop may say it was relayed more than :data:`CLOCK_SKEW` seconds after it,
    nor that long before the origin's ``created`` or the hop before it (step 8).

    Raises ``FormatError`` (``truncated``, ``limit_exceeded`` and the decoder's codes),
    ``VerificationError`` ``invalid_signature`` (a countersignature that does not verify: a hop
    altered) or ``invalid_relay``, ``TrustError`` ``untrusted_relay``."""
    origin = {"bundle_id": manifest.bundle_id, "digest": origin_digest, "kind": manifest.kind}
    raw_hops, relays = _countersigners(hops_raw, origin_digest, sources, revoked, where, manifest.kind, here)
    if manifest.kind == "release" and source is not None:
        envs = sorted(set(environments))
        for n, relay in enumerate(relays, 1):
            _admit(relay, source, manifest, envs, where, n)
    hops = _walk(raw_hops, relays, origin, manifest.destination.zone_id if manifest.kind == "release" else None,
                 manifest.source.zone_id, manifest, where, times=(manifest.created, now))
    return RelayPath(tuple(hops), tuple(relays), hops_raw)


def check_delivery(hops_raw: bytes, bundle_id: str, digest: str, source_zone_id: str, sources: Sequence[TrustedSource],
                   revoked: frozenset[str], where: str) -> RelayPath:
    """The relay hops a receipt entry carries for the release bundle ``bundle_id`` of ``digest``
    that this zone (``source_zone_id``) wrote (spec/relay.md §7, decision 906): steps 4-8 of
    spec/relay.md §4 on ``hops_raw`` but the sealed values' (this zone holds no manifest to
    count them by, and a receipt proves no value). The caller checks that the first hop's zone is
    the bundle's destination and the last hop's ``to`` the receipt's signer.

    Raises ``FormatError`` (``truncated``, ``limit_exceeded``, the decoder's codes),
    ``VerificationError`` ``invalid_signature`` or ``invalid_relay``, ``TrustError``
    ``untrusted_relay`` (a hop countersigned by a zone this zone does not trust)."""
    origin = {"bundle_id": bundle_id, "digest": digest, "kind": "release"}
    raw_hops, relays = _countersigners(hops_raw, digest, sources, revoked, where, "release")
    hops = _walk(raw_hops, relays, origin, None, source_zone_id, None, where)
    return RelayPath(tuple(hops), tuple(relays), hops_raw)


def _countersigners(hops_raw: bytes, origin_digest: str, sources: Sequence[TrustedSource], revoked: frozenset[str],
                    where: str, kind: str, here: str = "") -> tuple[list[RawHop], list[TrustedSource]]:
    """Steps 4-6: the framed hops, every countersignature first (5), then whose they are (6).
    ``kind``: the origin's (``release`` or ``receipt``); ``here``: the verifying zone's id; both
    only to word a refusal."""
    raw_hops = split_hops(hops_raw, where)
    for n, raw in enumerate(raw_hops, 1):
        if not verify_signature(raw.signature.public_key, "relay", hop_message(origin_digest, raw.signed),
                                raw.signature.signature):
            raise VerificationError(
                f"{where}: the countersignature of relay hop {n} (key {key_id('ed25519', raw.signature.public_key)}) "
                "does not match: the relay record, an earlier hop or the origin bundle was altered after that zone "
                "relayed it", code="invalid_signature")
    return raw_hops, [_relay_zone(raw, sources, revoked, where, n, here, kind) for n, raw in enumerate(raw_hops, 1)]


def _admit(relay: TrustedSource, source: TrustedSource, manifest: Manifest, environments: Sequence[str], where: str,
           n: int) -> None:
    """Step 6 for a release (decisions 905, 945): the relay is trusted in the space the release
    enters (its source's) or in ``Default``, and its policy admits the release as a source's must;
    else ``untrusted_relay``."""
    why = None
    if not relays_for(relay.space, source.space):
        why = (f"zone {relay.name!r} is trusted here in space {relay.space}, and the release's source "
               f"{source.name!r} in space {source.space}, the space the release enters; a relay must be trusted in "
               f"{'that space or in ' + DEFAULT_SPACE if relay_spaces(source.space) != DEFAULT_SPACE else DEFAULT_SPACE}")
    else:
        denied = policy_denial(relay, space=manifest.project["space"], project=manifest.project["name"],
                               project_slug=manifest.project["slug"], environments=environments)
        if denied is not None:
            widen = policy_widening(relay, space=manifest.project["space"], project=manifest.project["name"],
                                    project_slug=manifest.project["slug"], environments=environments)
            why = (f"the trust policy of zone {relay.name!r} does not admit {denied} (if it may relay it: "
                   f"`{widen}{home_flag()}`)")
    if why is not None:
        raise TrustError(f"{where}: relay hop {n} is countersigned by zone {relay.name!r}, which may not relay this "
                         f"release: {why}. A relay re-seals the release's secrets, so it needs the trust a source of "
                         "this space and project needs. Nothing was changed: carry the release through a relay "
                         f"trusted for it, or trust the relay in space {_either(source.space)} with a policy that "
                         "admits the project",
                         code="untrusted_relay", details={"relay": relay.name, "space": source.space})


def _walk(raw_hops: Sequence[RawHop], relays: Sequence[TrustedSource], origin: dict[str, str], first: str | None,
          source_zone_id: str, manifest: Manifest | None, where: str,
          times: tuple[EpochSeconds, EpochSeconds] | None = None) -> list[Hop]:
    """Steps 7-8, hop by hop, after every record decoded: each record is hop number i of
    ``origin`` and names its countersigner; hop 0 is relayed by ``first`` (when given), each later
    hop by the zone the one before was addressed to, no zone twice, never the source
    (``source_zone_id``), no hop to its own relay; given ``times`` (the origin's ``created`` and
    the verifier's ``now``), its ``relayed`` time (:func:`_check_time`); and, given the
    ``manifest``, its sealed values."""
    hops = [parse_hop(raw.record, f"{where}: relay hop {n}") for n, raw in enumerate(raw_hops, 1)]
    seen: set[str] = set()
    for i, (hop, raw, relay) in enumerate(zip(hops, raw_hops, relays)):
        w = f"{where}: relay hop {i + 1}"
        # Messages count hops from 1 ("relay hop 1" is the first); a record's `hop` counts from 0
        # (spec/relay.md §2). Each number below says which it is.
        if hop.hop != i:
            raise _invalid(w, f"its record says `hop: {hop.hop}`, but the record of the {_ordinal(i + 1)} hop must "
                              f"say `hop: {i}` (records count from 0)")
        if dict(hop.origin) != origin:
            raise _invalid(w, f"its record names the {hop.origin['kind']} bundle {hop.origin['bundle_id']} "
                              f"({hop.origin['digest'][:16]}...), but it follows the {origin['kind']} bundle "
                              f"{origin['bundle_id']} ({origin['digest'][:16]}...)")
        if hop.zone["zone_id"] != relay.zone_id or hop.zone["key_id"] != key_id("ed25519", raw.signature.public_key):
            raise _invalid(w, f"it names zone {hop.zone['name']!r} and key {hop.zone['key_id']}, but zone "
                              f"{relay.name!r} countersigned it")
        expected = first if i == 0 else hops[i - 1].to["zone_id"]
        if expected is not None and hop.zone["zone_id"] != expected:
            raise _invalid(w, f"zone {relay.name!r} relayed a bundle that was not addressed to it (the chain is "
                              "broken)")
        if hop.zone["zone_id"] in seen | {source_zone_id} or hop.to["zone_id"] in (hop.zone["zone_id"], source_zone_id):
            raise _invalid(w, "the chain goes through a zone twice, or through the source")
        seen.add(hop.zone["zone_id"])
        if times is not None:
            _check_time(hop, hops[i - 1].relayed if i else None, times, relay.name, w)
        if manifest is not None:
            _check_sealed(hop, manifest, w)
    return hops


def _check_time(hop: Hop, previous: int | None, times: tuple[EpochSeconds, EpochSeconds], relay: str,
                where: str) -> None:
    """Step 8's time rule (spec/relay.md §4, decision 956): the hop's ``relayed`` (Unix seconds,
    stamped by zone ``relay``'s clock) is no more than :data:`CLOCK_SKEW` after ``now``, and no
    more than that before the origin's ``created`` (``times``) or the ``previous`` hop's
    ``relayed``: a zone cannot relay a bundle before it exists, before the zone before it relayed
    it, or in the future. ``VerificationError`` ``invalid_relay`` naming the field."""
    created, now = times
    said = f"its record says `relayed: {hop.relayed}` ({utc_text(hop.relayed)})"
    if hop.relayed > now + CLOCK_SKEW:
        problem = f"later than this zone's clock ({utc_text(now)}) by more than {CLOCK_SKEW} seconds"
    elif hop.relayed < created - CLOCK_SKEW:
        problem = f"before the origin bundle was created ({utc_text(created)}), by more than {CLOCK_SKEW} seconds"
    elif previous is not None and hop.relayed < previous - CLOCK_SKEW:
        problem = f"before the hop before it was relayed ({utc_text(previous)}), by more than {CLOCK_SKEW} seconds"
    else:
        return
    raise VerificationError(f"{where}: {said}, {problem}: no zone relays a bundle before it exists, before the zone "
                            "before it relayed it, or in the future. Zone "
                            f"{relay!r} countersigned that time: check its clock (and this zone's), then ask it to "
                            "relay the bundle again; refusing the relayed bundle", code="invalid_relay",
                            details={"hop": hop.hop + 1, "field": "relayed", "relayed": hop.relayed})


def _ordinal(n: int) -> str:
    """``1`` -> ``first``, ``2`` -> ``second``, ... (``33rd`` past the words)."""
    words = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth")
    if n <= len(words):
        return words[n - 1]
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


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
    (``relaying``: the refusal then says that only the zone a bundle is addressed to can relay it).
    ``VerificationError`` ``wrong_destination``."""
    to, last = path.last.to, path.last.zone["name"]
    if to["zone_id"] != zone_id:
        own = manifest.kind == "release" and is_self_project(str(manifest.project.get("slug", "")))
        there = (f"carry it to zone {to['name']!r}, which relays it on or installs it with bundlekit self-update "
                 "(import refuses bundlekit's own release)" if own  # newuser36 finding 7
                 else f"carry it to zone {to['name']!r} and import it there")
        taken = "installs it with bundlekit self-update" if own else "imports it"
        todo = (f"only the zone a bundle is addressed to can relay it on (its secrets are sealed to that zone's key, "
                f"and each hop starts where the one before ended). Carry it to zone {to['name']!r}, which relays it "
                f"on or {taken}" if relaying else there)
        raise VerificationError(f"{where}: relayed by zone {last!r} to zone {to['name']!r} ({to['zone_id']}), this "
                                f"is zone {zone_name!r} ({zone_id}); {todo}", code="wrong_destination")
    if manifest.kind == "release" and to["key_id"] != sealing_key_id:
        raise VerificationError(f"{where}: relayed with its secrets sealed to key {to['key_id']}, this zone's sealing "
                                f"key is {sealing_key_id}: zone {last!r} relayed it for another card of this zone. "
                                f"Give zone {last!r} this zone's current card (`bundlekit identity -o CARD{home_flag()}`; "
                                f"in {last}, `bundlekit trust add CARD`) and ask it to relay the bundle again",
                                code="wrong_destination")
    if manifest.kind == "receipt" and not relaying and manifest.destination.zone_id != zone_id:
        raise VerificationError(f"{where}: a receipt for zone {manifest.destination.name!r}, relayed here; only "
                                "that zone imports it: relay it on to that zone (`bundlekit relay BUNDLE --to "
                                f"{shell_word(manifest.destination.name)} -o OUT{home_flag()}`)", code="wrong_destination")


def check_path(source: TrustedSource, path: RelayPath | None, manifest: Manifest, names: dict[str, str],
               where: str, *, zone_name: str = "this zone") -> None:
    """Step 10 (spec/relay.md §6): a release of a source whose policy names relays (``via``, zone
    ids in order) came through each of them, in that order. ``names``: zone id -> name, and
    ``zone_name`` (the verifying zone's), for the message.

    ``TrustError`` ``relay_required``, naming what is wrong (relays skipped, or the order) and the
    way forward that works: a bundle is relayed only by the zone it is addressed to, so the
    verifying zone, to which this one is addressed, cannot send it back along the path; only a new
    export from the source to the first required relay, relayed on by each in turn, can take it."""
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
    policy = source.policy
    # A relay no longer trusted is named by the name it had, and said to be gone (decision 944).
    had = [names.get(z, policy.relay_name(i)) for i, z in enumerate(via)]
    shown = [had[i] if z in names else f"{had[i]} (zone id {z}, no longer trusted here)" for i, z in enumerate(via)]
    gone = [i for i, z in enumerate(via) if z not in names]
    came = (" -> ".join([source.name, *(names.get(z, z) for z in hops), zone_name]) if hops
            else f"directly from {source.name}")
    if gone:
        wanted = " -> ".join(shown)
        other = [f" (the zone now named {names[h]} it came through is another zone, zone id {h})" for h in hops
                 if h in names and h not in via and any(names[h].casefold() == had[i].casefold() for i in gone)]
        advice = (f"a relay the rule requires is no longer trusted, so no release of {source.name!r} is accepted "
                  f"whichever way it comes. Change the rule (`bundlekit trust set {shell_word(source.name)} --via ZONE{home_flag()}`, or "
                  f"`--no-via`), or trust {' and '.join(had[i] for i in gone)} again with its own card")
        raise TrustError(f"{where}: this zone accepts releases of zone {source.name!r} only when relayed through "
                         f"{wanted}; this one came {came}{''.join(dict.fromkeys(other))}. Nothing was imported: {advice}",
                         code="relay_required",
                         details={"via": had, "via_untrusted": [via[i] for i in gone],
                                  "came_through": [names.get(z, z) for z in hops]})
    relays = had
    wanted = " -> ".join(relays)
    missing = [had[i] for i, z in enumerate(via) if z not in hops]
    if not hops:
        problem = f"it skipped {_and(relays)}"
    elif missing:
        problem = f"it did not go through {_and(missing)}"
    else:
        problem = f"{_and(relays)} relayed it, but not in the order required"
    steps = export_steps(source.name, manifest.project["slug"], relays, zone_name, full=bool(manifest.packages))
    raise TrustError(f"{where}: this zone accepts releases of zone {source.name!r} only when relayed through "
                     f"{wanted}{', in that order' if len(relays) > 1 else ''}; this one came {came}: {problem}. Nothing was changed. A bundle is "
                     f"relayed only by the zone it is addressed to, here {zone_name} itself, so this one cannot be sent "
                     f"back onto that path: ask zone {source.name} for a new export along it "
                     f"({'; then '.join(steps)}), or change "
                     f"this zone's policy with `bundlekit trust set {shell_word(source.name)} --via ZONE{home_flag()}` (`--no-via` to drop it)",
                     code="relay_required",
                     details={"via": relays, "came_through": [names.get(z, z) for z in hops],
                              "missing": missing})


def export_steps(source: str, slug: str, relays: Sequence[str], zone_name: str, *, full: bool) -> list[str]:
    """The commands, zone by zone, that bring zone ``zone_name`` a new bundle of project ``slug``
    from zone ``source`` along ``relays`` (the names of its rule's relays, in order; empty: sent
    directly): the source's export (to the first relay, or to ``zone_name``; ``--full`` when
    ``full``) and each relay's ``bundlekit relay``. Each step reads ``in zone NAME, `COMMAND```."""
    first = relays[0] if relays else zone_name
    steps = [f"in zone {source}, `{export_command(slug, shell_word(first), full=full)}`"]
    for i, relay in enumerate(relays):
        steps.append(f"in {relay}, `bundlekit relay BUNDLE --to {shell_word(relays[i + 1] if i + 1 < len(relays) else zone_name)} -o OUT`")
    return steps


def addressed_elsewhere(source: TrustedSource, manifest: Manifest, names: dict[str, str], zone_name: str) -> str:
    """What to do with ``manifest``'s release, addressed to another zone than this one (zone
    ``zone_name``; ``names``: zone id -> name of the trusted zones), in words after "; ": a relay
    this zone's rule for ``source`` names relays it on, bundlekit's own release is installed with
    ``self-update`` (``import`` refuses it, decision 972), any other release is imported there
    (newuser36 finding 7)."""
    dest, slug = manifest.destination, str(manifest.project.get("slug", ""))
    own = manifest.kind == "release" and is_self_project(slug)
    take = f"`bundlekit self-update OUT{home_flag()}`" if own else f"`bundlekit import OUT{home_flag()}`"
    relays = [names.get(z, source.policy.relay_name(i)) for i, z in enumerate(source.policy.via)]
    if manifest.kind == "release" and dest.zone_id in source.policy.via:
        first = source.policy.via.index(dest.zone_id)
        steps = [f"in {relays[i]}, `bundlekit relay BUNDLE --to "
                 f"{shell_word(relays[i + 1] if i + 1 < len(relays) else zone_name)} -o OUT`"
                 for i in range(first, len(relays))]
        return (f"zone {dest.name!r} is a relay this zone's rule for zone {source.name!r} names: carry it there and "
                f"relay it on ({'; then '.join(steps)}), then here {take}")
    if not own:
        return f"carry it to zone {dest.name!r} and import it there"
    steps = export_steps(source.name, slug, relays, zone_name, full=bool(relays))
    return (f"it is bundlekit's own release: zone {dest.name!r} installs it with bundlekit self-update "
            f"(import refuses it). For this zone: {'; then '.join(steps)}; then here {take}")


def _either(space: str) -> str:
    """``Payments or Default``; ``Default`` alone for ``Default``."""
    return space if space.casefold() == DEFAULT_SPACE.casefold() else f"{space} or {DEFAULT_SPACE}"


def _and(items: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"
