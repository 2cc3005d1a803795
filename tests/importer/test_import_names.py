"""Names from a trusted but hostile source are refused at the door: by `verify`, `import --dry-run`
and `import` alike, before anything is stored, not by `deploy` later (spec/bundle-format.md §4.1).

The hostile bundles are made by the real exporter with its own checks switched off, as a source
running a modified bundlekit would, and are correctly signed by a trusted zone.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from bundlekit.export import release_rules, releasefile
from bundlekit.format import manifest, schemacheck
from tests.conftest import Zones, run_cli, snapshot
from tests.importer.helpers import edit_release, export

#: Their state tests run on both engines (decision 772).
pytestmark = pytest.mark.usefixtures("state_engine")


def _hostile_export(z: Zones, out: Path, monkeypatch: pytest.MonkeyPatch, release: Path | None = None,
                    file_name: str | None = None) -> Path:
    with monkeypatch.context() as m:
        # The source's own checks are off: the release file's names, its schema's name formats,
        # and the writer's check of the manifest with the reader's rules (decision 125).
        m.setattr(release_rules, "name_problem", lambda value: None)
        m.setattr(schemacheck, "_FORMAT_CHECKER", jsonschema.FormatChecker(formats=()))
        m.setattr(manifest.Manifest, "checked_bytes", lambda self, where="": self.encode())
        if file_name is not None:
            m.setattr(releasefile.PackageSource, "file_name", property(lambda self: file_name))
        return export(z, out, **({"release": release} if release else {}))


def _refused_everywhere(z: Zones, bundle: Path, field: str) -> None:
    before = snapshot(z.prod.home)
    for args in (("verify",), ("import", "--dry-run"), ("import",)):
        r = run_cli(*args, bundle, "--json", home=z.prod.home)
        assert r.returncode == 3, (args, r.stdout, r.stderr)
        err = json.loads(r.stdout)["error"]
        assert err["code"] == "invalid_manifest" and field in err["message"], (args, err)
        assert snapshot(z.prod.home) == before, args
    r = run_cli("inspect", bundle, "--json")  # no keys: it still refuses to describe a bundle it cannot use
    assert r.returncode == 3 and json.loads(r.stdout)["error"]["code"] == "invalid_manifest"


@pytest.mark.parametrize("file_name", ["../evil.zip", "/etc/cron.d/evil", "packages/app.zip", "CON.zip",
                                       "evil\u202egpj.zip", "C:evil.zip", "app.zip."])
def test_package_file_that_is_not_a_plain_file_name_refused_before_anything_is_stored(
        zones: Zones, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, file_name: str) -> None:
    bundle = _hostile_export(zones, tmp_path / "hostile.bundle", monkeypatch, file_name=file_name)
    _refused_everywhere(zones, bundle, "packages[0].file")


@pytest.mark.parametrize("key, value", [("id", "../../etc"), ("version", "1.0/../../x"), ("version", "nul")])
def test_package_id_or_version_that_is_no_folder_name_refused_at_the_door(
        zones: Zones, release_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: str, value: str) -> None:
    old = {"id": 'id = "Acme.Web"', "version": 'version = "1.4.0"\nfile'}[key]
    new = {"id": f'id = "{value}"', "version": f'version = "{value}"\nfile'}[key]
    rel = edit_release(release_dir, old, new)
    if key == "id":
        edit_release(release_dir, 'package = "Acme.Web"', f'package = "{value}"')
    bundle = _hostile_export(zones, tmp_path / "hostile.bundle", monkeypatch, release=rel)
    _refused_everywhere(zones, bundle, f"packages.0.{key}")  # the schema's name format finds it


def test_exporter_refuses_a_package_name_the_destination_would_refuse(zones: Zones, release_dir: Path,
                                                                      tmp_path: Path) -> None:
    rel = edit_release(release_dir, 'id = "Acme.Web"', 'id = "Acme Web"')
    before = snapshot(zones.dev.home)
    r = run_cli("export", rel, "--to", "prod", "-o", tmp_path / "x.bundle", "--json", home=zones.dev.home)
    assert r.returncode == 2  # a mistake in the release file the operator wrote: usage class
    err = json.loads(r.stdout)["error"]
    assert err["code"] == "release_lint_failed" and "packages[0].id: 'Acme Web' contains ' '" in err["message"]
    assert snapshot(zones.dev.home) == before and not (tmp_path / "x.bundle").exists()
