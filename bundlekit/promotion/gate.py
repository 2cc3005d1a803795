"""The lifecycle gate of a zone: count the evidence for a release, refuse what its lifecycle forbids.

What counts as a successful deployment of a release (named by its release digest, so proof
about one release never counts for another; decision 151):

* this zone's own deployments of it (a release imported before format 1.1 has no digest: its
  deployments here count by project, version and source);
* deployments other zones reported in receipts this zone imported (the zone that exported the
  release sees its staging and production runs);
* evidence recorded from receipts offered with ``import --evidence`` or ``deploy --evidence``,
  and attestations carried in the release bundle (``importer/evidence.py``).

A refused deployment changes nothing (``lifecycle_violation``, exit 5, before any record: it is
not a deployment). Waivers are the zone's explicit, recorded decisions (``zone/evidence.py``).
"""

from __future__ import annotations

from typing import Any, Iterable

from bundlekit.core.clock import EpochSeconds
from bundlekit.core.names import check_label
from bundlekit.core.selfproject import refuse_self_project
from bundlekit.core.text import closest, shell_word
from bundlekit.core.hints import cut, in_space, shown, here_flags, home_flag
from bundlekit.errors import DeployError, InputError, StateError
from bundlekit.format.lifecycle import Lifecycle
from bundlekit.promotion.lifecycle import (Decision, Progress, Success, counts_for, decide, progress,
                                          updated_after_proof)
from bundlekit.zone import deployments, evidence, projects, remote, truststore
from bundlekit.zone.db import Reader
from bundlekit.zone.evidence import ALL_RELEASES, EvidenceRow
from bundlekit.zone.home import Zone, stored_zone

__all__ = ["release_lifecycle", "successes", "release_progress", "check", "relied_waivers", "waive", "unwaive",
           "describe", "waivers"]


def release_lifecycle(release: dict[str, Any]) -> Lifecycle | None:
    """The lifecycle a release row carries (``projects.get_release``), or None."""
    return Lifecycle.from_dict(release["lifecycle"]) if release.get("lifecycle") else None


class _Judge:
    """Whether another zone's word about a deployment counts now (decision 412): its zone must
    still be trusted, no key that signed it (or, for evidence recorded before signers were kept,
    no zone key of that zone) may be revoked, and for lifecycle evidence (receipts offered,
    attestations) the zone's trust policy must let it prove that environment."""

    def __init__(self, db: Reader) -> None:
        self.db = db
        self.revoked = evidence.revoked_keys(db)
        self.ignored: list[dict[str, str]] = []

    def why_not(self, zone_id: str, zone_name: str, environment: str, signers: Iterable[str],
                evidence_kind: bool) -> str | None:
        entry = truststore.entry_for_id(self.db, zone_id)
        if entry is None:
            return f"zone {zone_name} is no longer trusted"
        keys = list(signers) or truststore.zone_key_ids(self.db, zone_id)
        bad = [k for k in keys if k in self.revoked]
        if bad:
            return f"signed by key {bad[0]} of zone {entry.name}, revoked ({self.revoked[bad[0]]})"
        if evidence_kind and not entry.policy.may_prove(environment):
            return (f"zone {entry.name} may not prove deployments to {environment}; if it may: `bundlekit trust set "
                    f"{shell_word(entry.name)} --evidence-for {shell_word(environment)}{home_flag()}`")
        return None

    def count(self, out: list[Success], where: str, environment: str, tenant: str | None, why: str | None,
              ended: float | None = None) -> None:
        if why is None:
            out.append(Success(environment, tenant, where, ended))
        else:
            self.ignored.append({"evidence": where, "environment": environment, "why": why})


def successes(db: Reader, zone_name: str, project: projects.ProjectRecord, release: dict[str, Any],
              offered: Iterable[EvidenceRow] = (), ignored: list[dict[str, str]] | None = None) -> list[Success]:
    """Every successful deployment of ``release`` this zone can count (see the module docstring);
    what another zone said that does not count now is added to ``ignored`` with why."""
    digest = release.get("release_digest")
    out: list[Success] = []
    judge = _Judge(db)
    if digest:
        for d in deployments.successes_of(db, digest):
            out.append(Success(d["environment"], d["tenant"], f"{d['id']} in zone {zone_name}", d["ended"]))
        names = truststore.zone_names(db)
        for e in remote.entries_for_slug(db, project.slug):
            if e.get("release_digest") == digest and e["state"] == "Success":
                name = names.get(e["zone_id"], e["zone_id"])
                judge.count(out, f"{e['deployment_id']} in zone {name} (receipt)", e["environment"], e.get("tenant"),
                            judge.why_not(e["zone_id"], name, e["environment"], (), evidence_kind=False),
                            e["ended_ms"] / 1000 if isinstance(e.get("ended_ms"), int) else None)
        for r in list(evidence.evidence_for(db, digest)) + [r for r in offered if r.release_digest == digest]:
            judge.count(out, f"{r.deployment_id} in zone {r.zone_name} ({r.kind})", r.environment, r.tenant,
                        judge.why_not(r.zone_id, r.zone_name, r.environment, r.signers, evidence_kind=True),
                        r.ended)
    else:
        for d in deployments.release_history(db, project.slug, release["version"], project.source_zone_id):
            if d["state"] == "Success":
                out.append(Success(d["environment"], d["tenant"], f"{d['id']} in zone {zone_name}", d["ended"]))
    if ignored is not None:
        ignored.extend(judge.ignored)
    return out


def release_progress(db: Reader, zone_name: str, project: projects.ProjectRecord, release: dict[str, Any], *,
                     tenant: str | None = None, offered: Iterable[EvidenceRow] = (),
                     ignored: list[dict[str, str]] | None = None) -> Progress | None:
    """The phases of ``release`` and what passed them (None: the release has no lifecycle);
    evidence that does not count now goes to ``ignored`` with why, and so does a success of
    the release for another tenant than ``tenant`` (finding 4 of the r1015 review: a receipt
    offered for the wrong tenant was dropped without a word)."""
    lifecycle = release_lifecycle(release)
    if lifecycle is None:
        return None
    waived = [w["phase"] for w in evidence.waivers_for(db, project.space, project.slug, release["version"])]
    found = successes(db, zone_name, project, release, offered, ignored)
    if ignored is not None:
        for s in found:
            if lifecycle.index_of(s.environment) is None or counts_for(s, tenant):
                continue
            needed = (f"a deployment for tenant {tenant} or an untenanted one counts" if tenant else
                      "an untenanted deployment counts only untenanted ones")
            ignored.append({"evidence": s.where, "environment": s.environment,
                            "why": f"it deployed for tenant {s.tenant}; {needed}"})
    return progress(lifecycle, found, waived=waived, tenant=tenant)


def check(db: Reader, zone_name: str, project: projects.ProjectRecord, release: dict[str, Any], environment: str, *,
          tenant: str | None = None, offered: Iterable[EvidenceRow] = ()) -> Decision | None:
    """Allow or refuse deploying ``release`` to ``environment``; None when it has no lifecycle.

    Raises ``DeployError`` ``lifecycle_violation`` (exit 5) naming the phase still to pass and
    the three ways forward (deploy there, offer a receipt, waive the phase), and ``StateError``
    ``unknown_environment`` (exit 1) for an environment the lifecycle does not name, with the
    closest names it does (a typo is not a lifecycle violation).
    """
    ignored: list[dict[str, str]] = []
    prog = release_progress(db, zone_name, project, release, tenant=tenant, offered=offered, ignored=ignored)
    if prog is None:
        return None
    decision = decide(prog, environment)
    if decision.allowed:
        return decision
    what = f"{project.name} {release['version']}" + (f" for tenant {tenant}" if tenant else "")
    phases = "; ".join(f"{p.name}: {', '.join(p.environments)}" for p in prog.lifecycle.phases)
    details = {"environment": environment, "progress": prog.to_dict()}
    if decision.phase is None:
        known = [env for p in prog.lifecycle.phases for env in p.environments]
        similar = closest(environment, known)
        hint = f" Did you mean {', '.join(repr(k) for k in similar)}?" if similar else ""
        raise StateError(f"{what} cannot be deployed to {environment!r}: its lifecycle has no such environment "
                         f"(phases {phases}).{hint} Deploy to an environment of its lifecycle, or export a release "
                         "whose lifecycle lists this one", code="unknown_environment",
                         details={**details, "suggestions": similar})
    block = decision.blocking
    assert block is not None
    got = f" ({', '.join(block.succeeded)})" if block.succeeded else ""
    unused = [i for i in ignored if block.phase.has(i["environment"])]
    got += "".join(f"; not counted: {i['evidence']} to {i['environment']}: {i['why']}" for i in unused)
    envs = ", ".join(block.phase.environments)
    need = (f"a successful deployment of this release to {envs}" if len(block.phase.environments) == 1 else
            f"successful deployments of this release to {block.phase.minimum_successful} of its environments "
            f"({envs})")
    where = ("" if not _author_may_prove(db, project, zone_name, block.phase.environments) else
             "; or, when it succeeded in the zone that authored the release, export the release from there again "
             "(the new bundle carries that zone's signed proof) or bring that zone's receipt of the deployment "
             "(there, `bundlekit deployments receipt DEPLOYMENT-ID --to ZONE -o FILE`)")
    raise DeployError(
        f"{what} cannot be deployed to {environment} (phase {decision.phase.name!r}) yet: phase "
        f"{block.phase.name!r} needs {need} and has {len(block.succeeded)}{got}. Nothing was run. Deploy it there "
        "first, offer the receipt of such a deployment in another zone with --evidence RECEIPT.bundle, or waive the "
        f"phase: `bundlekit lifecycle waive {shell_word(project.slug)} --phase {shell_word(block.phase.name)} --reason TEXT"
        f"{here_flags(project.in_space)}`{where}",
        code="lifecycle_violation", details={**details, "phase": decision.phase.name,
                                             "blocking_phase": block.phase.name, "not_counted": unused})


def _author_may_prove(db: Reader, project: projects.ProjectRecord, zone_name: str,
                      environments: Iterable[str]) -> bool:
    """Whether the zone that authored ``project``'s releases is another zone, trusted here, whose
    word may prove a deployment to one of ``environments``: only then can its proof (a new
    export, its receipt) pass the phase, so only then is the way named (finding 10.6)."""
    if project.source_zone_id == _zone_id(db, zone_name) or not project.source_zone_id:
        return False
    entry = truststore.entry_for_id(db, project.source_zone_id)
    return entry is not None and any(entry.policy.may_prove(e) for e in environments)


def _zone_id(db: Reader, zone_name: str) -> str | None:
    """The id of this zone (named ``zone_name``), as its state records it."""
    return stored_zone(db).get("zone_id")


def relied_waivers(db: Reader, project: projects.ProjectRecord, release: dict[str, Any],
                   decision: Decision | None) -> tuple[dict[str, Any], ...]:
    """The waivers ``decision`` let a deployment rely on, as recorded with it (decision 391):
    ``{phase, release, reason, author, created}`` (``release``: the version or ``*``; ``created``:
    Unix seconds), a waiver of this very release before one of every release."""
    if decision is None or not decision.waived:
        return ()
    rows = evidence.waivers_for(db, project.space, project.slug, release["version"])
    out = []
    for phase in decision.waived:
        mine = [r for r in rows if r["phase"].casefold() == phase.casefold()]
        mine.sort(key=lambda r: r["release"] == ALL_RELEASES)
        w = mine[0] if mine else {"release": ALL_RELEASES, "reason": "", "author": None, "created": 0}
        out.append({"phase": phase, "release": w["release"], "reason": w["reason"], "author": w.get("author"),
                    "created": int(w["created"])})
    return tuple(out)


def _phase_in_any(db: Reader, project: projects.ProjectRecord, phase: str, version: str | None) -> str:
    rows = [r for r in projects.list_releases(db) if r["slug"] == project.slug
            and (version is None or r["version"].casefold() == version.casefold())]
    if version is not None and not rows:
        projects.get_release(db, project, version)  # raises unknown_release naming the versions
    names: list[str] = []
    for r in rows:
        for p in (r["lifecycle"] or {}).get("phases", []):
            if p["name"].casefold() == phase.casefold():
                return str(p["name"])
            if p["name"] not in names:
                names.append(p["name"])
    similar = closest(phase, names)
    hint = f"Did you mean {', '.join(repr(n) for n in similar)}? " if similar else ""
    known = f"its releases' phases are {', '.join(names)}" if names else "none of its releases has a lifecycle"
    raise StateError(f"project {project.name!r}{in_space(project.in_space)} has no lifecycle phase {shown(phase)}. "
                     f"{hint}{known[0].upper()}{known[1:]}; see `bundlekit lifecycle show {shell_word(project.slug)}"
                     f"{here_flags(project.in_space)}`", code="unknown_phase",
                     details={"phase": cut(phase), "known": names, "suggestions": similar})


def waive(zone: Zone, project_ref: str, phase: str, *, reason: str, release: str | None,
          now: EpochSeconds, author: str | None = None, space: str | None = None) -> dict[str, Any]:
    """Waive a phase for one release (or every release) of a project (of ``space``; None: of any),
    with a reason and ``author`` (who decided it); recorded. ``unknown_phase`` names the closest phases;
    ``self_not_deployable`` for the reserved project bundlekit, which no lifecycle gates."""
    if not reason.strip():
        raise InputError("--reason must say why the phase may be skipped; it is recorded with every deployment "
                         "that relies on the waiver", code="invalid_input")
    # One line of text that `lifecycle show` prints: a label, like the names around it (decision 320).
    check_label(reason.strip(), what="--reason", error=InputError, code="invalid_label")
    with zone.db.transaction() as tx:
        project = projects.find_project(tx, project_ref, zone.name, space=space)
        refuse_self_project(project.slug, zone.home, asked=f"lifecycle waive {project.slug}")
        name = _phase_in_any(tx, project, phase, release)
        target = release or ALL_RELEASES
        evidence.add_waiver(tx, space=project.space, project_slug=project.slug, phase=name, release=target,
                            reason=reason.strip(), now=now, author=author)
    return {"project": project.name, "phase": name, "release": target, "reason": reason.strip(), "created": now,
            "author": author}


def unwaive(zone: Zone, project_ref: str, phase: str, *, release: str | None,
            space: str | None = None) -> dict[str, Any]:
    """Withdraw a waiver of a project (of ``space``; None: of any); ``unknown_waiver`` when there is none."""
    with zone.db.transaction() as tx:
        project = projects.find_project(tx, project_ref, zone.name, space=space)
        evidence.remove_waiver(tx, space=project.space, project_slug=project.slug, phase=phase,
                               release=release or ALL_RELEASES)
    return {"project": project.name, "phase": phase, "release": release or ALL_RELEASES}


def describe(zone: Zone, project_ref: str, version: str | None, *, tenant: str | None = None,
             space: str | None = None) -> dict[str, Any]:
    """``lifecycle show``: the release's phases, what passed each, waivers, the open environments, and
    the deployments of it that relied on a waiver (``relied_on``; ``withdrawn``: the waiver no
    longer stands, but the deployment keeps the record of it).
    ``InputError`` ``invalid_label`` for a ``tenant`` that breaks the label rule,
    ``self_not_deployable`` for the reserved project bundlekit (it is installed with self-update,
    not deployed). The project is looked up among ``space``'s (None: every space's)."""
    if tenant is not None:
        check_label(tenant, what="--tenant", error=InputError, code="invalid_label")
    with zone.db.read() as db:
        project = projects.find_project(db, project_ref, zone.name, space=space)
        refuse_self_project(project.slug, zone.home, asked=f"lifecycle show {project.slug}")
        release = projects.get_release(db, project, version)
        ignored: list[dict[str, str]] = []
        prog = release_progress(db, zone.name, project, release, tenant=tenant, ignored=ignored)
        waivers = evidence.waivers_for(db, project.space, project.slug, release["version"])
        relied = deployments.relied_on_waivers(db, project.slug, release["version"])
    current = {(w["phase"].casefold(), w["release"]) for w in waivers}
    out: dict[str, Any] = {"project": project.name, "slug": project.slug, "space": project.space,
                           "release": release["version"], "release_digest": release.get("release_digest"),
                           "tenant": tenant, "lifecycle": None, "waivers": waivers, "open": [],
                           "not_counted": ignored,
                           "relied_on": [{"deployment_id": d["id"], "environment": d["environment"],
                                          "tenant": d["tenant"], "state": d["state"], "started": d["started"],
                                          "waivers": [{**w, "withdrawn": (w["phase"].casefold(), w.get("release", "*"))
                                                       not in current} for w in d["waivers"]]}
                                         for d in relied]}
    # A lifecycle kept from an earlier release: this release's file carries none (decision 681).
    out["lifecycle_kept_from"] = (release.get("lifecycle") or {}).get("kept_from")
    # ... or carries one that demands less than that one (decision 720): what it no longer demands.
    out["lifecycle_weakened"] = (release.get("lifecycle") or {}).get("weakened", [])
    # `releases update-variables` after a phase passed: what passed ran the earlier values (decision 682).
    updated = release.get("variables_updated")
    out["variables_updated"] = updated
    if prog is not None:
        out["lifecycle"] = prog.to_dict()
        for status, phase_out in zip(prog.phases, out["lifecycle"]["phases"]):
            phase_out["variables_updated_after"] = status.passed and updated_after_proof(status.last_proof, updated)
        out["open"] = [e for e in prog.lifecycle.environments() if decide(prog, e).allowed]
    return out


def waivers(zone: Zone, project_ref: str | None, *, space: str | None = None) -> list[dict[str, Any]]:
    """``lifecycle waivers``: every waiver of the zone (of one project; of ``space``'s projects
    when given, None: every space's), with the project's name: ``{project, slug, space, in_space,
    phase, release, reason, author, created, withdrawn, relied_on}`` (``space``: what the
    project's source wrote, ``in_space``: the space of this zone it belongs to; ``relied_on``:
    ids of the deployments that relied on it). A withdrawn waiver a deployment relied on stays
    listed, ``withdrawn`` true, as that deployment recorded it (finding 10.1). ``StateError``
    ``unknown_project`` for a project not in ``space``."""
    with zone.db.read() as db:
        slug = projects.find_project(db, project_ref, zone.name, space=space).slug if project_ref else None
        rows = evidence.list_waivers(db, slug)
        records = deployments.waiver_records(db, slug)
        labels = {slug.casefold(): label for slug, label in projects.project_labels(db).items()}
        names = {slug: name for slug, (name, _) in labels.items()}
        spaces = {r["project_slug"].casefold(): projects.find_project(db, r["project_slug"], zone.name).space
                  for r in records}
    out = [{"project": names.get(r["project_slug"].casefold(), r["project_slug"]), "slug": r["project_slug"],
            **{k: r[k] for k in ("space", "phase", "release", "reason", "author", "created")},
            "withdrawn": False, "relied_on": []} for r in rows]
    for d in records:
        for w in d["waivers"]:
            release = w.get("release", ALL_RELEASES)
            if release not in (ALL_RELEASES, d["release"]):
                continue
            key = (d["project_slug"].casefold(), w["phase"].casefold(), release)
            same = [o for o in out if (o["slug"].casefold(), o["phase"].casefold(), o["release"]) == key
                    and (not o["withdrawn"] or (o["reason"], o["created"]) == (w.get("reason"), w.get("created")))]
            if not same:
                same = [{"project": names.get(key[0], d["project_slug"]), "slug": d["project_slug"],
                         "space": spaces[key[0]], "phase": w["phase"], "release": release,
                         "reason": w.get("reason", ""), "author": w.get("author"), "created": w.get("created", 0),
                         "withdrawn": True, "relied_on": []}]
                out.append(same[0])
            same[0]["relied_on"].append(d["id"])
    for w in out:
        w["in_space"] = labels[w["slug"].casefold()][1] if w["slug"].casefold() in labels else "Default"
    return [w for w in out if space is None or w["in_space"].casefold() == space.casefold()]
