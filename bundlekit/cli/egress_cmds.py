"""`egress show|set`: the zone's egress policy; and how a receipt's contents are printed.

The contents listing (:func:`echo_contents`) serves `outbox pack --dry-run` and `inspect RECEIPT
--contents`, so both print the same lines for the same receipt.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from bundlekit.core.hints import home_flag
from bundlekit.cli import cli
from bundlekit.cli.common import counted, echo, echo_text, emit_json, home_option, json_option, stdin_text
from bundlekit.cli.zones import open_home
from bundlekit.core import clock
from bundlekit.core.clock import utc_text
from bundlekit.core.files import read_user_file
from bundlekit.core.text import size_text
from bundlekit.errors import InputError
from bundlekit.format.audit import object_text
from bundlekit.trust.egress import DEFAULT_RULE, parse_policy
from bundlekit.zone import egress as zone_egress

__all__ = ["echo_contents", "audit_entry_line", "variables_updated_line"]

#: The largest policy file `egress set` reads.
POLICY_LIMIT = 4 * 1024 * 1024


@cli.group(epilog="bundlekit egress show --home ./prod\nbundlekit egress set egress.toml --home ./prod")
def egress() -> None:
    """What this zone's receipts carry back: the egress policy (file format: spec/egress.md)."""


def _shown(policy_dict: dict[str, Any], set_at: int | None) -> dict[str, Any]:
    return {**policy_dict, "set": set_at, "default": DEFAULT_RULE.to_dict()}


@egress.command("show", epilog="bundlekit egress show --home ./prod\nbundlekit egress show --home ./prod --json")
@home_option
@json_option
def egress_show(home: str | None, as_json: bool) -> None:
    """Print the egress policy in force, in the file format `egress set` reads.

    A project no rule matches gets the defaults: sensitive outputs withheld, plain outputs,
    states, times and whole masked logs sent.
    """
    with open_home(home) as z:
        policy, set_at = zone_egress.get_policy(z.db), zone_egress.policy_set_at(z.db)
    if as_json:
        emit_json(_shown(policy.to_dict(), set_at))
        return
    if set_at is None:
        echo("# no egress policy was set in this zone: the defaults apply to every project")
    echo_text(policy.to_toml())


@egress.command("set", epilog="bundlekit egress set egress.toml --home ./prod\n"
                              "bundlekit egress set - --home ./prod < egress.toml")
@click.argument("policy_file", metavar="FILE")
@home_option
@json_option
def egress_set(policy_file: str, home: str | None, as_json: bool) -> None:
    """Replace the zone's egress policy with the one in FILE (`-`: standard input).

    The file is checked whole first (spec/egress.md); a refused file changes nothing. An
    empty file (no rule) brings back the defaults for every project.
    """
    if policy_file == "-":
        text = stdin_text("the egress policy on standard input", POLICY_LIMIT)
        where = "the egress policy on standard input"
    else:
        where = f"egress policy file {policy_file}"
        data = read_user_file(Path(policy_file), what=where, limit=POLICY_LIMIT)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"{where} is not UTF-8 text (byte {exc.start} is invalid); save it as UTF-8",
                             code="not_utf8") from None
    policy = parse_policy(text, where)
    with open_home(home) as z:
        now = clock.now()
        zone_egress.set_policy(z.db, policy, now)
    if as_json:
        emit_json(_shown(policy.to_dict(), int(now)))
    else:
        echo(f"egress policy set: {counted(len(policy.rules), 'rule')}; projects no rule matches get the defaults "
             f"(`bundlekit egress show{home_flag()}`)")


def _log_text(log: dict[str, Any]) -> str:
    if log["status"] == "withheld":
        return "log withheld"
    if log["status"] == "none":
        return "no log"
    text = f"log {size_text(log['bytes'] or 0)}"
    return text + (f" (cut: {size_text(log['omitted'])} left out)" if log["status"] == "cut" else "")


def audit_entry_line(a: dict[str, Any]) -> str:
    """One audit entry a receipt carries (:func:`bundlekit.receipt.egress.audit_listing`), for a person."""
    if a.get("unreadable"):
        return f"audit entry {a['place']}: unreadable (the import refuses it)"
    named = object_text(a["object"])
    result = "ok" if a["result"] == "ok" else f"refused [{a['code']}]"
    return (f"audit entry {a['seq']} {utc_text(a['at'])}: {a['user']}@{a['host']} {a['command']}"
            f"{'  ' + named if named else ''} ({result})")


def variables_updated_line(release: str, when: float) -> str:
    """The line saying a deployment of ``release`` ran after its variables were refreshed at
    ``when`` (Unix seconds; a receipt entry's ``variables_updated_ms``, decision 722)."""
    return (f"variables updated {utc_text(when)} (releases update-variables) before this deployment: it ran "
            f"other values than {release} arrived with")


def echo_contents(listing: dict[str, Any], header: str) -> None:
    """Print a receipt's contents (``bundlekit.receipt.egress.contents``) for a person, after ``header``."""
    t = listing["totals"]
    echo(header)
    echo(f"  {counted(t['deployments'], 'deployment')}, {counted(t['refusals'], 'refused import')}, "
         f"{counted(t['runs'], 'run')}; outputs: {t['leaving']} leaving, {t['sealed']} sealed, "
         f"{t['withheld']} withheld; logs {size_text(t['log_bytes'])}; {counted(t['packages'], 'package')} "
         "in the inventory")
    for d in listing["deployments"]:
        tenant = f" for tenant {d['tenant']}" if d["tenant"] else ""
        audit = f" ({counted(d['audit'], 'audit entry', 'audit entries')} leaving)" if d.get("audit") else ""
        echo(f"  deployment {d['deployment_id']}: {d['project']} {d['release']} to {d['environment']}{tenant}: "
             f"{d['state']}{audit}")
        if d.get("variables_updated") is not None:  # it ran values its earlier phases did not test (decision 722)
            echo(f"    {variables_updated_line(d['release'], d['variables_updated'])}")
        for a in d.get("audit_entries", []):
            echo(f"    {audit_entry_line(a)}")
        for r in d["runs"]:
            where = f"on {r['target']}" if r["target"] else "on the zone"
            echo(f"    run {r['step']} {where}: {r['state']}, {_log_text(r['log'])}")
            for o in r["outputs"]:
                value = f" = {o['value']}" if o["status"] == "leaving" else ""
                echo(f"      output {o['name']}: {o['status']}{value}")
    for r in listing["refusals"]:
        echo(f"  refused import of {r['project']} {r['release']}: {r['code']}")
    for p in listing["inventory"]:
        echo(f"  package {p['id']} {p['version']} sha256 {p['sha256']}")
