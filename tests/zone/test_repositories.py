"""Every repository of the zone's state, exercised through the workflows on both engines.

One round trip (export, import, local edit, targets, deploy, receipt back, rotation,
revocation) on SQLite and on PostgreSQL, reading each repository's answer back: the SQL of
every area runs on both engines and means the same thing there.
"""

from __future__ import annotations

import time
from pathlib import Path

from bundlekit.dashboard.model import build_view
from bundlekit.deploy.service import deploy
from bundlekit.importer import edits
from bundlekit.importer.importer import import_bundle
from bundlekit.receipt.ingest import import_receipt
from bundlekit.receipt.outbox import pack
from bundlekit.zone import deployments, exports, logs, outbox, packages, projects, remote, secrets, sequences
from bundlekit.zone import truststore
from bundlekit.zone.rotation import rotate_key
from bundlekit.zone.targets import add_target, list_targets, remove_target
from tests.conftest import CANARY, Zones, raises_code
from tests.importer.helpers import edit_release, export


def _now() -> int:
    return int(time.time())


def test_every_repository_answers_the_same_on_either_engine(any_zones: Zones, release_dir: Path,
                                                            tmp_path: Path) -> None:
    z = any_zones
    bundle = export(z, tmp_path / "a.bundle")
    # exports + sequences (source side)
    [rec] = exports.list_exports(z.dev.db)
    assert (rec["project_slug"], rec["release"], rec["dest_zone_id"]) == ("acme-web", "1.4.0", z.prod.zone_id)
    # import: projects, releases, packages, secrets, sequences (secure side)
    plan = import_bundle(z.prod, bundle, now=_now())
    assert not plan.noop and sequences.already_imported(z.prod.db, plan.verified.digest)
    assert import_bundle(z.prod, bundle, now=_now()).noop  # the same bundle again: a no-op
    project = projects.find_project(z.prod.db, "ACME WEB", "prod")  # names compare without case
    assert project.slug == "acme-web" and projects.project_names(z.prod.db) == {"acme-web": "Acme Web"}
    assert [r["version"] for r in projects.list_releases(z.prod.db)] == ["1.4.0"]
    assert projects.get_release(z.prod.db, project, None)["version"] == "1.4.0"
    [pkg] = packages.inventory(z.prod.db, [z.dev.zone_id])
    assert packages.inventory(z.prod.db, ["another-zone"]) == []  # packages belong to who sent them
    assert packages.delivered_by(z.prod.db, [z.dev.zone_id]) == {pkg["sha256"]}
    assert packages.recorded_digest(z.prod.db, "acme.web", "1.4.0") == pkg["sha256"]
    assert z.prod.store.has(pkg["sha256"])
    # local edits + secrets at rest
    edits.set_variable(z.prod, "acme-web", "Acme.ApiKey", "k-456789", sensitive=True, now=_now())
    ref = projects.find_project(z.prod.db, "acme-web", "prod").local["variables"]
    sealed = [v["value"] for v in ref.values() if v["name"] == "Acme.ApiKey"][0]
    assert secrets.is_secret_ref(sealed) and secrets.reveal(z.prod, sealed) == "k-456789"
    # targets
    add_target(z.prod, "db-01", "Production", ("db",), tmp_path / "t" / "db-01", _now())
    add_target(z.prod, "web-01", "Production", ("web",), tmp_path / "t" / "web-01", _now())
    add_target(z.prod, "spare", "Test", ("web",), tmp_path / "t" / "spare", _now())
    with raises_code("target_exists"):
        add_target(z.prod, "WEB-01", "Production", ("web",), tmp_path / "t" / "x", _now())
    assert [t.name for t in list_targets(z.prod.db, environment="production")] == ["db-01", "web-01"]
    remove_target(z.prod, "spare")
    # deployments, outbox, logs
    out = deploy(z.prod, "acme-web", "1.4.0", "Production", now=time.time())
    assert out.record is not None and out.record.state == "Success"
    dep = deployments.get_deployment(z.prod.db, out.record.deployment_id)
    assert dep is not None and dep["state"] == "Success" and CANARY not in str(dep["record"])
    assert deployments.running(z.prod.db, "acme-web", "Production") is None
    assert deployments.peek_next_id(z.prod.db) == "Deployments-2"
    [pending] = outbox.pending(z.prod.db)
    assert pending["deployment_id"] == out.record.deployment_id and pending["dest_name"] == "dev"
    entry = outbox.entries(z.prod.db, z.dev.zone_id, [out.record.deployment_id])[0]
    digests = [run["log"] for run in entry["runs"] if "log" in run]
    assert digests and all(logs.get_log(z.prod.db, d) for d in digests)
    # receipt back: outbox files, remote deployments, inventory, dashboard
    receipt = pack(z.prod, tmp_path / "r.bundle", to=None, now=_now())
    assert outbox.listing(z.prod.db)["files"][0]["deployments"] == [out.record.deployment_id]
    import_receipt(z.dev, receipt.path, now=_now())
    [reported] = remote.remote_deployments(z.dev.db)
    assert reported["entry"]["deployment_id"] == out.record.deployment_id
    assert remote.is_recorded(z.dev.db, z.prod.zone_id, out.record.deployment_id)
    assert [e["deployment_id"] for e in remote.reported_for_project(z.dev.db, z.prod.zone_id, "ACME WEB")] == [
        out.record.deployment_id]
    assert exports.reported_inventory(z.dev.db, z.prod.zone_id) == {("acme.web", "1.4.0"): pkg["sha256"]}
    assert [d.state for d in build_view(z.dev, _now()).deployments] and build_view(z.prod, _now()).projects
    # rotation (issued on dev, applied on prod by the next import) and revocation
    old_key = z.dev.signing_key_id
    rotate_key(z.dev, _now())
    edit_release(release_dir, 'version = "1.4.0"', 'version = "1.4.1"')
    import_bundle(z.prod, export(z, tmp_path / "b.bundle", release=release_dir / "release.toml"), now=_now())
    dev_entry = truststore.get_zone(z.prod, "DEV")
    assert dev_entry.signing_key_id == z.dev.signing_key_id != old_key
    assert old_key in truststore.revoked_key_ids(z.prod)
    truststore.revoke(z.prod, "ab" * 16, "lost laptop", _now())
    assert "ab" * 16 in truststore.revoked_key_ids(z.prod)
    assert truststore.zone_names(z.prod.db) == {z.dev.zone_id: "dev"}
    truststore.remove_zone(z.prod, "dev")
    assert truststore.list_zones(z.prod) == []


def test_a_retention_change_keeps_what_it_does_not_name_read_and_written_in_one_transaction(zones: Zones) -> None:
    from bundlekit.zone import retention

    db = zones.prod.db
    kept = retention.change_policy(db, "", keep_releases=3, keep_days=None, keep_all=False, auto_prune=None, now=1)
    assert (kept.keep_releases, kept.keep_days, kept.auto_prune) == (3, None, False)
    auto = retention.change_policy(db, "", keep_releases=None, keep_days=None, keep_all=False, auto_prune=True, now=2)
    assert (auto.keep_releases, auto.keep_days, auto.auto_prune) == (3, None, True)  # only --auto-prune changed
    every = retention.change_policy(db, "", keep_releases=None, keep_days=None, keep_all=True, auto_prune=None, now=3)
    assert every.keeps_all and every.auto_prune
    staging = retention.change_policy(db, "Staging", keep_releases=None, keep_days=7, keep_all=False, auto_prune=None,
                                      now=4)
    assert retention.policies(db) == {"": every, "staging": staging}
