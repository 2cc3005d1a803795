"""Who did what (issue 12), through the real CLI in subprocesses: every kind of state-changing
command leaves entries naming it and its object, the trail of both zones verifies, and a
canary secret entered in prod (and the release's own sealed password) is in no entry, no
listing and no row of the trail, in clear or in the encodings masking knows."""

from __future__ import annotations

import base64
import json
import sqlite3
from pathlib import Path
from typing import Any

from bundlekit.core.clock import utc_text
from tests.conftest import CANARY as RELEASE_SECRET
from tests.conftest import run_cli
from tests.e2e.world import json_of, make_world

CANARY = "audit-canary-7d41c9"
FORMS = [form for secret in (CANARY, RELEASE_SECRET)
         for form in (secret, base64.b64encode(secret.encode()).decode()[:12], secret.encode().hex())]


def _trail(home: Path) -> list[dict[str, Any]]:
    done = run_cli("audit", "--json", home=home)
    assert done.returncode == 0, done.stderr
    return json_of(done.stdout)["entries"]  # type: ignore[no-any-return]


def _by_command(entries: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for e in entries:
        out.setdefault(e["command"], []).append(e)
    return out


def test_every_kind_of_change_is_recorded_with_its_object_and_no_secret_in_any_form(tmp_path: Path) -> None:
    w = make_world(tmp_path)  # init, identity, trust add, targets add
    w.cli("import", w.export("1.4.0.bundle"), home=w.prod)
    entered = run_cli("variables", "set", "acme-web", "Acme.ApiKey", "--sensitive", home=w.prod,
                      input=CANARY.encode() + b"\n")
    assert entered.returncode == 0, entered.stderr
    w.cli("variables", "set", "acme-web", "Acme.Db.Name", "acme_audit", "--environment", "Production", home=w.prod)
    w.cli("variables", "unset", "acme-web", "Acme.Db.Name", "--environment", "Production", home=w.prod)
    w.cli("steps", "disable", "acme-web", "Smoke test", home=w.prod)
    w.cli("steps", "enable", "acme-web", "Smoke test", home=w.prod)
    (tmp_path / "egress.toml").write_text('[[rule]]\nprojects = ["acme-*"]\nlogs = "withhold"\naudit = "send"\n')
    w.cli("egress", "set", tmp_path / "egress.toml", home=w.prod)
    w.cli("retention", "set", "--keep", "3", home=w.prod)
    deployed = json_of(w.cli("deploy", "acme-web", "1.4.0", "--environment", "Production", "--json", home=w.prod))
    assert deployed["state"] == "Success", deployed
    receipt = tmp_path / "media" / "receipt.bundle"
    dry = json_of(w.cli("outbox", "pack", "--dry-run", "--json", home=w.prod))
    dry_text = w.cli("outbox", "pack", "--dry-run", home=w.prod)
    w.cli("outbox", "pack", "-o", receipt, home=w.prod)
    inspected_text = w.cli("inspect", receipt, "--contents")
    carried = json_of(w.cli("inspect", receipt, "--contents", "--json"))
    assert carried["format_version"] == "1.5"
    w.cli("import", receipt, home=w.dev)  # the carried entries verify against prod's key
    w.cli("prune", home=w.prod)
    w.cli("trust", "set", "dev", "--no-evidence", home=w.prod)
    alice = json_of(w.cli("keys", "new", "--name", "alice", "-o", tmp_path / "alice", "--json"))  # no zone
    w.cli("trust", "add-signer", tmp_path / "alice.pub", "--for", "dev", home=w.prod)
    w.cli("trust", "revoke", alice["key_id"], "--reason", "left the team", home=w.prod)
    w.cli("targets", "remove", "db-01", home=w.prod)
    w.cli("rotate-key", home=w.prod)
    w.cli("targets", "remove", "web-01", home=w.prod)  # after the rotation: signed by the new key

    prod = _trail(w.prod)
    commands = _by_command(prod)
    for command in ("init", "trust add", "targets add", "import", "variables set", "variables unset", "steps disable",
                    "steps enable", "egress set", "retention set", "deploy", "outbox pack",
                    "prune", "trust set", "trust add-signer", "trust revoke", "targets remove", "rotate-key"):
        assert command in commands, f"no entry for {command}: {sorted(commands)}"
        assert all(e["result"] == "ok" and e["changes"] and e["before"] and e["after"] for e in commands[command])
    assert [e["seq"] for e in prod] == list(range(1, len(prod) + 1))
    assert "(not a bundlekit command)" not in commands  # a deployment's threads record as `deploy` too
    secret_set = commands["variables set"][0]
    assert secret_set["object"] == {"project": "acme-web", "name": "Acme.ApiKey", "sensitive": True,
                                    "space": "Default"}
    assert commands["variables set"][1]["object"] == {"project": "acme-web", "name": "Acme.Db.Name",
                                                      "environment": ["Production"], "space": "Default"}
    assert commands["deploy"][0]["object"] == {"project": "acme-web", "version": "1.4.0",
                                               "environment": "Production", "space": "Default"}
    assert commands["targets remove"][0]["key"] != commands["targets remove"][1]["key"]  # rotated between
    assert commands["trust revoke"][0]["object"] == {"key_id": alice["key_id"]}  # not the reason: free text
    # the receipt carried the entries of the deployment's own transactions, as prod's policy allows
    assert carried["deployments"][0]["audit"] == len(commands["deploy"]) >= 2
    # ... and the dry run and `inspect --contents` list each of them, not just a count (review r12u R12U-3)
    listed = carried["deployments"][0]["audit_entries"]
    assert listed == dry["deployments"][0]["audit_entries"]
    assert [(a["seq"], a["at"], a["user"], a["host"], a["command"], a["object"], a["result"]) for a in listed] == [
        (e["seq"], int(e["at"]), e["user"], e["host"], e["command"], e["object"], e["result"]) for e in commands["deploy"]]
    for a in listed:
        line = f"audit entry {a['seq']} {utc_text(a['at'])}: {a['user']}@{a['host']} deploy"
        assert line in dry_text and line in inspected_text, (line, dry_text)
    named = " ".join(f"{k}={v}" for k, v in listed[0]["object"].items())  # what the command named, in its order
    assert "project=acme-web" in named and f"{listed[0]['user']}@{listed[0]['host']} deploy  {named} (ok)" in dry_text
    dev = _by_command(_trail(w.dev))
    assert "init" in dev and "export" in dev and "import" in dev  # the receipt, imported at the source
    assert dev["init"][0]["seq"] == 1 and dev["init"][0]["object"] == {"zone_name": "dev"}

    listings = [run_cli("audit", home=home).stdout + run_cli("audit", "--json", home=home).stdout
                for home in (w.prod, w.dev)]
    rows = b"".join(bytes(r[0]) + bytes(r[1]) for home in (w.prod, w.dev)
                    for r in sqlite3.connect(str(home / "state.db")).execute(
                        "SELECT body, signature FROM audit_entries"))
    for form in FORMS:
        assert all(form not in text for text in listings), form
        assert form.encode() not in rows, form

    for home in (w.prod, w.dev):
        checked = run_cli("audit", "--verify", "--json", home=home)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert json.loads(checked.stdout)["verified"] is True
