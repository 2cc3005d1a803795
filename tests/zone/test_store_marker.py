"""A shared package store is the zone's, and a node pointed at another folder says so (decision 275).

``init --package-store`` marks the folder with the zone's id; ``join`` and every command that
opens a node's shared store check the mark, so an empty folder, a mount point with nothing
mounted or another zone's store is refused before anything is read, written or recorded.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Iterator

import pytest

from bundlekit.deploy.service import deploy
from bundlekit.importer import edits
from bundlekit.importer.importer import import_bundle
from bundlekit.receipt.outbox import list_outbox
from bundlekit.zone import deployments
from bundlekit.zone.home import Zone, init_zone, open_zone
from bundlekit.zone.join import join_zone
from bundlekit.zone.location import read_settings, write_settings
from bundlekit.zone.store import MARKER
from bundlekit.zone.targets import add_target
from tests.conftest import Zones, pg_url, raises_code, snapshot
from tests.importer.helpers import export
from tests.pgserver import PostgresServer
from tests.zone.test_nodes import Cluster, make_cluster


@pytest.fixture
def cluster(tmp_path: Path, pg_server: PostgresServer) -> Iterator[Cluster]:
    c = make_cluster(tmp_path, pg_server)
    import_bundle(c.a, export(Zones(c.dev, c.a, c.tmp), tmp_path / "1.4.0.bundle"), now=int(time.time()))
    yield c
    c.close()


def _point_store(zone: Zone, folder: Path) -> Zone:
    """The node with its BUNDLEKIT_PACKAGE_STORE changed to ``folder``, opened afresh."""
    zone.close()
    settings = read_settings(zone.home)
    write_settings(zone.home, type(settings)(settings.state, folder))
    return open_zone(zone.home)


def test_init_marks_the_shared_store_with_the_zones_id(cluster: Cluster) -> None:
    marker = json.loads((cluster.store / MARKER).read_text())
    assert marker == {"zone_id": cluster.a.zone_id, "zone": "prod"}


def test_join_given_an_empty_folder_as_the_store_is_refused_and_writes_nothing(cluster: Cluster,
                                                                              tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    before = snapshot(empty, cluster.a.home, tmp_path / "node-c")
    with raises_code("store_mismatch", match="has no bundlekit-store.json") as info:
        join_zone(tmp_path / "node-c", state=cluster.a.settings.state, password=None,  # type: ignore[arg-type]
                  package_store=empty, source=cluster.a.home)
    assert info.value.exit_code == 1
    assert snapshot(empty, cluster.a.home, tmp_path / "node-c") == before


def test_join_given_a_missing_folder_as_the_store_is_refused(cluster: Cluster, tmp_path: Path) -> None:
    with raises_code("store_unavailable", match="does not exist"):
        join_zone(tmp_path / "node-c", state=cluster.a.settings.state, password=None,  # type: ignore[arg-type]
                  package_store=tmp_path / "mnt" / "nothing-mounted", source=cluster.a.home)
    assert not (tmp_path / "node-c").exists() and not (tmp_path / "mnt").exists()


def test_join_given_another_zones_store_is_refused_naming_that_zone(cluster: Cluster, tmp_path: Path,
                                                                   pg_server: PostgresServer) -> None:
    other = init_zone(tmp_path / "other", "other", int(time.time()), state=pg_url(pg_server),
                      password=pg_server.password, package_store=tmp_path / "other-store")
    other.close()
    with raises_code("store_mismatch", match="package store of zone 'other'"):
        join_zone(tmp_path / "node-c", state=cluster.a.settings.state, password=None,  # type: ignore[arg-type]
                  package_store=tmp_path / "other-store", source=cluster.a.home)


def test_a_deployment_on_a_node_pointed_at_the_wrong_folder_is_refused_and_never_recorded(
        cluster: Cluster, tmp_path: Path) -> None:
    edits.set_variable(cluster.a, "acme-web", "Acme.ApiKey", "k-1", sensitive=True, now=int(time.time()))
    add_target(cluster.a, "db-01", "Production", ("db",), tmp_path / "t" / "db-01", 0)
    add_target(cluster.a, "web-01", "Production", ("web",), tmp_path / "t" / "web-01", 0)
    (tmp_path / "empty").mkdir()
    b = _point_store(cluster.b, tmp_path / "empty")
    with raises_code("store_mismatch") as info:
        deploy(b, "acme-web", "1.4.0", "Production", now=time.time())
    assert "nothing was read or written" in info.value.message and "Import the release" not in info.value.message
    # Not a failure of the release: no deployment recorded, no receipt queued for the source.
    assert deployments.list_deployments(cluster.a.db) == [] and list_outbox(cluster.a)["pending"] == []
    b = _point_store(b, cluster.store)
    assert deploy(b, "acme-web", "1.4.0", "Production", now=time.time()).record.state == "Success"


def test_a_store_made_before_stores_were_marked_is_recognised_by_its_packages(cluster: Cluster) -> None:
    (cluster.store / MARKER).unlink()
    b = open_zone(cluster.b.home)
    digest = b.db.scalar("SELECT sha256 FROM packages")
    assert b.store.has(digest)
    assert json.loads((cluster.store / MARKER).read_text())["zone_id"] == b.zone_id


def test_init_refuses_a_store_folder_that_is_not_empty(tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    (store / "notes.txt").write_text("someone else's files")
    with raises_code("store_mismatch", match="not empty"):
        init_zone(tmp_path / "home", "prod", int(time.time()), package_store=store)
    assert not (tmp_path / "home").exists() and [p.name for p in store.iterdir()] == ["notes.txt"]


def test_the_marker_hint_is_given_only_when_the_state_records_no_package(cluster: Cluster, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with raises_code("store_mismatch") as info:
        join_zone(tmp_path / "node-c", state=cluster.a.settings.state, password=None,  # type: ignore[arg-type]
                  package_store=empty, source=cluster.a.home)
    assert "none of the 1 package object(s)" in info.value.message and "write {" not in info.value.message


def test_join_refuses_a_marked_folder_that_holds_none_of_the_zones_objects(cluster: Cluster, tmp_path: Path) -> None:
    copy = tmp_path / "copied-marker"
    copy.mkdir()
    (copy / MARKER).write_bytes((cluster.store / MARKER).read_bytes())
    before = snapshot(copy, cluster.a.home)
    with raises_code("store_mismatch", match="holds none of the 1 package object"):
        join_zone(tmp_path / "node-c", state=cluster.a.settings.state, password=None,  # type: ignore[arg-type]
                  package_store=copy, source=cluster.a.home)
    assert snapshot(copy, cluster.a.home) == before and not (tmp_path / "node-c").exists()


def test_a_sqlite_zone_made_with_its_own_package_store_marks_it_and_opens(tmp_path: Path) -> None:
    """Review v32-att N2: only a shared state's init marked the store, so every command of a
    SQLite zone made with --package-store refused it (store_mismatch) and the home stayed half made."""
    from tests.conftest import run_cli

    r = run_cli("init", "--zone", "solo", "--package-store", tmp_path / "store", home=tmp_path / "home")
    assert r.returncode == 0, r.stderr
    marker = json.loads((tmp_path / "store" / MARKER).read_text())
    zone = open_zone(tmp_path / "home")
    assert marker["zone_id"] == zone.zone_id
    r = run_cli("identity", "-o", tmp_path / "solo.card", home=tmp_path / "home")
    assert r.returncode == 0, r.stderr
