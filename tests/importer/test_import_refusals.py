"""Secure-zone import: every refusal, named after the threat it stops. The home stays byte-identical,
except that refusing a bundle that really came from its source queues a refusal entry for it
(decision 153)."""

from __future__ import annotations

import json
import time
from pathlib import Path


import pytest

from bundlekit.errors import BundleError
from bundlekit.importer.importer import import_bundle
from bundlekit.receipt.outbox import list_outbox
from bundlekit.trust.policy import SourcePolicy
from tests.conftest import Zones, make_zones, raises_code, run_cli, snapshot
from tests.importer.helpers import edit_release, export, only_the_refusal_changed, zone_state
from tests.refusals.forge import resign

#: Their state tests run on both engines (decision 772).
pytestmark = pytest.mark.usefixtures("state_engine")


def _refused(z: Zones, bundle: Path, code: str | set[str], exit_code: int = 3, reported: bool = True,
             **kw: object) -> BundleError:
    """Import must be refused with ``code``; ``reported``: the refusal of an authentic bundle is
    queued for its source and is the only change, else nothing changes."""
    before = snapshot(z.prod.home)
    with raises_code(code if isinstance(code, str) else tuple(sorted(code))) as info:
        import_bundle(z.prod, bundle, now=int(time.time()), **kw)  # type: ignore[arg-type]
    assert info.value.exit_code == exit_code
    if reported:
        only_the_refusal_changed(z.prod, before, snapshot(z.prod.home), info.value.code)
    else:
        assert snapshot(z.prod.home) == before
    return info.value


def test_first_import_stores_project_release_and_packages(zones: Zones, tmp_path: Path) -> None:
    plan = import_bundle(zones.prod, export(zones, tmp_path / "a.bundle"), now=int(time.time()))
    assert not plan.noop
    st = zone_state(zones.prod.home)
    assert [r[0] for r in st["projects"]] == ["acme-web"]
    assert [(r[0], r[1]) for r in st["releases"]] == [("acme-web", "1.4.0")]
    assert [(r[0], r[1]) for r in st["packages"]] == [("Acme.Web", "1.4.0")]
    sha = st["packages"][0][2]
    assert (zones.prod.home / "packages" / "sha256" / sha[:2] / sha).is_file()
    assert not (zones.prod.home / "staging").exists()


def test_identical_reimport_is_a_noop(zones: Zones, tmp_path: Path) -> None:
    b = export(zones, tmp_path / "a.bundle")
    import_bundle(zones.prod, b, now=int(time.time()))
    before = snapshot(zones.prod.home)
    plan = import_bundle(zones.prod, b, now=int(time.time()))
    assert plan.noop and "already imported" in plan.noop_reason
    assert snapshot(zones.prod.home) == before
    r = run_cli("import", b, "--json", home=zones.prod.home)
    assert r.returncode == 0 and json.loads(r.stdout)["noop"] is True


def test_import_rollback_refused(zones: Zones, tmp_path: Path) -> None:
    v1 = export(zones, tmp_path / "v1.bundle")
    v2 = export(zones, tmp_path / "v2.bundle")
    import_bundle(zones.prod, v2, now=int(time.time()))
    _refused(zones, v1, "rollback")


def test_import_same_sequence_different_bytes_refused(zones: Zones, release_dir: Path, tmp_path: Path) -> None:
    # dev itself never writes two bundles under one number (decision 800): other bytes signed with
    # its key under that number, as a dev restored from an older backup would write them
    a = export(zones, tmp_path / "a.bundle", sequence=5)
    b = resign(a, tmp_path / "b.bundle", zones.dev.home,
               mutate=lambda m: m["release"].update(notes="changed. " + m["release"].get("notes", "")))
    import_bundle(zones.prod, a, now=int(time.time()))
    _refused(zones, b, "sequence_reused")


def test_import_expired_refused(zones: Zones, tmp_path: Path) -> None:
    b = export(zones, tmp_path / "a.bundle", expires_in=60)
    before = snapshot(zones.prod.home)
    with raises_code("expired"):
        import_bundle(zones.prod, b, now=int(time.time()) + 120)
    only_the_refusal_changed(zones.prod, before, snapshot(zones.prod.home), "expired")


def test_refusing_the_same_bundle_again_reports_it_once_and_a_dry_run_never(zones: Zones, tmp_path: Path) -> None:
    v1 = export(zones, tmp_path / "v1.bundle")
    v2 = export(zones, tmp_path / "v2.bundle")
    import_bundle(zones.prod, v2, now=int(time.time()))
    before = snapshot(zones.prod.home)
    for dry_run in (True, False, False):
        with raises_code("rollback"):
            import_bundle(zones.prod, v1, now=int(time.time()), dry_run=dry_run)
        if dry_run:
            assert snapshot(zones.prod.home) == before
    only_the_refusal_changed(zones.prod, before, snapshot(zones.prod.home), "rollback")
    assert len(list_outbox(zones.prod)["refusals"]) == 1


def test_a_refused_bundle_that_is_not_authentic_is_not_reported(zones: Zones, tmp_path: Path) -> None:
    b = export(zones, tmp_path / "a.bundle")
    data = bytearray(b.read_bytes())
    data[-1] ^= 1  # the signature no longer verifies: nobody can prove dev sent it
    b.write_bytes(bytes(data))
    _refused(zones, b, "invalid_signature", reported=False)
    assert list_outbox(zones.prod)["refusals"] == []


def test_import_wrong_destination_refused(tmp_path: Path) -> None:
    from bundlekit.format.card import parse_card
    from bundlekit.zone import truststore
    from bundlekit.zone.home import init_zone

    z = make_zones(tmp_path / "a")
    other = init_zone(tmp_path / "other", "other", 0)
    truststore.add_zone(other, parse_card(z.dev.card_bytes(), "dev.card"), SourcePolicy(), 0)
    b = export(z, tmp_path / "a.bundle")
    before = snapshot(other.home)
    with raises_code("wrong_destination") as info:
        import_bundle(other, b, now=int(time.time()))
    assert info.value.exit_code == 3
    assert snapshot(other.home) == before


def test_import_tampered_bundle_refused_and_nothing_staged(zones: Zones, tmp_path: Path) -> None:
    b = export(zones, tmp_path / "a.bundle")
    data = bytearray(b.read_bytes())
    data[40] ^= 0xFF  # inside the package blob
    b.write_bytes(bytes(data))
    _refused(zones, b, {"blob_corrupt", "blob_hash_mismatch"})


def test_import_package_mismatch_refused(zones: Zones, release_dir: Path, tmp_path: Path) -> None:
    import_bundle(zones.prod, export(zones, tmp_path / "a.bundle"), now=int(time.time()))
    import zipfile

    with zipfile.ZipFile(release_dir / "packages" / "Acme.Web.1.4.0.zip", "w") as zf:  # other bytes, same id+version
        zf.writestr("appsettings.json", "{}")
        zf.writestr("index.html", "rebuilt")
    rel = edit_release(release_dir, 'version = "1.4.0"\nchannel', 'version = "1.4.1"\nchannel')
    _refused(zones, export(zones, tmp_path / "b.bundle", release=rel), "package_mismatch")


def test_import_package_by_reference_its_source_never_delivered_refused(zones: Zones, release_dir: Path,
                                                                       tmp_path: Path) -> None:
    rel = release_dir / "release.toml"
    rel.write_text(rel.read_text() + f'\n[[packages]]\nid = "Acme.Tools"\nversion = "2.0.0"\nsha256 = "{"cd" * 32}"\n'
                   'size = 10\n')
    _refused(zones, export(zones, tmp_path / "a.bundle", release=rel), "package_not_shared")


def test_import_same_release_version_different_content_needs_replace(zones: Zones, release_dir: Path,
                                                                     tmp_path: Path) -> None:
    import_bundle(zones.prod, export(zones, tmp_path / "a.bundle"), now=int(time.time()))
    rel = edit_release(release_dir, 'notes = "', 'notes = "re-cut: ')
    b = export(zones, tmp_path / "b.bundle", release=rel, replace=True)  # dev re-cut its release on purpose
    _refused(zones, b, "release_exists", exit_code=4, reported=False)  # this zone's to resolve
    plan = import_bundle(zones.prod, b, now=int(time.time()), replace=True)
    assert plan.replaces_release


def test_import_policy_denied_project(tmp_path: Path) -> None:
    z = make_zones(tmp_path, policy=SourcePolicy(projects=("billing-*",)))
    _refused(z, export(z, tmp_path / "a.bundle"), "policy_denied")


def test_import_policy_denied_environment(tmp_path: Path) -> None:
    z = make_zones(tmp_path, policy=SourcePolicy(environments=("Staging",)))
    _refused(z, export(z, tmp_path / "a.bundle"), "policy_denied")


def test_import_policy_denied_space(tmp_path: Path) -> None:
    z = make_zones(tmp_path, policy=SourcePolicy(spaces=("Payments",)))
    _refused(z, export(z, tmp_path / "a.bundle"), "policy_denied")


def test_import_policy_globs_allow(tmp_path: Path) -> None:
    z = make_zones(tmp_path, policy=SourcePolicy(projects=("acme-*",), environments=("Prod*",)))
    assert not import_bundle(z.prod, export(z, tmp_path / "a.bundle"), now=int(time.time())).noop


def test_import_cli_refusal_exit_code_and_json(zones: Zones, tmp_path: Path) -> None:
    v1 = export(zones, tmp_path / "v1.bundle")
    v2 = export(zones, tmp_path / "v2.bundle")
    assert run_cli("import", v2, home=zones.prod.home).returncode == 0
    before = snapshot(zones.prod.home)
    r = run_cli("import", v1, "--json", home=zones.prod.home)
    assert r.returncode == 3 and json.loads(r.stdout)["error"]["code"] == "rollback"
    only_the_refusal_changed(zones.prod, before, snapshot(zones.prod.home), "rollback")
