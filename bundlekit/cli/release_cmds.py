"""`releases` and `lifecycle`: the releases a zone holds, and where their lifecycles let them go."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from bundlekit.cli import cli
from bundlekit.cli.space_cmds import space_column, space_filter_option, space_option
from bundlekit.zone.spaces import resolve_space
from bundlekit.cli.common import echo, emit_json, home_option, json_option
from bundlekit.core.operator import operator_name
from bundlekit.cli.zones import open_home
from bundlekit.core import clock
from bundlekit.core.clock import when_text
from bundlekit.core.hints import in_space, here_flags
from bundlekit.export.register import create_release
from bundlekit.importer import edits
from bundlekit.promotion import gate
from bundlekit.retention.pruned import pruned_releases
from bundlekit.zone import projects
from bundlekit.core.text import shell_word


@cli.group(epilog="bundlekit releases list --home ./prod --json\nbundlekit releases create release.toml --home ./dev")
def releases() -> None:
    """Releases in this zone: imported from another zone, or created here."""


@releases.command("list", epilog="bundlekit releases list --home ./prod\nbundlekit releases list --space Payments --home ./prod")
@home_option
@space_filter_option
@json_option
def releases_list(home: str | None, space: str | None, as_json: bool) -> None:
    """List the releases (imported or created here) by project: of every space, each naming its
    project's space, or of --space's projects only."""
    with open_home(home) as z:
        if space is not None:
            space = resolve_space(z.db, space)
        rows = projects.list_releases(z.db, space=space)
        gone = pruned_releases(z)
        spaces = space_column(z.db, space)
    for r in rows:
        r["pruned"] = (r["slug"].lower(), r["version"].lower()) in gone
    if as_json:
        emit_json({"releases": rows})
        return
    if not rows:
        echo(f"no releases yet{in_space(space)}; import a bundle (`bundlekit import BUNDLE{here_flags(space)}`) or "
             f"create one (`bundlekit releases create RELEASE_FILE{here_flags(space)}`)")
        return
    now = clock.now()
    origins = ["created here" if r["local"] else f"from {r['source'] or '?'} seq {r['sequence']}" for r in rows]
    wide = max(len(o) for o in origins)
    # a header row names the columns: the space and the channel both read "Default" (finding newuser 14)
    echo(f"{'Space':<12} " * spaces + f"{'Project':<24} {'Version':<12} {'Channel':<10} {'Source':<{wide}}  Added")
    for r, origin in zip(rows, origins):
        phases = " lifecycle " + " > ".join(p["name"] for p in r["lifecycle"]["phases"]) if r["lifecycle"] else ""
        pruned = "  (packages pruned: `deploy` says how to bring them back)" if r["pruned"] else ""
        where = f"{r['in_space']:<12} " if spaces else ""
        echo(f"{where}{r['project']:<24} {r['version']:<12} {r['channel']:<10} {origin:<{wide}}  "
             f"{when_text(r['imported_at'], now)}{phases}{pruned}")


@releases.command("create", epilog="bundlekit releases create release.toml --home ./dev")
@click.argument("release_file", type=click.Path(dir_okay=False, path_type=Path))
@home_option
@click.option("--replace", is_flag=True, help="Replace a release of the same version created with other content.")
@space_option
@json_option
def releases_create(release_file: Path, home: str | None, replace: bool, space: str, as_json: bool) -> None:
    """Create a release in this zone from a release file, to deploy it here (export does this too).
    A new project belongs to the space the release file names (project.space), else to --space; an
    existing one must already belong to it, and --space must agree with the file.

    The release keeps the variables it is created with; its packages go into this zone's
    package store. It is linted first, as export lints it: an error `bundlekit lint` reports
    refuses it (release_lint_failed), a warning is printed."""
    # the release file's space decides; --space given by hand must agree with it (decision 887)
    explicit = click.get_current_context().get_parameter_source("space") is not ParameterSource.DEFAULT
    with open_home(home) as z:
        reg = create_release(z, release_file, replace=replace, now=clock.now(), space=resolve_space(z.db, space),
                             explicit=explicit)
        placed = projects.find_project(z.db, reg.release.project["slug"], z.name).in_space
    info = reg.to_dict()
    if as_json:
        emit_json({**info, "warnings": [w.to_dict() for w in reg.warnings]})
        return
    for w in reg.warnings:  # on stderr, as export prints them
        echo(w.text(), err=True)
    verb = {"created": "created", "replaced": "replaced", "unchanged": "already created (unchanged):"}[reg.status]
    echo(f"{verb} {info['project']} {info['version']} in zone {z.name}{in_space(placed)}; deploy it with "
         f"`bundlekit deploy {shell_word(info['slug'])} {shell_word(info['version'])} --environment ENV{here_flags(placed)}`")


def _change_line(c: dict[str, Any]) -> str:
    scope = " ".join(f"{k}={','.join(x)}" for k, x in c["scope"].items())
    name = c["name"] + (f" [{scope}]" if scope else "")
    show = (lambda v: "<unbound>" if v is None else v if c["sensitive"] else repr(v))  # noqa: E731
    if c["action"] == "add":
        return f"  add     {name} = {show(c['new'])}"
    if c["action"] == "remove":
        return f"  remove  {name} (was {show(c['old'])})"
    return f"  update  {name}: {show(c['old'])} -> {show(c['new'])}"


@releases.command("update-variables", epilog="bundlekit releases update-variables acme-web 1.4.0 --dry-run "
                                             "--home ./prod\nbundlekit releases update-variables acme-web 1.4.0 "
                                             "--home ./prod")
@click.argument("project")
@click.argument("version")
@home_option
@click.option("--dry-run", is_flag=True, help="Print the plan; change nothing.")
@space_option
@json_option
def releases_update_variables(project: str, version: str, home: str | None, dry_run: bool, space: str,
                              as_json: bool) -> None:
    """Refresh a release's variables from the project's current ones (those of its newest release).

    Prints the plan first (sensitive values masked). This zone's own values keep applying on
    top of the release's."""
    with open_home(home) as z:
        space = resolve_space(z.db, space)
        lifecycle = gate.describe(z, project, version, space=space)["lifecycle"] or {"phases": []}
        # what earlier phases tested ran the values this replaces; their proof keeps counting (decision 682)
        passed = [p["name"] for p in lifecycle["phases"] if p["passed"]]
        if dry_run:
            plan = edits.plan_update_variables(z, project, version, space=space)
            plan.pop("variables")
        else:
            plan = edits.update_variables(z, project, version, now=clock.now(), space=space)
    plan["dry_run"] = dry_run
    plan["phases_passed"] = passed if plan["changes"] else []
    if as_json:
        emit_json(plan)
        return
    if not plan["changes"]:
        echo(f"{plan['project']} {plan['release']} already has the project's current variables "
             f"(those of {plan['from_release']}); nothing to change")
        return
    verb = "would update" if dry_run else "updated"
    echo(f"{verb} the variables of {plan['project']} {plan['release']} from {plan['from_release']}:")
    for c in plan["changes"]:
        echo(_change_line(c))
    if plan["phases_passed"]:
        echo(f"  this changes what earlier phases tested: {', '.join(plan['phases_passed'])} passed with the values "
             "it replaces; that proof keeps counting, and `lifecycle show` and later deployments say the variables "
             "were updated after it")


@cli.group(epilog="bundlekit lifecycle show acme-web 2.0.0 --home ./prod")
def lifecycle() -> None:
    """Where a release's lifecycle lets it go, and the zone's waivers."""


@lifecycle.command("show", epilog="bundlekit lifecycle show acme-web 2.0.0 --home ./prod --json")
@click.argument("project")
@click.argument("version", required=False)
@click.option("--tenant", default=None, help="Progress of a tenant's deployments.")
@home_option
@space_option
@json_option
def lifecycle_show(project: str, version: str | None, tenant: str | None, home: str | None, space: str,
                   as_json: bool) -> None:
    """Each phase of a release (default: the newest), what passed it, and the open environments."""
    with open_home(home) as z:
        info = gate.describe(z, project, version, tenant=tenant, space=resolve_space(z.db, space))
    if as_json:
        emit_json(info)
        return
    if info["lifecycle"] is None:
        echo(f"{info['project']} {info['release']} has no lifecycle: it may be deployed to any environment")
        return
    echo(f"{info['project']} {info['release']}" + (f" for tenant {tenant}" if tenant else ""))
    if info.get("lifecycle_weakened"):
        echo(f"  lifecycle kept from {info['project']} {info['lifecycle_kept_from']}: this release's own demands "
             f"less ({'; '.join(info['lifecycle_weakened'])}; import it with --accept-lifecycle-removal to use it)")
    elif info.get("lifecycle_kept_from"):
        echo(f"  lifecycle kept from {info['project']} {info['lifecycle_kept_from']}: this release's file carries "
             "none (import it with --accept-lifecycle-removal to deploy it without one)")
    for p in info["lifecycle"]["phases"]:
        state = "passed" if p["passed"] else "waived" if p["waived"] else "optional" if p["optional"] else "to pass"
        echo(f"  {p['name']:<16} {', '.join(p['environments']):<32} {len(p['succeeded'])}/"
             f"{p['minimum_successful']}  {state}")
        for e in p["evidence"]:
            echo(f"      {e}")
        if p.get("variables_updated_after"):
            echo(f"      variables updated after {p['name']} passed ({when_text(info['variables_updated'], clock.now())}, "
                 "`releases update-variables`): what passed ran the earlier values")
        for i in info["not_counted"]:
            if i["environment"].casefold() in {e.casefold() for e in p["environments"]}:
                echo(f"      not counted: {i['evidence']}: {i['why']}")
    now = clock.now()
    for w in info["waivers"]:
        echo(f"  waiver: {_waiver_text(w, now)}")
    for d in info["relied_on"]:
        for w in d["waivers"]:
            echo(f"  {d['deployment_id']} ({d['environment']}{', ' + d['tenant'] if d['tenant'] else ''}, {d['state']}) "
                 f"relied on a waiver of {w['phase']}" + (f": {w['reason']}" if w.get("reason") else "")
                 + (f", by {w['author']}" if w.get("author") else "")
                 + (" (since withdrawn)" if w["withdrawn"] else ""))
    echo(f"  deployable to: {', '.join(info['open']) or 'none until a phase above passes'}")


def _waiver_text(w: dict[str, Any], now: clock.EpochSeconds) -> str:
    """One waiver for people: phase, which releases, reason, who and when."""
    which = "every release" if w["release"] == "*" else w["release"]
    by = f" by {w['author']}" if w.get("author") else ""
    relied = f"; relied on by {', '.join(w['relied_on'])}" if w.get("relied_on") else ""
    gone = "; since withdrawn" if w.get("withdrawn") else ""
    return f"{w['phase']} ({which}): {w['reason']} (waived{by}, {when_text(w['created'], now)}{relied}{gone})"


@lifecycle.command("waive", epilog="bundlekit lifecycle waive acme-web --phase Staging --release 2.0.1 "
                                   "--reason 'hotfix, CAB-1234' --home ./prod")
@click.argument("project")
@click.option("--phase", required=True, help="The phase that need not be passed.")
@click.option("--release", "release", default=None, help="Only for this release (default: every release).")
@click.option("--reason", required=True, help="Why; recorded with every deployment that relies on the waiver.")
@home_option
@space_option
@json_option
def lifecycle_waive(project: str, phase: str, release: str | None, reason: str, home: str | None, space: str,
                    as_json: bool) -> None:
    """Waive a lifecycle phase in this zone (a recorded decision, not a --force)."""
    with open_home(home) as z:
        info = gate.waive(z, project, phase, reason=reason, release=release, now=clock.now(),
                          author=operator_name(), space=resolve_space(z.db, space))
    if as_json:
        emit_json(info)
    else:
        which = "every release" if info["release"] == "*" else info["release"]
        echo(f"waived phase {info['phase']} of {info['project']} for {which}: {info['reason']}")


@lifecycle.command("unwaive", epilog="bundlekit lifecycle unwaive acme-web --phase Staging --home ./prod")
@click.argument("project")
@click.option("--phase", required=True, help="The waived phase.")
@click.option("--release", "release", default=None, help="The release the waiver names (default: every release).")
@home_option
@space_option
@json_option
def lifecycle_unwaive(project: str, phase: str, release: str | None, home: str | None, space: str,
                      as_json: bool) -> None:
    """Withdraw a waiver."""
    with open_home(home) as z:
        info = gate.unwaive(z, project, phase, release=release, space=resolve_space(z.db, space))
    if as_json:
        emit_json(info)
    else:
        echo(f"withdrew the waiver of phase {info['phase']} of {info['project']}")


@lifecycle.command("waivers", epilog="bundlekit lifecycle waivers --home ./prod\nbundlekit lifecycle waivers acme-web "
                                      "--home ./prod --json")
@click.argument("project", required=False)
@home_option
@space_filter_option
@json_option
def lifecycle_waivers(project: str | None, home: str | None, space: str | None, as_json: bool) -> None:
    """List this zone's lifecycle waivers (of one project; of --space's projects): phase, releases,
    reason, who and when, and the space of each waiver's project."""
    with open_home(home) as z:
        if space is not None:
            space = resolve_space(z.db, space)
        rows = gate.waivers(z, project, space=space)
        spaces = space_column(z.db, space)
    if as_json:
        emit_json({"waivers": rows})
        return
    if not rows:
        echo("no waivers in this zone" + (f" for {project}" if project else "")
             + (f" in space {space}" if space is not None else ""))
        return
    now = clock.now()
    for w in rows:
        where = f" (space {w['in_space']})" if spaces else ""
        echo(f"{w['project']}{where}: {_waiver_text(w, now)}")
