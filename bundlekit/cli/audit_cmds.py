"""`audit`: the zone's audit trail (who changed what), listed or checked (spec/audit.md)."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

import click

from bundlekit.core.hints import home_flag
from bundlekit.cli import cli
from bundlekit.cli.common import counted, echo, emit_json, home_option, json_option
from bundlekit.cli.egress_cmds import audit_entry_line
from bundlekit.cli.zones import open_home
from bundlekit.core import clock
from bundlekit.core.clock import EpochSeconds, utc_text, when_text
from bundlekit.errors import UsageError
from bundlekit.format.audit import ChainHead, Entry, decode_body, entry_hash, object_text, shown_object
from bundlekit.receipt.carried_audit import carried_audit
from bundlekit.zone import audit as trail
from bundlekit.zone.spaces import resolve_space

__all__ = ["entry_json", "parse_since", "parse_head"]

_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_MOMENT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2})?Z?")
_AGO = re.compile(r"([0-9]+)([mhdw])")  # 90m, 2h, 1d, 2w: that long before now (ages as outputs show them)
_UNIT = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(text: str, now: EpochSeconds | None = None) -> int:
    """``--since`` as milliseconds since the epoch: an age (``90m``, ``2h``, ``1d``, ``2w`` before
    ``now``, Unix seconds, default the clock's now), Unix seconds (ASCII digits), a UTC day
    ``2026-12-01`` or a UTC moment ``2026-12-01T13:05[:07][Z]``; ``usage`` otherwise."""
    try:
        if text.isascii() and text.isdigit():
            return int(text) * 1000
        ago = _AGO.fullmatch(text)
        if ago:
            return int(((clock.now() if now is None else now) - int(ago.group(1)) * _UNIT[ago.group(2)]) * 1000)
        if _DAY.fullmatch(text):
            moment = datetime.strptime(text, "%Y-%m-%d")
        elif _MOMENT.fullmatch(text):
            clean = text.rstrip("Z").replace(" ", "T")
            moment = datetime.strptime(clean, "%Y-%m-%dT%H:%M:%S" if clean.count(":") == 2 else "%Y-%m-%dT%H:%M")
        else:
            raise ValueError(text)
    except ValueError:
        raise UsageError(f"--since {text!r}: give an age (90m, 2h, 1d, 2w), a UTC day (2026-12-01), a UTC moment "
                         "(2026-12-01T13:05:00Z) or Unix seconds", code="usage", details={"option": "--since"}) from None
    return int(moment.replace(tzinfo=timezone.utc).timestamp()) * 1000


def parse_head(text: str) -> ChainHead:
    """``--head SEQ:HASH`` (as ``audit --json`` prints a head) as a head; ``usage`` otherwise."""
    seq, _, digest = text.partition(":")
    if not (seq.isascii() and seq.isdigit() and re.fullmatch(r"[0-9a-f]{64}", digest)):
        raise UsageError(f"--head {text!r}: give SEQ:HASH, an entry's seq and its 64-hex hash (`bundlekit audit "
                         f"--json{home_flag()}` shows the head)", code="usage", details={"option": "--head"})
    return ChainHead(int(seq), digest)


def entry_json(entry: Entry, body: bytes) -> dict[str, Any]:
    """One entry for ``--json``: its fields (``at``: Unix seconds with milliseconds, decision 480)
    and its ``hash`` (what the next entry's ``prev`` must be)."""
    d = entry.to_dict()
    d.pop("v")
    d["object"] = shown_object(entry.object)
    d["at"] = d.pop("at_ms") / 1000
    d["hash"] = entry_hash(body)
    return d


def _carried(found: dict[str, Any], as_json: bool) -> None:
    """``audit --from ZONE``: the entries that zone's receipts carried, under their deployments."""
    if as_json:
        emit_json(found)
        return
    name = found["zone"]["name"]
    if not found["deployments"]:
        echo(f"no audit entries came back from zone {name}: its egress policy keeps them in the zone unless a rule "
             "says audit = \"send\" (spec/egress.md)")
        return
    now = clock.now()
    for d in found["deployments"]:
        echo(f"deployment {d['deployment_id']} in zone {name}: {d['project']} {d['release']} to {d['environment']}: "
             f"{d['state']} (receipt imported {when_text(d['received'], now)})")
        for a in d["audit_entries"]:
            echo(f"  {audit_entry_line(a)}")
    echo(f"{counted(found['entries'], 'audit entry', 'audit entries')} from zone {name}, each checked against its "
         "keys when its receipt was imported")


def _sign_head(z: Any, noted: ChainHead | None, as_json: bool) -> None:
    """``audit --sign-head``: sign an unsigned head (an entry records it), or say it is signed."""
    with trail.acting("audit --sign-head", {}):  # its entry names what was done, not only `audit`
        signed = trail.sign_unsigned_head(z, noted)
    last = trail.head(z.db)
    if as_json:
        emit_json({"signed": signed is not None, "head": {"seq": last.seq, "hash": last.hash}})
    elif signed is None:
        echo(f"the audit trail's head (entry {last.seq}) is signed already and the trail is intact: nothing to do")
    else:
        echo(f"audit trail checked and its head signed: entry {last.seq} records this signing; "
             f"`bundlekit audit --verify{home_flag()}` checks the head from now on")


def _line(e: Entry) -> str:
    named = object_text(e.object)
    changed = ", ".join(f"{t} {n}" for t, n in e.changes.items()) or "no rows"
    result = "ok" if e.result == "ok" else f"refused [{e.code}]"
    what = f"{e.command}  {named}" if named else e.command
    return f"{e.seq:>6}  {utc_text(e.at_ms / 1000)}  {e.user}@{e.host}  {what}  ({changed})  {result}"


@cli.command("audit", epilog="bundlekit audit --home ./prod\nbundlekit audit --since 2h --home ./prod\n"
                             "bundlekit audit --since 2026-12-01 --json --home ./prod\n"
                             "bundlekit audit --space Payments --home ./prod\nbundlekit audit --verify --home ./prod\n"
                             "bundlekit audit --from prod --home ./dev")
@click.option("--since", default=None, metavar="WHEN",
              help="Only entries from WHEN: an age (2h, 1d, 2w ago), a UTC day (2026-12-01) or moment "
                   "(2026-12-01T13:05Z), or Unix seconds.")
@click.option("--verify", "check", is_flag=True,
              help="Check every entry's chain link and signature, and the recorded head; exit 3 at the first break.")
@click.option("--head", "witness", default=None, metavar="SEQ:HASH",
              help="With --verify or --sign-head: also require this head, noted earlier (`audit --json` shows it), "
                   "in the trail.")
@click.option("--sign-head", "sign", is_flag=True,
              help="Sign the head of a trail last changed before heads were signed (checks the trail first).")
@click.option("--from", "from_zone", default=None, metavar="ZONE",
              help="List the audit entries zone ZONE sent back in receipts (its deployments of releases from here).")
@home_option
@click.option("--space", "space", default=None, metavar="NAME",
              help="Only the entries of commands that worked in this space (default: every entry; each names "
                   "the space its command worked in).")
@json_option
def audit(since: str | None, check: bool, witness: str | None, sign: bool, from_zone: str | None, home: str | None,
          space: str | None,
          as_json: bool) -> None:
    """Who changed what in this zone: one signed, chained entry per committed change.

    Each entry names when (UTC), the operating system account and host, the command and what it
    named (with the space it worked in, for a command of one space), the rows it changed per
    table, keyed digests of those rows before and after (never a value), and the result. Listing
    reads the entries as stored; `--verify` checks them all (spec/audit.md) and names the first
    bad one. With --space, only the entries that name that space are listed (a command of the
    whole zone names none). `--from ZONE` lists instead the entries another zone's receipts
    carried back, per deployment (its egress policy sends them only with audit = "send"); each
    was checked against that zone's keys when the receipt was imported.
    """
    if space is not None and (check or sign or from_zone is not None):
        raise UsageError("--verify and --sign-head check the whole trail and --from lists another zone's: drop --space",
                         code="usage", details={"option": "--space"})
    since_ms = parse_since(since) if since is not None else None
    noted = parse_head(witness) if witness is not None else None
    if noted is not None and not (check or sign):
        raise UsageError("--head is checked by --verify or --sign-head: add one", code="usage",
                         details={"option": "--head"})
    if sign and (check or since is not None):
        raise UsageError("--sign-head checks the trail itself: leave out --verify and --since", code="usage",
                         details={"option": "--sign-head"})
    if from_zone is not None and (check or sign or noted is not None):
        raise UsageError("--from lists what another zone sent back; --verify, --head and --sign-head check this "
                         "zone's own trail: give one or the other", code="usage", details={"option": "--from"})
    with open_home(home) as z:
        if from_zone is not None:
            _carried(carried_audit(z, from_zone, None if since_ms is None else since_ms / 1000), as_json)
            return
        if sign:
            _sign_head(z, noted, as_json)
            return
        if check:
            checked = trail.verify(z, noted)
            last = trail.head(z.db)
            if as_json:
                emit_json({"verified": True, "entries": len(checked), "head": {"seq": last.seq, "hash": last.hash},
                           **({"witness": {"seq": noted.seq, "hash": noted.hash}} if noted is not None else {})})
            else:
                held = (f"; it holds the head noted earlier, entry {noted.seq} ({noted.hash[:12]}...), so the state "
                        "was not rolled back past it") if noted is not None else ""
                echo(f"audit trail intact: {counted(len(checked), 'entry', 'entries')}, each signed by the zone and "
                     f"chained to the one before; the last is the one the zone recorded{held}")
            return
        if space is not None:
            space = resolve_space(z.db, space)
        stored = trail.entries(z.db)
        last = trail.head(z.db)
    shown = [(decode_body(s.body, s.seq), s.body) for s in stored]
    shown = [(e, b) for e, b in shown if (since_ms is None or e.at_ms >= since_ms)
             and (space is None or str(e.object.get("space", "")).casefold() == space.casefold())]
    if as_json:
        emit_json({"entries": [entry_json(e, b) for e, b in shown], "head": {"seq": last.seq, "hash": last.hash},
                   "verified": False})
        return
    if not shown:
        echo("no audit entries" + (" since then" if since_ms is not None else "")
             + (f" of space {space}" if space is not None else ""))
        return
    for e, _ in shown:
        echo(_line(e))
    echo(f"{counted(len(shown), 'entry', 'entries')} as stored; `bundlekit audit --verify{home_flag()}` checks them")
