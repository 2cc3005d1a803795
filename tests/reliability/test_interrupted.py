"""A deployment whose process is killed ends ``Interrupted``, reported once, on either engine.

The deploy runs as a real process and is SIGKILLed (with its runner) while its first script
runs; the next command that opens the zone finds it by its claim, which ended with the process.
"""

from __future__ import annotations

import json
from pathlib import Path


from tests.conftest import cli_in_process, make_zones
from tests.pgserver import PostgresServer
from tests.reliability.kills import deployments, gated_world, kill_all, start_deploy, wait_for


def test_killed_deploy_is_interrupted_with_the_step_reached_and_queued_once(
        tmp_path: Path, pg: PostgresServer | None) -> None:
    w = gated_world(make_zones(tmp_path, pg=pg), tmp_path)
    proc = start_deploy(w.prod)
    wait_for(w.gate / "started", proc)
    assert [d["state"] for d in deployments(w.prod)] == ["Executing"]  # alive: its claim is held
    kill_all(proc)

    listed = deployments(w.prod)  # the next command finds it
    assert [(d["id"], d["state"]) for d in listed] == [("Deployments-1", "Interrupted")]
    shown = cli_in_process("deployments", "show", "Deployments-1", "--json", home=w.prod)
    record = json.loads(shown.stdout)["record"]
    assert record["state"] == "Interrupted"
    assert record["interrupted"]["step"] == "Run migrations" and record["interrupted"]["target"] == "db-01"
    [run] = record["runs"]
    assert (run["step"], run["target"], run["state"]) == ("Run migrations", "db-01", "Failed")
    assert run["reason"].startswith("interrupted:")

    outbox = json.loads(cli_in_process("outbox", "list", "--json", home=w.prod).stdout)
    assert [e["deployment_id"] for e in outbox["pending"]] == ["Deployments-1"]

    (w.gate / "go").touch()  # the retry's script passes its gate
    retry = start_deploy(w.prod)
    out, err = retry.communicate(timeout=300)
    assert retry.returncode == 0, f"{out}\n{err}"
    states = {d["id"]: d["state"] for d in deployments(w.prod)}
    assert states == {"Deployments-1": "Interrupted", "Deployments-2": "Success"}
    outbox = json.loads(cli_in_process("outbox", "list", "--json", home=w.prod).stdout)
    assert sorted(e["deployment_id"] for e in outbox["pending"]) == ["Deployments-1", "Deployments-2"]

    receipt = tmp_path / "receipt.bundle"
    packed = cli_in_process("outbox", "pack", "-o", receipt, home=w.prod)
    assert packed.returncode == 0, packed.stderr
    imported = cli_in_process("import", receipt, "--json", home=w.zones.dev.home)
    assert imported.returncode == 0, imported.stderr
    board = cli_in_process("dashboard", "--json", home=w.zones.dev.home)
    assert board.returncode == 0, board.stderr
    assert "interrupted:" in board.stdout

