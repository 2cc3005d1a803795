"""`import`, `releases`, `show`, `variables`, `steps`: the secure zone's side of a release."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from bundlekit.cli import cli
from bundlekit.cli.common import AsciiFloatRange, echo, echo_field, emit_json, home_option, json_option, quiet_option
from bundlekit.cli.secret_input import entered_value
from bundlekit.cli.space_cmds import space_option
from bundlekit.cli.zones import open_home
from bundlekit.cli.progress import Bars
from bundlekit.cli.transport_glue import bundle_path, shown_as, source_fields
from bundlekit.core import clock
from bundlekit.core.clock import when_text
from bundlekit.core.hints import here_flags, listed
from bundlekit.core.text import shell_word
from bundlekit.errors import BundleError, ConflictError, UsageError
from bundlekit.format.container import BundleFile
from bundlekit.importer import edits
from bundlekit.importer.importer import ImportPlan, import_bundle
from bundlekit.importer.merge_policy import load_policy
from bundlekit.receipt.ingest import ReceiptImport, import_receipt
from bundlekit.zone import projects
from bundlekit.zone.home import Zone
from bundlekit.zone.spaces import reads_same, resolve_space, space_names


@cli.command("import", epilog="bundlekit import acme-1.4.0.bundle --home ./prod --dry-run\n"
                              "bundlekit import acme-1.4.0.bundle --home ./prod --on-conflict keep-local")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@home_option
@click.option("--on-conflict", "on_conflict", type=click.Choice(["fail", "keep-local", "take-incoming"]),
              default=None, help="How to resolve conflicts with local changes (default: fail).")
@click.option("--policy", "policy_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="A TOML file of per-rule conflict resolutions.")
@click.option("--replace", is_flag=True, help="Overwrite an imported release version with different content.")
@click.option("--dry-run", is_flag=True, help="Verify and print the merge plan; change nothing.")
@click.option("--accept-lifecycle-removal", "accept_lifecycle_removal", is_flag=True,
              help="Import a release that carries no lifecycle, or one that demands less proof than its "
                   "project's last one, as it is (default: it keeps the earlier lifecycle).")
@click.option("--evidence", "evidence", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="A receipt bundle from another zone proving an earlier lifecycle phase of this release "
                   "(repeatable); verified and kept for later deployments.")
@click.option("--set", "set_choice", default=None, metavar="SHA256-PREFIX",
              help="When the volume folders hold several bundles: the one to import (bundlekit media check DIRS lists them).")
@click.option("--wait", "wait", type=AsciiFloatRange(min=0), default=0.0, show_default=True,
              help="Seconds to queue behind a running bundlekit prune (on any node) before refusing with "
                   "prune_in_progress.")
@click.option("--skip-unknown-refusals", "skip_unknown", is_flag=True,
              help="For a receipt: record its other entries and skip (and list) each refused import it reports of "
                   "a bundle this zone has no record of sending there (default: refuse the receipt, unknown_bundle).")
@space_option
@quiet_option
@json_option
def import_cmd(paths: tuple[Path, ...], home: str | None, on_conflict: str | None, policy_file: Path | None,
               replace: bool, dry_run: bool, accept_lifecycle_removal: bool, evidence: tuple[Path, ...],
               set_choice: str | None, wait: float, skip_unknown: bool, space: str, quiet: bool,
               as_json: bool) -> None:
    """Verify a bundle and merge it into this zone, atomically.

    A release enters the space given with --space (default Default), and only when its source is
    trusted in that space (`bundlekit trust add CARD --space NAME`); otherwise it is refused
    space_denied with nothing changed.

    A refused bundle that really came from its source is reported back to it: a refusal entry
    waits in the outbox for the next receipt to it (`bundlekit outbox pack --to ZONE -o FILE`). No
    import is applied while `bundlekit prune` removes files: it waits up to --wait seconds, then is
    refused."""

    if len(paths) > 1 and all(p.is_file() for p in paths):
        _each_in_turn(paths, as_json=as_json, evidence=evidence, home=home, on_conflict=on_conflict,
                      policy_file=policy_file, replace=replace, dry_run=dry_run,
                      accept_lifecycle_removal=accept_lifecycle_removal, set_choice=set_choice, wait=wait, quiet=quiet,
                      skip_unknown=skip_unknown)
        return

    def waiting(what: str) -> None:
        if not (quiet or as_json):
            echo(f"waiting for {what} to finish (up to {wait:g} s)", err=True)

    policy = load_policy(policy_file) if policy_file else None
    with open_home(home) as z:
        space = resolve_space(z.db, space)  # an unknown space is refused before any bundle is read
    with (open_home(home) as z, Bars("import", quiet=quiet, as_json=as_json) as bars,
          bundle_path(paths, set_choice=set_choice, progress=bars) as path):
        if _kind(path) == "receipt":
            rec = import_receipt(z, path, now=clock.now(), dry_run=dry_run, progress=bars, space=space,
                                 skip_unknown_refusals=skip_unknown)
            _report_receipt(rec, dry_run, as_json, paths)
            return
        plan = import_bundle(z, path, now=clock.now(), strategy=on_conflict, policy=policy,
                             replace=replace, dry_run=dry_run, progress=bars, evidence=evidence, wait=wait,
                             on_wait=waiting, space=space, accept_lifecycle_removal=accept_lifecycle_removal)
        named = plan.manifest.project.get("space") if plan.manifest.kind == "release" else None
        elsewhere = _named_space_note(z, plan, named, space, dry_run) if isinstance(named, str) else None
    info = {**plan.to_dict(), **source_fields(paths)}
    info["dry_run"] = dry_run
    info["space"] = space
    info["project_space"] = named
    conflicts = plan.merge.conflicts if plan.merge else ()
    if as_json:
        emit_json(info)
    elif plan.noop:
        echo(f"{shown_as(paths)}: {plan.noop_reason}")
        for e in plan.evidence:
            echo(f"  evidence: {e.deployment_id} in zone {e.zone_name} to {e.environment} succeeded ({e.kind})")
    else:
        m = plan.manifest
        verb = "would import" if dry_run else "imported"
        relay = plan.verified.relay
        via = f", relayed by {' -> '.join(relay.names())}" if relay is not None else ""
        echo(f"{verb} {m.project['name']} {m.release['version']} from {plan.verified.source.name}{via} "
             f"into space {space} (sequence {m.sequence})")
        if elsewhere:
            echo(f"  note: {elsewhere}")
        assert plan.merge is not None
        for c in plan.merge.changes:
            if c.action != "keep":
                kept = "; kept sensitive, sealed" if c.kept_sensitive else ""
                echo(f"  {c.action:<7} {c.kind:<13} {c.label()}  ({c.origin}{kept})")
        for r in plan.merge.resolved:
            echo(f"  resolved  {r.describe(mask=True)}")
        for conflict in conflicts:
            echo(f"  CONFLICT  {conflict.describe(mask=True)}")
        if plan.new_packages:
            echo(f"  packages: {', '.join(plan.new_packages)}")
        if plan.lifecycle_removed is not None:
            for line in _lifecycle_lines(plan):
                echo(line)
        for w in plan.withdrawn_waivers:
            echo(f"  waiver withdrawn: {w['phase']} ({w['reason']}): it was made for the content this replaces; "
                 f"`bundlekit lifecycle waive {shell_word(m.project['slug'])} --phase {shell_word(w['phase'])} --reason TEXT"
                 f"{here_flags(space)}` again if it still stands")
        notes = m.raw.get("lint_notes") or ()
        if notes:  # what the source's lint warned about travels with the release (spec/release-file.md)
            echo(f"  lint: {len(notes)} warning(s) when zone {plan.verified.source.name} exported it; "
                 "`bundlekit inspect BUNDLE` lists them")
        for e in plan.evidence:
            echo(f"  evidence: {e.deployment_id} in zone {e.zone_name} to {e.environment} succeeded ({e.kind})")
    if dry_run and conflicts:
        raise SystemExit(ConflictError.exit_code)


def _named_space_note(z: Zone, plan: ImportPlan, named: str, space: str, dry_run: bool) -> str | None:
    """What an import says when the release names a space (``project.space``) other than the one it
    enters: only ``Default`` takes such a release, as its source's trust rule is there (decision
    660), and the project stays there for good (decision 946); None when they agree."""
    if reads_same(named, space):
        return None
    source = plan.verified.source.name
    has = next((s for s in space_names(z.db) if reads_same(s, named)), None)
    enters = "would enter" if dry_run else "entered"
    note = (f"the release names space {named} ([project] space); it {enters} space {space}, where zone {source} is "
            f"trusted here, and its project stays in space {space} (a project never moves between spaces)")
    if has is not None:
        note += (f". If zone {source}'s releases belong in space {has}, move its trust rule before it sends another "
                 f"project (`bundlekit trust set {shell_word(source)} --space {shell_word(has)} "
                 f"--home {shell_word(str(z.home))}`); this project's releases then cannot enter either space, as "
                 f"its rule would name {has} and the project stays in {space}")
    return note


def _each_in_turn(paths: tuple[Path, ...], *, as_json: bool, evidence: tuple[Path, ...], **options: Any) -> None:
    """Several bundle files (the README's `import prod-receipts-*.bundle`): each imported in turn,
    as one `import` per file would. The first refusal stops the run; its message says which files
    were imported before it and which were not tried. Raises ``UsageError`` ``usage`` with
    ``--json`` or ``--evidence`` (each names one bundle: import the files one at a time)."""
    if as_json or evidence:
        flag = "--json" if as_json else "--evidence"
        raise UsageError(f"{paths[0]}: {flag} goes with one bundle file; import the {len(paths)} files one at a "
                         "time (e.g. `for f in *.bundle; do bundlekit import \"$f\" ...; done`)", code="usage")
    ctx = click.get_current_context()
    for n, path in enumerate(paths):
        echo(f"-- {path} ({n + 1} of {len(paths)})")
        try:
            ctx.invoke(import_cmd, paths=(path,), evidence=(), as_json=False, **options)
        except BundleError as err:
            done, left = paths[:n], paths[n + 1:]
            note = (f" (imported before it: {', '.join(map(str, done)) or 'none'}; not tried: "
                    f"{', '.join(map(str, left)) or 'none'})")
            err.reword(err.message + note)
            raise


def _lifecycle_lines(plan: Any) -> list[str]:
    """The import plan's lines for a release that dropped its project's lifecycle (decision 681), or
    carries one that demands less (decision 720); one echo each, since echo shows a line break
    inside a line escaped."""
    m, last = plan.manifest, plan.lifecycle_removed
    if plan.lifecycle_weakened:
        lines = [f"  lifecycle: CHANGED in {m.release['version']}: it demands less than {last}'s: "
                 + "; ".join(plan.lifecycle_weakened)]
        if plan.kept_lifecycle is not None:
            phases = " > ".join(p["name"] for p in plan.kept_lifecycle["phases"])
            lines.append(f"    keeping {last}'s ({phases}): pass --accept-lifecycle-removal to deploy it with its own")
        else:
            lines.append("    accepted (--accept-lifecycle-removal): its own lifecycle applies")
        return lines
    if plan.kept_lifecycle is not None:
        phases = " > ".join(p["name"] for p in plan.kept_lifecycle["phases"])
        return [f"  lifecycle: REMOVED in {m.release['version']} (release {last} had one); keeping {last}'s "
                f"({phases}): pass --accept-lifecycle-removal to deploy it without one"]
    return [f"  lifecycle: REMOVED in {m.release['version']} (release {last} had one); accepted "
            "(--accept-lifecycle-removal): it may be deployed to any environment"]


def _kind(path: Path) -> str:
    with BundleFile(path) as bf:
        return bf.header.kind


def _report_receipt(rec: ReceiptImport, dry_run: bool, as_json: bool, paths: tuple[Path, ...]) -> None:
    info = {**rec.to_dict(), **source_fields(paths)}
    shown = shown_as(paths)
    info["dry_run"] = dry_run
    if as_json:
        emit_json(info)
        return
    if rec.noop:
        echo(f"{shown}: already imported (identical receipt); nothing to do")
        return
    verb = "would record" if dry_run else "recorded"
    if rec.late:
        echo(f"{rec.verified.path}: sequence {info['sequence']} arrived after a newer receipt from "
             f"{rec.verified.source.name}; recording what it adds")
    for d in info["deployments"]:
        known = " (already known)" if d["deployment_id"] in rec.already_known else ""
        carried = f" (carried by {', '.join(info['relayed_by'])})" if info["relayed_by"] else ""
        echo(f"{verb} deployment {d['deployment_id']}: {d['project']} {d['release']} to {d['environment']} "
             f"in {rec.verified.source.name}{carried}: {d['state']}{known}")
    for r in info["refusals"]:
        known = "" if r["new"] else " (already known)"
        what = f"refusal {r['refusal_id']}: {r['project']} {r['release']} refused in {rec.verified.source.name}: {r['code']}"
        if r["skipped"]:
            echo(f"skipped {what}: {r['skipped']}")
        else:
            echo(f"{verb} {what}{known}")
    for key in rec.new_keys:
        echo(f"zone {rec.verified.source.name} rotated its signing key: now trusting {key}, its old key revoked")


@cli.command(epilog="bundlekit show acme-web 1.4.0 --home ./prod --json")
@click.argument("project")
@click.argument("version", required=False)
@home_option
@space_option
@json_option
def show(project: str, version: str | None, home: str | None, space: str, as_json: bool) -> None:
    """Show a project (by name or slug) of a space and one of its releases (default: the latest).

    The variables are that release's own values with this zone's on top: what a deployment of
    it would use (origin ``release``, ``local``, ``local edit``, ``placeholder ...``)."""
    with open_home(home) as z:
        p = projects.find_project(z.db, project, z.name, space=resolve_space(z.db, space))
        rel = projects.get_release(z.db, p, version)
        variables = edits.release_variable_rows(p, rel)  # what a deploy of this release would use
    steps = [dict(p.local["steps"][k]) for k in p.local["step_order"]]
    info: dict[str, Any] = {"project": {"name": p.name, "slug": p.slug, "space": p.space, "in_space": p.in_space},
            "release": {k: v for k, v in rel.items() if k != "snapshot"},
            "steps": [{"name": s["name"], "type": s["type"], "roles": s.get("roles", []),
                       "enabled": s.get("enabled", True)} for s in steps],
            "packages": list(rel["snapshot"]["packages"].values()), "variables": variables}
    if as_json:
        emit_json(info)
        return
    echo(f"{p.name} ({p.slug}) in space {p.space}")
    echo(f"release {rel['version']} on {rel['channel']}, sequence {rel['sequence']}, imported "
         f"{when_text(rel['imported_at'], clock.now())}")
    if rel["notes"]:
        echo_field("notes", rel["notes"], indent="  ")
    for s in info["steps"]:
        echo(f"  step {s['name']} [{s['type']}] roles {listed(s['roles']) or '-'}"
             + ("" if s["enabled"] else "  (disabled)"))
    for pk in info["packages"]:
        echo(f"  package {pk['id']} {pk['version']} sha256 {pk['sha256'][:16]}...")
    for v in variables:
        echo(f"  var {_var_line(v)}")


def _var_line(v: dict) -> str:  # type: ignore[type-arg]
    scope = " ".join(f"{k}={listed(x, ',')}" for k, x in v["scope"].items())
    value = "<unbound>" if v["value"] is None else repr(v["value"]) if not v["sensitive"] else v["value"]
    return f"{v['name']}{' [' + scope + ']' if scope else ''} = {value}  ({v['origin']})"


scope_options = [
    click.option("--environment", multiple=True, help="Scope to an environment (repeatable)."),
    click.option("--role", multiple=True, help="Scope to a target role (repeatable)."),
    click.option("--machine", multiple=True, help="Scope to a target (repeatable)."),
    click.option("--tenant", multiple=True, help="Scope to a tenant (repeatable); `deploy --tenant` applies it."),
    click.option("--channel", multiple=True, help="Scope to a release channel (repeatable)."),
    click.option("--step", multiple=True, help="Scope to a step of the process (repeatable)."),
]


def with_scope(f):  # type: ignore[no-untyped-def]
    for opt in reversed(scope_options):
        f = opt(f)
    return f


@cli.group(epilog="bundlekit variables set acme-web Acme.ApiKey --sensitive --home ./prod < api-key.txt\n"
                  "bundlekit variables set acme-web Acme.Theme dark --environment Production --home ./prod")
def variables() -> None:
    """A project's variables in this zone, including values only production knows."""


@variables.command("list", epilog="bundlekit variables list acme-web --home ./prod --json")
@click.argument("project")
@home_option
@space_option
@json_option
def variables_list(project: str, home: str | None, space: str, as_json: bool) -> None:
    """List a project's variables (sensitive values masked); the project is looked up in --space."""
    with open_home(home) as z:
        p = projects.find_project(z.db, project, z.name, space=resolve_space(z.db, space))
        rows = edits.variable_rows(p)
    if as_json:
        emit_json({"project": p.name, "in_space": p.in_space, "variables": rows})
    else:
        for v in rows:
            echo(_var_line(v))


@variables.command("set", epilog="bundlekit variables set acme-web Acme.ApiKey --sensitive --home ./prod < api-key.txt\n"
                                 "bundlekit variables set acme-web Acme.ApiKey --sensitive --from-file key.txt --home "
                                 "./prod\n"
                                 "bundlekit variables set acme-web Acme.Theme dark --tenant 'Acme Corp' --home ./prod\n"
                                 "bundlekit variables set acme-web Feature.Flag on --new --home ./prod")
@click.argument("project")
@click.argument("name")
@click.argument("value", required=False)
@click.option("--from-file", "from_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Read the value from this file (one final line break dropped).")
@click.option("--sensitive", is_flag=True, help="Store sealed at rest; never printed.")
@click.option("--new", "new", is_flag=True, help="Add a variable the project does not have yet.")
@with_scope
@home_option
@space_option
@json_option
def variables_set(project: str, name: str, value: str | None, from_file: Path | None, sensitive: bool, new: bool,
                  home: str | None, space: str, as_json: bool, **scope: tuple[str, ...]) -> None:
    """Set a variable (or bind a placeholder) in this zone's copy of the project.

    The value applies on top of every release's own values (the most specific scope wins;
    at equal scope this zone's value wins). A secret never needs to be on the command line:
    with VALUE omitted (or "-") the value is read from standard input (one final line break
    dropped), or asked for without echo when standard input is a terminal; --from-file PATH
    reads it from a file. An empty value read that way is refused; VALUE "" sets an empty
    value on purpose."""
    on_command_line = value not in (None, "-", "")
    with open_home(home) as z:
        space = resolve_space(z.db, space)  # before a secret is asked for
        edits.check_settable(z, project, name, scope=scope, new=new, space=space)  # so it is never entered twice
    value = entered_value(value, from_file, name=name)
    with open_home(home) as z:
        res = edits.set_variable(z, project, name, value, sensitive=sensitive, scope=scope, new=new,
                                 now=clock.now(), space=space)
    if on_command_line and res["sensitive"]:
        # Accepted (the CLI contract keeps VALUE), but said: the secret is in the shell's history and
        # was visible to every user in the process list while this ran (decision 673).
        echo(f"warning: the value of sensitive variable {res['name']} was given on the command line, so it is in "
             "your shell history and was visible to other users in the process list; set it with `-` (standard "
             "input), --from-file PATH or the prompt (VALUE omitted on a terminal) instead, and clear it from the "
             "history", err=True)
    if as_json:
        emit_json(res)
    else:
        echo(f"set {res['name']} in {res['project']}" + (" (sensitive, sealed at rest)" if res["sensitive"] else ""))


@variables.command("unset", epilog="bundlekit variables unset acme-web Acme.ApiKey --home ./prod")
@click.argument("project")
@click.argument("name")
@with_scope
@home_option
@space_option
@json_option
def variables_unset(project: str, name: str, home: str | None, space: str, as_json: bool,
                    **scope: tuple[str, ...]) -> None:
    """Remove a value set in this zone: a placeholder becomes unbound, an override gives way to the
    release's value. A release's own value cannot be removed (override it instead)."""
    with open_home(home) as z:
        res = edits.unset_variable(z, project, name, scope=scope, now=clock.now(), space=resolve_space(z.db, space))
    if as_json:
        emit_json(res)
    else:
        extra = " (placeholder now unbound)" if res["unbound"] else " (the release's value applies again)" \
            if res["restored"] else ""
        echo(f"unset {name} in {res['project']}{extra}")


@cli.group(epilog="bundlekit steps disable acme-web 'Smoke test' --home ./prod")
def steps() -> None:
    """Enable or disable a project's steps in this zone."""


def _step_toggle(enabled: bool):  # type: ignore[no-untyped-def]
    verb = "enable" if enabled else "disable"

    @steps.command(verb, epilog=f"bundlekit steps {verb} acme-web 'Smoke test' --home ./prod")
    @click.argument("project")
    @click.argument("step")
    @home_option
    @space_option
    @json_option
    def toggle(project: str, step: str, home: str | None, space: str, as_json: bool) -> None:
        with open_home(home) as z:
            res = edits.set_step_enabled(z, project, step, enabled, clock.now(), space=resolve_space(z.db, space))
        if as_json:
            emit_json(res)
        else:
            echo(f"{verb}d step {res['step']!r} of {res['project']}")

    toggle.__doc__ = f"{verb.capitalize()} a step in this zone's copy of the project."
    toggle.help = toggle.__doc__
    return toggle


_step_toggle(True)
_step_toggle(False)
