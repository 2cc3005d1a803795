"""Several nodes, one zone: homes on one PostgreSQL state and one package store, working at once.

Each node is its own home with its own connection, as two machines would be; threads stand in
for the machines where the race is what is tested, subprocesses where a node must die.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from bundlekit.deploy.recording import settle_interrupted
from bundlekit.deploy.service import deploy

from bundlekit.format.card import parse_card
from bundlekit.importer import edits
from bundlekit.importer.importer import apply_import, import_bundle, plan_import
from bundlekit.trust.policy import SourcePolicy
from bundlekit.zone import deployments, truststore
from bundlekit.zone.home import Zone, init_zone
from bundlekit.zone.join import join_zone
from bundlekit.zone.targets import add_target
from tests.conftest import ROOT, Zones, pg_url, raises_code
from tests.importer.helpers import edit_release, export
from tests.pgserver import PostgresServer


@dataclass
class Cluster:
    """A source zone ``dev`` and a zone ``prod`` served by two nodes ``a`` and ``b``."""

    dev: Zone
    a: Zone
    b: Zone
    store: Path
    tmp: Path

    def close(self) -> None:
        for z in (self.dev, self.a, self.b):
            z.close()


def make_cluster(tmp: Path, pg: PostgresServer) -> Cluster:
    now = int(time.time())
    dev = init_zone(tmp / "dev", "dev", now)
    store = tmp / "shared-store"
    a = init_zone(tmp / "node-a", "prod", now, state=pg_url(pg), password=pg.password, package_store=store)
    b = join_zone(tmp / "node-b", state=a.settings.state, password=None, package_store=store,  # type: ignore[arg-type]
                  source=a.home)
    truststore.add_zone(dev, parse_card(a.card_bytes(), "prod.card"), SourcePolicy(), now)
    truststore.add_zone(a, parse_card(dev.card_bytes(), "dev.card"), SourcePolicy(), now)
    return Cluster(dev, a, b, store, tmp)


@pytest.fixture
def cluster(tmp_path: Path, pg_server: PostgresServer) -> Iterator[Cluster]:
    c = make_cluster(tmp_path, pg_server)
    yield c
    c.close()


def _zones(c: Cluster) -> Zones:
    return Zones(c.dev, c.a, c.tmp)


def _both(first: Callable[[], Any], second: Callable[[], Any]) -> list[Any]:
    """Run two calls at once (threads), return their results or the exceptions they raised."""
    out: list[Any] = [None, None]
    gate = threading.Barrier(2)

    def run(i: int, call: Callable[[], Any]) -> None:
        gate.wait()
        try:
            out[i] = call()
        except BaseException as error:  # noqa: BLE001 - handed to the test
            out[i] = error

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate((first, second))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return out


def test_a_joined_node_has_the_zones_keys_and_sees_the_same_state(cluster: Cluster, tmp_path: Path) -> None:
    a, b = cluster.a, cluster.b
    assert (b.zone_id, b.name) == (a.zone_id, a.name)
    for name in ("signing.key", "sealing.key"):
        assert (b.home / "keys" / name).read_bytes() == (a.home / "keys" / name).read_bytes()
        assert (b.home / "keys" / name).stat().st_mode & 0o777 == 0o600
    assert (b.home / "keys").stat().st_mode & 0o777 == 0o700
    assert (b.home / "keys" / "state.password").stat().st_mode & 0o777 == 0o600  # reused from node a
    assert (b.home / "bundlekit.conf").stat().st_mode & 0o777 == 0o600
    assert a.store.base == b.store.base == cluster.store.resolve()
    assert [e.name for e in truststore.list_zones(b)] == ["dev"]  # trusted on a, seen on b
    import_bundle(a, export(_zones(cluster), tmp_path / "a.bundle"), now=int(time.time()))
    assert b.store.has(b.db.scalar("SELECT sha256 FROM packages"))
    assert [p for p in (b.home / "packages", a.home / "packages") if p.exists()] == []


def test_a_node_of_another_zone_cannot_join_this_state(cluster: Cluster, tmp_path: Path,
                                                      pg_server: PostgresServer) -> None:
    with raises_code("zone_mismatch") as info:
        join_zone(tmp_path / "node-x", state=cluster.a.settings.state, password=pg_server.password,  # type: ignore[arg-type]
                  package_store=cluster.store, source=cluster.dev.home)
    assert cluster.a.zone_id in info.value.message and not (tmp_path / "node-x").exists()


def test_imports_of_different_bundles_on_two_nodes_both_land(cluster: Cluster, tmp_path: Path,
                                                             release_dir: Path) -> None:
    # Two source zones, so neither bundle's sequence orders it after the other.
    dev2 = init_zone(tmp_path / "dev2", "dev2", int(time.time()))
    truststore.add_zone(dev2, parse_card(cluster.a.card_bytes(), "prod.card"), SourcePolicy(), int(time.time()))
    truststore.add_zone(cluster.a, parse_card(dev2.card_bytes(), "dev2.card"), SourcePolicy(), int(time.time()))
    first = export(_zones(cluster), tmp_path / "one.bundle")
    edit_release(release_dir, 'name = "Acme Web"', 'name = "Acme Shop"')
    second = export(Zones(dev2, cluster.a, tmp_path), tmp_path / "two.bundle", release=release_dir / "release.toml")
    dev2.close()
    results = _both(lambda: import_bundle(cluster.a, first, now=int(time.time())),
                    lambda: import_bundle(cluster.b, second, now=int(time.time())))
    assert [type(r).__name__ for r in results] == ["ImportPlan", "ImportPlan"], results
    assert not results[0].noop and not results[1].noop
    assert sorted(r["name"] for r in cluster.b.db.all("SELECT name FROM projects")) == ["Acme Shop", "Acme Web"]


def test_the_same_bundle_imported_on_two_nodes_at_once_lands_once(cluster: Cluster, tmp_path: Path) -> None:
    bundle = export(_zones(cluster), tmp_path / "a.bundle")
    now = int(time.time())
    # Both nodes plan (verify, stage) before either applies: the race the write lock must settle.
    plans = [plan_import(cluster.a, bundle, now=now), plan_import(cluster.b, bundle, now=now)]
    results = _both(lambda: apply_import(cluster.a, plans[0], now=now),
                    lambda: apply_import(cluster.b, plans[1], now=now))
    assert results == [None, None]
    assert sorted(p.noop for p in plans) == [False, True]
    assert "another process" in next(p.noop_reason for p in plans if p.noop)
    assert cluster.a.db.scalar("SELECT COUNT(*) AS n FROM imports") == 1
    assert cluster.a.db.scalar("SELECT COUNT(*) AS n FROM releases") == 1


def test_an_import_planned_before_another_nodes_edit_merges_that_edit(cluster: Cluster, tmp_path: Path,
                                                                      release_dir: Path) -> None:
    import_bundle(cluster.a, export(_zones(cluster), tmp_path / "a.bundle"), now=int(time.time()))
    edit_release(release_dir, 'version = "1.4.0"', 'version = "1.4.1"')
    newer = export(_zones(cluster), tmp_path / "b.bundle", release=release_dir / "release.toml")
    plan = plan_import(cluster.a, newer, now=int(time.time()))
    edits.set_variable(cluster.b, "acme-web", "Acme.ApiKey", "k-from-b", sensitive=True, now=int(time.time()))
    with pytest.raises(Exception, match="_StalePlan|acme-web") as info:
        apply_import(cluster.a, plan, now=int(time.time()))  # the plan no longer matches the project
    assert type(info.value).__name__ == "_StalePlan"
    assert cluster.a.db.scalar("SELECT COUNT(*) AS n FROM releases") == 1  # nothing applied
    import_bundle(cluster.a, newer, now=int(time.time()))  # the workflow plans again and keeps b's edit
    local = cluster.b.db.scalar("SELECT local FROM projects")
    assert "secret:" in local and cluster.b.db.scalar("SELECT COUNT(*) AS n FROM releases") == 2


def _order_log(tmp_path: Path) -> Path:
    """Where the slow step logs its start and end: inside the db target's folder, the one place
    on this machine the step may write (its runner is sandboxed, decision 143)."""
    return tmp_path / "t" / "db-01" / "order.log"


def _slow_release(release_dir: Path, log: Path) -> Path:
    """A release whose db step logs its start, then runs until the test creates ``go`` beside the
    log (60 s at most, a hang guard), then logs its end: it is still running while the test looks."""
    gate = log.parent / "go"
    return edit_release(release_dir, 'echo "migrating database',
                        f'echo "start $$" >> {log}; for i in $(seq 1200); do [ -e {gate} ] && break; sleep 0.05; '
                        f'done; echo "end $$" >> {log}\necho "migrating database')


def _deployable(c: Cluster, tmp_path: Path, release: Path) -> None:
    import_bundle(c.a, export(_zones(c), tmp_path / "slow.bundle", release=release), now=int(time.time()))
    edits.set_variable(c.a, "acme-web", "Acme.ApiKey", "k-1", sensitive=True, now=int(time.time()))
    add_target(c.a, "db-01", "Production", ("db",), tmp_path / "t" / "db-01", 0)
    add_target(c.a, "web-01", "Production", ("web",), tmp_path / "t" / "web-01", 0)


def test_two_nodes_deploying_one_project_to_one_environment_run_one_at_a_time(cluster: Cluster, tmp_path: Path,
                                                                            release_dir: Path) -> None:
    log = _order_log(tmp_path)
    _deployable(cluster, tmp_path, _slow_release(release_dir, log))
    waited: list[str] = []

    def queued(what: str) -> None:  # the node that did not get the slot waits: now let the other finish
        waited.append(what)
        (log.parent / "go").touch()

    results = _both(lambda: deploy(cluster.a, "acme-web", "1.4.0", "Production", now=time.time(), wait=60,
                                   on_wait=queued),
                    lambda: deploy(cluster.b, "acme-web", "1.4.0", "Production", now=time.time(), wait=60,
                                   on_wait=queued))
    assert [r.record.state for r in results] == ["Success", "Success"], results
    assert len(waited) == 1, waited  # one node queued behind the other's running step
    assert sorted(r.record.deployment_id for r in results) == ["Deployments-1", "Deployments-2"]
    events = [line.split()[0] for line in log.read_text().splitlines()]
    assert events == ["start", "end", "start", "end"]  # never two at once
    assert deployments.running(cluster.a.db, "acme-web", "Production") is None


def test_a_second_deployment_that_does_not_wait_is_refused_naming_the_running_one(cluster: Cluster, tmp_path: Path,
                                                                                 release_dir: Path) -> None:
    log = _order_log(tmp_path)
    gate = log.parent / "go"  # node a's step waits for it: b is refused while a runs, however slow the machine
    _deployable(cluster, tmp_path, edit_release(release_dir, 'echo "migrating database',
                                                f'echo "start $$" >> {log}; while [ ! -e {gate} ]; do sleep 0.05; '
                                                f'done; echo "end $$" >> {log}\necho "migrating database'))
    runner = threading.Thread(target=deploy, args=(cluster.a, "acme-web", "1.4.0", "Production"),
                              kwargs={"now": time.time()})
    runner.start()
    try:
        deadline = time.monotonic() + 30
        while not (log.exists() and log.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        before = cluster.b.db.scalar("SELECT COUNT(*) AS n FROM deployments")
        with raises_code("deployment_in_progress") as info:
            deploy(cluster.b, "acme-web", "1.4.0", "production", now=time.time())
        assert "Deployments-1" in info.value.message and info.value.exit_code == 4
        # it names the node that runs it: node a's host, home and process, not node b's
        where = f"on host {socket.gethostname()} (home {cluster.a.home}, process {os.getpid()})"
        assert where in info.value.message and str(cluster.b.home) not in info.value.message
        assert cluster.b.db.scalar("SELECT COUNT(*) AS n FROM deployments") == before  # nothing recorded
    finally:
        gate.touch()
        runner.join(120)
    out = deploy(cluster.b, "acme-web", "1.4.0", "Production", now=time.time())  # it ended: b may run now
    assert out.record is not None and out.record.deployment_id == "Deployments-2"


def test_a_node_killed_mid_deployment_does_not_block_the_next_one(cluster: Cluster, tmp_path: Path,
                                                                  release_dir: Path) -> None:
    log = _order_log(tmp_path)
    _deployable(cluster, tmp_path, _slow_release(release_dir, log))
    cluster.close()
    proc = subprocess.Popen([sys.executable, "-m", "bundlekit", "deploy", "acme-web", "1.4.0", "--environment",
                             "Production", "--home", str(cluster.a.home)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 300  # a hang guard, not a measured time
        while not (log.exists() and "start" in log.read_text()) and time.monotonic() < deadline:
            assert proc.poll() is None, "the deployment ended before its step started"
            time.sleep(0.05)
        assert log.exists(), "the deployment never started"
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # node a dies with its deployment half done
        except ProcessLookupError:
            pass
        proc.wait(30)
    (log.parent / "go").touch()  # node b's run of the step need not wait
    # The server frees the dead node's claim once it has seen the connection end: queue briefly.
    out = deploy(cluster.b, "acme-web", "1.4.0", "Production", now=time.time(), wait=30)
    assert out.record is not None and out.record.state == "Success" and out.record.deployment_id == "Deployments-2"
    assert deployments.get_deployment(cluster.b.db, "Deployments-1")["state"] == "Executing"  # type: ignore[index]
    # Node b sees that node a's process is gone (its claim ended with its connection): Interrupted.
    assert settle_interrupted(cluster.b) == ["Deployments-1"]
    assert deployments.get_deployment(cluster.b.db, "Deployments-1")["state"] == "Interrupted"  # type: ignore[index]


def test_deployment_ids_from_several_nodes_at_once_are_never_shared(cluster: Cluster, tmp_path: Path) -> None:
    _deployable(cluster, tmp_path, release_dir_default())
    for env in ("Test", "Staging"):
        add_target(cluster.a, f"all-{env}", env, ("db", "web"), tmp_path / "t" / env, 0)
    results = _both(lambda: [deploy(cluster.a, "acme-web", "1.4.0", "Test", now=time.time()) for _ in range(2)],
                    lambda: [deploy(cluster.b, "acme-web", "1.4.0", "Staging", now=time.time()) for _ in range(2)])
    assert not any(isinstance(r, BaseException) for r in results), results
    ids = [o.record.deployment_id for batch in results for o in batch]
    assert sorted(ids, key=lambda i: int(i.split("-")[1])) == [f"Deployments-{n}" for n in range(1, 5)]


def release_dir_default() -> Path:
    from tests.conftest import RELEASE

    return RELEASE




def test_a_deployment_that_cannot_hold_its_own_claim_is_not_started(cluster: Cluster, tmp_path: Path) -> None:
    """Decision 770: without its own claim a running deployment would look dead to every other
    command; so it does not start, nothing is recorded, and its slot is given back."""
    _deployable(cluster, tmp_path, release_dir_default())
    squatter = cluster.b.db.sibling()  # holds the claim the next deployment id would take
    try:
        with squatter.transaction() as tx:
            assert squatter.claim(tx, deployments.claim_name("Deployments-1"))
        with raises_code("state_query_failed") as info:
            deploy(cluster.a, "acme-web", "1.4.0", "Production", now=time.time())
        assert "Deployments-1" in info.value.message and "nothing was recorded" in info.value.message
        assert cluster.a.db.scalar("SELECT COUNT(*) AS n FROM deployments") == 0
        with cluster.b.db.read() as r:
            assert not cluster.b.db.held(r, deployments.slot("acme-web", "Production"))
    finally:
        squatter.close()
    out = deploy(cluster.a, "acme-web", "1.4.0", "Production", now=time.time())
    assert out.record is not None and out.record.state == "Success"
