"""Lifecycle evidence: deployments in other zones that a zone may count, verified before use.

Two kinds (``spec/deploy.md`` §10.2):

* **receipts** from another zone (``deploy --evidence``, ``import --evidence``): a receipt
  bundle is verified as a third party would, with the verifier's trust store (every signature,
  the trusted source and its threshold, expiry, every blob) but without requiring it to be
  addressed here: a staging zone's receipt goes to the zone that exported the release, and a
  production zone that trusts the staging zone can still check it, with no network;
* **attestations** in a release manifest: the source zone's own successful deployments of the
  release, covered by the release's signature.

Both name the release by its release digest (``format/lifecycle.py``), so proof about one
release never counts for another. :func:`read_receipt_evidence` and :func:`matching` are
independent of any zone home, for every caller that verifies evidence (a relay, a chain of
zones): they take a :class:`~bundlekit.importer.verify.Verifier`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from bundlekit.errors import VerificationError
from bundlekit.format.manifest import Manifest
from bundlekit.format.manifest_checks import contradicted_success
from bundlekit.importer.verify import Verifier, VerifiedBundle, check_bundle
from bundlekit.trust.policy import TrustedSource, check_policy
from bundlekit.zone.evidence import EvidenceRow

__all__ = ["read_receipt_evidence", "matching", "attested", "offered_evidence", "EvidenceRow"]


def read_receipt_evidence(verifier: Verifier, path: Path) -> tuple[VerifiedBundle, list[EvidenceRow]]:
    """Verify the receipt bundle at ``path`` for ``verifier`` and return every deployment it reports.

    Raises what verification raises (``invalid_signature``, ``untrusted``, ``expired``, ...: exit
    3), ``VerificationError`` ``wrong_kind`` for a release bundle and ``receipt_mismatch`` for an
    entry that says Success while one of its runs failed. Entries of format 1.0
    receipts carry no release digest and are returned with an empty one (they match nothing).
    """
    verified = check_bundle(verifier, path, addressed_here=False)
    m = verified.manifest
    if m.kind != "receipt":
        raise VerificationError(f"{path}: a {m.kind} bundle; evidence is a receipt bundle from the zone that "
                                "deployed the release", code="wrong_kind")
    rows = []
    for i, e in enumerate(m.receipts):
        why = contradicted_success(e)
        if why is not None:  # proof the zone's own record contradicts is no proof (review r1015a A8)
            raise VerificationError(
                f"{path}: receipts[{i}] (deployment {e['deployment_id']}): {why}; zone {verified.source.name!r} "
                "signed a receipt that contradicts itself: it is not lifecycle evidence; ask its operators to "
                "check the zone", code="receipt_mismatch", details={"entry": f"receipts[{i}]", "fields": ["state", "runs"]})
        rows.append(EvidenceRow(
            zone_id=verified.source.zone_id, zone_name=verified.source.name, deployment_id=e["deployment_id"],
            space=e["project"]["space"], project_slug=e["project"]["slug"], release=e["release"],
            release_digest=e.get("release_digest", ""), environment=e["environment"], tenant=e.get("tenant"),
            state=e["state"], ended=e["ended_ms"] / 1000, kind="receipt", proof=verified.digest,
            signers=verified.signer_key_ids, runs=len(e.get("runs") or ())))
    return verified, rows


def matching(path: Path, source: TrustedSource, rows: list[EvidenceRow], release_digest: str, *,
             project: str, version: str, space: str, slug: str, steps: int | None = None) -> list[EvidenceRow]:
    """The successful deployments of the release ``release_digest`` among ``rows`` (read from
    ``path``, signed by ``source``). ``project`` (its display name), ``space``, ``slug`` and
    ``version`` are the release's as this zone holds it; ``steps`` how many steps it has (None:
    not known here).

    An entry counts only when it names that very release three ways at once: its release
    digest, its project slug and its version (not its space: each zone files a release in a
    space of its own choosing). A receipt whose entry carries this
    release's digest under another project's or version's label contradicts itself (a hostile
    or broken zone lending one project's trust to another) and is refused, never counted. The
    source's trust policy is then checked against this release's own project.

    Raises ``VerificationError`` ``evidence_mismatch`` (exit 3) when the receipt reports no
    successful deployment of that release, naming what it does report, or labels this
    release's digest with another project or version; ``receipt_mismatch`` (exit 3) for an entry
    that says Success but reports no run although the release has steps (every step of a
    deployment leaves a run, a skipped one too: such an entry contradicts the release it names);
    ``TrustError`` ``policy_denied`` when the source's policy does not cover the project or environment.
    """
    ok = [r for r in rows if r.release_digest == release_digest and r.state == "Success"]
    if not ok:
        # Receipt entries are named by project slug: so is this release, beside its display name (v1015 F9).
        seen = "; ".join(f"project {r.project_slug} {r.release} to {r.environment}: {r.state}"
                         for r in rows[:5]) or "nothing"
        raise VerificationError(
            f"{path}: this receipt from zone {source.name!r} reports no successful deployment of {project} {version} "
            f"(project {slug}) as this zone holds it (release digest {release_digest[:16]}...); it reports: {seen}. "
            "Offer the receipt "
            "of a deployment of this very release", code="evidence_mismatch")
    for r in ok:
        if (r.project_slug, r.release) != (slug, version):
            raise VerificationError(
                f"{path}: evidence {r.deployment_id} from zone {source.name!r} carries the release digest of "
                f"{project} {version} (project {slug}) but names project {r.project_slug} {r.release}; "
                "a receipt that contradicts itself proves nothing and was not counted. Ask that zone's operators "
                "about it, and offer the receipt of a deployment of this very release", code="evidence_mismatch")
        if r.runs == 0 and steps:  # review v1015 A8: a success nothing ran in is no proof of a phase
            raise VerificationError(
                f"{path}: evidence {r.deployment_id} from zone {source.name!r} says {project} {version} succeeded in "
                f"{r.environment} but reports no run, although the release has {steps} step(s) and every step of a "
                f"deployment leaves a run (a skipped one too); zone {source.name!r} signed a receipt that contradicts "
                "itself: it is not lifecycle evidence; ask its operators to check the zone",
                code="receipt_mismatch", details={"entry": r.deployment_id, "fields": ["state", "runs"]})
        check_policy(source, space=space, project=project, project_slug=slug,
                     environments=[r.environment], where=f"{path}: evidence {r.deployment_id}")
    return ok


def attested(verified: VerifiedBundle) -> list[EvidenceRow]:
    """The source's own successful deployments a release bundle attests (format 1.1)."""
    m: Manifest = verified.manifest
    digest = m.release_digest()
    return [EvidenceRow(zone_id=verified.source.zone_id, zone_name=verified.source.name,
                        deployment_id=a["deployment_id"], space=m.project["space"], project_slug=m.project["slug"],
                        release=m.release["version"], release_digest=digest, environment=a["environment"],
                        tenant=a.get("tenant"), state="Success", ended=a["ended_ms"] / 1000, kind="attested",
                        proof=verified.digest, signers=verified.signer_key_ids)
            for a in m.attestations]


def offered_evidence(verifier: Verifier, manifest: Manifest, release_digest: str,
                     paths: Iterable[Path]) -> list[EvidenceRow]:
    """The successful deployments of this release (``release_digest``) that the receipt bundles
    at ``paths`` (``--evidence``) report, each receipt verified against the zone's trust store.

    Raises what :func:`read_receipt_evidence` and :func:`matching` raise: ``evidence_mismatch``
    (exit 3) for a receipt of another release or of no successful deployment of it."""
    out: list[EvidenceRow] = []
    for path in paths:
        verified, rows = read_receipt_evidence(verifier, path)
        out += matching(path, verified.source, rows, release_digest, project=manifest.project["name"],
                        version=manifest.release["version"], space=manifest.project["space"],
                        slug=manifest.project["slug"], steps=len(manifest.steps))
    return out
