"""Importing an identical bundle again restores the package objects the store lost or damaged (decision 315)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from bundlekit.deploy.service import deploy
from bundlekit.importer import edits
from bundlekit.importer.importer import import_bundle
from bundlekit.zone.targets import add_target
from tests.conftest import cli_in_process, make_zones, raises_code
from tests.importer.helpers import export

#: Their state tests run on both engines (decision 772).
pytestmark = pytest.mark.usefixtures("state_engine")


@pytest.mark.parametrize("damage, code", [("tampered", "package_hash_mismatch"), ("missing", "package_unreadable")])
def test_the_advice_after_a_damaged_package_object_works_end_to_end(tmp_path: Path, damage: str, code: str) -> None:
    z = make_zones(tmp_path)
    bundle = export(z, tmp_path / "a.bundle")
    import_bundle(z.prod, bundle, now=int(time.time()))
    edits.set_variable(z.prod, "acme-web", "Acme.ApiKey", "k-456789", sensitive=True, now=int(time.time()))
    add_target(z.prod, "db-01", "Production", ("db",), tmp_path / "t" / "db-01", 0)
    add_target(z.prod, "web-01", "Production", ("web",), tmp_path / "t" / "web-01", 0)
    [blob] = [p for p in (z.prod.home / "packages").rglob("*") if p.is_file()]
    good = blob.read_bytes()
    if damage == "missing":
        blob.unlink()
    else:
        blob.write_bytes(good + b"tampered")
    with raises_code(code) as refused:
        deploy(z.prod, "acme-web", "1.4.0", "Production", now=time.time())
    assert "bundlekit import BUNDLE" in refused.value.message
    again = cli_in_process("import", bundle, "--json", home=z.prod.home)
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert report["noop"] and report["repaired"] == [blob.name] and "restored" in report["reason"]
    assert blob.read_bytes() == good
    out = deploy(z.prod, "acme-web", "1.4.0", "Production", now=time.time())
    assert out.record is not None and out.record.state == "Success"
    # A healthy store: importing it once more changes nothing and says so.
    third = cli_in_process("import", bundle, home=z.prod.home)
    assert third.returncode == 0 and "nothing to do" in third.stdout
    z.close()
