"""Writing receipt bundles: what is checked before anything is written, and what one transaction records."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bundlekit import __version__
from bundlekit.deploy.service import deploy
from bundlekit.format.container import BundleFile
from bundlekit.format.crypto import key_id
from bundlekit.format.keyfile import make_rotation
from bundlekit.format.manifest import parse_manifest
from bundlekit.importer import edits
from bundlekit.importer.importer import import_bundle
from bundlekit.receipt.build import write_receipt
from bundlekit.receipt.ingest import import_receipt
from bundlekit.receipt.outbox import list_outbox, pack
from bundlekit.zone import truststore
from bundlekit.zone.rotation import rotate_key
from bundlekit.zone.targets import add_target
from tests.conftest import Zones, make_zones, raises_code, run_cli, snapshot
from tests.importer.helpers import export, resign

#: Their state tests run on both engines (decision 772).
pytestmark = pytest.mark.usefixtures("state_engine")


@pytest.fixture
def deployed(tmp_path: Path) -> Iterator[tuple[Zones, str]]:
    """A prod zone with one finished deployment waiting in its outbox; returns (zones, deployment id)."""
    z = make_zones(tmp_path)
    import_bundle(z.prod, export(z, tmp_path / "a.bundle"), now=int(time.time()))
    edits.set_variable(z.prod, "acme-web", "Acme.ApiKey", "k-456789", sensitive=True, now=int(time.time()))
    add_target(z.prod, "db-01", "Production", ("db",), tmp_path / "t" / "db-01", 0)
    add_target(z.prod, "web-01", "Production", ("web",), tmp_path / "t" / "web-01", 0)
    out = deploy(z.prod, "acme-web", "1.4.0", "Production", now=time.time())
    assert out.record is not None
    yield z, out.record.deployment_id
    z.close()


def _refused(z: Zones, call, code: str, out: Path) -> None:  # type: ignore[no-untyped-def]
    z.prod.close()
    before = snapshot(z.prod.home)
    with raises_code(code) as info:
        call()
    assert info.value.exit_code == 1, info.value
    assert snapshot(z.prod.home) == before
    assert not out.exists() and not list(out.parent.glob(f".bundlekit-*.{out.name}.tmp"))


def test_receipt_for_an_unknown_destination_is_refused_cleanly(deployed: tuple[Zones, str], tmp_path: Path) -> None:
    z, dep = deployed
    out = tmp_path / "r" / "receipt.bundle"
    out.parent.mkdir()
    _refused(z, lambda: write_receipt(z.prod, "0" * 32, [dep], out, now=int(time.time())), "unknown_zone", out)


def test_receipt_for_a_deployment_missing_from_the_outbox_is_refused_cleanly(deployed: tuple[Zones, str],
                                                                             tmp_path: Path) -> None:
    z, _ = deployed
    out = tmp_path / "r" / "receipt.bundle"
    out.parent.mkdir()
    _refused(z, lambda: write_receipt(z.prod, z.dev.zone_id, ["Deployments-99"], out, now=int(time.time())),
             "unknown_deployment", out)


def test_outbox_pack_after_the_source_was_untrusted_is_refused_and_changes_nothing(deployed: tuple[Zones, str],
                                                                                    tmp_path: Path) -> None:
    z, dep = deployed
    z.close()
    assert run_cli("trust", "remove", "dev", home=z.prod.home).returncode == 0
    before = snapshot(z.prod.home)
    out = tmp_path / "r" / "receipt.bundle"
    r = run_cli("outbox", "pack", "-o", out, "--json", home=z.prod.home)
    assert r.returncode == 1 and json.loads(r.stdout)["error"]["code"] == "unknown_zone", r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    assert snapshot(z.prod.home) == before and not out.exists()
    assert [e["deployment_id"] for e in list_outbox(z.prod)["pending"]] == [dep]


def test_packing_records_the_file_and_marks_entries_in_one_step(deployed: tuple[Zones, str], tmp_path: Path) -> None:
    z, dep = deployed
    rf = pack(z.prod, tmp_path / "receipt.bundle", to=None, now=int(time.time()))
    assert rf.sequence == 1 and rf.deployments == (dep,) and rf.path.is_file()
    with BundleFile(rf.path) as bf:  # a receipt names the bundlekit that wrote it too (format 1.4)
        assert parse_manifest(bf.manifest_bytes).writer == f"bundlekit {__version__}"
    listed = list_outbox(z.prod)
    assert listed["pending"] == [] and [e["deployment_id"] for e in listed["packed"]] == [dep]
    assert [(f["sequence"], f["deployments"]) for f in listed["files"]] == [(1, [dep])]
    with raises_code("outbox_empty") as info:
        pack(z.prod, tmp_path / "again.bundle", to=None, now=int(time.time()))
    assert info.value.code == "outbox_empty"


def test_a_receipt_after_a_key_rotation_carries_the_statement_and_is_cosigned_by_the_retired_key(
        deployed: tuple[Zones, str], tmp_path: Path) -> None:
    z, dep = deployed
    old = z.prod.signing_key_id
    st = rotate_key(z.prod, int(time.time()))
    rf = pack(z.prod, tmp_path / "receipt.bundle", to=None, now=int(time.time()))
    with BundleFile(rf.path) as bf:
        signers = [key_id("ed25519", s.public_key) for s in bf.signatures]
        manifest = parse_manifest(bf.manifest_bytes, "receipt")
    assert signers == [key_id("ed25519", st.new_key), old]
    assert [r["new_key"] for r in manifest.rotations] == [st.to_dict()["new_key"]]
    got = import_receipt(z.dev, rf.path, now=int(time.time()))
    assert got.recorded == [dep] and got.new_keys == [key_id("ed25519", st.new_key)]
    assert old in truststore.revoked_key_ids(z.dev)


def test_a_receipt_with_a_forged_rotation_statement_is_refused_and_changes_nothing(
        deployed: tuple[Zones, str], tmp_path: Path) -> None:
    z, _ = deployed
    good = pack(z.prod, tmp_path / "receipt.bundle", to=None, now=int(time.time())).path
    st = make_rotation(z.prod.zone_id, z.prod.signing_key(), Ed25519PrivateKey.generate(), int(time.time()))
    bad = dict(st.to_dict(), new_signature=st.to_dict()["old_signature"])  # the new key never signed it
    forged = resign(good, tmp_path / "forged.bundle", [z.prod.signing_key()],
                    lambda doc: doc.__setitem__("rotations", [bad]))
    z.close()
    before = snapshot(z.dev.home)
    with raises_code("invalid_rotation") as info:
        import_receipt(z.dev, forged, now=int(time.time()))
    assert info.value.exit_code == 3 and "rotations[0]" in info.value.message
    assert snapshot(z.dev.home) == before
    assert import_receipt(z.dev, good, now=int(time.time())).new_keys == []


def test_a_deployment_s_times_keep_milliseconds_in_its_row_record_and_receipt_entry(
        deployed: tuple[Zones, str]) -> None:
    from bundlekit.zone import deployments, outbox

    z, dep = deployed
    [row] = [r for r in deployments.deployments_by_start(z.prod.db) if r["id"] == dep]
    record = row["record"]
    times = [row["started"], row["ended"], record["started"], record["ended"]]
    times += [t for run in record["runs"] for t in (run["started"], run["ended"])]
    assert all(isinstance(t, float) and round(t, 3) == t for t in times), times  # milliseconds (decision 430)
    assert any(t % 1 for t in times), times  # not cut to whole seconds (a dozen readings all on a second: ~1e-36)
    assert row["started"] <= record["started"] <= record["runs"][0]["started"]  # recorded, then run
    [pending] = [p for p in outbox.pending(z.prod.db) if p["deployment_id"] == dep]
    [entry] = outbox.entries(z.prod.db, pending["dest_zone_id"], [dep])
    assert (entry["started_ms"], entry["ended_ms"]) == (round(record["started"] * 1000), round(record["ended"] * 1000))
    assert [(r["started_ms"], r["ended_ms"]) for r in entry["runs"]] == [
        (round(r["started"] * 1000), round(r["ended"] * 1000)) for r in record["runs"]]
