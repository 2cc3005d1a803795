"""`deploy` and `deployments`: running an imported release in this zone (targets: ``target_cmds``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from bundlekit.cli import cli
from bundlekit.cli.space_cmds import space_column, space_filter_option, space_option
from bundlekit.zone.spaces import resolve_space
from bundlekit.cli.common import (AsciiFloatRange, AsciiIntRange, echo, echo_field, echo_text, emit_json, exit_refused,
                                  home_option, json_option, quiet_option)
from bundlekit.cli.zones import open_home
from bundlekit.cli.progress import Bars
from bundlekit.cli.retention_cmds import after_deploy, auto_prunes, pruned_note
from bundlekit.cli.signals import cancel_on_signals
from bundlekit.core import clock
from bundlekit.core.clock import recorded_when_text, when_text
from bundlekit.core.text import fit_cells, shell_word
from bundlekit.core.hints import home_flag, in_space, shown, here_flags, without_home
from bundlekit.deploy.targets import DEFAULT_MAX_PARALLEL
from bundlekit.errors import DeployError, StateError
from bundlekit.receipt.evidence import write_evidence
from bundlekit.receipt.outbox import pack_command
from bundlekit.retention.pruned import refuse_pruned
from bundlekit.zone.deployments import get_deployment, list_deployments
from bundlekit.zone.projects import project_names
from bundlekit.zone.remote import reported_counts, reported_with_id

if TYPE_CHECKING:  # the engine and asyncio are imported only when deploying
    from bundlekit.deploy.service import DeployOutcome


def _warnings(outcome: DeployOutcome) -> list[str]:
    """What the deployment warns of: the request's warnings, then what the targets showed while it
    ran (a cached runner found altered, ...), which only its record kept (attack review 38, F2)."""
    said = list(outcome.request.warnings)
    recorded = {without_home(w) for w in said}
    later = outcome.record.warnings if outcome.record is not None else ()
    return said + [w for w in later if w not in recorded]


def _progress(quiet: bool, as_json: bool, bars: Bars, told: list[str]):  # type: ignore[no-untyped-def]
    """What a deployment shows while it runs (stderr): its warnings first (once: ``told``), each
    step starting and ending, every log line as a target prints it (masked in the zone), and one
    bar per target and package while packages are moved and extracted (on a terminal)."""
    if quiet or as_json:
        return None

    def show(event: dict[str, Any]) -> None:
        kind = event.get("event")
        where = f" on {event['target']}" if event.get("target") else ""
        if kind == "warning" and event["text"] not in told:
            told.append(event["text"])  # one label each: the engine's loud ones carry their own "WARNING: "
            text = event["text"]
            bars.note(text if text.startswith("WARNING: ") else f"warning: {text}")
        elif kind == "run_started":
            bars.note(f"  > {event['step']}{where}")
        elif kind == "run_finished":
            bars.note(f"  {'ok' if event['state'] == 'Success' else event['state']:<8} {event['step']}{where}")
        elif kind == "run_skipped":
            bars.note(f"  skipped  {event['step']}{where}")
        elif kind == "run_log":
            bars.note(f"    {event['target'] or 'zone'} | {event['line']}")
        elif kind == "package_started":
            key = (event["target"], event["package"], event["phase"])
            # the phase and the target first: a narrow terminal cuts the end of a label, and with
            # several targets the package's name is what the bars share (finding 15.2)
            where = f"{'to' if event['phase'] == 'transfer' else 'on'} {event['target']}"
            bars.item(key, f"{event['phase']} {where}: {event['package']}", event["total"])
        elif kind == "package_progress":
            bars.update((event["target"], event["package"], event["phase"]), advance=event["bytes"])
    return show


def _batches(outcome: Any, max_parallel: int) -> list[dict[str, Any]]:
    """Per step that runs on targets: how many, and how many at once (its ``window_size`` for a
    rolling step, else ``--max-parallel``; the smaller of the two)."""
    windows = {s.name: s.window_size for s in outcome.request.steps}
    out: list[dict[str, Any]] = []
    for r in outcome.plan.runs:
        if r.action != "run" or r.target is None:
            continue
        if not out or out[-1]["step"] != r.step:
            window = windows.get(r.step)
            at_once = min(max_parallel, window) if window else max_parallel
            limited = (f"window_size {window}" if window and window <= max_parallel
                       else f"--max-parallel {max_parallel}")
            out.append({"step": r.step, "targets": 0, "window_size": window, "at_once": at_once,
                        "limited_by": limited})
        out[-1]["targets"] += 1
    for batch in out:
        batch["at_once"] = min(batch["at_once"], batch["targets"])
    return out


@cli.command(epilog="bundlekit deploy acme-web 1.4.0 --environment Production --home ./prod\n"
                    "bundlekit deploy acme-web 1.4.0 --environment Production --home ./prod --dry-run --json\n"
                    "bundlekit deploy acme-web 2.0.0 --environment Production --evidence staging-receipt.bundle "
                    "--home ./prod\n"
                    "bundlekit deploy acme-web 2.0.0 --environment Production --tenant 'Acme Corp' --home ./prod")
@click.argument("project")
@click.argument("version")
@click.option("--environment", required=True, help="The environment to deploy to.")
@click.option("--tenant", default=None, help="Deploy for a tenant: its tenant-scoped values apply.")
@click.option("--evidence", "evidence", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="A receipt bundle from another zone proving an earlier lifecycle phase (repeatable).")
@home_option
@click.option("--dry-run", is_flag=True, help="Run the preflight and print the plan; run nothing.")
@click.option("--receipt-out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the signed receipt bundle to FILE (otherwise it waits in the outbox).")
@click.option("--wait", "wait", type=AsciiFloatRange(min=0), default=0.0, show_default=True,
              help="Seconds to queue behind a running deployment of the same project to the same environment, "
                   "or a running bundlekit prune (on any node), before refusing with deployment_in_progress "
                   "or prune_in_progress.")
@click.option("--max-parallel", type=AsciiIntRange(min=1), default=DEFAULT_MAX_PARALLEL, show_default=True,
              help="How many targets run a step (and are checked by the preflight) at once.")
@space_option
@quiet_option
@json_option
def deploy(project: str, version: str, environment: str, tenant: str | None, evidence: tuple[Path, ...],
           home: str | None, dry_run: bool, receipt_out: Path | None, wait: float, max_parallel: int, space: str,
           quiet: bool, as_json: bool) -> None:
    """Deploy a release (imported, or created here) of a project of --space to an environment's targets
    in that space (another space's targets are never used).

    The release's lifecycle must have opened the environment: an earlier phase passed here,
    in a zone whose receipt came back, or proved with --evidence. Each step runs on all its
    targets at once (at most --max-parallel, or the step's window_size), one step after
    another; the preflight connects to every target first."""
    from bundlekit.deploy.service import deploy as run_deploy  # the engine and asyncio: only when deploying

    def waiting(what: str) -> None:
        if not (quiet or as_json):
            echo(f"waiting for {what} to finish (up to {wait:g} s)", err=True)

    now = clock.now()
    pruned: dict[str, Any] | None = None
    stopping = ("canceling the deployment: stopping the running steps, then recording it (send it again to stop "
                "at once)")
    told: list[str] = []  # warnings already shown (the record keeps them all)
    with open_home(home) as z, Bars("deploy", quiet=quiet, as_json=as_json) as bars, \
            cancel_on_signals(stopping) as cancel:
        space = resolve_space(z.db, space)
        refuse_pruned(z, project, version)
        outcome = run_deploy(z, project, version, environment, now=now, dry_run=dry_run,
                             receipt_out=receipt_out, on_event=_progress(quiet, as_json, bars, told), tenant=tenant,
                             evidence=evidence, wait=wait, on_wait=waiting, max_parallel=max_parallel,
                             cancel=cancel, space=space)
        if (not dry_run and outcome.record is not None and outcome.record.state == "Success"
                and outcome.claims_lost is None):
            pruned = after_deploy(z, now=now, environment=outcome.request.environment, max_parallel=max_parallel,
                                  space=outcome.request.space, show_plan=not (quiet or as_json))
        prunes_after = dry_run and auto_prunes(z, outcome.request.space)
    for warning in _warnings(outcome) if not as_json else ():
        if warning not in told:
            echo(warning, err=True)
    environment = outcome.request.environment
    waived = (" (lifecycle phase(s) waived in this zone: " + "; ".join(f"{w['phase']}: {w['reason']}"
                                                                       for w in outcome.waivers) + ")"
              if outcome.waivers else "")
    if dry_run:
        batches = _batches(outcome, max_parallel)
        if as_json:
            emit_json({"dry_run": True, "plan": outcome.plan.to_dict(), "waived": list(outcome.waived),
                       "waivers": list(outcome.waivers), "max_parallel": max_parallel, "steps": batches,
                       "auto_prune": prunes_after})
        else:
            echo(f"preflight passed for {outcome.request.project_name} {outcome.request.release_version} "
                 f"to {environment}{waived}:")
            told: set[str] = set()
            for r in outcome.plan.runs:
                batch = next((b for b in batches if b["step"] == r.step), None)
                if batch is not None and r.step not in told:
                    told.add(r.step)
                    echo(f"  {r.step}: {batch['targets']} target(s), at most {batch['at_once']} at once "
                         f"({batch['limited_by']})")
                where = r.target or "(zone)"
                extra = f" ({r.reason})" if r.reason else ""
                echo(f"    {r.action:<6} {r.step} on {where}{extra}")
            if prunes_after:  # what deploying would also do (review v33-15u F4)
                echo(f"after a successful deployment, retention prunes (auto-prune of space {outcome.request.space}): "
                     f"`bundlekit prune --dry-run{home_flag()}` shows what it would remove")
        return
    rec = outcome.record
    assert rec is not None
    failure = None
    if outcome.claims_lost is not None:  # stopped by its own process, not by a signal (decision 421)
        failure = outcome.claims_lost.error(rec)
    elif rec.state == "Canceled":
        counts = {s: sum(1 for r in rec.runs if r.state == s) for s in ("Success", "Canceled", "Failed")}
        failure = DeployError(f"deployment {rec.deployment_id} was canceled ({cancel.signal_name or 'on request'}): "
                              f"{counts['Success']} run(s) had succeeded, {counts['Canceled']} were canceled"
                              + (f", {counts['Failed']} failed" if counts["Failed"] else "")
                              + f"; it is recorded{'' if outcome.local else ' and its receipt queued'}. See "
                              f"`bundlekit deployments show {rec.deployment_id}{home_flag()}`; deploy again to finish it.",
                              code="deployment_canceled",
                              details={"deployment_id": rec.deployment_id, "state": rec.state})
    elif rec.state != "Success":
        failed = next((r for r in rec.runs if r.failed), None)
        failure = DeployError(f"deployment {rec.deployment_id} failed" + (f" at step {failed.step!r} on "
                              f"{failed.target or 'the zone'}" if failed else "") + "; see `bundlekit deployments "
                              f"show {rec.deployment_id}{home_flag()}`", code="deploy_failed",
                              details={"deployment_id": rec.deployment_id, "state": rec.state})
    if as_json:
        out = rec.to_dict(mask=True)
        out["receipt"] = str(outcome.receipt.path) if outcome.receipt else None
        out["tenant"] = outcome.request.tenant
        out["waived"] = list(outcome.waived)
        out["waivers"] = list(outcome.waivers)
        out["pruned"] = pruned
        if failure is not None:  # one JSON document: the record, and why the command fails
            out["error"] = failure.to_dict()
        emit_json(out)
        if failure is not None:
            exit_refused(failure)
        return
    else:
        who = f" for tenant {outcome.request.tenant}" if outcome.request.tenant else ""
        echo(f"deployment {rec.deployment_id}: {outcome.request.project_name} {rec.release_version} to "
             f"{environment}{who}: {rec.state}{waived}")
        for run in rec.runs:
            echo(f"  {run.state:<9} {run.step} on {run.target or '(zone)'}"
                 + (f": {run.reason}" if run.reason else ""))
        if outcome.receipt:
            echo(f"receipt written to {outcome.receipt.path}")
        elif outcome.local:
            echo("the release was created in this zone: the deployment shows on this zone's dashboard")
        else:
            dest = outcome.receipt_for or "ZONE"
            echo(f"receipt queued in the outbox (`{pack_command(dest)}` to carry it back to zone {dest})")
        for line in (pruned_note(pruned) or "").splitlines():
            echo(line)
    if failure is not None:
        raise failure


@cli.group(epilog="bundlekit deployments list --home ./prod")
def deployments() -> None:
    """Deployments recorded in this zone."""


@deployments.command("list", epilog="bundlekit deployments list --home ./prod --json\n"
                                     "bundlekit deployments list --space Payments --home ./prod")
@home_option
@space_filter_option
@json_option
def deployments_list(home: str | None, space: str | None, as_json: bool) -> None:
    """List deployments, newest first: of every space (each naming its project's space), or of --space."""
    with open_home(home) as z:
        if space is not None:
            space = resolve_space(z.db, space)
        items = list_deployments(z.db, space=space)
        names = project_names(z.db)
        spaces = space_column(z.db, space)
        reported = reported_counts(z.db, space=space) if not items and not as_json else []
    if as_json:
        emit_json({"deployments": items})
        return
    if not items:
        echo(_none_here(space, reported))
    now = clock.now()
    tenants = any(d["tenant"] for d in items)  # a tenant column once any deployment was for a tenant
    if items:  # a header row names the columns (as `releases list`)
        echo(f"{'Deployment':<16} " + f"{'Space':<12} " * bool(spaces) + f"{'Project':<20} {'Release':<10} "
             f"{'Environment':<12} " + f"{'Tenant':<14} " * tenants + f"{'State':<9} Started")
    for d in items:
        when = recorded_when_text(d["started"], now)
        tenant = f"{_fit(d['tenant'] or '-', 14)} " if tenants else ""
        where = f"{_fit(d['in_space'], 12)} " if spaces else ""
        echo(f"{d['id']:<16} {where}{_fit(names.get(d['project_slug'], d['project_slug']), 20)} "
             f"{_fit(d['release'], 10)} {_fit(d['environment'], 12)} {tenant}{d['state']:<9} {when}")


def _none_here(space: str | None, reported: list[Any]) -> str:
    """What `deployments list` says with no deployment of its own: where the deployments other
    zones reported in receipts are, when there are any (finding newuser35 #14)."""
    where = f" in space {space}" if space is not None else ""
    if not reported:
        return f"no deployments yet{where}"
    total = sum(r["n"] for r in reported)
    by = "; ".join(f"{r['zone']}: {r['n']} of {r['project_slug']}" for r in reported[:5])
    more = f"; and {len(reported) - 5} more" if len(reported) > 5 else ""
    first = reported[0]
    return (f"no deployments ran in this zone{where}; other zones reported {total} in receipts ({by}{more}): "
            f"`bundlekit dashboard{here_flags(space)}` shows them, `bundlekit outputs "
            f"{shell_word(first['project_slug'])} --zone {shell_word(first['zone'])}{here_flags(space)}` "
            "the outputs of one")


def _reported_as(reported: list[Any], space: str | None) -> str:
    """Which zones reported a deployment of the id `deployments show` was given, and where to see it."""
    first = reported[0]
    what = ", ".join(f"zone {r['zone']} ({r['project_slug']} {r['release']} to {r['environment']}, {r['state']})"
                     for r in reported[:3])
    return (f"{what} reported one of that id in a receipt: `bundlekit dashboard{here_flags(space)}` shows it, "
            f"`bundlekit outputs {shell_word(first['project_slug'])} --zone {shell_word(first['zone'])}"
            f"{here_flags(space)}` its outputs")


def _fit(text: str, width: int) -> str:
    """``text`` padded to ``width`` columns, or cut to them with an ellipsis (a 200-character
    project name must not push the state and time off the screen; `deployments show` has it whole)."""
    return fit_cells(text, width)  # by terminal cells: wide characters take two


@deployments.command("show", epilog="bundlekit deployments show Deployments-1 --home ./prod")
@click.argument("deployment_id")
@home_option
@space_filter_option
@json_option
def deployments_show(deployment_id: str, home: str | None, space: str | None, as_json: bool) -> None:
    """Show one deployment: its project's space, every step and target, logs and output variables
    (sensitive masked). With --space, a deployment of another space's project is unknown."""
    with open_home(home) as z:
        if space is not None:
            space = resolve_space(z.db, space)
        row = get_deployment(z.db, deployment_id)
        names = project_names(z.db)
        spaces = space_column(z.db, None)  # a zone of one space: every deployment's is Default
    if row is None or (space is not None and row["in_space"].casefold() != space.casefold()):
        with open_home(home) as z:
            reported = [r for r in reported_with_id(z.db, deployment_id)
                        if space is None or r["space"].casefold() == space.casefold()]
        raise StateError(f"no deployment {shown(deployment_id)}{in_space(space)}"
                         + (f" ran in this zone; {_reported_as(reported, space)}" if reported else "")
                         + f"; see `bundlekit deployments list{here_flags(space)}`", code="unknown_deployment")
    record = row["record"]
    from bundlekit.dashboard.model import outcome

    said = outcome(row["state"], list(record.get("runs") or []))  # the word every dashboard shows
    if as_json:
        emit_json({"id": row["id"], "state": row["state"], "outcome": said, "environment": row["environment"],
                   "release": row["release"], "project": row["project_slug"], "in_space": row["in_space"],
                   "tenant": row["tenant"],
                   "waivers": row["waivers"], "record": record})
        return
    also = f" (dashboards: {said})" if said.casefold() not in (row["state"].casefold(), "succeeded") else ""
    who = f" for tenant {row['tenant']}" if row["tenant"] else ""
    echo(f"{row['id']}: {names.get(row['project_slug'], row['project_slug'])} {row['release']} to {row['environment']}"
         f"{who}: {row['state']}{also}")
    if spaces:
        echo_field("space", row["in_space"], indent="  ")
    now = clock.now()
    for w in row["waivers"]:
        echo(f"  relied on a waiver of lifecycle phase {w['phase']}" + (
            f" ({'every release' if w['release'] == '*' else w['release']}): {w['reason']}, waived"
            + (f" by {w['author']}" if w.get("author") else "") + f" {when_text(w['created'], now)}"
            if "reason" in w else ""))
    for warning in record.get("warnings") or ():  # recorded with the engine's own "WARNING: " label
        echo_field("warning", warning.removeprefix("WARNING: "), indent="  ")
    for r in record.get("runs", []):
        echo()
        echo(f"== {r['step']} on {r['target'] or '(zone)'}: {r['state']}"
             + (f" (exit {r['exit_code']})" if r["exit_code"] is not None else ""))
        if r.get("reason"):
            echo_field("reason", r["reason"], indent="   ")
        for o in r["outputs"]:
            echo(f"   output {o['name']} = {o['value']}")
        if r["log"]:
            echo_text(r["log"], indent="   ")


@deployments.command("receipt", epilog="bundlekit deployments receipt Deployments-3 --to staging -o dev-proof.bundle "
                                       "--home ./dev")
@click.argument("deployment_id")
@click.option("--to", "to", required=True, help="The trusted zone that holds the release and needs the proof.")
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False, path_type=Path))
@home_option
@json_option
def deployments_receipt(deployment_id: str, to: str, output: Path, home: str | None, as_json: bool) -> None:
    """Sign a receipt of a deployment of a release created in this zone, for another zone.

    That zone offers it as lifecycle evidence (`deploy --evidence FILE`, `import --evidence
    FILE`): proof that the release passed a phase here, for a release exported before it
    was deployed here."""
    with open_home(home) as z:
        res = write_evidence(z, deployment_id, to, output, now=clock.now())
    if as_json:
        emit_json({"path": str(res.path), "digest": res.digest, "sequence": res.sequence, "destination": to,
                   "deployments": list(res.deployments), "withheld": list(res.withheld_outputs)})
        return
    echo(f"receipt of {deployment_id} for zone {to} written to {res.path}; there, offer it with "
         f"`bundlekit deploy PROJECT VERSION --environment ENV --evidence {shell_word(res.path.name)}{home_flag()}`")
    for o in res.withheld_outputs:  # named, never a value or a length (spec/egress.md)
        echo(f"  output {o['name']} of step {o['step']}" + (f" on {o['target']}" if o["target"] else "")
             + ": withheld (named in the receipt only; its value stays in this zone)")
