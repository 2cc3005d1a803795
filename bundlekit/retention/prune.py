"""Prune: plan what retention lets go, print it, then remove it (``bundlekit prune``).

What a plan can remove, each with its size and why:

* ``package``: a package of the zone's store (``Zone.store``: ``HOME/packages``, or the
  shared store every node of the zone mounts) that no kept release uses: its file, when no
  kept release shares the bytes, and its record, for an imported package (the next receipt's
  inventory drops it, so the source zone sends it again with a later release that needs it);
  a package of a release created here has no record, only its file;
* ``store_file``: a file of the package store no package record and no release names, older
  than an hour (what an interrupted import left; younger ones may belong to an import under way);
* ``staging``: an import's staging folder whose import is over (``zone/store.py``'s
  :func:`~bundlekit.zone.store.stale_staging`, the rule imports sweep by);
* ``chunk_list``: a delta export's chunk list (``HOME/chunks``) of a package no kept release
  uses and no zone this one exports to holds, and what interrupted writes left there
  (``retention/chunk_lists.py``);
* ``target_folder``: ``WORK/<package id>/<version>`` on a target (local or SSH) whose release
  that target does not keep, judged per target (``retention/per_target.py``, decision 910):
  never the release last deployed successfully to it nor the one before, nothing under a
  keep-all policy, never a release current or previous successful in any environment or for
  any tenant; a folder of a release no deployment recorded on the target is left, and the
  plan's ``left`` says so;
* ``target_archive``: ``WORK/.bundlekit/packages/<sha256>/<file>``, the copy of a package
  archive the target's runner keeps, when no release that target keeps uses those bytes (the
  same rule);
* ``work_folder``: ``WORK/.bundlekit-work/<deployment id>`` of a finished deployment, on a
  target or in the zone's worker folder (zone-level steps);
* ``legacy_folder``: the zone's work folder inside its home (``zone-target``), which zone-level
  steps no longer use (decision 143).

What a target holds is asked of the target itself, through its runner (decision 148): the plan
is made from each target's inventory (the bootstrap's ``inventory`` probe: nothing is installed
or written on a target, so a dry run changes nothing anywhere), and the removal is a
``prune`` request its runner carries out as the target's user, holding the package's lock
(``spec/runner.md``). Only folders bundlekit made are candidates (a package id and version,
or an archive's SHA-256, of a release this zone holds); links are never followed or removed.
A target that cannot be reached is listed as skipped and pruned next time.
:func:`plan_prune` writes nothing. :func:`apply_prune` takes the zone's prune claim and, in
the same transaction, decides again from the state as it is then: a removal whose release
became kept since the plan (a rollback made it current, an import made it the latest) is not
done, and says why. It forgets the package records in that transaction, removes the files (the
zone's own, then each target's through its runner) holding the claim, so no deployment starts
meanwhile, and records what went and the bytes really freed in another. Decisions 194 and 197.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bundlekit.core.hints import home_flag
from bundlekit.core.clock import EpochSeconds
from bundlekit.core.tree import remove_tree, tree_size
from bundlekit.deploy.targets import DEFAULT_MAX_PARALLEL, LocalFolderTarget, SshTarget, Target
from bundlekit.errors import BundleError, ConflictError
from bundlekit.retention.chunk_lists import chunk_list_kept_now, plan_chunk_lists
from bundlekit.retention.per_target import History, Keeper, Kept, kept_on
from bundlekit.retention.removals import PrunePlan, PruneResult, Removal
from bundlekit.retention.rules import Keep, ReleaseKey, decide_by_space
from bundlekit.retention.uses import Uses, zone_releases
from bundlekit.zone import retention as state
from bundlekit.zone.claim_watch import ClaimWatch
from bundlekit.zone.db import Reader
from bundlekit.zone.home import Zone
from bundlekit.zone.store import stale_staging
from bundlekit.zone.targets import list_targets
from bundlekit.zone.worker import get_worker

if TYPE_CHECKING:
    from bundlekit.deploy.fleet import Fleet

__all__ = ["Removal", "PrunePlan", "PruneResult", "plan_prune", "apply_prune", "refuse_if_pruning",
           "LEFTOVER_AGE"]

#: Staging folders and unreferenced store files younger than this may belong to an import under way.
LEFTOVER_AGE = 3600


def _plain_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()


def _old(path: Path, now: EpochSeconds) -> bool:
    try:
        return now - path.stat().st_mtime >= LEFTOVER_AGE
    except OSError:
        return False


@contextmanager
def _fleet(zone: Zone, fleet: Fleet | None, max_parallel: int) -> Iterator[Fleet]:
    if fleet is not None:
        yield fleet
        return
    from bundlekit.deploy.service import zone_fleet  # asyncio and the engine: only when targets are asked

    with zone_fleet(zone, max_parallel) as made:
        yield made


def plan_prune(zone: Zone, *, now: EpochSeconds, fleet: Fleet | None = None,
               environments: Iterable[str] | None = None, max_parallel: int = DEFAULT_MAX_PARALLEL) -> PrunePlan:
    """Plan a prune of ``zone`` under its retention policies (``now``: Unix seconds). Writes
    nothing, here or on a target. Each target is asked what it holds through ``fleet`` (made
    and closed here when None), ``max_parallel`` at a time; ``environments`` limits the targets
    asked to those environments (the store is always planned whole)."""
    db = zone.db
    with db.read() as r:
        policies = state.space_policies(r)
        releases = zone_releases(zone, r)
        deployments = state.deployments(r)
        records = state.packages(r)
        targets = list_targets(r)
        held = state.held_elsewhere(r)
        history = History(state.deliveries(r))
    keep = decide_by_space(releases, deployments, policies, now)
    every = {"default": {"": state.Policy()}, **policies}  # Default's default is always shown
    plan = PrunePlan(policies=sorted((p for mine in every.values() for p in mine.values()),
                                     key=lambda p: (p.space.casefold() != "default", p.space.casefold(),
                                                    p.environment.lower())))
    by_key = {(x["project_slug"].lower(), x["version"].lower()): x for x in releases}
    for key, x in sorted(by_key.items()):
        if keep.kept(key):
            plan.kept.append({"project": x["project"], "in_space": x["in_space"], "version": x["version"],
                              "reasons": keep.reasons[key]})
    uses = Uses.of(releases, keep)
    _plan_store(zone, plan, uses, releases, records, now)
    _plan_staging(zone, plan, now)
    for c in plan_chunk_lists(zone, kept_digests=uses.kept_digests, held=held, releases=releases, now=now,
                              leftover_age=LEFTOVER_AGE):
        plan.removals.append(Removal("chunk_list", c["what"], c["path"], c["size"], c["reason"], digest=c["digest"]))
    left_out: list[Any] = []
    if environments is not None:
        wanted = {e.casefold() for e in environments}
        left_out = [t for t in targets if t.environment.casefold() not in wanted]
        targets = [t for t in targets if t.environment.casefold() in wanted]
    judge = _Judge(keep, history, policies, now)
    with _fleet(zone, fleet, max_parallel) as used:
        _plan_targets(zone, plan, judge, uses, targets, left_out, deployments, used)
    return plan


def _plan_store(zone: Zone, plan: PrunePlan, uses: Uses, releases: list[dict[str, Any]],
                records: list[dict[str, Any]], now: EpochSeconds) -> None:
    store = zone.store
    candidates = [(rec["id"], rec["version"], rec["sha256"]) for rec in records]
    seen = {(rec["id"].lower(), rec["version"].lower()) for rec in records}
    for x in releases:  # a release created here: its packages have no record, only bytes in the store
        for p in x["packages"]:
            pair = (p["id"].lower(), p["version"].lower())
            if pair not in seen and p["sha256"] not in uses.kept_digests and store.has(p["sha256"]):
                seen.add(pair)
                candidates.append((p["id"], p["version"], p["sha256"]))
    removed_digests: set[str] = set()
    for package_id, version, sha in candidates:
        pair = (package_id.lower(), version.lower())
        if pair in uses.kept_pairs:
            continue
        path = store.path(sha)
        shared = sha in uses.kept_digests or sha in removed_digests
        size = 0 if shared or not path.is_file() else path.stat().st_size
        removed_digests.add(sha)
        users = uses.used_by.get(pair)
        reason = ("used only by releases retention lets go: " + ", ".join(users)) if users else "used by no release"
        plan.removals.append(Removal("package", f"{package_id} {version}", "" if shared else str(path), size,
                                     reason, (package_id, version, sha), digest=sha))
    referenced = {rec["sha256"] for rec in records} | set(uses.bytes_of)
    if _plain_dir(store.root):
        for sub in sorted(store.root.iterdir()):
            if not _plain_dir(sub):
                continue
            for f in sorted(sub.iterdir()):
                if f.is_file() and not f.is_symlink() and f.name not in referenced and _old(f, now):
                    plan.removals.append(Removal("store_file", f.name[:16] + "...", str(f), f.stat().st_size,
                                                 "no package record or release names it (left by an interrupted "
                                                 "import)", digest=f.name))


def _plan_staging(zone: Zone, plan: PrunePlan, now: EpochSeconds) -> None:
    for folder, why in stale_staging(zone.store, now):
        plan.removals.append(Removal("staging", folder.name, str(folder), tree_size(folder), why))


def _location(target: Target, found: dict[str, Any]) -> tuple[Any, ...]:
    """Which folder a target's work folder really is, from what its runner reported: the
    machine's id with the folder's device and inode (however the address and the path are
    spelled: ``127.0.0.1`` or ``localhost``, a trailing slash, a link), else the target itself
    (its work folder does not exist, so it holds nothing). Decision 411."""
    folder = found.get("folder")
    if isinstance(folder, list) and len(folder) == 3:
        return ("folder", str(folder[0]), int(folder[1]), int(folder[2]))
    return ("target", target.name)


@dataclass(frozen=True, slots=True)
class _Judge:
    """What a plan judges targets' folders by (``retention/per_target.py``)."""

    keep: Keep
    history: History
    policies: dict[str, dict[str, state.Policy]]
    now: EpochSeconds

    def kept(self, keepers: Iterable[Keeper]) -> Kept:
        return kept_on(keepers, self.history, self.keep, self.policies, self.now)


def _plan_targets(zone: Zone, plan: PrunePlan, judge: _Judge, uses: Uses, records: list[Any], left_out: list[Any],
                  deployments: list[dict[str, Any]], fleet: Fleet) -> None:
    ours, bytes_of = uses.releases_of, uses.bytes_of
    from bundlekit.deploy.service import isolation, open_target

    running = {d["id"] for d in deployments if d["state"] == "Executing"}
    finished = {d["id"] for d in deployments if d["state"] != "Executing"} - running
    local = isolation(zone)
    worker = LocalFolderTarget(f"{zone.name} worker", "(zone)", frozenset(), Path(get_worker(zone).folder), local)
    every = [open_target(record, local) for record in records] + [worker]
    # Every target is asked, then targets whose work folders are one folder (one machine reached
    # in two environments, or under two spellings) are pruned as one and keep what any of them keeps
    # (decision 910: judged per target). A target that cannot be asked may share its folder with
    # one that can: what it keeps is kept everywhere until it answers again; a target not asked
    # (another environment's, after a deployment) keeps what it runs everywhere.
    places: dict[tuple[Any, ...], tuple[Target, list[Keeper], dict[str, Any]]] = {}
    elsewhere = [Keeper(t.name, t.environment, full=False) for t in left_out]
    for target, found in zip(every, fleet.inventory(every)):
        label = "the zone's worker" if target is worker else f"target {target.name}"
        keeper = Keeper(None, "") if target is worker else Keeper(target.name, target.environment)
        if isinstance(found, BundleError):
            plan.skipped.append(f"{label} ({target.address}): not asked what it holds ({found.message} "
                                f"[{found.code}]); pruned next time"
                                + ("" if target is worker else
                                   f"; until then nothing kept for {target.environment} is removed anywhere, "
                                   f"nor anything kept on {target.name}"))
            if target is not worker:
                elsewhere.append(keeper)
            continue
        places.setdefault(_location(target, found), (target, [], found))[1].append(keeper)
    for target, here, found in places.values():
        kept_here = judge.kept(here + elsewhere)
        known, known_bytes = judge.history.got(k.name for k in here)
        on = " or ".join(k.label.removeprefix("target ") + (f" ({k.environment})" if k.name else "") for k in here)
        label = "the zone's worker" if target is worker else f"target {target.name}"
        plan.targets[target.name] = target
        base = f"{target.address}:" if isinstance(target, SshTarget) else ""
        work = base + str(found.get("work_dir") or target.address)
        keeper_items = tuple((k.name, k.environment, k.full) for k in here + elsewhere)

        def add(kind: str, what: str, path: str, size: Any, reason: str, item: tuple[str, ...]) -> None:
            plan.removals.append(Removal(
                kind, f"{target.name}: {what}", path, int(size), reason, target=target.name, item=item,
                package=(item[1], item[2]) if kind == "target_folder" else None,
                digest=item[1] if kind == "target_archive" else None, keepers=keeper_items,
                deployment=item[1] if kind == "work_folder" else None))

        def judged(releases: set[ReleaseKey] | None, what: str, path: str, package: tuple[str, str] | None = None,
                   digest: str | None = None) -> bool:
            """Whether the item may go; one prune has no record of is left, and said; a folder the
            releases kept do not explain is listed with why its target keeps it."""
            reasons = kept_here.why(releases or set(), package, digest)
            if reasons:
                if package is not None and not (releases or set()) & set(kept_here.releases):
                    plan.kept_on_targets.append({"target": target.name, "what": f"{target.name}: {what}",
                                                 "reasons": reasons})
                return False
            if not releases or (package not in known if package is not None else digest not in known_bytes):
                why = (f"no deployment this zone recorded on {on} installed it" if releases else
                       "no release this zone holds installs it")
                plan.left.append({"target": target.name, "what": f"{target.name}: {what}", "path": path,
                                  "reason": f"{why}; left (remove it by hand if nothing there uses it)"})
                return False
            return True
        for package_id, version, size in found.get("packages", []):
            path = f"{work}/{package_id}/{version}"
            pair = (str(package_id).lower(), str(version).lower())
            if judged(ours.get(pair), f"{package_id} {version}", path, package=pair):
                add("target_folder", f"{package_id} {version}", path, size,
                    f"no release kept on {on} installs it here", ("package", package_id, version))
        for sha256, file_name, size in found.get("archives", []):
            path = f"{work}/.bundlekit/packages/{sha256}/{file_name}"
            if judged(bytes_of.get(str(sha256)), str(file_name), path, digest=str(sha256)):
                add("target_archive", str(file_name), path, size,
                    f"the runner's copy of a package no release kept on {on} uses", ("archive", sha256, file_name))
        for deployment_id, size in found.get("work", []):
            if deployment_id in finished:
                add("work_folder", str(deployment_id), f"{work}/.bundlekit-work/{deployment_id}", size,
                    f"working folder of {deployment_id}, which has ended", ("work", deployment_id))
        if found.get("truncated"):
            plan.skipped.append(f"{label}: holds more than one prune lists; prune again to remove the rest")
    legacy = zone.home / "zone-target"
    if _plain_dir(legacy):
        plan.removals.append(Removal("legacy_folder", "the zone's old work folder", str(legacy), tree_size(legacy),
                                     "zone-level steps run in the worker's folder, outside the home"))


def refuse_if_pruning(zone: Zone) -> None:
    """Refuse (``ConflictError`` ``prune_in_progress``) while another prune of the zone holds its claim."""
    with zone.db.read() as r:
        if zone.db.held(r, state.PRUNE_CLAIM):
            _pruning(zone)


def _pruning(zone: Zone) -> None:
    raise ConflictError(f"another bundlekit prune of zone {zone.name} is removing files (on this or another "
                        "node); run this one again when it ends", code="prune_in_progress")


def apply_prune(zone: Zone, plan: PrunePlan, *, now: EpochSeconds, fleet: Fleet | None = None,
                max_parallel: int = DEFAULT_MAX_PARALLEL) -> PruneResult:
    """Remove what ``plan`` lists that retention still lets go; returns what went and what did
    not, and why.

    In one transaction: take the zone's prune claim (``ConflictError`` ``prune_in_progress``
    when another prune holds it; nothing is changed), decide again from the state as it is now
    and set aside each removal whose release became kept since the plan (a deployment or
    rollback made it current or previous, an import made it the latest) or whose deployment
    is running, and forget the package records of the rest. Then, still holding the claim so
    no deployment starts, the zone's files go (sizes measured as they go), then each target's
    runner removes that target's items (``fleet``: made and closed here when None); what was
    removed, and what was not and why, is recorded in one more transaction and the claim given
    back. A crash in between leaves unreferenced files, or target folders still there, which
    the next prune removes. Before each removal it asks, from a second connection, whether the
    claim is still its own (on PostgreSQL it ends with a lost connection, and imports and
    deployments on other nodes go ahead): if not, it stops there, records nothing, and is
    refused ``prune_claim_lost``; running prune again removes the rest (decision 771).
    """
    db = zone.db
    result = PruneResult()
    with ClaimWatch(db) as watch:
        with db.transaction() as tx:
            if not db.claim(tx, state.PRUNE_CLAIM):
                _pruning(zone)
            go = _still_let_go(zone, tx, plan, now, result)
            state.delete_packages(tx, [r.record for r in go if r.record is not None], now)
        watch.start([state.PRUNE_CLAIM])
        try:
            on_target: dict[str, list[Removal]] = {}
            for r in go:
                if r.target is not None:
                    on_target.setdefault(r.target, []).append(r)
                elif not r.path:
                    result.removed.append(r)
                else:
                    _refuse_if_lost(zone, watch, result, len(go))
                    freed, left = _remove(Path(r.path))
                    result.removed.append(dataclasses.replace(r, size=freed))
                    if left:
                        result.not_removed.append((r, left))
            if on_target:
                _refuse_if_lost(zone, watch, result, len(go))
                with _fleet(zone, fleet, max_parallel) as used:
                    requests = [(plan.targets[name], _prune_request(items)) for name, items in on_target.items()]
                    for items, answer in zip(on_target.values(), used.request_each(requests)):
                        _account(items, answer, result)
            with db.transaction() as tx:
                state.record_prune(tx, now, result.freed_bytes, {
                    "remove": [r.to_dict() for r in result.removed],
                    "not_removed": [dict(r.to_dict(), why=why) for r, why in result.not_removed]})
        finally:
            db.release(state.PRUNE_CLAIM)
    return result


def _refuse_if_lost(zone: Zone, watch: ClaimWatch, result: PruneResult, planned: int) -> None:
    """``ConflictError`` ``prune_claim_lost`` when the prune's claim is no longer its own."""
    if watch.lost():
        raise ConflictError(
            f"{zone.db.location}: prune's claim on zone {zone.name} ended (its connection to the state database "
            f"was lost) after {len(result.removed)} of {planned} removals; it stopped there, since imports and "
            "deployments on other nodes go ahead once the claim is gone. What it removed no release uses any more. "
            f"Run `bundlekit prune{home_flag()}` again to remove the rest", code="prune_claim_lost",
            details={"removed": len(result.removed), "planned": planned})


def _still_let_go(zone: Zone, tx: Reader, plan: PrunePlan, now: EpochSeconds, result: PruneResult) -> list[Removal]:
    """The removals of ``plan`` that the state as it is in ``tx`` still lets go; the others go
    to ``result.not_removed`` with why."""
    releases = zone_releases(zone, tx)
    deployments = state.deployments(tx)
    policies = state.space_policies(tx)
    keep = decide_by_space(releases, deployments, policies, now)
    judge = _Judge(keep, History(state.deliveries(tx)), policies, now)
    uses = Uses.of(releases, keep)
    names = {(x["project_slug"].lower(), x["version"].lower()): f"{x['project']} {x['version']}" for x in releases}
    referenced = {rec["sha256"] for rec in state.packages(tx)} | set(uses.bytes_of)
    running = {d["id"] for d in deployments if d["state"] == "Executing"}
    held = state.held_elsewhere(tx)

    def kept_now(keys: set[ReleaseKey]) -> str:
        key = sorted(keys)[0]
        return f"{names[key]} is kept now ({'; '.join(keep.reasons[key])}), since the plan was made"

    kept_by: dict[tuple[tuple[str | None, str, bool], ...], Kept] = {}

    def on_target(r: Removal, keys: set[ReleaseKey]) -> str:
        """Why a target's item is kept now (per target, decision 910), or ""."""
        if r.keepers not in kept_by:
            kept_by[r.keepers] = judge.kept(Keeper(*k) for k in r.keepers)
        kept = kept_by[r.keepers]
        package = (r.package[0].lower(), r.package[1].lower()) if r.package is not None else None
        reasons = kept.why(keys, package, None if package is not None else r.digest)
        by_release = sorted(keys & set(kept.releases))
        subject = names[by_release[0]] if by_release else r.what
        return f"{subject} is kept now ({'; '.join(reasons)}), since the plan was made" if reasons else ""

    go: list[Removal] = []
    for r in plan.removals:
        why = ""
        if r.record is not None:
            pair = (r.record[0].lower(), r.record[1].lower())
            if pair in uses.kept_pairs:
                why = kept_now({k for k in uses.releases_of.get(pair, set()) if keep.kept(k)})
            elif r.path and r.digest in uses.kept_digests:
                why = "a release kept now uses the same bytes, since the plan was made"
        elif r.kind == "store_file" and r.digest in referenced:
            why = "a release or package record names it now, since the plan was made"
        elif r.kind == "chunk_list" and r.digest is not None:
            why = chunk_list_kept_now(r.digest, kept_digests=uses.kept_digests, held=held)
        if r.package is not None:
            why = on_target(r, uses.releases_of.get((r.package[0].lower(), r.package[1].lower()), set())) or why
        if r.kind == "target_archive" and r.digest is not None:
            why = on_target(r, uses.bytes_of.get(r.digest, set())) or why
        if r.deployment is not None and r.deployment in running:
            why = f"{r.deployment} is running"
        if why:
            result.not_removed.append((r, why))
        else:
            go.append(r)
    return go


def _remove(path: Path) -> tuple[int, str]:
    """Remove a file or folder (never through a link); returns (bytes freed, why some is left or "")."""
    if path.is_symlink() or not os.path.lexists(path):
        return 0, ""
    folder = path.is_dir()
    before = tree_size(path) if folder else path.lstat().st_size
    problem = ""
    try:
        if folder:
            remove_tree(path)
        else:
            path.unlink()
    except OSError as error:
        problem = f"{error.filename or path}: {error.strerror or error}"
    left = (tree_size(path) if folder else path.lstat().st_size) if os.path.lexists(path) else 0
    return before - left, (f"could not remove all of it ({problem}); prune again once that is fixed"
                           if problem or os.path.lexists(path) else "")


def _prune_request(items: list[Removal]) -> dict[str, Any]:
    """A runner's ``prune`` request for ``items`` (``spec/runner.md`` section 4)."""
    return {"op": "prune", "packages": [list(r.item[1:]) for r in items if r.item[0] == "package"],
            "archives": [list(r.item[1:]) for r in items if r.item[0] == "archive"],
            "work": [r.item[1] for r in items if r.item[0] == "work"]}


def _runner_key(item: tuple[str, ...]) -> tuple[str, str]:
    """How the runner's answer names an item: ``(kind, "id version" | "sha256/file" | deployment id)``."""
    kind = item[0]
    return (kind, f"{item[1]} {item[2]}") if kind == "package" else (
        (kind, f"{item[1]}/{item[2]}") if kind == "archive" else (kind, item[1]))


def _account(items: list[Removal], answer: dict[str, Any] | BundleError, result: PruneResult) -> None:
    """Sort one target's items into removed (with the size its runner measured) and not removed."""
    if isinstance(answer, BundleError):
        result.not_removed += [(r, f"{answer.message} [{answer.code}]") for r in items]
        return
    removed = {(str(k), str(w)): int(size) for k, w, _path, size in answer.get("removed", [])}
    gone = {(str(k), str(w)) for k, w in answer.get("missing", [])}
    busy = {(str(k), str(w)) for k, w in answer.get("busy", [])}
    failed = {(str(k), str(w)): str(why) for k, w, why in answer.get("failed", [])}
    for r in items:
        key = _runner_key(r.item)
        if key in removed:
            result.removed.append(Removal(r.kind, r.what, r.path, removed[key], r.reason, target=r.target,
                                          item=r.item))
        elif key in gone:
            result.removed.append(Removal(r.kind, r.what, r.path, 0, "already gone", target=r.target, item=r.item))
        elif key in busy:
            result.not_removed.append((r, "in use by a deployment running on the target; pruned next time"))
        else:
            result.not_removed.append((r, failed.get(key, "the target's runner did not report it")))
