"""A running deployment whose PostgreSQL connection ends keeps its claims or stops: never two owners.

The claims of a running deployment are session advisory locks: the server ends them with the
connection (here: every bundlekit connection to the zone's database terminated by the server,
as a restart or a network fault would end them) while the deployment's process lives on. The
process must notice: it retakes its claims when nothing happened meanwhile, and goes on; when
another command has already closed the deployment ``Interrupted``, it stops its running step,
starts no other, and the record says what the process did.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from pathlib import Path

from bundlekit.zone import deployments as zone_deployments
from bundlekit.zone.postgres import claim_lock
from tests.conftest import cli_in_process, make_zones
from tests.pgserver import PostgresServer
from tests.reliability.kills import deployments, gated_world, kill_all, start_deploy, wait_for


def _database(home: Path) -> str:
    return (home / "bundlekit.conf").read_text().split("BUNDLEKIT_STATE=", 1)[1].split()[0].rsplit("/", 1)[1]


def _end_connections(pg: PostgresServer, database: str) -> int:
    """The server ends every bundlekit connection to ``database`` (and waits until each has ended)."""
    ended = pg.sql("postgres", "SELECT pg_terminate_backend(pid, 30000) FROM pg_stat_activity "
                               f"WHERE datname = '{database}' AND application_name = 'bundlekit'")
    return sum(1 for (done,) in ended if done)


def _holders(pg: PostgresServer, database: str, name: str) -> list[int]:
    """The server processes holding the claim ``name`` in ``database`` now."""
    classid, objid = claim_lock(name)
    rows = pg.sql(database, "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1 "
                            f"AND classid = {classid} AND objid = {objid} "
                            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")
    return [pid for (pid,) in rows]


def _show(home: Path, deployment_id: str) -> dict:  # type: ignore[type-arg]
    shown = cli_in_process("deployments", "show", deployment_id, "--json", home=home)
    assert shown.returncode == 0, shown.stderr
    return json.loads(shown.stdout)["record"]  # type: ignore[no-any-return]


def test_a_deployment_whose_connection_ends_retakes_its_claims_and_no_other_run_starts(
        tmp_path: Path, pg_server: PostgresServer) -> None:
    w = gated_world(make_zones(tmp_path, pg=pg_server), tmp_path)
    database = _database(w.prod)
    claim = zone_deployments.claim_name("Deployments-1")
    proc = start_deploy(w.prod)
    try:
        wait_for(w.gate / "started", proc)
        [first] = _holders(pg_server, database, claim)
        assert _end_connections(pg_server, database) >= 1
        deadline = time.monotonic() + 60  # a limit for a hang, not a measured time
        while _holders(pg_server, database, claim) in ([], [first]):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the running deployment never took its claim back"
            time.sleep(0.05)
        # The deployment is alive as far as any node can tell: not closed, and its slot is taken.
        assert [d["state"] for d in deployments(w.prod)] == ["Executing"]
        second = cli_in_process("deploy", "acme-web", "1.4.0", "--environment", "Production", "--json", home=w.prod)
        refusal = json.loads(second.stdout)["error"]
        assert refusal["code"] == "deployment_in_progress", second.stdout
        assert f"on host {socket.gethostname()} (home {w.prod}, process {proc.pid})" in refusal["message"]
        (w.gate / "go").touch()
        out, err = proc.communicate(timeout=300)
    finally:
        kill_all(proc)
    assert proc.returncode == 0, f"{out}\n{err}"
    assert json.loads(out)["state"] == "Success"
    record = _show(w.prod, "Deployments-1")
    assert record["state"] == "Success"
    assert [loss["then"] for loss in record["claims_lost"]] == ["retaken"]
    assert [d["id"] for d in deployments(w.prod)] == ["Deployments-1"]  # the refused one was never recorded
    assert _holders(pg_server, database, claim) == []  # given back once recorded


def test_a_deployment_closed_by_another_node_while_its_connection_was_gone_stops_and_says_so(
        tmp_path: Path, pg_server: PostgresServer) -> None:
    w = gated_world(make_zones(tmp_path, pg=pg_server), tmp_path)
    database = _database(w.prod)
    proc = start_deploy(w.prod)
    try:
        wait_for(w.gate / "started", proc)
        os.killpg(proc.pid, signal.SIGSTOP)  # the node stalls while the server ends its connections
        assert _end_connections(pg_server, database) >= 1
        # Another command sees a deployment whose claim nobody holds: its process looks gone.
        assert [d["state"] for d in deployments(w.prod)] == ["Interrupted"]
        os.killpg(proc.pid, signal.SIGCONT)
        out, err = proc.communicate(timeout=120)  # the gate never opens: only stopping ends it
    finally:
        kill_all(proc)
    assert proc.returncode == 5, f"{out}\n{err}"
    error = json.loads(out)["error"]
    assert error["code"] == "deployment_claim_lost" and "Deployments-1" in error["message"]
    assert "closed Deployments-1 Interrupted" in error["message"] and "Traceback" not in err
    assert not (w.gate / "go").exists()
    record = _show(w.prod, "Deployments-1")
    assert record["state"] == "Interrupted"  # the record other nodes acted on stays, with what the process did
    after = record["after_closed"]
    assert [loss["then"] for loss in after["claims_lost"]] == ["stopped"]
    assert [(r["step"], r["target"], r["state"]) for r in after["runs"]][0] == ("Run migrations", "db-01",
                                                                                "Canceled")
    assert all(r["state"] == "Canceled" for r in after["runs"])  # nothing ran after it stopped
    outbox = json.loads(cli_in_process("outbox", "list", "--json", home=w.prod).stdout)
    assert [e["deployment_id"] for e in outbox["pending"]] == ["Deployments-1"]  # reported once
