"""The source zone shows the audit entries a deploying zone's receipts carried back (review r12u
R12U-3, decision 712): `bundlekit audit --from ZONE` lists them under their deployments, as the
deploying zone's trail has them, text and JSON, through the real CLI in subprocesses. It reads
only; a zone the source does not trust is `unknown_zone`."""

from __future__ import annotations

import json
from pathlib import Path

from bundlekit.core.clock import utc_text
from tests.conftest import run_cli, snapshot
from tests.e2e.world import World, json_of, make_world


def _sending(tmp_path: Path, failing: bool = False) -> World:
    """Release 1.4.0 imported in prod, its key set, and prod's egress policy sending audit entries;
    ``failing``: its smoke test fails."""
    w = make_world(tmp_path)
    if failing:
        rel = w.release_dir / "release.toml"
        rel.write_text(rel.read_text().replace('assert schema == "42", schema', 'assert schema == "43", schema'))
    w.cli("import", w.export("1.4.0.bundle"), home=w.prod)
    entered = run_cli("variables", "set", "acme-web", "Acme.ApiKey", "--sensitive", home=w.prod,
                      input=b"k-audit-from\n")
    assert entered.returncode == 0, entered.stderr
    (tmp_path / "egress.toml").write_text('[[rule]]\nprojects = ["acme-*"]\naudit = "send"\n')
    w.cli("egress", "set", tmp_path / "egress.toml", home=w.prod)
    return w


def test_audit_from_lists_the_entries_the_deploying_zone_sent_back_under_their_deployment(tmp_path: Path) -> None:
    w = _sending(tmp_path)
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


def test_a_failed_deployment_s_refused_entry_comes_back_with_its_receipt(tmp_path: Path) -> None:
    """Review v30-12 N1, decision 790: the entry that records a failed deploy's refusal is one of
    the deployment's entries, both when the receipt is packed afterwards and when the deploy
    itself writes it (--receipt-out)."""
    w = _sending(tmp_path, failing=True)
    failed = run_cli("deploy", "acme-web", "1.4.0", "--environment", "Production", "--json", home=w.prod)
    assert failed.returncode == 5 and json_of(failed.stdout)["error"]["code"] == "deploy_failed", failed.stdout
    first = json_of(failed.stdout)["deployment_id"]
    packed = tmp_path / "media" / "receipt.bundle"
    w.cli("outbox", "pack", "-o", packed, home=w.prod)
    written = tmp_path / "media" / "receipt-out.bundle"
    again = run_cli("deploy", "acme-web", "1.4.0", "--environment", "Production", "--receipt-out", written,
                    "--json", home=w.prod)
    assert again.returncode == 5 and written.exists(), again.stdout
    second = json_of(again.stdout)["deployment_id"]

    trail = json.loads(run_cli("audit", "--json", home=w.prod).stdout)["entries"]
    refused = [e for e in trail if e["result"] == "refused" and not e["changes"]]  # the closing entries
    assert [(e["command"], e["code"]) for e in refused] == [("deploy", "deploy_failed")] * 2
    after = [(e["command"], e["result"], e["code"]) for e in trail if e["seq"] > refused[-1]["seq"]]
    # the receipt it wrote, recorded after the refusal, which is not written twice; its entry says
    # how the command ended (decision 885)
    assert after == [("deploy", "refused", "deploy_failed")]
    assert "receipt_files" in trail[-1]["changes"]

    w.cli("import", packed, home=w.dev)
    w.cli("import", written, home=w.dev)
    shown = json_of(w.cli("audit", "--from", "prod", "--json", home=w.dev))
    by_id = {d["deployment_id"]: d for d in shown["deployments"]}
    assert set(by_id) == {first, second}
    for dep, mine in zip((first, second), refused):
        entries = by_id[dep]["audit_entries"]
        assert by_id[dep]["state"] == "Failed"
        assert [a["result"] for a in entries[:-1]] == ["ok"] * (len(entries) - 1) and len(entries) >= 2
        assert (entries[-1]["seq"], entries[-1]["result"], entries[-1]["code"]) == (mine["seq"], "refused",
                                                                                    "deploy_failed")
    text = w.cli("audit", "--from", "prod", home=w.dev)
    for mine in refused:
        assert f"  audit entry {mine['seq']} {utc_text(int(mine['at']))}: " in text
    assert text.count("(refused [deploy_failed])") == 2, text
