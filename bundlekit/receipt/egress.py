"""What a receipt carries out of the zone: the egress policy applied to entries, and the listing.

:func:`apply_policy` turns outbox entries (as ``build.make_entry`` queued them: sensitive outputs
sealed to the source, plain ones in clear, masked logs by digest) into the entries a receipt
carries under the zone's egress policy (``bundlekit.trust.egress``, ``spec/egress.md``): an
output the policy withholds leaves only its name, in the run's ``withheld`` list (format 1.4),
never its value, its sealed value or its length; a withheld log leaves ``log_withheld``; a log
over the rule's ``log_limit`` is cut (head and tail kept, a note between) and its run says how
many bytes were cut (``log_omitted``). ``receipt/build.py`` applies it when it writes every
receipt, so ``outbox pack``, ``deploy --receipt-out`` and ``deployments receipt`` all follow it.

:func:`contents` lists what a receipt carries, from the same entries: ``outbox pack --dry-run``
gives it for the receipt it would write, ``inspect RECEIPT --contents`` for a written one
(from its manifest alone: no key is needed and no sealed value is opened). The two agree.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
from typing import Any, Callable, Mapping, Sequence

from bundlekit.errors import BundleError
from bundlekit.format.audit import decode_body, shown_object
from bundlekit.trust.egress import LEAVING, SEALED, WITHHELD, EgressPolicy, EgressRule

__all__ = ["apply_policy", "cut_log", "contents", "audit_listing", "uses_egress_fields", "minor_for", "EGRESS_MINOR",
           "AUDIT_MINOR", "REFRESHED_MINOR", "RELAYED_MINOR"]

#: The format minor version whose receipts carry the egress fields (``spec/bundle-format.md`` §10).
EGRESS_MINOR = 4
#: The format minor version whose receipt entries carry audit entries (``audit``, §7.3).
AUDIT_MINOR = 5
#: The format minor version whose receipt entries say the release's variables were refreshed
#: before the deployment (``variables_updated_ms``, decision 722).
REFRESHED_MINOR = 7
#: The format minor version whose receipt entries and refusals carry the relay hops of a relayed
#: release (``release_bundle.relay_hops``, spec/relay.md §7, decision 906).
RELAYED_MINOR = 8
#: A run's fields of format 1.4 (older readers ignore them).
_FIELDS = ("withheld", "log_withheld", "log_omitted")


def _note(omitted: int, limit: int) -> bytes:
    return (f"\n[bundlekit] {omitted} bytes of this log were cut here by the deploying zone's egress policy "
            f"(log_limit {limit} bytes)\n").encode("utf-8")


def cut_log(data: bytes, limit: int) -> tuple[bytes, int]:
    """``data`` (a masked UTF-8 log) cut to at most ``limit`` bytes: its first three quarters
    and its last quarter of the room, with a note between saying how many bytes were cut, never
    splitting a UTF-8 character; and that number (0: ``data`` fits and is returned as it is)."""
    if len(data) <= limit:
        return data, 0
    room = limit - len(_note(len(data), limit))  # the note for fewer omitted bytes is no longer
    head = room * 3 // 4
    while head > 0 and data[head] & 0xC0 == 0x80:  # back to the start of a character
        head -= 1
    tail = len(data) - (room - head)
    while tail < len(data) and data[tail] & 0xC0 == 0x80:  # on to the start of a character
        tail += 1
    omitted = tail - head
    return data[:head] + _note(omitted, limit) + data[tail:], omitted


def _apply_run(run: dict[str, Any], rule: EgressRule, read_log: Callable[[str], bytes],
               logs: dict[str, bytes]) -> None:
    outputs = run.get("outputs", [])
    # A name set several times is withheld whole when any of its values is: the names a receipt
    # carries and those it withholds never overlap (spec/bundle-format.md §7).
    held = {o["name"].casefold() for o in outputs if rule.output(o["name"], bool(o["sensitive"])) == WITHHELD}
    run["outputs"] = [o for o in outputs if o["name"].casefold() not in held]
    # Names an entry withheld already (a deployment record keeps no sensitive value to send,
    # ``receipt/evidence.py``) stay withheld, first, each once.
    named: dict[str, str] = {}
    for name in list(run.get("withheld", [])) + [o["name"] for o in outputs if o["name"].casefold() in held]:
        named[name.casefold()] = name  # the first place, the last spelling
    withheld = list(named.values())
    if withheld:
        run["withheld"] = withheld
    if "log" not in run:
        return
    if rule.logs == "withhold":
        del run["log"]
        run["log_withheld"] = True
        return
    data = read_log(run["log"])
    if rule.log_limit is not None:
        data, omitted = cut_log(data, rule.log_limit)
        if omitted:
            run["log"] = hashlib.sha256(data).hexdigest()
            run["log_omitted"] = omitted
    logs[run["log"]] = data


def apply_policy(policy: EgressPolicy, entries: Sequence[Mapping[str, Any]],
                 read_log: Callable[[str], bytes],
                 read_audit: Callable[[str], list[dict[str, str]]] = lambda _: []
                 ) -> tuple[list[dict[str, Any]], dict[str, bytes]]:
    """The entries as a receipt carries them under ``policy`` (copies; ``entries`` is not changed),
    and the bytes of every log they name, by SHA-256 digest. ``read_log(digest)`` gives a queued
    log's bytes; ``read_audit(deployment_id)`` the audit entries of a deployment as a receipt
    carries them (``format/audit.py`` :func:`~bundlekit.format.audit.carried`), added as the entry's
    ``audit`` when the rule sends them. Each entry's project (slug and name) chooses the rule
    (``EgressPolicy.rule_for``)."""
    out, logs = [], {}
    for entry in entries:
        e = copy.deepcopy(dict(entry))
        rule = policy.rule_for(e["project"]["slug"], e["project"]["name"])
        for run in e["runs"]:
            _apply_run(run, rule, read_log, logs)
        e.pop("audit", None)
        if rule.audit == "send":
            found = read_audit(e["deployment_id"])
            if found:
                e["audit"] = found
        out.append(e)
    return out, logs


def uses_egress_fields(entries: Sequence[Mapping[str, Any]]) -> bool:
    """Whether any run of ``entries`` carries a field of format 1.4 (the header then says minor 4)."""
    return any(f in run for e in entries for run in e["runs"] for f in _FIELDS)


def minor_for(entries: Sequence[Mapping[str, Any]], refusals: Sequence[Mapping[str, Any]] = ()) -> int | None:
    """The header minor a receipt of ``entries`` and ``refusals`` says: 8 when an entry or a
    refusal carries the relay hops of its release, 7 when an entry says its release's variables
    were refreshed, 5 when one carries audit entries, 4 when a run uses a field of 1.4, else None
    (the writer's default)."""
    if any("relay_hops" in e["release_bundle"] for e in (*entries, *refusals)):
        return RELAYED_MINOR
    if any("variables_updated_ms" in e for e in entries):
        return REFRESHED_MINOR
    if any("audit" in e for e in entries):
        return AUDIT_MINOR
    return EGRESS_MINOR if uses_egress_fields(entries) else None


def _seconds(ms: int | None) -> int | None:
    return None if ms is None else int(ms) // 1000


def _run_listing(run: Mapping[str, Any], log_sizes: Mapping[str, int]) -> dict[str, Any]:
    outputs: list[dict[str, Any]] = []
    for o in run.get("outputs", []):
        if o.get("sensitive"):
            outputs.append({"name": o["name"], "status": SEALED})
        else:
            outputs.append({"name": o["name"], "status": LEAVING, "value": o.get("value")})
    outputs += [{"name": name, "status": WITHHELD} for name in run.get("withheld", [])]
    if "log" in run:
        log: dict[str, Any] = {"status": "cut" if run.get("log_omitted") else LEAVING,
                               "bytes": log_sizes.get(run["log"]), "digest": run["log"]}
        if run.get("log_omitted"):
            log["omitted"] = run["log_omitted"]
    else:
        log = {"status": WITHHELD if run.get("log_withheld") else "none", "bytes": 0}
    return {"step": run["step"], "target": run.get("target"), "state": run["state"],
            "started": _seconds(run.get("started_ms")), "ended": _seconds(run.get("ended_ms")),
            "exit_code": run.get("exit_code"), "reason": run.get("reason"), "log": log, "outputs": outputs}


def audit_listing(items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The audit entries a receipt entry carries (``{body, signature}``), as the listings show
    them: ``{seq, at, user, host, command, object, result, code}`` (``at`` whole Unix seconds;
    ``object`` what the command named, never a value, ``spec/audit.md`` §2). An item whose body
    cannot be read is listed as ``{place, unreadable: true}`` (``place`` from 1): a listing shows,
    the import checks (``format.audit.check_carried``)."""
    listed: list[dict[str, Any]] = []
    for place, item in enumerate(items, 1):
        try:
            entry = decode_body(base64.b64decode(str(item["body"]), validate=True), place)
        except (KeyError, TypeError, ValueError, binascii.Error, BundleError):
            listed.append({"place": place, "unreadable": True})
            continue
        listed.append({"seq": entry.seq, "at": entry.at_ms // 1000, "user": entry.user, "host": entry.host,
                       "command": entry.command, "object": shown_object(entry.object), "result": entry.result,
                       "code": entry.code})
    return listed


def contents(entries: Sequence[Mapping[str, Any]], refusals: Sequence[Mapping[str, Any]],
             inventory: Sequence[Mapping[str, Any]], features: Sequence[str],
             log_sizes: Mapping[str, int]) -> dict[str, Any]:
    """Everything a receipt carries, as ``outbox pack --dry-run`` and ``inspect --contents`` list it:

    ``{deployments: [{deployment_id, project, slug, space, release, environment, tenant, state,
    started, ended, waived, variables_updated, audit, runs: [{step, target, state, started, ended, exit_code, reason,
    log: {status, bytes, digest?, omitted?}, outputs: [{name, status, value?}]}]}],
    refusals: [{refusal_id, project, release, code, message, refused}], inventory: [{id, version,
    sha256}], features, totals: {deployments, refusals, runs, leaving, sealed, withheld,
    log_bytes, packages, audit}}``; ``audit`` counts the audit entries carried and
    ``audit_entries`` lists them (:func:`audit_listing`). An output's
    ``status`` is ``leaving`` (its ``value`` goes in clear), ``sealed`` (only the source can open
    it) or ``withheld`` (its name only); a log's is
    ``leaving``, ``cut`` (``omitted`` bytes cut by the policy), ``withheld`` or ``none``. Times
    are whole Unix seconds; ``log_sizes`` gives each log's bytes by digest. No sealed value, and
    nothing about a withheld one but its name, is in it. ``variables_updated`` is when the
    deploying zone refreshed the release's variables before the deployment (format 1.7,
    decision 722), else None."""
    deployments = []
    for e in entries:
        deployments.append({
            "deployment_id": e["deployment_id"], "project": e["project"]["name"], "slug": e["project"]["slug"],
            "space": e["project"]["space"], "release": e["release"], "environment": e["environment"],
            "tenant": e.get("tenant"), "state": e["state"], "started": _seconds(e.get("started_ms")),
            "ended": _seconds(e.get("ended_ms")), "waived": list(e.get("waived", [])),
            "variables_updated": _seconds(e.get("variables_updated_ms")),
            "audit": len(e.get("audit", [])), "audit_entries": audit_listing(e.get("audit", [])),
            "runs": [_run_listing(run, log_sizes) for run in e["runs"]]})
    outputs = [o for d in deployments for r in d["runs"] for o in r["outputs"]]
    logs = [r["log"] for d in deployments for r in d["runs"]]
    return {
        "deployments": deployments,
        "refusals": [{"refusal_id": r["refusal_id"], "project": r["project"]["name"], "release": r["release"],
                      "code": r["code"], "message": r["message"], "refused": _seconds(r.get("refused_ms"))}
                     for r in refusals],
        "inventory": [{"id": i["id"], "version": i["version"], "sha256": i["sha256"]} for i in inventory],
        "features": list(features),
        "totals": {"deployments": len(deployments), "refusals": len(refusals),
                   "runs": sum(len(d["runs"]) for d in deployments),
                   **{s: sum(1 for o in outputs if o["status"] == s) for s in (LEAVING, SEALED, WITHHELD)},
                   "log_bytes": sum(log["bytes"] or 0 for log in logs), "packages": len(inventory),
                   "audit": sum(d["audit"] for d in deployments)},
    }
