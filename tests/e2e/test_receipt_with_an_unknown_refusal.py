"""A receipt whose refusal entry is about a bundle its source has no record of exporting (new-user
review 35, finding 6; decision 969), through the real CLI.

prod refuses a bundle signed with dev's key that dev never exported (``tests/refusals/forge.py``,
the "buggy or compromised source") and queues a refusal for dev, as it must: it cannot know what
dev exported. The receipt that carries it also carries a good deployment. dev refuses the receipt
with a message that fits a refusal and names ``--skip-unknown-refusals``, which records the good
entries and lists the skipped one.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_cli
from tests.e2e.world import json_of, make_world
from tests.refusals.forge import resign


def test_a_refusal_of_a_bundle_the_source_never_exported_does_not_sink_the_receipt_s_good_entries(
        tmp_path: Path) -> None:
    w = make_world(tmp_path)
    good = w.export("1.4.0.bundle")
    hostile = resign(good, tmp_path / "hostile.bundle", w.dev, mutate=lambda d: d.update(sequence=7))
    refused = run_cli("import", hostile, home=w.prod)
    assert refused.returncode == 3, refused.stderr
    queued = json.loads(w.cli("outbox", "list", "--json", home=w.prod))["refusals"]
    assert [r["destination"] for r in queued] == ["dev"]  # authentic origin: reported, as prod cannot tell
    w.cli("import", good, home=w.prod)
    entered = run_cli("variables", "set", "acme-web", "Acme.ApiKey", "-", "--sensitive", home=w.prod, input=b"k\n")
    assert entered.returncode == 0, entered.stderr
    w.cli("deploy", "acme-web", "1.4.0", "--environment", "Production", home=w.prod)
    receipt = tmp_path / "receipt.bundle"
    w.cli("outbox", "pack", "--to", "dev", "-o", receipt, home=w.prod)

    done = run_cli("import", receipt, home=w.dev)
    assert done.returncode == 3 and "error [unknown_bundle]" in done.stderr, done.stderr
    message = " ".join(done.stderr.split())
    assert "refusals[0] (Refusals-1): zone prod refused release bundle" in message
    assert "signed by this zone, but this zone has no record of exporting it to zone 'prod'" in message
    assert "deploy again" not in message and "older bundlekit" not in message
    assert f"`bundlekit import {receipt} --skip-unknown-refusals --home {w.dev}`" in message
    assert json.loads(w.cli("deployments", "list", "--json", home=w.prod))["deployments"]  # prod's side is fine

    dry = json_of(w.cli("import", receipt, "--skip-unknown-refusals", "--dry-run", "--json", home=w.dev))
    assert dry["recorded"] == ["Deployments-1"] and dry["refusals"][0]["skipped"]
    shown = w.cli("import", receipt, "--skip-unknown-refusals", home=w.dev)
    assert "recorded deployment Deployments-1: Acme Web 1.4.0 to Production in prod: Success" in shown
    assert "skipped refusal Refusals-1: Acme Web 1.4.0 refused in prod:" in shown
    board = w.cli("dashboard", home=w.dev)
    assert "1.4.0 succeeded" in board and "awaiting a receipt" not in board and "refused" not in board
    again = w.cli("import", receipt, home=w.dev)  # the receipt was accepted: a no-op, with or without the flag
    assert "already imported" in again
