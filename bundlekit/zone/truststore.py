"""The trust store in the zone's state: trusted zones, their keys, approvers and revocations.

Functions taking a :class:`Zone` are whole operations (they check, then write in their own
transaction); :func:`entry_for_id` and :func:`zone_names` read through any ``Reader``.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, Iterable

from bundlekit.core.clock import EpochSeconds
from bundlekit.core.text import closest, shell_word
from bundlekit.core.hints import cut, shown, home_flag
from bundlekit.errors import InputError, StateError, UsageError
from bundlekit.format.card import IdentityCard
from bundlekit.format.container import Limits
from bundlekit.format.crypto import key_id
from bundlekit.format.keyfile import ApproverKey
from bundlekit.trust.policy import SourcePolicy, TrustedSource, relay_spaces, relays_for
from bundlekit.zone.db import Reader, Row
from bundlekit.zone.home import Zone
from bundlekit.zone.spaces import DEFAULT, move_trust

MAX_SIGNATURES = Limits().max_signatures  # a threshold above this can never be met

__all__ = ["TrustEntry", "add_zone", "list_zones", "remove_zone", "get_zone", "entry_for_id", "zone_names", "sources",
           "revoked_key_ids", "add_signer", "revoke", "zone_ids", "share_packages", "zone_key_ids", "set_evidence_for",
           "via_ids", "set_via", "space_of", "stranded_rules", "stranded_refusal"]


@dataclass(frozen=True, slots=True)
class TrustEntry:
    name: str
    zone_id: str
    signing_key_id: str
    sealing_key_id: str
    sealing_key: bytes
    policy: SourcePolicy
    signers: tuple[tuple[str, str], ...]  # (key id, label)
    added: int
    #: Names of the trusted zones this zone shares its packages with (``policy.share_packages_with``).
    shares_packages_with: tuple[str, ...] = ()
    #: Names of the relays its releases must come through, in order (``policy.via``, spec/relay.md §6);
    #: a relay no longer trusted by the name it had when the rule named it (decision 944).
    via: tuple[str, ...] = ()
    #: The space of this zone the trust rule belongs to: the only space its releases enter (decision 660).
    space: str = "Default"
    #: Zone ids of ``policy.via`` that are no longer trusted here: no release of this source can
    #: be imported until the rule changes or they are trusted again (decision 944).
    via_untrusted: tuple[str, ...] = ()

    def relays(self) -> str:
        """The relays of the rule for people, in order: ``staging -> dmz``, a relay no longer trusted
        as ``staging (no longer trusted here; zone id ...)``."""
        return " -> ".join(f"{name} (no longer trusted here; zone id {zid})" if zid in self.via_untrusted else name
                           for name, zid in zip(self.via, self.policy.via))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "zone_id": self.zone_id, "signing_key_id": self.signing_key_id,
                "sealing_key_id": self.sealing_key_id, "policy": self.policy.to_dict(),
                "signers": [{"key_id": k, "name": n} for k, n in self.signers], "added": self.added,
                "shares_packages_with": list(self.shares_packages_with), "via": list(self.via),
                "via_untrusted": list(self.via_untrusted), "space": self.space}


def add_zone(zone: Zone, card: IdentityCard, policy: SourcePolicy, now: EpochSeconds, *,
             space: str = "Default", instead: str | None = None) -> TrustEntry:
    """Trust ``card`` in ``space`` (a space of this zone, resolved by the caller: its releases
    enter only that space, decision 660). ``InputError`` ``self_trust``, ``UsageError``
    ``invalid_policy``, ``StateError`` ``already_trusted`` (in this or another space): for the
    zone of the card, naming ``instead``, the ``bundlekit trust set`` command that changes its
    rule as the options given say (without ``--home``: added here)."""
    if card.zone_id == zone.zone_id:
        raise InputError(f"card {card.name!r} is this zone's own identity; trust the other zone's card",
                         code="self_trust")
    if not 1 <= policy.threshold <= MAX_SIGNATURES:
        raise UsageError(f"--threshold {policy.threshold} cannot be met: a bundle counts from 1 to "
                         f"{MAX_SIGNATURES} signatures; give a threshold in that range", code="invalid_policy")
    policy = _with_relay_names(zone.db, policy)
    with zone.db.transaction() as tx:
        existing = tx.one("SELECT name, zone_id, in_space FROM trusted_zones WHERE zone_id = ? OR name = ?",
                          (card.zone_id, card.name))
        if existing is not None:
            raise _already_trusted(zone, existing, card, instead)
        holder = tx.one("SELECT z.name AS name FROM trusted_keys k JOIN trusted_zones z ON z.zone_id = k.zone_id "
                        "WHERE k.key_id = ?", (card.signing_key_id,))
        if holder is not None:  # attack review 38: one key answering for two zones makes its signer ambiguous
            raise StateError(f"card {card.name!r}: its signing key {card.signing_key_id} already counts for zone "
                             f"{holder['name']!r} here, and one key answers for one zone. Nothing was changed. Ask "
                             f"zone {card.name}'s operators for its own card (in that zone, `bundlekit identity -o "
                             "CARD`)", code="already_trusted",
                             details={"zone": holder["name"], "key_id": card.signing_key_id})
        stranded = stranded_rules(tx, card.zone_id, space)
        if stranded:
            raise stranded_refusal(f"space {space}", card.name, space, stranded,
                                   f"trust it in space {stranded[0][1]} or {DEFAULT} instead (`bundlekit trust add CARD "
                                   f"--space {shell_word(stranded[0][1])}{home_flag()}`, or without --space)")
        tx.run("INSERT INTO trusted_zones(zone_id, name, card, sealing_key, policy, added, in_space) "
               "VALUES (?,?,?,?,?,?,?)",
               (card.zone_id, card.name, card.body(), card.sealing_key, json.dumps(policy.to_dict()), now, space))
        tx.run("INSERT INTO trusted_keys(key_id, zone_id, public_key, role, label, added) VALUES (?,?,?,?,?,?)",
               (card.signing_key_id, card.zone_id, card.signing_key, "zone", card.name, now))
    return get_zone(zone, card.name)


def stranded_rules(db: Reader, relay_id: str, space: str) -> list[tuple[str, str]]:
    """``(name, space)`` of the trust rules whose ``--via`` names zone ``relay_id`` (trusted, or
    trusted no longer: decision 944) and whose releases enter a space a relay trusted in ``space``
    may not relay for (decisions 905, 945): trusting or moving that zone into ``space`` would
    leave them accepting nothing."""
    out = []
    for r in db.all("SELECT name, zone_id, policy, in_space FROM trusted_zones WHERE zone_id != ? ORDER BY name",
                    (relay_id,)):
        if relay_id in SourcePolicy.from_dict(json.loads(r["policy"])).via and not relays_for(space, r["in_space"]):
            out.append((str(r["name"]), str(r["in_space"])))
    return out


def stranded_refusal(option: str, relay: str, space: str, stranded: list[tuple[str, str]], instead: str) -> UsageError:
    """``invalid_policy`` for trusting (or moving) zone ``relay`` in ``space`` while the rules
    ``stranded`` (:func:`stranded_rules`) need it to relay into their spaces (decision 961)."""
    names = ", ".join(name for name, _ in stranded)
    return UsageError(f"{option}: zone {relay} relays the releases of zone(s) {names} (their rules' --via), which "
                      f"enter space {stranded[0][1]}; a relay must be trusted in the space the releases it relays "
                      f"enter, or in {DEFAULT} (decisions 905, 945), so in space {space} it could relay none of them. "
                      f"Nothing was changed: {instead}, or change those rules first (`bundlekit trust set "
                      f"{shell_word(stranded[0][0])} --no-via{home_flag()}`, or --via another zone)", code="invalid_policy",
                      details={"relay": relay, "space": space, "relied_on_by": [name for name, _ in stranded]})


def _already_trusted(zone: Zone, existing: Row, card: IdentityCard, instead: str | None) -> StateError:
    """``already_trusted`` for ``card``: its own zone's rule is changed in place with ``trust
    set`` (naming ``instead``, or how to find the options), which keeps what ``trust remove``
    would lose; another zone of the same name must be removed first (review newuser finding 2)."""
    name, in_space = existing["name"], existing["in_space"]
    home = f"--home {shell_word(str(zone.home))}"
    if existing["zone_id"] != card.zone_id:
        return StateError(f"another zone named {name!r} (zone id {existing['zone_id']}, in space {in_space}) is "
                          f"already trusted, and card {card.name!r} is zone {card.zone_id}: a trusted zone's name "
                          f"is unique here. `bundlekit trust remove {shell_word(name)} {home}` first to replace it",
                          code="already_trusted", details={"zone": name, "space": in_space})
    how = (f"change it in place, keeping the rest of it (relays, evidence, approvers, shared packages): `{instead} "
           f"{home}`" if instead else
           f"`bundlekit trust list {home}` shows it; change any of its settings in place with trust set "
           f"(`bundlekit trust set {shell_word(name)} --help` lists the options: those of trust add but the card)")
    return StateError(f"zone {name!r} is already trusted (in space {in_space}); a zone has one trust rule: {how}",
                      code="already_trusted", details={"zone": name, "space": in_space})


def get_zone(zone: Zone, name: str) -> TrustEntry:
    """A trusted zone by name (case-insensitive) or zone id; ``StateError`` ``unknown_zone`` if none."""
    row = zone.db.one("SELECT * FROM trusted_zones WHERE name = ? OR zone_id = ?", (name, name))
    if row is None:
        found = [z for z, n in zone_names(zone.db).items() if n.casefold() == name.casefold()]
        row = zone.db.one("SELECT * FROM trusted_zones WHERE zone_id = ?", (found[0],)) if found else None
    if row is None:
        raise unknown_zone(zone.db, name, f"no trusted zone named {shown(name)} in {zone.home}")
    return _entry(zone.db, row)


def unknown_zone(db: Reader, name: str, what: str) -> StateError:
    """The ``unknown_zone`` refusal for ``name``: ``what`` went wrong, the closest trusted zone
    names ("Did you mean"), and where to see them all (finding 10.8)."""
    similar = closest(name, zone_names(db).values())
    hint = f". Did you mean {', '.join(repr(s) for s in similar)}? See" if similar else "; see"
    return StateError(f"{what}{hint} `bundlekit trust list{home_flag()}`", code="unknown_zone",
                      details={"zone": cut(name), "suggestions": similar})


def entry_for_id(db: Reader, zone_id: str) -> TrustEntry | None:
    """The trusted zone with this zone id, or ``None`` (it was never trusted, or was removed)."""
    row = db.one("SELECT * FROM trusted_zones WHERE zone_id = ?", (zone_id,))
    return None if row is None else _entry(db, row)


def zone_names(db: Reader) -> dict[str, str]:
    """zone id -> name of every trusted zone."""
    return {r["zone_id"]: r["name"] for r in db.all("SELECT zone_id, name FROM trusted_zones")}


def _entry(db: Reader, row: Row) -> TrustEntry:
    keys = db.all("SELECT key_id, role, label FROM trusted_keys WHERE zone_id = ? ORDER BY added, key_id",
                  (row["zone_id"],))
    # The current key is the zone key no rotation retired; two keys added in the same second
    # must not be told apart by their random ids.
    retired = {r["key_id"] for r in db.all("SELECT key_id FROM revoked_keys")}
    zone_keys = [k["key_id"] for k in keys if k["role"] == "zone"]
    current = [k for k in zone_keys if k not in retired] or zone_keys
    policy = SourcePolicy.from_dict(json.loads(row["policy"]))
    names = zone_names(db) if policy.share_packages_with or policy.via else {}
    return TrustEntry(row["name"], row["zone_id"], current[-1] if current else "",
                      key_id("x25519", row["sealing_key"]), row["sealing_key"], policy,
                      tuple((k["key_id"], k["label"]) for k in keys if k["role"] == "signer"), row["added"],
                      tuple(sorted(names[z] for z in policy.share_packages_with if z in names)),
                      tuple(names.get(z, policy.relay_name(i)) for i, z in enumerate(policy.via)), row["in_space"],
                      tuple(z for z in policy.via if z not in names))


def _with_relay_names(db: Reader, policy: SourcePolicy) -> SourcePolicy:
    """``policy`` with the names its relays have now (decision 944), kept for one that is no
    longer trusted."""
    if not policy.via:
        return dataclasses.replace(policy, via_names=())
    names = zone_names(db)
    return dataclasses.replace(policy, via_names=tuple(names.get(z, policy.relay_name(i))
                                                       for i, z in enumerate(policy.via)))


def list_zones(zone: Zone, *, space: str | None = None) -> list[TrustEntry]:
    """The trusted zones by name: of one space when ``space`` is given, else all."""
    where, args = (" WHERE in_space = ?", (space,)) if space is not None else ("", ())
    return [_entry(zone.db, r) for r in zone.db.all(f"SELECT * FROM trusted_zones{where} ORDER BY name", args)]


def space_of(db: Reader, zone_id: str) -> str | None:
    """The space the trusted zone ``zone_id`` belongs to, or None when it is not trusted (decision 660)."""
    value = db.scalar("SELECT in_space FROM trusted_zones WHERE zone_id = ?", (zone_id,))
    return None if value is None else str(value)


def remove_zone(zone: Zone, name: str) -> tuple[TrustEntry, list[TrustEntry]]:
    """Stop trusting zone ``name`` (name or id; ``StateError`` ``unknown_zone``). Returns its
    entry and the trust rules whose ``--via`` names it, as they read now: their releases are
    refused (``relay_required``) until each rule changes or the zone is trusted again. Removing
    is never refused for them: it only narrows what this zone accepts, and an operator who no
    longer trusts a relay must be able to say so at once (decision 944). The rules keep the
    relay's name, so they and their refusals still name it."""
    entry = get_zone(zone, name)
    with zone.db.transaction() as tx:
        relying = [r for r in tx.all("SELECT zone_id, policy FROM trusted_zones WHERE zone_id != ?", (entry.zone_id,))
                   if entry.zone_id in SourcePolicy.from_dict(json.loads(r["policy"])).via]
        for r in relying:  # a rule from before decision 944 learns the names now, while they are known
            named = _with_relay_names(tx, SourcePolicy.from_dict(json.loads(r["policy"])))
            tx.run("UPDATE trusted_zones SET policy = ? WHERE zone_id = ?", (json.dumps(named.to_dict()), r["zone_id"]))
        tx.run("DELETE FROM trusted_zones WHERE zone_id = ?", (entry.zone_id,))
    return entry, [get_zone(zone, r["zone_id"]) for r in relying]


def revoked_key_ids(zone: Zone) -> frozenset[str]:
    return frozenset(r["key_id"] for r in zone.db.all("SELECT key_id FROM revoked_keys"))


def sources(zone: Zone) -> list[TrustedSource]:
    out = []
    for row in zone.db.all("SELECT * FROM trusted_zones ORDER BY name"):
        keys = zone.db.all("SELECT public_key, role FROM trusted_keys WHERE zone_id = ?", (row["zone_id"],))
        out.append(TrustedSource(
            row["zone_id"], row["name"],
            frozenset(bytes(k["public_key"]) for k in keys if k["role"] == "zone"),
            frozenset(bytes(k["public_key"]) for k in keys if k["role"] == "signer"),
            SourcePolicy.from_dict(json.loads(row["policy"])), row["in_space"]))
    return out


def zone_ids(zone: Zone, names: Iterable[str], *, what: str) -> tuple[str, ...]:
    """The zone ids of trusted zones given by name or id (``StateError`` ``unknown_zone``
    naming ``what``, the option they came from)."""
    known = {n.lower(): z for z, n in zone_names(zone.db).items()}
    out: list[str] = []
    for name in names:
        found = known.get(name.lower()) or (name if name in known.values() else None)
        if found is None:
            raise unknown_zone(zone.db, name, f"{what} {shown(name)}: no trusted zone has that name; nothing was changed")
        if found not in out:
            out.append(found)
    return tuple(sorted(out))


def share_packages(zone: Zone, name: str, with_zones: Iterable[str]) -> TrustEntry:
    """Let the releases of the trusted zones ``with_zones`` (names or ids; empty: none) use the
    packages zone ``name`` delivered, and their receipts list them (decision 290). Replaces
    the list. ``StateError`` ``unknown_zone``, ``UsageError`` ``invalid_policy`` (a zone
    sharing with itself)."""
    entry = get_zone(zone, name)
    ids = zone_ids(zone, with_zones, what="--share-packages-with")
    if entry.zone_id in ids:
        raise UsageError(f"--share-packages-with {entry.name}: a zone always uses its own packages; name the other "
                         "zones that may use them", code="invalid_policy")
    policy = dataclasses.replace(entry.policy, share_packages_with=ids)
    with zone.db.transaction() as tx:
        tx.run("UPDATE trusted_zones SET policy = ? WHERE zone_id = ?", (json.dumps(policy.to_dict()), entry.zone_id))
    return get_zone(zone, entry.zone_id)


def via_ids(zone: Zone, names: Iterable[str], *, source: str | None = None,
            space: str | None = None) -> tuple[str, ...]:
    """The zone ids of the relays ``names`` (trusted zones, by name or id), in the order given:
    the path a source's releases must take (spec/relay.md §6, decision 621). ``StateError``
    ``unknown_zone``; ``UsageError`` ``invalid_policy`` for a zone named twice or the source
    itself (``source``: its zone id), or one trusted neither in ``space``, the space the source's
    releases enter, nor in ``Default``: it could never relay them (decisions 905 and 945, review
    w33-11 NEW-2)."""
    known = {n.lower(): z for z, n in zone_names(zone.db).items()}
    out: list[str] = []
    for name in names:
        found = known.get(name.lower()) or (name if name in known.values() else None)
        if found is None and name.casefold() in (zone.name.casefold(), zone.zone_id.casefold()):
            raise UsageError(f"--via {shown(name)}: that is this zone's own name; a relay is another zone a release "
                             "passes through before it reaches this one, so name the zone that hands the releases on "
                             f"to this zone (`bundlekit trust list{home_flag()}` shows the trusted ones), or leave --via out to "
                             "accept them directly. Nothing was changed", code="invalid_policy",
                             details={"relay": cut(name)})
        if found is None:
            raise unknown_zone(zone.db, name, f"--via {shown(name)}: no trusted zone has that name; a relay must be a "
                                              f"trusted zone (`bundlekit trust add CARD{home_flag()}` with its card first); nothing was changed")
        if found in out or found == source:
            raise UsageError(f"--via {name}: a release passes each relay once, and never through its own source; "
                             "name each relay once, in the order the release takes", code="invalid_policy")
        relay_space = space_of(zone.db, found)
        if space is not None and relay_space is not None and not relays_for(relay_space, space):
            raise UsageError(f"--via {name}: zone {name} is trusted here in space {relay_space}, but these releases "
                             f"enter space {space}, which only a zone trusted in {relay_spaces(space)} may relay "
                             f"(decisions 905, 945: a relay trusted in {DEFAULT} relays for every space). Nothing was "
                             f"changed: {move_trust(name, DEFAULT)}, or name another relay",
                             code="invalid_policy", details={"relay": name, "relay_space": relay_space, "space": space})
        out.append(found)
    return tuple(out)


def set_via(zone: Zone, name: str, relays: Iterable[str]) -> TrustEntry:
    """Require the releases of trusted zone ``name`` to come through ``relays`` (names or ids, in
    order; empty: no requirement), replacing the list. Raises what :func:`via_ids` raises."""
    entry = get_zone(zone, name)
    policy = _with_relay_names(zone.db, dataclasses.replace(
        entry.policy, via=via_ids(zone, relays, source=entry.zone_id, space=entry.space), via_names=()))
    with zone.db.transaction() as tx:
        tx.run("UPDATE trusted_zones SET policy = ? WHERE zone_id = ?", (json.dumps(policy.to_dict()), entry.zone_id))
    return get_zone(zone, entry.zone_id)


def zone_key_ids(db: Reader, zone_id: str) -> list[str]:
    """The ids of every zone key (current and retired) this zone holds for the trusted zone ``zone_id``."""
    return [r["key_id"] for r in db.all("SELECT key_id FROM trusted_keys WHERE zone_id = ? AND role = 'zone'",
                                        (zone_id,))]


def set_evidence_for(zone: Zone, name: str, patterns: Iterable[str]) -> TrustEntry:
    """Let zone ``name``'s receipts and attestations prove deployments to the environments
    matching ``patterns`` (globs; empty: none), replacing the list (decision 412).
    ``StateError`` ``unknown_zone``."""
    entry = get_zone(zone, name)
    policy = dataclasses.replace(entry.policy, evidence_for=tuple(patterns))
    with zone.db.transaction() as tx:
        tx.run("UPDATE trusted_zones SET policy = ? WHERE zone_id = ?", (json.dumps(policy.to_dict()), entry.zone_id))
    return get_zone(zone, entry.zone_id)


def add_signer(zone: Zone, source: str, approver: ApproverKey, now: EpochSeconds) -> TrustEntry:
    entry = get_zone(zone, source)
    with zone.db.transaction() as tx:
        if tx.one("SELECT 1 AS hit FROM trusted_keys WHERE key_id = ? AND zone_id = ?",
                  (approver.key_id, entry.zone_id)):
            raise StateError(f"key {approver.key_id} already counts for zone {entry.name}", code="already_trusted")
        tx.run("INSERT INTO trusted_keys(key_id, zone_id, public_key, role, label, added) VALUES (?,?,?,?,?,?)",
               (approver.key_id, entry.zone_id, approver.public, "signer", approver.name, now))
    return get_zone(zone, source)


def revoke(zone: Zone, kid: str, reason: str, now: EpochSeconds) -> None:
    kid = kid.strip().lower()
    if len(kid) != 32 or any(c not in "0123456789abcdef" for c in kid):
        raise InputError(f"{shown(kid)} is not a key id (32 hex characters, as `bundlekit trust list{home_flag()}` shows)",
                         code="invalid_input")
    with zone.db.transaction() as tx:
        tx.run("INSERT INTO revoked_keys(key_id, revoked, reason) VALUES (?, ?, ?) ON CONFLICT(key_id) "
               "DO UPDATE SET revoked = excluded.revoked, reason = excluded.reason", (kid, now, reason))
