"""Two `bundlekit outbox pack` processes at once never pack one entry twice, on either engine.

The race is staged, not hoped for: the test holds the state's write lock (SQLite's RESERVED
lock, PostgreSQL's advisory write lock) while two real processes start packing, waits until both
have read the outbox and begun writing their receipts (each receipt's temporary file exists),
then lets go. Without a claim on the entries both wrote a receipt carrying the same deployments.
With PostgreSQL the two processes are two nodes of one zone (two homes, one database).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import psycopg
import pytest

from bundlekit.deploy.service import deploy
from bundlekit.format.container import BundleFile
from bundlekit.format.manifest import parse_manifest
from bundlekit.importer import edits
from bundlekit.importer.importer import import_bundle
from bundlekit.zone.home import Zone
from bundlekit.zone.postgres import _WRITE_LOCK
from bundlekit.zone.targets import add_target
from tests.conftest import Zones, make_zones
from tests.importer.helpers import export
from tests.pgserver import PostgresServer
from tests.zone.test_nodes import make_cluster


def _deployments(z: Zones, tmp: Path, count: int) -> list[str]:
    """``count`` finished deployments of acme-web on ``z.prod``, waiting in its outbox."""
    import_bundle(z.prod, export(z, tmp / "a.bundle"), now=int(time.time()))
    edits.set_variable(z.prod, "acme-web", "Acme.ApiKey", "k-456789", sensitive=True, now=int(time.time()))
    add_target(z.prod, "db-01", "Production", ("db",), tmp / "t" / "db-01", 0)
    add_target(z.prod, "web-01", "Production", ("web",), tmp / "t" / "web-01", 0)
    ids = []
    for _ in range(count):
        record = deploy(z.prod, "acme-web", "1.4.0", "Production", now=time.time()).record
        assert record is not None and record.state == "Success"
        ids.append(record.deployment_id)
    return ids


@contextmanager
def _write_lock(zone: Zone, pg: PostgresServer | None) -> Iterator[None]:
    """Hold the zone's state write lock, as another node's long transaction would."""
    if pg is None:
        conn = sqlite3.connect(zone.home / "state.db", isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
    else:
        settings = zone.settings.state
        assert settings is not None
        conn = psycopg.connect(autocommit=True, **settings.parameters(pg.password))  # type: ignore[assignment]
        conn.execute("BEGIN")
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_WRITE_LOCK,))
    try:
        yield
    finally:
        conn.execute("ROLLBACK")
        conn.close()


def _pack(home: Path, out: Path) -> subprocess.Popen[str]:
    out.parent.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if k != "BUNDLEKIT_HOME"}
    return subprocess.Popen([sys.executable, "-m", "bundlekit", "outbox", "pack", "-o", str(out), "--json",
                             "--home", str(home)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _wait_until_both_write(procs: list[subprocess.Popen[str]], outs: list[Path]) -> None:
    """Until each process has read the outbox and opened its receipt's temporary file."""
    deadline = time.monotonic() + 300  # a hang guard only: the test asserts no duration
    while not all(list(o.parent.glob(f".bundlekit-*.{o.name}.tmp")) for o in outs):
        for p in procs:
            assert p.poll() is None, f"a packer ended before the race: {p.communicate()}"
        assert time.monotonic() < deadline, "the packers never reached their receipts"
        time.sleep(0.05)


def test_two_processes_packing_the_outbox_at_once_pack_each_entry_once(engine: str, tmp_path: Path,
                                                                      request: pytest.FixtureRequest) -> None:
    pg: PostgresServer | None = request.getfixturevalue("pg_server") if engine == "postgresql" else None
    if pg is None:
        z = make_zones(tmp_path)
        homes = [z.prod.home, z.prod.home]  # two processes of one node
    else:
        c = make_cluster(tmp_path, pg)
        z = Zones(c.dev, c.a, tmp_path)
        homes = [c.a.home, c.b.home]  # two nodes of one zone
    try:
        ids = _deployments(z, tmp_path, 2)
        outs = [tmp_path / f"out-{i}" / "receipts.bundle" for i in (1, 2)]
        with _write_lock(z.prod, pg):
            procs = [_pack(home, out) for home, out in zip(homes, outs)]
            _wait_until_both_write(procs, outs)
        results = [p.communicate(timeout=300) for p in procs]
        codes = [p.returncode for p in procs]
        answers: list[dict[str, Any]] = [json.loads(stdout) for stdout, _ in results]
        # One receipt carries both entries; the other process found nothing left to pack.
        assert sorted(codes) == [0, 1], results
        won, lost = (0, 1) if codes[0] == 0 else (1, 0)
        assert answers[won]["deployments"] == ids and answers[won]["sequence"] == 1
        assert answers[lost]["error"]["code"] == "outbox_empty", answers[lost]
        assert "packed them meanwhile" in answers[lost]["error"]["message"]
        assert not outs[lost].exists() and not list(outs[lost].parent.iterdir())  # nothing left behind
        with BundleFile(outs[won]) as bundle:
            manifest = parse_manifest(bundle.manifest_bytes, "receipt")
        assert [e["deployment_id"] for e in manifest.receipts] == ids
        assert z.prod.db.all("SELECT path, sequence FROM receipt_files") == [
            {"path": str(outs[won].resolve()), "sequence": 1}]
        assert {r["packed_in"] for r in z.prod.db.all("SELECT packed_in FROM outbox")} == {manifest.bundle_id}
    finally:
        z.close()
