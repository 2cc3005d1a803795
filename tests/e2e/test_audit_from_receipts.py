"""The source zone shows the audit entries a deploying zone's receipts carried back (review r12u
R12U-3, decision 712): `bundlekit audit --from ZONE` lists them under their deployments, as the
deploying zone's trail has them, text and JSON, through the real CLI in subprocesses. It reads
only; a zone the source does not trust is `unknown_zone`."""

from __future__ import annotations

import json
from pathlib import Path

from bundlekit.core.clock import utc_text
from tests.conftest import run_cli, snapshot
from tests.e2e.world import json_of, make_world


def test_audit_from_lists_the_entries_the_deploying_zone_sent_back_under_their_deployment(tmp_path: Path) -> None:
    w = make_world(tmp_path)
    w.cli("import", w.export("1.4.0.bundle"), home=w.prod)
    entered = run_cli("variables", "set", "acme-web", "Acme.ApiKey", "--sensitive", home=w.prod,
                      input=b"k-audit-from-1\n")
    assert entered.returncode == 0, entered.stderr
    (tmp_path / "egress.toml").write_text('[[rule]]\nprojects = ["acme-*"]\naudit = "send"\n')
    w.cli("egress", "set", tmp_path / "egress.toml", home=w.prod)
    deployed = json_of(w.cli("deploy", "acme-web", "1.4.0", "--environment", "Production", "--json", home=w.prod))
    receipt = tmp_path / "media" / "receipt.bundle"
    w.cli("outbox", "pack", "-o", receipt, home=w.prod)

    none_yet = run_cli("audit", "--from", "prod", home=w.dev)
    assert none_yet.returncode == 0 and none_yet.stdout.startswith("no audit entries came back from zone prod")
    w.cli("import", receipt, home=w.dev)

    trail = json.loads(run_cli("audit", "--json", home=w.prod).stdout)["entries"]
    sent = [e for e in trail if e["command"] == "deploy"]
    assert len(sent) >= 2
    before = snapshot(w.dev)
    shown = json_of(w.cli("audit", "--from", "PROD", "--json", home=w.dev))
    assert shown["zone"]["name"] == "prod" and shown["entries"] == len(sent)
    [dep] = shown["deployments"]
    assert (dep["deployment_id"], dep["project"], dep["release"], dep["environment"], dep["state"]) == (
        deployed["deployment_id"], "Acme Web", "1.4.0", "Production", "Success")
    assert [(a["seq"], a["at"], a["user"], a["host"], a["command"], a["object"], a["result"])
            for a in dep["audit_entries"]] == [
        (e["seq"], int(e["at"]), e["user"], e["host"], e["command"], e["object"], e["result"]) for e in sent]
    text = w.cli("audit", "--from", "prod", home=w.dev)
    assert f"deployment {deployed['deployment_id']} in zone prod: Acme Web 1.4.0 to Production: Success" in text
    for e in sent:
        assert f"  audit entry {e['seq']} {utc_text(int(e['at']))}: {e['user']}@{e['host']} deploy" in text, text
    assert f"{len(sent)} audit entries from zone prod" in text
    assert snapshot(w.dev) == before  # listing changes nothing

    unknown = run_cli("audit", "--from", "nosuch", "--json", home=w.dev)
    assert (unknown.returncode, json.loads(unknown.stdout)["error"]["code"]) == (1, "unknown_zone")
    mixed = run_cli("audit", "--from", "prod", "--verify", "--json", home=w.dev)
    assert (mixed.returncode, json.loads(mixed.stdout)["error"]["code"]) == (2, "usage")
    assert snapshot(w.dev) == before
