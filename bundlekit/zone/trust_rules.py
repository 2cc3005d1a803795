"""Changing a trust rule in place (`bundlekit trust set`): its globs, threshold and space,
planned (every check, nothing written) then applied.

Every setting ``trust add`` takes but the card itself can be changed here, the rest of the rule
kept: ``trust remove`` then ``trust add`` loses whatever is not typed again (``--via``,
``--evidence-for``, approvers, shared packages; review newuser findings 2 and 7). The refusal of
a second ``trust add`` names the ``trust set`` command instead (:func:`set_command`).

Also here: what a rule's ``--spaces`` globs say next to the space it belongs to
(:func:`space_warnings`, decision 946): a rule of ``Default`` whose globs match only another
space of this zone was most likely meant for that space (``--spaces Payments`` for ``--space
Payments``), and a rule of another space whose globs do not match it admits nothing.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, Sequence

from bundlekit.core.hints import home_flag
from bundlekit.core.text import shell_word
from bundlekit.errors import UsageError
from bundlekit.trust.policy import SourcePolicy, glob_options, matches_any, policy_denial, policy_widening
from bundlekit.zone import truststore
from bundlekit.zone.home import Zone
from bundlekit.zone.spaces import DEFAULT, space_names

__all__ = ["RuleChange", "plan_change", "apply_change", "space_warnings", "set_command", "relay_warnings"]


@dataclass(frozen=True, slots=True)
class RuleChange:
    """A checked change of one trust rule (:func:`plan_change`), applied by :func:`apply_change`.
    Each field None is kept as the rule has it when applied; ``via`` holds zone ids."""

    zone_id: str
    name: str
    from_space: str
    space: str
    spaces: tuple[str, ...] | None = None
    projects: tuple[str, ...] | None = None
    environments: tuple[str, ...] | None = None
    threshold: int | None = None
    via: tuple[str, ...] | None = None
    space_given: bool = False

    @property
    def moves(self) -> bool:
        return self.space.casefold() != self.from_space.casefold()


def plan_change(zone: Zone, name: str, *, spaces: Sequence[str] | None = None,
                projects: Sequence[str] | None = None, environments: Sequence[str] | None = None,
                threshold: int | None = None, space: str | None = None,
                via: Sequence[str] | None = None) -> RuleChange:
    """Check a change of trusted zone ``name``'s rule, writing nothing: the glob lists and
    threshold given replace the rule's; ``space`` (a space of this zone, resolved by the caller)
    moves the rule there, so the zone's later releases enter it while the projects it created
    stay in their space (a project never moves, decision 660); ``via`` (relay names or ids, in
    order) replaces its relays, checked in the space the rule ends in, as a moved rule's own
    relays are.

    Raises ``StateError`` ``unknown_zone``; ``UsageError`` ``invalid_policy`` for a threshold
    outside 1..MAX_SIGNATURES, a relay not trusted in the space the rule ends in, or a move while
    another rule relays through this zone in its present space (a relay must be trusted in the
    space the releases it relays enter, decision 905)."""
    entry = truststore.get_zone(zone, name)
    if threshold is not None and not 1 <= threshold <= truststore.MAX_SIGNATURES:
        raise UsageError(f"--threshold {threshold} cannot be met: a bundle counts from 1 to "
                         f"{truststore.MAX_SIGNATURES} signatures; give a threshold in that range; nothing was "
                         "changed", code="invalid_policy")
    in_space = space if space is not None else entry.space
    moves = in_space.casefold() != entry.space.casefold()
    relays = truststore.via_ids(zone, entry.via if via is None else via, source=entry.zone_id,
                                space=in_space) if moves or via is not None else None
    if moves:
        _check_relayed_through(zone, entry, in_space)
    return RuleChange(entry.zone_id, entry.name, entry.space, in_space,
                      None if spaces is None else tuple(spaces), None if projects is None else tuple(projects),
                      None if environments is None else tuple(environments), threshold, relays, space is not None)


def apply_change(zone: Zone, change: RuleChange) -> tuple[truststore.TrustEntry, list[str]]:
    """Write ``change`` in one transaction, onto the rule as it is then (what other ``trust set``
    options wrote since the plan is kept). Returns the entry as it reads now and the warnings for
    the operator (sentences): a moved rule's projects left behind, and :func:`space_warnings`."""
    with zone.db.transaction() as tx:
        row = tx.one("SELECT policy FROM trusted_zones WHERE zone_id = ?", (change.zone_id,))
        assert row is not None, change.name  # planned in this command, and nothing removes it
        p = SourcePolicy.from_dict(json.loads(row["policy"]))
        policy = dataclasses.replace(
            p, spaces=p.spaces if change.spaces is None else change.spaces,
            projects=p.projects if change.projects is None else change.projects,
            environments=p.environments if change.environments is None else change.environments,
            threshold=p.threshold if change.threshold is None else change.threshold,
            via=p.via if change.via is None else change.via)
        left = tx.scalar("SELECT COUNT(*) FROM projects WHERE source_zone_id = ? AND in_space = ?",
                         (change.zone_id, change.from_space)) if change.moves else 0
        tx.run("UPDATE trusted_zones SET policy = ?, in_space = ? WHERE zone_id = ?",
               (json.dumps(policy.to_dict()), change.space, change.zone_id))
    warnings = []
    if left:
        warnings.append(f"zone {change.name}'s {left} project(s) of space {change.from_space} stay there (a project "
                        f"never moves between spaces): their later releases are refused (space_denied) while its "
                        f"rule is in space {change.space}")
    warnings += space_warnings(zone, change.name, change.space, policy.spaces, space_given=change.space_given)
    if (change.spaces, change.projects, change.environments) != (None, None, None):
        warnings += relay_warnings(zone, change.zone_id)
    return truststore.get_zone(zone, change.zone_id), warnings


def relay_warnings(zone: Zone, relay_id: str) -> list[str]:
    """What trusted zone ``relay_id``'s policy, as it reads now, no longer lets it relay: for each
    rule whose ``--via`` names it and each project of that rule's source this zone holds, the
    project's releases its policy does not admit (its ``project.space``, name or slug, or an
    environment the project's last release names: decision 905's check, which refuses them
    ``untrusted_relay``), as sentences naming the commands that fix it (review atk35 #6, decision
    961); none when it still admits them all. Projects this zone does not hold yet cannot be told."""
    relay = next((s for s in truststore.sources(zone) if s.zone_id == relay_id), None)
    if relay is None:
        return []
    out = []
    for rule in truststore.list_zones(zone):
        if relay_id not in rule.policy.via:
            continue
        for p in zone.db.all("SELECT slug, name, space, base FROM projects WHERE source_zone_id = ? ORDER BY name",
                             (rule.zone_id,)):
            envs = _environments(json.loads(p["base"]))
            denied = policy_denial(relay, space=p["space"], project=p["name"], project_slug=p["slug"], environments=envs)
            if denied is None:
                continue
            widen = policy_widening(relay, space=p["space"], project=p["name"], project_slug=p["slug"],
                                    environments=envs)
            out.append(f"zone {relay.name} relays the releases of zone {rule.name} (its rule's --via), but its rule "
                       f"here does not admit those of project {p['name']} now: not {denied}. None of them is accepted "
                       f"(untrusted_relay) until {relay.name} may relay them (`{widen}{home_flag()}`) or zone {rule.name}'s rule "
                       f"changes (`bundlekit trust set {shell_word(rule.name)} --no-via{home_flag()}`, or --via another zone)")
    return out


def _environments(snapshot: dict[str, Any]) -> set[str]:
    """Every environment a project snapshot names (variable scopes and step filters), as a release's
    environments are counted for a trust policy (``importer/contents.bundle_environments``)."""
    envs: set[str] = set()
    for v in snapshot.get("variables", {}).values():
        envs.update((v.get("scope") or {}).get("environment", ()))
    for step in snapshot.get("steps", {}).values():
        envs.update(step.get("environments") or ())
    return envs


def _check_relayed_through(zone: Zone, relay: truststore.TrustEntry, space: str) -> None:
    """Refuse to move ``relay`` to ``space`` while a rule requires releases to come through it that
    it could not relay from there: releases entering another space than ``space``, unless
    ``space`` is Default, whose relays relay for every space (decisions 905, 945)."""
    stranded = truststore.stranded_rules(zone.db, relay.zone_id, space)
    if stranded:
        raise truststore.stranded_refusal(f"--space {space}", relay.name, space, stranded,
                                          f"keep it in space {relay.space}")


def space_warnings(zone: Zone, zone_name: str, space: str, globs: Sequence[str], *,
                   space_given: bool) -> list[str]:
    """What is likely wrong with the ``--spaces`` globs of zone ``zone_name``'s rule of ``space`` in
    ``zone`` (decision 946), as sentences for the operator naming the command that fixes it; none
    when nothing is:

    - in ``Default`` (``space_given`` False: ``--space`` was left out), globs that match spaces of
      this zone but not ``Default``: its releases naming those spaces enter ``Default`` and stay
      there; ``--space`` was most likely meant;
    - in another space, globs that do not match it: a release enters that space only when it
      names it (decision 660), so the rule admits nothing."""
    if globs == ("*",):
        return []
    shown, home = glob_options("--spaces", globs), f"--home {shell_word(str(zone.home))}"
    if space.casefold() != DEFAULT.casefold():
        if matches_any(space, globs):
            return []
        return [f"{shown} admits no release of zone {zone_name}: it is trusted in space {space}, which a release "
                f"enters only when its release file names that space ([project] space), and {space} does not "
                f"match; to admit them: `bundlekit trust set {shell_word(zone_name)} --spaces {shell_word(space)} "
                f"{home}`"]
    named = [s for s in space_names(zone.db) if s.casefold() != DEFAULT.casefold() and matches_any(s, globs)]
    if space_given or not named or matches_any(DEFAULT, globs):
        return []
    return [f"{shown} lets zone {zone_name} send releases naming space {', '.join(named)}, but --space was not "
            f"given, so its rule is in space {DEFAULT} and those releases enter space {DEFAULT} here (a project "
            f"then stays in {DEFAULT} for good). If they are meant for space {named[0]}, move the rule before the "
            f"first import: `bundlekit trust set {shell_word(zone_name)} --space {shell_word(named[0])} {home}`"]


def set_command(name: str, options: Sequence[str]) -> str:
    """``bundlekit trust set NAME OPTIONS...``: the command that changes trusted zone ``name``'s
    rule as ``options`` (already shell-quoted words, as ``trust add`` was given them) say."""
    return " ".join(["bundlekit trust set", shell_word(name), *options])
