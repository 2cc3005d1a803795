"""`retention` and `prune`: how much a zone keeps, and removing the rest (planned, printed, then done)."""

from __future__ import annotations

from typing import Any

import click

from bundlekit.core.hints import home_flag
from bundlekit.cli import cli
from bundlekit.cli.space_cmds import space_column, space_filter_option, space_option
from bundlekit.cli.common import AsciiIntRange, echo, emit_json, home_option, json_option, quiet_option
from bundlekit.cli.zones import open_home
from bundlekit.core import clock
from bundlekit.core.clock import when_text
from bundlekit.core.text import size_text
from bundlekit.errors import ConflictError, UsageError
from bundlekit.deploy.targets import DEFAULT_MAX_PARALLEL
from bundlekit.retention.prune import PrunePlan, PruneResult, apply_prune, plan_prune, refuse_if_pruning
from bundlekit.zone import retention as state
from bundlekit.zone.environments import resolve_environment
from bundlekit.zone.home import Zone
from bundlekit.zone.retention import MAX_KEEP
from bundlekit.zone.spaces import DEFAULT, resolve_space, space_names

__all__ = ["size_text", "after_deploy", "pruned_note"]



@cli.group(epilog="bundlekit retention set --keep 3 --auto-prune --home ./prod\nbundlekit retention show --home ./prod")
def retention() -> None:
    """How many releases this zone keeps per project and environment (Octopus's retention policy)."""


@retention.command("show", epilog="bundlekit retention show --home ./prod --json\n"
                                  "bundlekit retention show --space Payments --home ./prod")
@home_option
@space_filter_option
@json_option
def retention_show(home: str | None, space: str | None, as_json: bool) -> None:
    """Show the retention policies of every space (or of --space), per-environment overrides and
    the last prune. A space's policies judge only its own projects' releases."""
    with open_home(home) as z:
        shown = [resolve_space(z.db, space)] if space is not None else space_names(z.db)
        # every space shown has a default policy: its own, or keeping every release
        policies = [p for name in shown
                    for p in sorted(state.policies(z.db, name).values(), key=lambda p: p.environment.lower())]
        spaces = space_column(z.db, space)
        last = state.last_prune(z.db)
    if as_json:
        emit_json({"policies": [p.to_dict() for p in policies], "last_prune": last})
        return
    for p in policies:
        auto = "; prune after each successful deployment" if p.auto_prune else ""
        where = f"{p.space:<12} " if spaces else ""
        echo(f"{where}{p.environment or 'default':<14} {p.describe()}{auto}")
    if last:
        echo(f"last prune {when_text(last['at'], clock.now())}: freed {size_text(last['freed_bytes'])}")
        for line in _removed_lines(last):
            echo(line)
    else:
        echo(f"never pruned; see `bundlekit prune --dry-run{home_flag()}`")


@retention.command("set", epilog="bundlekit retention set --keep 3 --home ./prod\n"
                                 "bundlekit retention set --keep-days 30 --environment Staging --home ./prod")
@click.option("--keep", "keep_releases", type=AsciiIntRange(min=1, max=MAX_KEEP), default=None,
              help="Keep the last N releases deployed per project and environment.")
@click.option("--keep-days", "keep_days", type=AsciiIntRange(min=1, max=MAX_KEEP), default=None,
              help="Keep releases deployed in the last N days.")
@click.option("--keep-all", is_flag=True, help="Keep every release (the default policy).")
@click.option("--environment", default="", help="Set the policy of one environment (default: the zone's default).")
@click.option("--auto-prune/--no-auto-prune", default=None,
              help="Prune after each successful deployment (zone default only).")
@click.option("--new", is_flag=True, help="The environment is new, though its name is close to a known one.")
@home_option
@space_option
@json_option
def retention_set(keep_releases: int | None, keep_days: int | None, keep_all: bool, environment: str,
                  auto_prune: bool | None, new: bool, home: str | None, space: str, as_json: bool) -> None:
    """Set how many releases of --space's projects to keep (another space's releases are never
    judged by it); the current and previous successful release of every environment are kept
    whatever the policy says."""
    if sum(x is not None and x is not False for x in (keep_releases, keep_days, keep_all or None)) > 1:
        raise UsageError("give one of --keep N, --keep-days N or --keep-all", code="usage")
    if environment and auto_prune is not None:
        raise UsageError("--auto-prune belongs to the zone's default policy; leave out --environment",
                         code="usage")
    with open_home(home) as z:
        space = resolve_space(z.db, space)
        if environment:  # the zone's spelling; a typo of a known name is refused (decision 394)
            environment = resolve_environment(z.db, environment, new=new)
        policy = state.change_policy(z.db, environment, keep_releases=keep_releases, keep_days=keep_days,
                                     keep_all=keep_all, auto_prune=auto_prune, now=clock.now(), space=space)
        spaces = space_column(z.db, None)
    if as_json:
        emit_json(policy.to_dict())
    else:
        where = f" of space {space}" if spaces else ""
        echo(f"retention{where} for {environment or 'the zone'}: {policy.describe()}"
             + ("; prune after each successful deployment" if policy.auto_prune else ""))


def _print_plan(plan: PrunePlan, dry_run: bool, spaced: bool = False) -> None:
    if not plan.removals:
        echo("nothing to prune: retention keeps everything this zone holds")
    else:
        echo("would remove:" if dry_run else "removing:")
        for r in plan.removals:
            echo(f"  {r.kind:<14} {r.what:<36} {size_text(r.size):>10}  {r.reason}")
    for k in plan.kept:
        where = f" (space {k['in_space']})" if spaced else ""
        echo(f"  keep           {k['project']} {k['version']}{where}: {'; '.join(k['reasons'])}")
    for k in plan.kept_on_targets:
        echo(f"  keep           {k['what']}: {'; '.join(k['reasons'])}")
    for note in plan.skipped:
        echo(f"  skipped        {note}")
    for left in plan.left:
        echo(f"  left           {left['what']}: {left['reason']}")
    if plan.removals and dry_run:
        echo(f"would free {size_text(plan.freed_bytes)}")


def _print_result(result: PruneResult) -> None:
    for r, why in result.not_removed:
        echo(f"  not removed    {r.what}: {why}")
    if result.removed or result.not_removed:
        echo(f"freed {size_text(result.freed_bytes)}" + (f"; {len(result.not_removed)} item(s) not removed"
                                                        if result.not_removed else ""))


def _outcome(plan: PrunePlan, result: PruneResult) -> dict[str, Any]:
    """The plan as ``--json`` shows it, with what was really freed and what was not removed (and why)."""
    return {**plan.to_dict(), "freed_bytes": result.freed_bytes, "not_removed": result.to_dict()["not_removed"]}


@cli.command(epilog="bundlekit prune --dry-run --home ./prod\nbundlekit prune --home ./prod --json")
@click.option("--dry-run", is_flag=True, help="Print what would be removed; remove nothing, here or on a target.")
@click.option("--max-parallel", type=AsciiIntRange(min=1), default=DEFAULT_MAX_PARALLEL, show_default=True,
              help="How many targets are asked (and pruned) at once.")
@home_option
@quiet_option
@json_option
def prune(dry_run: bool, max_parallel: int, home: str | None, quiet: bool, as_json: bool) -> None:
    """Remove what the retention policy no longer keeps: packages in the store, staging leftovers,
    chunk lists of packages no delta export can use any more, and old version folders and
    package copies on every target, SSH targets included, through each target's step runner
    (never the current or previous successful release of any environment, nor the release last
    deployed successfully to a target or the one before there; a folder no deployment recorded
    on its target is left and listed). The plan is printed
    first; a target that cannot be reached is listed as skipped and pruned next time. What a
    deployment made current after the plan is left alone and listed as not removed; no
    deployment starts and no import commits while files go."""
    from bundlekit.deploy.service import zone_fleet  # asyncio: only when pruning

    now = clock.now()
    result: PruneResult | None = None
    with open_home(home) as z, zone_fleet(z, max_parallel) as fleet:
        refuse_if_pruning(z)
        plan = plan_prune(z, now=now, fleet=fleet)
        if not as_json and not quiet:  # --quiet: only the outcome's line
            _print_plan(plan, dry_run, spaced=space_column(z.db, None))
        elif quiet and dry_run and not as_json:
            echo(f"would remove {len(plan.removals)} item(s), freeing {size_text(plan.freed_bytes)}")
        if not dry_run:
            result = apply_prune(z, plan, now=now, fleet=fleet)
            if not as_json:
                _print_result(result)
    if as_json:
        emit_json({**(plan.to_dict() if result is None else _outcome(plan, result)), "dry_run": dry_run})


def auto_prunes(zone: Zone, space: str) -> bool:
    """Whether a successful deployment of a project of ``space`` is followed by a prune."""
    return state.policies(zone.db, space)[""].auto_prune


def after_deploy(zone: Zone, *, now: clock.EpochSeconds, environment: str,
                 max_parallel: int = DEFAULT_MAX_PARALLEL, space: str = DEFAULT,
                 show_plan: bool = False) -> dict[str, Any] | None:
    """Prune after a successful deployment of a project of ``space`` when that space's policy asks
    for it: the store, and the targets of the environment just deployed (each asked through its
    runner), every space's releases judged by their own space's policies; returns what was
    removed as ``--json`` shows it (None when auto-prune is off). ``show_plan``: print what will
    be removed before removing anything, as `bundlekit prune` does (review v33-15u F4)."""
    if not auto_prunes(zone, space):
        return None
    from bundlekit.deploy.service import zone_fleet

    with zone_fleet(zone, max_parallel) as fleet:
        plan = plan_prune(zone, now=now, fleet=fleet, environments=[environment])
        if show_plan and plan.removals:
            echo("retention (auto-prune after this deployment) is removing:")
            for r in plan.removals:
                echo(f"  {r.kind:<14} {r.what:<36} {size_text(r.size):>10}  {r.reason}")
        try:
            return _outcome(plan, apply_prune(zone, plan, now=now, fleet=fleet))
        except ConflictError as error:  # the deployment succeeded: another prune running is no failure of it
            if error.code != "prune_in_progress":
                raise
            return {**plan.to_dict(), "remove": [], "freed_bytes": 0, "not_removed": [],
                    "skipped": [*plan.skipped, error.message]}


def pruned_note(pruned: dict[str, Any] | None) -> str | None:
    """What a deployment prints after auto-prune removed something: the count, then each item
    removed (and each not removed, with why), as `bundlekit prune` lists them (review r1015u F5)."""
    if not pruned or not pruned["remove"]:
        return None
    removed = len(pruned["remove"]) - len(pruned["not_removed"])
    return "\n".join([f"retention: removed {removed} item(s), freed {size_text(pruned['freed_bytes'])} "
                      f"(`bundlekit retention show{home_flag()}`)", *_removed_lines(pruned)])


def _removed_lines(pruned: dict[str, Any]) -> list[str]:
    """One line per item a prune removed (kind, what, size, why it could go) and per item it did not."""
    gone = {r["what"] for r in pruned.get("not_removed", [])}
    lines = [f"  removed        {r['kind']:<14} {r['what']:<36} {size_text(r['bytes']):>10}  {r['reason']}"
             for r in pruned.get("remove", []) if r["what"] not in gone]
    lines += [f"  not removed    {r['what']}: {r.get('why', '')}" for r in pruned.get("not_removed", [])]
    return lines
