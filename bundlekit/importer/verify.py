"""Verify a bundle against this zone: the first phase of every import, and `bundlekit verify`.

Order matters (spec §6.2, the numbered verification procedure): lengths, then every signature
over the exact stored bytes, then the trusted source, and only then is the manifest parsed;
then kind, source, destination, bundle id, expiry, threshold and every blob (size and both
hashes) in one bounded streaming pass. Nothing here writes anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable, Mapping

from bundlekit.core.clock import CLOCK_SKEW, EpochSeconds, when_text
from bundlekit.core.progress import begin
from bundlekit.core.hints import here_flags, home_flag
from bundlekit.errors import TrustError, VerificationError
from bundlekit.format.audit import check_carried
from bundlekit.format.blobcheck import stream_blob
from bundlekit.format.bundleid import check_bundle_id
from bundlekit.format.container import BundleFile, check_blob_layout
from bundlekit.format.crypto import key_id
from bundlekit.format.keyfile import RotationStatement
from bundlekit.format.manifest import Manifest, parse_manifest
from bundlekit.format.relay import parse_hop, split_hops
from bundlekit.importer.contents import bundle_environments, check_contents
from bundlekit.trust.policy import TrustedSource, check_threshold, package_owners, select_source, verify_records
from bundlekit.trust.relay import RelayPath, addressed_elsewhere, check_path, check_relay, check_relay_destination
from bundlekit.zone import packages, truststore
from bundlekit.importer.rebuild import check_bases, check_shared, rebuild_all
from bundlekit.zone.home import Zone
from bundlekit.zone.owned_keys import signing_publics

__all__ = ["VerifiedBundle", "Verifier", "verifier_for", "verify_bundle", "check_bundle", "read_unverified",
           "AuthenticBundle", "authenticate", "authenticate_origin", "usable_packages", "RelayPath"]

#: How far in the future a bundle's creation time may lie (clock skew between zones).
MAX_CLOCK_SKEW = CLOCK_SKEW


@dataclass(frozen=True, slots=True)
class VerifiedBundle:
    path: Path
    digest: str
    manifest: Manifest
    source: TrustedSource
    signer_key_ids: tuple[str, ...]
    approvals: int
    #: Set by :func:`verify_bundle` (``importer/contents.py``): the rotation statements, checked,
    #: and each sensitive variable's clear value by its index in ``manifest.variables``.
    rotations: tuple[RotationStatement, ...] = ()
    opened: Mapping[int, str] = field(default_factory=dict, repr=False)
    #: The relays that carried it, for a relayed bundle (spec/relay.md); None for any other.
    relay: RelayPath | None = None


def read_unverified(path: Path) -> tuple[BundleFile, Manifest]:
    """For `inspect`: the manifest without any trust decision (the caller must say so)."""
    bundle = BundleFile(path)
    try:
        return bundle, parse_manifest(bundle.manifest_bytes, f"{path}: manifest")
    except BaseException:
        bundle.close()
        raise


@dataclass(frozen=True, slots=True)
class Verifier:
    """What a verifier knows: its own identity, whom it trusts, which keys are revoked, and now."""

    zone_id: str
    zone_name: str
    sealing_key_id: str
    sources: tuple[TrustedSource, ...]
    revoked: frozenset[str]
    now: EpochSeconds
    #: The verifier's own signing public keys, past and present: only to say so when it is given
    #: a bundle it signed itself (no zone trusts its own card, so such a bundle is ``untrusted``).
    own_keys: frozenset[bytes] = frozenset()
    #: The space an import works in (None: no import), for the command a refusal suggests.
    space: str | None = None


def verifier_for(zone: Zone, now: EpochSeconds) -> Verifier:
    return Verifier(zone.zone_id, zone.name, zone.sealing_key_id, tuple(truststore.sources(zone)),
                    truststore.revoked_key_ids(zone), now, signing_publics(zone.home, zone.db, zone.zone_id))


def verify_bundle(zone: Zone, path: Path, *, now: EpochSeconds, check_blobs: bool = True,
                  progress: Callable[[int], None] | None = None,
                  sink_for: Callable[[str], Callable[[bytes], object] | None] | None = None,
                  rebuild: bool = True, relaying: bool = False, space: str | None = None) -> VerifiedBundle:
    """Verify a bundle file for ``zone``; raise on the first refusal.

    After spec §6.2 (:func:`check_bundle`) come the checks of ``importer/contents.py``: trust
    policy, rotation statements, identities, every sealed value opened. ``bundlekit verify``,
    ``import --dry-run`` and ``import`` all verify here, so they refuse a bundle alike
    (decision 600); the result carries what those checks parsed and opened.

    With ``check_blobs`` and ``rebuild``, every delta package (format 1.2) the zone does not
    hold yet is also rebuilt from its base, without writing anything, and must hash to its
    signed SHA-256 (``delta_base_missing``, ``rebuilt_package_mismatch``); a delta whose base
    its source may not use is refused (``package_not_shared``), and one whose bytes the zone
    holds from another source only is rebuilt all the same (decision 290). An import passes
    ``rebuild=False`` and rebuilds into staging itself. With ``rebuild`` (``bundlekit verify``), a
    release that lists by reference a package its source may not use is refused
    (``package_not_shared``) as its import would refuse it (decision 290), and so is one that lists by
    reference a package the zone holds with another size (``package_size_mismatch``); an import
    checks both itself, after its sequence and trust policy. ``relaying``: see :func:`check_bundle`.
    ``space``: the space an import works in, named in the commands its refusals suggest.
    """
    verifier = replace(verifier_for(zone, now), space=space)
    verified = check_bundle(verifier, path, check_blobs=check_blobs, progress=progress, sink_for=sink_for,
                            relaying=relaying)
    found = check_contents(verified.manifest, verified.source, zone.sealing_key(), str(path), verified.relay,
                           relaying=relaying)
    verified = replace(verified, rotations=found.rotations, opened=found.opened)
    if rebuild and verified.manifest.kind == "release":
        usable = usable_packages(zone, verified.source, verifier.sources)
        check_shared(verified.manifest, str(path), usable)
        # Sizes of held packages listed by reference, as an import compares them, also when the
        # bundle has no delta to rebuild (spec §5.1, ``package_size_mismatch``).
        check_bases(verified.manifest, zone.store, str(path), usable)
        if check_blobs:
            rebuild_all(path, verified.digest, verified.manifest, zone.store, None, usable=usable)
    elif check_blobs and rebuild:
        rebuild_all(path, verified.digest, verified.manifest, zone.store, None,
                    usable=usable_packages(zone, verified.source, verifier.sources))
    return verified


def usable_packages(zone: Zone, source: TrustedSource, sources: Iterable[TrustedSource]) -> frozenset[str]:
    """The SHA-256 of the packages a release from ``source`` may use by hash: those it, or one of
    the trusted ``sources`` sharing its packages with it, delivered to ``zone`` (decision 290)."""
    return packages.delivered_by(zone.db, package_owners(source.zone_id, sources))


def check_bundle(v: Verifier, path: Path, *, check_blobs: bool = True,
                 progress: Callable[[int], None] | None = None,
                 sink_for: Callable[[str], Callable[[bytes], object] | None] | None = None,
                 addressed_here: bool = True, relaying: bool = False) -> VerifiedBundle:
    """The verification itself, independent of any zone home (test vectors use it directly).

    ``sink_for(digest)`` may receive each blob's decompressed bytes; the caller must not use
    them unless this returns. ``addressed_here=False`` verifies a bundle addressed to another
    zone as a third party (a receipt offered as lifecycle evidence): every check but the
    destination's, which names the other zone. ``relaying``: this zone verifies the bundle to
    relay it on (spec/relay.md §7): a receipt need not be addressed to it, only its last relay hop.
    A relayed bundle (spec/relay.md §4) is verified with its hops: every relay trusted, and for a
    release trusted in its source's space with a policy admitting it (``untrusted_relay``), every
    countersignature (``invalid_signature``), the chain (``invalid_relay``) and the path its
    source's policy demands (``relay_required``).
    """
    where = str(path)
    now = v.now
    with BundleFile(path) as bundle:
        manifest, source, signed_by, relay = _authentic(v, bundle, where, addressed_here, relaying)
        check_bundle_id(manifest, bundle.header.minor, f"{where}: manifest")
        signer_ids = tuple(key_id("ed25519", k) for k in signed_by)
        revoked = v.revoked
        if now >= manifest.expires:
            raise VerificationError(f"{where}: expired at {when_text(manifest.expires, now)}; ask the source zone "
                                    "for a fresh export", code="expired")
        if manifest.created > now + MAX_CLOCK_SKEW:
            raise VerificationError(f"{where}: created in the future ({when_text(manifest.created, now)}); check the "
                                    "clocks of both zones", code="not_yet_valid")
        try:
            approvals = check_threshold(signed_by, source, revoked, where)
        except TrustError as err:
            if relay is None:
                raise
            raise TrustError(f"{err.message} on the origin bundle, before it is relayed (a relayed bundle cannot be "
                             "signed: its countersignatures cover the origin as it was); then relay the signed bundle "
                             "again", code="threshold_not_met", details=err.details) from None
        if manifest.kind == "receipt":  # the audit entries a receipt carries are the source's own (decision 591)
            keys = {key_id("ed25519", k): k for k in (*source.zone_keys, *signed_by)}
            for i, entry in enumerate(manifest.receipts):
                check_carried(entry.get("audit", ()), source.zone_id, keys, f"{where}: receipts[{i}]")
        check_blob_layout(list(manifest.blobs), bundle.header.blobs_length, bundle.limits, where)
        if check_blobs:
            # A delta's data blob is not a package: it is read again when the package is rebuilt.
            # A blob is named by its digest alone, so one blob may serve both roles (decision 300):
            # the bytes of an included package are kept even when a delta also takes them as data.
            data = {p.delta.data for p in manifest.packages if p.delta is not None}
            data -= {p.sha256 for p in manifest.packages if p.included}
            names = {p.sha256: f"{p.id} {p.version}" for p in manifest.packages}
            names.update({p.delta.data: f"{p.id} {p.version} (delta)" for p in manifest.packages
                          if p.delta is not None and p.delta.data})
            for i, blob in enumerate(manifest.blobs):
                sink = sink_for(blob.digest) if sink_for and blob.digest not in data else None
                begin(progress, names.get(blob.digest, f"{manifest.kind} data {i + 1}"), blob.size)
                stream_blob(bundle, blob, sink, where=f"{where}: blobs[{i}]", progress=progress)
        return VerifiedBundle(path, bundle.digest, manifest, source, signer_ids, approvals, relay=relay)


@dataclass(frozen=True, slots=True)
class AuthenticBundle:
    """A bundle whose signatures verify, whose source is trusted and that is addressed here
    (steps 1-17 of spec §6.2): who made it and what it says, whatever else is wrong with it."""

    digest: str
    manifest: Manifest
    source: TrustedSource
    relay: RelayPath | None = None


def authenticate(v: Verifier, path: Path) -> AuthenticBundle:
    """Steps 1-4 of the verification only (no expiry, threshold or blob checks): enough to know
    that a refused bundle really came from its source, so the refusal can be reported back. A
    relayed bundle's hops are checked too (spec/relay.md §4 steps 4-10)."""
    where = str(path)
    with BundleFile(path) as bundle:
        manifest, source, _, relay = _authentic(v, bundle, where, True, False)
        return AuthenticBundle(bundle.digest, manifest, source, relay)


def authenticate_origin(v: Verifier, path: Path) -> tuple[AuthenticBundle, bytes | None]:
    """Steps 1-17 of the verification on the origin bundle only, whatever its relays: enough to
    know that its source signed it, so that a refusal of the way it came (``relay_required``,
    ``untrusted_relay``) can be reported back (decision 968). Step 17 (addressed here) only when it
    is not relayed; for a relayed one, its last hop, read unverified, must name this zone as the next
    (``wrong_destination``: a bundle carried to the wrong zone is not reported). Returns it
    (``relay`` None) and its hops section as stored (None when it is not relayed); raises what
    those steps raise."""
    where = str(path)
    with BundleFile(path) as bundle:
        manifest, source, _ = _origin(v, bundle, where, bundle.hops_raw is None)
        if bundle.hops_raw is not None:
            last = parse_hop(split_hops(bundle.hops_raw, where)[-1].record, where)
            if last.to["zone_id"] != v.zone_id:
                raise VerificationError(f"{where}: its last relay hop names zone {last.to['name']!r}, not this zone",
                                        code="wrong_destination")
        return AuthenticBundle(bundle.digest, manifest, source), bundle.hops_raw


def _authentic(v: Verifier, bundle: BundleFile, where: str, addressed_here: bool,
               relaying: bool) -> tuple[Manifest, TrustedSource, list[bytes], RelayPath | None]:
    manifest, source, signed_by = _origin(v, bundle, where, addressed_here and bundle.hops_raw is None
                                          and not (relaying and bundle.header.kind == "receipt"), relaying)
    relay = None
    if bundle.hops_raw is not None:
        relay = check_relay(bundle.hops_raw, bundle.digest, manifest, v.sources, v.revoked, where, now=v.now,
                            source=source,
                            environments=bundle_environments(manifest) if manifest.kind == "release" else (),
                            here=v.zone_id)
        if addressed_here:
            check_relay_destination(relay, manifest, v.zone_id, v.zone_name, v.sealing_key_id, where,
                                    relaying=relaying)
    if addressed_here:
        check_path(source, relay, manifest, {s.zone_id: s.name for s in v.sources}, where, zone_name=v.zone_name)
    return manifest, source, signed_by, relay


def _origin(v: Verifier, bundle: BundleFile, where: str, addressed_here: bool,
            relaying: bool = False) -> tuple[Manifest, TrustedSource, list[bytes]]:
    """Steps 1-17 of spec §6.2 on the (origin) bundle; step 17 only when ``addressed_here``
    (``relaying``: this zone means to relay it, which only the zone it is addressed to may do)."""
    kind = bundle.header.kind
    signed_by = verify_records(bundle.signed_message, bundle.signatures, kind, where)
    try:
        source = select_source(signed_by, v.sources, v.revoked, where,
                               trust_command=f"bundlekit trust add CARD{here_flags(v.space)}")
    except TrustError as err:
        if err.code == "untrusted":
            _refuse_own(v, bundle, signed_by, where)
        raise
    manifest = parse_manifest(bundle.manifest_bytes, f"{where}: manifest")
    if manifest.kind != kind:
        raise VerificationError(f"{where}: header says {kind!r}, manifest says {manifest.kind!r}",
                                code="kind_mismatch")
    if manifest.source.zone_id != source.zone_id:
        raise TrustError(f"{where}: signed by zone {source.name!r} but claims to come from zone "
                         f"{manifest.source.name!r} ({manifest.source.zone_id})", code="source_mismatch")
    if manifest.source.key_id not in {key_id("ed25519", k) for k in signed_by}:
        raise TrustError(f"{where}: the manifest names signing key {manifest.source.key_id}, which did not sign "
                         "it", code="source_mismatch")
    dest = manifest.destination.name
    if addressed_here and manifest.destination.zone_id != v.zone_id:
        todo = (f"only the zone a bundle is addressed to can relay it (its secrets are sealed to that zone's key). "
                f"Carry it to zone {dest!r}; for a release that should go through {v.zone_name}, ask zone "
                f"{source.name!r} to export it again `--to {v.zone_name}`" if relaying else
                addressed_elsewhere(source, manifest, {s.zone_id: s.name for s in v.sources}, v.zone_name))
        raise VerificationError(
            f"{where}: addressed to zone {dest!r} ({manifest.destination.zone_id}), "
            f"this is zone {v.zone_name!r} ({v.zone_id}); {todo}", code="wrong_destination")
    if addressed_here and manifest.destination.key_id != v.sealing_key_id:
        raise VerificationError(f"{where}: sealed to key {manifest.destination.key_id}, this zone's sealing key "
                                f"is {v.sealing_key_id}: zone {source.name!r} exported it for another card of this "
                                f"zone. Give zone {source.name!r} this zone's current card (`bundlekit identity -o CARD{home_flag()}`; "
                                f"in {source.name}, `bundlekit trust add CARD`) and ask it to export again",
                                code="wrong_destination")
    return manifest, source, signed_by


def _refuse_own(v: Verifier, bundle: BundleFile, signed_by: list[bytes], where: str) -> None:
    """``TrustError`` ``untrusted`` saying so when a key that signed the (origin) bundle is this
    zone's own (review relayatk F3): a zone never verifies, imports or relays a bundle it wrote
    itself, and trusting its own card is refused (``self_trust``), so the usual advice to trust
    the source's card cannot work. Its own signature verified, so its manifest names where the
    bundle goes. Returns when no key is this zone's."""
    own = [k for k in signed_by if k in v.own_keys]
    if not own:
        return
    manifest = parse_manifest(bundle.manifest_bytes, f"{where}: manifest")
    dest = manifest.destination.name
    if bundle.hops_raw is not None:  # its hops are not checked yet: no name of theirs is quoted
        what, going = ("a relayed copy of a bundle", "carry it on to the zone its last relay addressed it to "
                                                      "(`bundlekit inspect BUNDLE` names it)")
    else:
        what, going = "a bundle", f"carry it to zone {dest!r}, the zone it is addressed to, and import or relay it there"
    raise TrustError(f"{where}: {what} this zone ({v.zone_name}) wrote itself (signed with its key "
                     f"{key_id('ed25519', own[0])}); a zone never verifies, imports or relays its own bundles. "
                     f"Nothing was changed: {going}", code="untrusted",
                     details={"own_bundle": True, "destination": dest})
