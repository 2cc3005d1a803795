"""The zone's keys are the zone's, shared by its nodes (decision 189).

A signing key rotated on one node, and the SSH client key made on one node, reach every other
node through the zone's state, wrapped under a key derived from the zone's sealing key: never
in clear in the database, and never planted by someone who can only write the database.
"""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from bundlekit.deploy.service import deploy
from bundlekit.format.container import BundleFile
from bundlekit.format.crypto import key_id, raw_private, raw_public
from bundlekit.importer import edits
from bundlekit.importer.importer import import_bundle
from bundlekit.receipt.ingest import import_receipt
from bundlekit.receipt.outbox import pack
from bundlekit.zone import truststore
from bundlekit.zone.home import Zone, open_zone
from bundlekit.zone.keyring import Keyring, signing_name
from bundlekit.zone.rotation import rotate_key
from bundlekit.zone.schema import schema_tables
from bundlekit.zone.sshkey import client_key
from bundlekit.zone.targets import add_target
from tests.conftest import Zones, raises_code, snapshot
from tests.importer.helpers import export
from tests.pgserver import PostgresServer
from tests.zone.test_nodes import Cluster, make_cluster


@pytest.fixture
def cluster(tmp_path: Path, pg_server: PostgresServer) -> Iterator[Cluster]:
    c = make_cluster(tmp_path, pg_server)
    import_bundle(c.a, export(Zones(c.dev, c.a, c.tmp), tmp_path / "1.4.0.bundle"), now=int(time.time()))
    edits.set_variable(c.a, "acme-web", "Acme.ApiKey", "k-1", sensitive=True, now=int(time.time()))
    add_target(c.a, "db-01", "Production", ("db",), tmp_path / "t" / "db-01", 0)
    add_target(c.a, "web-01", "Production", ("web",), tmp_path / "t" / "web-01", 0)
    yield c
    c.close()


def _fresh(zone: Zone) -> Zone:
    """The node as its next command sees it (a new process opens its home afresh)."""
    zone.close()
    return open_zone(zone.home)


def _receipt_from(node: Zone, out: Path) -> Path:
    assert deploy(node, "acme-web", "1.4.0", "Production", now=time.time()).record.state == "Success"
    return pack(node, out, to=None, now=int(time.time())).path


def _signers(bundle: Path) -> list[str]:
    with BundleFile(bundle) as bf:
        return [key_id("ed25519", s.public_key) for s in bf.signatures]


def test_a_key_rotated_on_one_node_is_the_key_every_node_signs_with(cluster: Cluster, tmp_path: Path) -> None:
    old = cluster.a.signing_key_id
    st = rotate_key(cluster.a, int(time.time()))
    new = key_id("ed25519", st.new_key)
    b = _fresh(cluster.b)
    first = _receipt_from(b, tmp_path / "r1.bundle")
    assert _signers(first) == [new, old]  # node b signs with the new key, co-signed by the retired one
    assert import_receipt(cluster.dev, first, now=int(time.time())).new_keys == [new]
    # Before decision 189 node b went on signing with the old key, which the source now refuses.
    second = _receipt_from(b, tmp_path / "r2.bundle")
    assert import_receipt(cluster.dev, second, now=int(time.time())).recorded == ["Deployments-2"]
    assert (b.home / "keys" / "signing.key").read_bytes() == (cluster.a.home / "keys" / "signing.key").read_bytes()
    assert (b.home / "keys" / "retired" / f"{old}.key").stat().st_mode & 0o777 == 0o600
    assert truststore.get_zone(cluster.dev, "prod").signing_key_id == new


def test_the_state_never_holds_a_private_key_in_clear(cluster: Cluster) -> None:
    old_key = raw_private(cluster.a.signing_key())
    rotate_key(cluster.a, int(time.time()))
    client_key(cluster.a, now=int(time.time()))
    secrets = [old_key, raw_private(cluster.a.signing_key()), (cluster.a.home / "keys" / "ssh_client.key").read_bytes(),
               raw_private(cluster.a.sealing_key())]
    forms = [f for s in secrets for f in (s, s.hex().encode(), base64.b64encode(s))]
    dump = repr([cluster.a.db.all(f"SELECT * FROM {table}") for table in schema_tables()]).encode()
    assert cluster.a.db.scalar("SELECT COUNT(*) AS n FROM zone_keys") == 3  # old and new signing keys, SSH key
    for form in forms:
        assert form not in dump


def test_a_key_planted_in_the_state_by_someone_without_the_zone_key_is_refused(cluster: Cluster) -> None:
    st = rotate_key(cluster.a, int(time.time()))
    name = signing_name(key_id("ed25519", st.new_key))
    # Whoever can write the database but holds no node's key files can only wrap with another key.
    stranger = Keyring(cluster.tmp, cluster.a.zone_id, X25519PrivateKey.generate())
    with cluster.a.db.transaction() as tx:
        tx.run("UPDATE zone_keys SET wrapped = ? WHERE name = ?", (stranger.wrap(name, b"k" * 32), name))
    b = _fresh(cluster.b)
    before = snapshot(b.home)
    with raises_code("zone_key_damaged"):
        b.signing_key()
    assert snapshot(b.home) == before  # node b still holds the old key, nothing adopted


def test_a_wrapped_key_moved_under_another_name_is_refused(cluster: Cluster) -> None:
    st = rotate_key(cluster.a, int(time.time()))
    new, old = signing_name(key_id("ed25519", st.new_key)), signing_name(key_id("ed25519", st.old_key))
    with cluster.a.db.transaction() as tx:  # the old key's row, authentic, offered as the new key
        wrapped = tx.scalar("SELECT wrapped FROM zone_keys WHERE name = ?", (old,))
        tx.run("UPDATE zone_keys SET wrapped = ? WHERE name = ?", (wrapped, new))
    with raises_code("zone_key_damaged"):
        _fresh(cluster.b).signing_key()


def test_two_nodes_rotating_in_turn_keep_one_chain_and_receivers_follow_it(cluster: Cluster, tmp_path: Path) -> None:
    k0 = cluster.a.signing_key_id
    cluster.b.signing_key()  # node b read its key before node a rotated
    first = rotate_key(cluster.a, int(time.time()))
    second = rotate_key(cluster.b, int(time.time()))  # b catches up under the write lock, then rotates
    k1, k2 = key_id("ed25519", first.new_key), key_id("ed25519", second.new_key)
    assert key_id("ed25519", second.old_key) == k1
    a = _fresh(cluster.a)
    assert a.signing_key_id == _fresh(cluster.b).signing_key_id == k2
    receipt = _receipt_from(a, tmp_path / "r.bundle")
    assert sorted(_signers(receipt)) == sorted([k2, k0, k1])
    assert sorted(import_receipt(cluster.dev, receipt, now=int(time.time())).new_keys) == sorted([k1, k2])
    assert {k0, k1} <= truststore.revoked_key_ids(cluster.dev)


def test_a_node_rotated_by_an_older_bundlekit_is_told_how_to_catch_up(cluster: Cluster) -> None:
    rotate_key(cluster.a, int(time.time()))
    with cluster.a.db.transaction() as tx:
        tx.run("DELETE FROM zone_keys")  # what a rotation recorded before keys were shared leaves
    with raises_code("node_key_outdated", match="join this node again"):
        _fresh(cluster.b).signing_key()


def test_the_ssh_key_made_on_one_node_is_the_one_every_node_uses(cluster: Cluster) -> None:
    b = cluster.b
    assert client_key(b, create=False) is None  # no node made one yet
    made = client_key(cluster.a, now=int(time.time()))
    assert client_key(b, create=False) == made
    assert (b.home / "keys" / "ssh_client.key").stat().st_mode & 0o777 == 0o600
    assert client_key(b, now=int(time.time())) == made  # `targets ssh-key` on node b prints the same key


def test_a_node_that_lost_its_key_files_after_a_rotation_commit_catches_up(any_zones: Zones) -> None:
    zone = any_zones.prod
    before = (zone.home / "keys" / "signing.key").read_bytes()
    st = rotate_key(zone, int(time.time()))
    # As if the process died after the commit, before it replaced its key file.
    (zone.home / "keys" / "signing.key").write_bytes(before)
    again = _fresh(zone)
    assert raw_public(again.signing_key()) == st.new_key
    assert (zone.home / "keys" / "signing.key").read_bytes() != before


def test_a_rotation_on_either_engine_keeps_the_zones_bundles_trusted(any_zones: Zones, tmp_path: Path) -> None:
    z = any_zones
    import_bundle(z.prod, export(z, tmp_path / "1.bundle"), now=int(time.time()))
    rotate_key(z.dev, int(time.time()))
    for n in (2, 3):
        import_bundle(z.prod, export(z, tmp_path / f"{n}.bundle"), now=int(time.time()))
    assert truststore.get_zone(z.prod, "dev").signing_key_id == z.dev.signing_key_id
