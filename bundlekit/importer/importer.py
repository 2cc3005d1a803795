"""Secure-zone import of a release bundle: plan (verify, decide, merge), then apply atomically.

``plan_import`` verifies everything (signatures, trust, destination, expiry, every blob, streamed into staging,
then as `bundlekit verify` does trust policy, rotation statements, identities and every sealed value opened:
``importer/contents.py``, decision 600), then decides what depends on the zone's state: anti-rollback, package
identity and ownership (a release uses by hash only packages its source delivered, decision 290), release
identity and the three-way merge. It changes no state. ``apply_import`` commits everything in one transaction,
re-checking under the write lock what another node may have changed (decision 184); the verified blobs move from
staging into the content-addressed store as that transaction's last step, so an import refused by the state
(read-only, unreachable) puts nothing in a store other nodes share. A refused import leaves the home and the store as they were (staging is removed), with one
documented exception: refusing a bundle that really came from its source queues a refusal entry for that source
(``importer/refusal.py``, decision 153), so its dashboard does not wait forever.

An import and ``bundlekit prune`` exclude each other (decision 321): the apply transaction goes ahead only while
no prune holds the zone's prune claim (it waits up to ``wait`` seconds, then is refused ``prune_in_progress``),
and checks again that the bytes of every package it did not stage itself (listed by reference, or included but
already in the store) are still in the store, so a prune between planning and applying cannot leave a release
naming a package it removed (decision 771).

Anti-rollback counts per source and project (format 1.1, decision 154): bundles of different projects never
block each other, and a bundle older than the newest imported one of its project is refused with the way forward
(re-export it; import newer bundles last). A release the zone holds unchanged, sent again (a re-export), changes
nothing of its project: there is nothing to merge (decision 396).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from bundlekit.core.clock import EpochSeconds
from bundlekit.core.selfproject import full_export, is_self_project, refuse_self_import
from bundlekit.errors import BundleError, ConflictError, TrustError, VerificationError
from bundlekit.format.keyfile import RotationStatement
from bundlekit.format.manifest import Manifest, PackageRef
from bundlekit.importer.contents import bundle_environments
from bundlekit.importer.evidence import EvidenceRow, attested, offered_evidence
from bundlekit.importer.merge import MergePlan, Snapshot, three_way_merge
from bundlekit.importer.merge_policy import MergePolicy
from bundlekit.importer.ownership import check_package_ids
from bundlekit.importer.prune_wait import await_prune, wait_for_prune
from bundlekit.importer.refusal import record_refusal
from bundlekit.importer.repair import repair_store
from bundlekit.importer.snapshot import content_digest, held_sides, incoming_snapshot
from bundlekit.importer.state_rules import check_sequence as _check_sequence
from bundlekit.importer.state_rules import check_space, package_gone
from bundlekit.importer.rebuild import check_bases, rebuild_all
from bundlekit.importer.inherited import kept_lifecycle, waivers_withdrawn
from bundlekit.importer.verify import VerifiedBundle, usable_packages, verifier_for, verify_bundle
from bundlekit.trust.policy import package_owners
from bundlekit.zone import packages, projects, secrets, sequences, truststore
from bundlekit.zone.retention import PRUNE_CLAIM, pruned_at
from bundlekit.zone.evidence import record_evidence, withdraw_version_waivers
from bundlekit.zone.db import Reader, Row, Writer
from bundlekit.zone.home import Zone
from bundlekit.zone.rotation import apply_rotations
from bundlekit.zone.spaces import DEFAULT
from bundlekit.zone.store import Staging

__all__ = ["ImportPlan", "plan_import", "apply_import", "import_bundle", "bundle_environments", "await_prune"]

#: Why importing an identical bundle again changes no state.
ALREADY = "already imported (identical bundle); nothing to do"


@dataclass
class ImportPlan:
    verified: VerifiedBundle
    noop: bool = False
    noop_reason: str = ""
    merge: MergePlan | None = None
    snapshot: Snapshot | None = None
    content_digest: str = ""
    replaces_release: bool = False
    new_packages: list[str] = field(default_factory=list)
    secret_values: dict[str, str] = field(default_factory=dict, repr=False)
    rotations: list[RotationStatement] = field(default_factory=list)
    staging: Staging | None = field(default=None, repr=False)
    release_digest: str = ""
    evidence: list[EvidenceRow] = field(default_factory=list)
    seen: str = field(default="", repr=False)
    #: The packages this bundle's source delivers (recorded as its own, decision 290).
    delivered: list[PackageRef] = field(default_factory=list)
    #: The SHA-256 of package objects an identical re-import restored in the store (decision 315).
    repaired: list[str] = field(default_factory=list)
    #: The SHA-256 of the packages the source may use by hash (its own and those shared with it).
    usable: frozenset[str] = field(default=frozenset(), repr=False)
    project_base: Snapshot | None = None  # a release held unchanged, sent again: the project keeps it (396)
    #: A release with no lifecycle, or one demanding less (decisions 681, 720): the version that had the
    #: project's last one, the lifecycle kept for this one (None: accepted), what it no longer demands.
    lifecycle_removed: str | None = None
    kept_lifecycle: dict[str, Any] | None = None
    lifecycle_weakened: list[str] = field(default_factory=list)
    #: The space of this zone the release is imported into (decision 660).
    space: str = DEFAULT
    withdrawn_waivers: list[Row] = field(default_factory=list)  # made for the content a --replace replaces

    @property
    def manifest(self) -> Manifest:
        return self.verified.manifest

    def to_dict(self) -> dict[str, Any]:
        m = self.manifest
        out: dict[str, Any] = {
            "bundle": str(self.verified.path), "digest": self.verified.digest, "source": self.verified.source.name,
            "sequence": m.sequence, "project": m.project.get("name"), "release": m.release.get("version"),
            "noop": self.noop,
            "relayed_by": list(self.verified.relay.names()) if self.verified.relay is not None else [],
        }
        if self.noop:
            out["reason"] = self.noop_reason
            out["repaired"] = self.repaired
            out["evidence"] = [e.to_dict() for e in self.evidence]
        if self.merge is not None:
            out["merge"] = self.merge.to_dict(mask=True)
            out["new_packages"] = self.new_packages
            out["replaces_release"] = self.replaces_release
            out["release_digest"] = self.release_digest
            out["evidence"] = [e.to_dict() for e in self.evidence]
            out["withdrawn_waivers"] = [{k: w[k] for k in ("phase", "reason")} for w in self.withdrawn_waivers]
            if self.lifecycle_removed is not None:
                out["lifecycle_weakened" if self.lifecycle_weakened else "lifecycle_removed"] = {
                    "last_with_lifecycle": self.lifecycle_removed, "kept": self.kept_lifecycle is not None,
                    **({"skipped": self.lifecycle_weakened} if self.lifecycle_weakened else {})}
        return out


def plan_import(zone: Zone, path: Path, *, now: EpochSeconds, strategy: str | None = None,
                policy: MergePolicy | None = None, replace: bool = False,
                progress: Callable[[int], None] | None = None, space: str = DEFAULT,
                accept_lifecycle_removal: bool = False, check_only: bool = False) -> ImportPlan:
    """Verify the bundle at ``path`` and decide what importing it into ``space`` (a space of
    this zone, in its spelling) would change; nothing is changed. Raises the refusals of the
    verification and of :func:`_decide` (``space_denied`` first, decision 660). ``check_only``
    (a dry run: the plan is never applied) checks the blobs outside a home that refuses writes."""
    Staging.sweep(zone.store)
    staging = Staging(zone.store, check_only=check_only)
    try:
        verified = verify_bundle(zone, path, now=now, progress=progress, sink_for=staging.sink_for, rebuild=False,
                                 space=space)
        plan = _decide(zone, verified, strategy=strategy, policy=policy, replace=replace, space=space)
        with zone.db.read() as db:
            if not plan.noop and plan.replaces_release:  # a waiver of the version waived other content
                plan.withdrawn_waivers = waivers_withdrawn(db, plan.manifest)
            if not plan.noop:
                plan.lifecycle_removed, plan.kept_lifecycle, plan.lifecycle_weakened = kept_lifecycle(
                    db, plan.manifest, accept_lifecycle_removal)
        if not plan.noop:
            # Rebuilt packages land in staging like verified blobs: in the store only on apply.
            rebuild_all(path, verified.digest, verified.manifest, zone.store, staging.sink_for, usable=plan.usable)
    except BaseException:
        staging.cleanup()
        raise
    plan.staging = staging
    if plan.noop:
        staging.cleanup()
    return plan


def _decide(zone: Zone, v: VerifiedBundle, *, strategy: str | None, policy: MergePolicy | None,
            replace: bool, space: str) -> ImportPlan:
    m = v.manifest
    where = str(v.path)
    db = zone.db
    if m.kind != "release":
        raise VerificationError(f"{where}: a {m.kind} bundle; release import expects a release", code="wrong_kind")
    check_space(db, v, space, where)  # before anything else: another space's bundle is not even a no-op here
    if sequences.already_imported(db, v.digest):
        return ImportPlan(v, noop=True, noop_reason=ALREADY, space=space)
    _check_sequence(db, v, where)
    # Trust policy, rotation statements, identities and sealed values were checked by the
    # verification (``importer/contents.py``), as `bundlekit verify` checks them (decision 600).
    store = zone.store
    sources = truststore.sources(zone)
    usable = usable_packages(zone, v.source, sources)
    check_package_ids(db, m.packages, where, v.source.name, package_owners(v.source.zone_id, sources), usable,
                      full_export(m.project["slug"], m.destination.name))
    own = packages.delivered_by(db, (v.source.zone_id,))
    new_packages = []
    for p in m.packages:
        known = _check_package(db, p, where, usable)
        if not p.included and p.delta is None and not store.has(p.sha256):  # a delta: check_bases, below
            raise VerificationError(f"{where}: package {p.id} {p.version} is listed by reference but this zone "
                                    "no longer holds it (pruned, or the store lost it); export it with its file "
                                    f"(`{full_export(m.project['slug'], m.destination.name)}`)", code="package_missing")
        if known is None:
            new_packages.append(f"{p.id} {p.version}")
    project = projects.project_for_import(db, m.project["slug"])
    if project is not None and project.source_zone_id != v.source.zone_id:
        raise TrustError(f"{where}: project {m.project['slug']!r} in this zone comes from another source zone; "
                         "refusing to let a second source change it", code="policy_denied")
    check_bases(m, store, where, usable)
    secret_values, refs = _fingerprints(zone, v)
    snap = incoming_snapshot(m, lambda i: refs[i])
    digest = content_digest(m, snap)
    existing = projects.release_content_digest(db, m.project["slug"], m.release["version"])
    replaces = existing is not None and existing != digest
    if replaces and not replace:
        raise ConflictError(f"{where}: release {m.release['version']} of {m.project['name']} is already imported with "
                            "different content; pass --replace to overwrite it", code="release_exists")
    base, local, held, values = held_sides(zone, project, snap)
    secret_values.update(values)
    same = existing is not None and not replaces  # a re-export of a release held unchanged: nothing to merge
    merge = three_way_merge(base, local, base if same else held, strategy=strategy, policy=policy)
    return ImportPlan(v, merge=merge, snapshot=held, project_base=base if same else None,
                      content_digest=digest, replaces_release=replaces,
                      new_packages=new_packages, secret_values=secret_values, rotations=list(v.rotations),
                      release_digest=m.release_digest(), evidence=attested(v), seen=_seen(project, existing),
                      delivered=[p for p in m.packages if p.included or p.delta is not None or p.sha256 in own],
                      usable=usable, space=space)


def _seen(project: projects.ProjectRecord | None, release_digest: str | None) -> str:
    """What a plan was computed from: the project's two snapshots and the release it replaces."""
    data = None if project is None else [project.local, project.base]
    return json.dumps([data, release_digest], sort_keys=True)


def _check_package(db: Reader, p: PackageRef, where: str, usable: frozenset[str] | None) -> str | None:
    """The digest recorded for the package, after refusing one recorded with other bytes. The
    recorded digest is named only when the source may use that package (``usable``; None: it
    may): the refusal travels back to the source, which must not learn another source's bytes."""
    known = packages.recorded_digest(db, p.id, p.version)
    if known is not None and known != p.sha256:
        held = f" with {known[:16]}..." if usable is None or known in usable else " with other bytes"
        raise VerificationError(f"{where}: package {p.id} {p.version} has SHA-256 {p.sha256[:16]}..., but this "
                                f"zone already holds {p.id} {p.version}{held}; a package "
                                "version is immutable: publish a new version", code="package_mismatch")
    return known


class _StalePlan(Exception):
    """The project changed between planning and applying (another node imported or edited it)."""


def _still_valid(zone: Zone, tx: Reader, plan: ImportPlan) -> bool:
    """Re-check, under the write lock, what the plan decided from; False if another process
    imported this very bundle meanwhile. Raises the plan's own refusals when they now apply
    (a newer bundle of the project arrived first; a package listed by reference that a prune
    removed since the plan, ``package_missing``) and ``_StalePlan`` when the merge's inputs
    changed."""
    v, m = plan.verified, plan.manifest
    if sequences.already_imported(tx, v.digest):
        return False
    check_space(tx, v, plan.space, str(v.path))  # the trust rule or the project may have moved meanwhile
    _check_sequence(tx, v, str(v.path))
    check_package_ids(tx, m.packages, str(v.path), v.source.name,
                      package_owners(v.source.zone_id, truststore.sources(zone)), plan.usable,
                      full_export(m.project["slug"], m.destination.name))
    for p in m.packages:
        _check_package(tx, p, str(v.path), plan.usable)
        # every package's bytes: staged by this import, or in the store now (decision 771)
        if not plan.staging.holds(p.sha256) and not zone.store.has(p.sha256):
            raise package_gone(v, p)
    slug = m.project["slug"]
    now_seen = _seen(projects.project_for_import(tx, slug),
                     projects.release_content_digest(tx, slug, m.release["version"]))
    if now_seen != plan.seen:
        raise _StalePlan(slug)
    return True



def _fingerprints(zone: Zone, v: VerifiedBundle) -> tuple[dict[str, str], dict[int, str]]:
    """The verification's opened sensitive values (``importer/contents.py``) by fingerprint, and
    each sensitive variable's fingerprint by its index (what the merge snapshot holds)."""
    values: dict[str, str] = {}
    refs: dict[int, str] = {}
    for i, plain in v.opened.items():
        ref = secrets.fingerprint(zone, plain)
        values[ref] = plain
        refs[i] = ref
    return values, refs


def apply_import(zone: Zone, plan: ImportPlan, *, now: EpochSeconds, deadline: float | None = None,
                 on_wait: Callable[[str], None] | None = None) -> None:
    """Commit a plan: one transaction for all state, which moves the blobs into the store last.

    The transaction first re-checks the plan under the write lock (decision 184): the same
    bundle imported meanwhile by another process makes this one a no-op (``plan.noop``); a
    newer bundle of the project makes it a ``rollback``; a package listed by reference that a
    prune removed since the plan makes it ``package_missing``; a changed project raises
    ``_StalePlan`` (``import_bundle`` plans again). It is not begun while a prune holds the
    zone's claim: it waits until ``deadline`` (``time.monotonic()`` seconds; None: do not
    wait), then ``ConflictError`` ``prune_in_progress`` (decision 321)."""
    if plan.noop:
        return
    assert plan.merge is not None and plan.snapshot is not None and plan.staging is not None
    if plan.merge.conflicts:
        raise ConflictError("unresolved conflicts", code="conflict")
    try:
        _apply(zone, plan, now, time.monotonic() if deadline is None else deadline, on_wait)
    finally:
        plan.staging.cleanup()


def _apply(zone: Zone, plan: ImportPlan, now: EpochSeconds, deadline: float,
           on_wait: Callable[[str], None] | None) -> None:
    """The transaction of :func:`apply_import`; the staged packages enter the store as its last
    step. While a prune holds the zone's prune claim the transaction is given up and tried again
    until ``deadline`` (``time.monotonic()`` seconds), then ``prune_in_progress``."""
    assert plan.merge is not None and plan.snapshot is not None and plan.staging is not None
    m = plan.manifest
    v = plan.verified
    plan.staging.sync()  # the slow part of publishing, outside the write lock
    release = projects.NewRelease(
        project=dict(m.project), version=m.release["version"], channel=m.release["channel"],
        notes=m.release["notes"], source_zone_id=v.source.zone_id, content_digest=plan.content_digest,
        release_digest=plan.release_digest, snapshot=plan.snapshot,
        output_refs=[o.to_dict() for o in m.output_refs],
        lifecycle=plan.kept_lifecycle or (m.lifecycle.to_dict() if m.lifecycle is not None else None),
        bundle_id=m.bundle_id, bundle_digest=v.digest, sequence=m.sequence, in_space=plan.space)
    told = False
    while True:
        with zone.db.transaction() as tx:
            # Write transactions run one at a time and a prune takes its claim in one: a prune
            # that starts after this commits sees this release and keeps what it uses.
            if not zone.db.held(tx, PRUNE_CLAIM):
                _commit(zone, tx, plan, release, now)
                return
        told = wait_for_prune(zone, deadline, on_wait, told)


def _commit(zone: Zone, tx: Writer, plan: ImportPlan, release: projects.NewRelease, now: EpochSeconds) -> None:
    """Everything an import writes, in the caller's transaction ``tx``; the blobs last."""
    assert plan.merge is not None and plan.snapshot is not None and plan.staging is not None
    m = plan.manifest
    v = plan.verified
    if not _still_valid(zone, tx, plan):
        plan.noop, plan.noop_reason = True, "imported by another process meanwhile (identical bundle); nothing to do"
        return
    for value in plan.secret_values.values():
        secrets.store(zone, tx, value)
    apply_rotations(tx, v.source.zone_id, plan.rotations, now)
    packages.add_packages(tx, m.packages, now)
    packages.record_deliveries(tx, v.source.zone_id, plan.delivered, now)
    projects.record_release(zone, tx, release, local=plan.merge.result, base=plan.project_base or plan.snapshot,
                            now=now)
    record_evidence(tx, plan.evidence, now)
    if plan.replaces_release:
        withdraw_version_waivers(tx, space=m.project["space"], project_slug=m.project["slug"], release=m.release["version"])
    key = sequences.release_key(v.source.zone_id, m.project["space"], m.project["slug"])
    sequences.record_incoming(tx, key, m.sequence, v.digest, bundle_id=m.bundle_id,
                              source_zone_id=v.source.zone_id, project_slug=m.project["slug"],
                              release=m.release["version"], now=now, relay_hops=v.relay.raw if v.relay else None,
                              plan=json.dumps(plan.merge.to_dict(mask=True)["summary"]))
    # Last, once every write of the state passed: a refusal before here (a read-only or lost
    # state, another import first, a stale plan) put nothing in the store, which other nodes
    # share (decision 277). Should the commit itself fail, the objects stay: unreferenced and
    # harmless, and never removed, since a failed commit may have committed.
    plan.staging.commit()


def import_bundle(zone: Zone, path: Path, *, now: EpochSeconds, strategy: str | None = None,
                  policy: MergePolicy | None = None, replace: bool = False, dry_run: bool = False,
                  progress: Callable[[int], None] | None = None, evidence: tuple[Path, ...] = (),
                  wait: float = 0.0, on_wait: Callable[[str], None] | None = None,
                  space: str = DEFAULT, accept_lifecycle_removal: bool = False,
                  self_update: bool = False) -> ImportPlan:
    """Plan, refuse on conflicts (unless dry run), apply, into ``space`` (a space of this zone,
    in its spelling; ``space_denied`` unless the bundle's source is trusted there, decision 660).

    A release without a lifecycle, or with one demanding less than its project's last, keeps that
    one unless ``accept_lifecycle_removal`` (decisions 681, 720; ``plan.lifecycle_removed``).

    ``evidence``: receipt bundles from other zones proving earlier phases of the release's
    lifecycle (``importer/evidence.py``); each must report a successful deployment of this very
    release (``evidence_mismatch``), and is recorded with the import. A refusal of an authentic
    bundle (not on a dry run) queues a refusal entry for its source before it is raised.

    When another process changed the project between planning and applying, the import is
    planned again on the new state (at most :data:`REPLANS` times; each costs a verification
    pass). While ``bundlekit prune`` removes files (it holds the zone's prune claim) the import
    waits up to ``wait`` seconds (``on_wait`` is told once what it waits for), then is refused
    ``ConflictError`` ``prune_in_progress`` with nothing changed; a dry run does not wait. A
    release of the reserved project bundlekit, once verified, is refused ``self_not_importable``
    unless ``self_update`` (only self-update imports it, once it runs; decision 972).
    """
    deadline = time.monotonic() + max(0.0, wait)
    if not dry_run:
        await_prune(zone, deadline, on_wait)
    for attempt in range(REPLANS + 1):
        try:
            return _import_once(zone, path, now=now, strategy=strategy, policy=policy, replace=replace,
                                dry_run=dry_run, progress=progress, evidence=evidence, deadline=deadline,
                                on_wait=on_wait, space=space, accept_lifecycle_removal=accept_lifecycle_removal,
                                self_update=self_update)
        except _StalePlan:
            if attempt == REPLANS:
                raise ConflictError(f"{path}: the project kept changing while this import was applied "
                                    f"({REPLANS + 1} attempts); nothing was changed. Run the import again",
                                    code="conflict") from None
    raise AssertionError("unreachable")


def _mend_store(zone: Zone, plan: ImportPlan, *, now: EpochSeconds, progress: Callable[[int], None] | None) -> None:
    """An identical bundle imported again restores the package objects the store lost or damaged
    (``importer/repair.py``, decision 315) and says so in ``noop_reason`` and ``plan.repaired``."""
    restored, missing = repair_store(zone, plan.verified.path, plan.manifest, now=now, progress=progress)
    plan.repaired = [p.sha256 for p in restored]
    notes = []
    if restored:  # a package prune removed is said so: the next prune removes it again unless kept
        said = [f"{p.id} {p.version}" + (" (removed by prune; kept only if the retention policy keeps this release)"
                                         if pruned_at(zone.db, p.id, p.version) is not None else "") for p in restored]
        notes.append("restored from it the package object(s) the store no longer held " + ", ".join(said))
    if missing:
        notes.append("the store's copy of " + ", ".join(f"{p.id} {p.version}" for p in missing)
                     + " is damaged or missing and this bundle does not carry it: import the bundle that first "
                       "delivered it again, or ask the source zone for "
                       f"`{full_export(plan.manifest.project['slug'], plan.manifest.destination.name)}`")
    if notes:
        plan.noop_reason = "already imported (identical bundle); " + "; ".join(notes)


#: How many times an import is planned again when the project changed under it.
REPLANS = 3


def _import_once(zone: Zone, path: Path, *, now: EpochSeconds, strategy: str | None, policy: MergePolicy | None,
                 replace: bool, dry_run: bool, progress: Callable[[int], None] | None,
                 evidence: tuple[Path, ...], deadline: float,
                 on_wait: Callable[[str], None] | None, space: str = DEFAULT,
                 accept_lifecycle_removal: bool = False, self_update: bool = False) -> ImportPlan:
    try:
        plan = plan_import(zone, path, now=now, strategy=strategy, policy=policy, replace=replace,
                           progress=progress, space=space, accept_lifecycle_removal=accept_lifecycle_removal,
                           check_only=dry_run)
    except BundleError as err:
        if not dry_run:
            record_refusal(zone, path, err, now=now)
        raise
    if not self_update and is_self_project(str(plan.manifest.project.get("slug", ""))):
        if plan.staging:  # authentic and admitted: refused for this zone's choice of command, never reported
            plan.staging.cleanup()
        refuse_self_import(plan.manifest, path, zone.home)
    if plan.noop:
        # Evidence offered again with an imported bundle: checked (a mismatch changes nothing), then recorded.
        plan.release_digest = plan.manifest.release_digest()
        offered = offered_evidence(verifier_for(zone, now), plan.manifest, plan.release_digest, evidence)
        if not dry_run and plan.noop_reason == ALREADY:
            _mend_store(zone, plan, now=now, progress=progress)
        if offered:
            plan.evidence = offered
            if not dry_run:
                with zone.db.transaction() as tx:
                    added = record_evidence(tx, offered, now)
                plan.noop_reason += (f"; recorded {added} new piece(s) of lifecycle evidence" if added else
                                     "; the evidence offered was recorded before")
        return plan
    assert plan.merge is not None
    try:
        plan.evidence += offered_evidence(verifier_for(zone, now), plan.manifest, plan.release_digest, evidence)
    except BaseException:
        if plan.staging:
            plan.staging.cleanup()
        raise
    if dry_run:
        if plan.staging:
            plan.staging.cleanup()
        return plan
    if plan.merge.conflicts:
        if plan.staging:
            plan.staging.cleanup()
        lines = [c.describe(mask=True) for c in plan.merge.conflicts]
        raise ConflictError(
            f"{path}: {len(lines)} conflict(s) between local changes and the incoming release; nothing was changed. "
            "Re-run with --on-conflict keep-local|take-incoming or a --policy file:\n  " + "\n  ".join(lines),
            code="conflict", details=[c.to_dict(mask=True) for c in plan.merge.conflicts])
    try:
        apply_import(zone, plan, now=now, deadline=deadline, on_wait=on_wait)
    except BundleError as err:  # a check made while committing (a concurrent import got there first)
        record_refusal(zone, path, err, now=now)
        raise
    return plan
