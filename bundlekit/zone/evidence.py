"""Lifecycle evidence and phase waivers in a zone's state.

*Evidence* is a deployment that ran in another zone and succeeded (or not), as a signed
receipt or a release's own attestation reported it (``importer/evidence.py`` verifies them):
one row per (reporting zone, deployment id), naming the release by its release digest. The
lifecycle gate (``promotion/gate.py``) counts these beside the zone's own deployments.

A *waiver* is the zone's explicit decision that a phase need not be passed (for one release of
a project, or ``*`` for all): recorded with its reason and time, and named in every deployment
that relied on it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable

from bundlekit.core.hints import home_flag
from bundlekit.core.clock import EpochSeconds
from bundlekit.core.text import shell_word
from bundlekit.errors import StateError
from bundlekit.zone.db import Reader, Row, Writer

__all__ = ["EvidenceRow", "record_evidence", "evidence_for", "revoked_keys", "add_waiver", "remove_waiver", "waivers_for",
           "list_waivers", "ALL_RELEASES", "withdraw_version_waivers"]

#: The ``release`` of a waiver that covers every release of the project.
ALL_RELEASES = "*"


@dataclass(frozen=True, slots=True)
class EvidenceRow:
    """One deployment elsewhere; ``kind`` is ``receipt`` or ``attested``; ``proof`` the digest of
    the bundle that carried it; ``ended`` Unix seconds."""

    zone_id: str
    zone_name: str
    deployment_id: str
    space: str
    project_slug: str
    release: str
    release_digest: str
    environment: str
    tenant: str | None
    state: str
    ended: float
    kind: str
    proof: str
    #: Key ids of the keys that signed the bundle that carried it (empty: recorded before they were kept).
    signers: tuple[str, ...] = ()
    #: How many runs the receipt entry reported (None: not read from a receipt entry; never recorded).
    runs: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"zone": self.zone_name, "zone_id": self.zone_id, "deployment_id": self.deployment_id,
                "space": self.space, "project_slug": self.project_slug, "release": self.release,
                "release_digest": self.release_digest, "environment": self.environment, "tenant": self.tenant,
                "state": self.state, "ended": self.ended, "kind": self.kind, "proof": self.proof,
                "signers": list(self.signers)}


def record_evidence(tx: Writer, rows: Iterable[EvidenceRow], now: EpochSeconds) -> int:
    """Record successful deployments elsewhere (inside the caller's transaction); a deployment
    already recorded is left as it is. Returns how many were new."""
    added = 0
    for r in rows:
        if r.state != "Success":
            continue
        added += tx.run(
            "INSERT INTO evidence(zone_id, deployment_id, zone_name, space, project_slug, release, release_digest, "
            "environment, tenant, ended, kind, proof, recorded, signers) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
            "ON CONFLICT(zone_id, deployment_id) DO NOTHING",
            (r.zone_id, r.deployment_id, r.zone_name, r.space, r.project_slug, r.release, r.release_digest,
             r.environment, r.tenant, r.ended, r.kind, r.proof, now, json.dumps(list(r.signers))))
    return added


def evidence_for(db: Reader, release_digest: str) -> list[EvidenceRow]:
    """Recorded successful deployments elsewhere of the release with ``release_digest``, oldest first."""
    rows = db.all("SELECT * FROM evidence WHERE release_digest = ? ORDER BY ended, zone_id, deployment_id",
                  (release_digest,))
    return [EvidenceRow(r["zone_id"], r["zone_name"], r["deployment_id"], r["space"], r["project_slug"], r["release"],
                        r["release_digest"], r["environment"], r["tenant"], "Success", r["ended"], r["kind"],
                        r["proof"], tuple(json.loads(r["signers"] or "[]"))) for r in rows]


def revoked_keys(db: Reader) -> dict[str, str]:
    """Key id -> reason of every key revoked with ``trust revoke`` (a key a rotation retired is
    not revoked: what it signed before stays good)."""
    return {r["key_id"]: r["reason"] for r in db.all("SELECT key_id, reason FROM revoked_keys")
            if not str(r["reason"]).startswith("rotated to ")}


def add_waiver(tx: Writer, *, space: str, project_slug: str, phase: str, release: str, reason: str,
               now: EpochSeconds, author: str | None = None) -> None:
    """Waive ``phase`` for ``release`` (or :data:`ALL_RELEASES`); replaces an earlier waiver's reason.
    ``author``: who decided it (the account that ran the command; None: unknown)."""
    tx.run("INSERT INTO phase_waivers(space, project_slug, phase, release, reason, created, author) "
           "VALUES (?,?,?,?,?,?,?) ON CONFLICT(space, project_slug, phase, release) DO UPDATE SET "
           "reason = excluded.reason, created = excluded.created, author = excluded.author",
           (space, project_slug, phase, release, reason, now, author))


def remove_waiver(tx: Writer, *, space: str, project_slug: str, phase: str, release: str) -> None:
    """Withdraw a waiver; ``StateError`` ``unknown_waiver`` when there is none."""
    if tx.run("DELETE FROM phase_waivers WHERE space = ? AND project_slug = ? AND phase = ? AND release = ?",
              (space, project_slug, phase, release)) == 0:
        raise StateError(f"no waiver of phase {phase!r} for {project_slug} "
                         f"{'(every release)' if release == ALL_RELEASES else release}; see `bundlekit lifecycle "
                         f"show {shell_word(project_slug)}{home_flag()}`", code="unknown_waiver")


def withdraw_version_waivers(tx: Writer, *, space: str, project_slug: str, release: str) -> int:
    """Withdraw the waivers made for one version (not those for every release, ``*``): what
    ``import --replace`` does when new content takes that version (review r1015a A4). Returns
    how many were withdrawn; deployments keep their record of the waivers they relied on."""
    return tx.run("DELETE FROM phase_waivers WHERE space = ? AND project_slug = ? AND release = ?",
                  (space, project_slug, release))


def waivers_for(db: Reader, space: str, project_slug: str, release: str) -> list[Row]:
    """Waivers that apply to ``release`` of the project: phase, release, reason, created, author."""
    return db.all("SELECT phase, release, reason, created, author FROM phase_waivers WHERE space = ? AND project_slug = ? "
                  "AND (release = ? OR release = ?) ORDER BY phase, release",
                  (space, project_slug, release, ALL_RELEASES))


def list_waivers(db: Reader, project_slug: str | None = None) -> list[Row]:
    """Every waiver (of one project when ``project_slug``): space, project_slug, phase, release,
    reason, created, author."""
    where, args = ("WHERE project_slug = ? ", (project_slug,)) if project_slug else ("", ())
    return db.all("SELECT space, project_slug, phase, release, reason, created, author FROM phase_waivers "
                  f"{where}ORDER BY space, project_slug, phase, release", args)
