"""Receipts imported on two nodes of a source zone at once: recorded once, the high-water mark never lowered.

The source zone ``dev`` runs on PostgreSQL with two nodes; ``prod`` deploys and packs receipts.
The test holds dev's write lock and starts one real `bundlekit import` process per node; it
waits until PostgreSQL shows each of them queued for the lock (``pg_locks``), so both have
verified their receipt and decided what to record, then lets go. The lock's queue is first in,
first out, so the order the imports commit in is the order they were started.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg

from bundlekit.deploy.service import deploy
from bundlekit.format.card import parse_card
from bundlekit.importer import edits
from bundlekit.importer.importer import import_bundle
from bundlekit.receipt.outbox import pack
from bundlekit.trust.policy import SourcePolicy
from bundlekit.zone import truststore
from bundlekit.zone.home import Zone, init_zone
from bundlekit.zone.join import join_zone
from bundlekit.zone.postgres import _WRITE_LOCK
from bundlekit.zone.targets import add_target
from tests.conftest import Zones, pg_url
from tests.importer.helpers import export
from tests.pgserver import PostgresServer


def _import(home: Path, bundle: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "BUNDLEKIT_HOME"}
    return subprocess.Popen([sys.executable, "-m", "bundlekit", "import", str(bundle), "--json", "--home", str(home)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _queued(lock: psycopg.Connection, count: int, procs: list[subprocess.Popen[str]]) -> None:
    """Until ``count`` sessions wait for an advisory lock in this database (the processes' write transactions)."""
    deadline = time.monotonic() + 300  # a hang guard only: the test asserts no duration
    while lock.execute("SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database = "
                       "(SELECT oid FROM pg_database WHERE datname = current_database())").fetchone()[0] < count:
        for p in procs:
            assert p.poll() is None, f"an import ended before the race: {p.communicate()}"
        assert time.monotonic() < deadline, "the imports never reached their transactions"
        time.sleep(0.05)


def _race(dev: Zone, pg: PostgresServer, runs: list[tuple[Path, Path]]) -> list[dict]:  # type: ignore[type-arg]
    """Import each (home, bundle) in its own process, in this order, all decided before any commits."""
    state = dev.settings.state
    assert state is not None
    with psycopg.connect(autocommit=True, **state.parameters(pg.password)) as lock:
        lock.execute("BEGIN")
        lock.execute("SELECT pg_advisory_xact_lock(%s)", (_WRITE_LOCK,))
        procs: list[subprocess.Popen[str]] = []
        for home, bundle in runs:
            procs.append(_import(home, bundle))
            _queued(lock, len(procs), procs)
        lock.execute("ROLLBACK")
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=300)
        assert p.returncode == 0, stdout + stderr
        out.append(json.loads(stdout))
    return out


def test_receipts_imported_on_two_nodes_at_once_are_recorded_once_and_never_lower_the_mark(
        tmp_path: Path, pg_server: PostgresServer) -> None:
    now = int(time.time())
    store = tmp_path / "dev-store"
    dev = init_zone(tmp_path / "dev-a", "dev", now, state=pg_url(pg_server), password=pg_server.password,
                    package_store=store)
    node_b = join_zone(tmp_path / "dev-b", state=dev.settings.state, password=None,  # type: ignore[arg-type]
                       package_store=store, source=dev.home)
    node_b.close()
    prod = init_zone(tmp_path / "prod", "prod", now)
    truststore.add_zone(dev, parse_card(prod.card_bytes(), "prod.card"), SourcePolicy(), now)
    truststore.add_zone(prod, parse_card(dev.card_bytes(), "dev.card"), SourcePolicy(), now)
    z = Zones(dev, prod, tmp_path)
    try:
        import_bundle(prod, export(z, tmp_path / "a.bundle"), now=now)
        edits.set_variable(prod, "acme-web", "Acme.ApiKey", "k-456789", sensitive=True, now=now)
        add_target(prod, "db-01", "Production", ("db",), tmp_path / "t" / "db-01", 0)
        add_target(prod, "web-01", "Production", ("web",), tmp_path / "t" / "web-01", 0)
        receipts = []
        for n in (1, 2, 3):  # three receipts, sequences 1, 2, 3, one deployment each
            assert deploy(prod, "acme-web", "1.4.0", "Production", now=time.time()).record is not None
            receipts.append(pack(prod, tmp_path / f"r{n}.bundle", to=None, now=int(time.time())).path)
        mark = "SELECT last_sequence FROM incoming"

        # The newer receipt commits first, the older one second: the older one is late.
        newer, older = _race(dev, pg_server, [(dev.home, receipts[1]), (node_b.home, receipts[0])])
        assert (newer["late"], older["late"]) == (False, True)
        assert (newer["recorded"], older["recorded"]) == (["Deployments-2"], ["Deployments-1"])
        assert [r["last_sequence"] for r in dev.db.all(mark)] == [2]  # never lowered to 1

        # The same receipt on both nodes at once: one import and one no-op, not a duplicate-key failure.
        first, second = _race(dev, pg_server, [(dev.home, receipts[2]), (node_b.home, receipts[2])])
        assert (first["noop"], second["noop"]) == (False, True) and first["recorded"] == ["Deployments-3"]
        assert [r["last_sequence"] for r in dev.db.all(mark)] == [3]
        assert sorted(r["deployment_id"] for r in dev.db.all("SELECT deployment_id FROM remote_deployments")) == [
            "Deployments-1", "Deployments-2", "Deployments-3"]
    finally:
        z.close()
