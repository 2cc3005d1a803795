"""Release file keys for structured configuration and required placeholders, through export."""

from __future__ import annotations

import time
import zipfile
from pathlib import Path

import pytest

from bundlekit.export.exporter import export_release
from bundlekit.export.releasefile import load_release
from bundlekit.importer.verify import verify_bundle
from tests.conftest import Zones, raises_code, snapshot


def _edit(release: Path, old: str, new: str) -> None:
    text = release.read_text()
    assert old in text
    release.write_text(text.replace(old, new, 1))


def test_structured_config_and_optional_placeholders_travel_in_the_manifest(zones: Zones, release_dir: Path,
                                                                            tmp_path: Path) -> None:
    release = release_dir / "release.toml"
    _edit(release, 'substitute = ["appsettings.json", "index.html"]',
          'substitute = ["appsettings.json", "index.html"]\nstructured_config = ["config/*.yaml", "web.config"]')
    release.write_text(release.read_text() + '\n[[variables]]\nname = "Acme.Optional"\nplaceholder = true\n'
                       "required = false\n")
    with zipfile.ZipFile(release_dir / "packages" / "Acme.Web.1.4.0.zip", "a") as z:  # lint: patterns match files
        z.writestr("config/app.yaml", "port: 80\n")
        z.writestr("web.config", "<configuration/>\n")
    out = tmp_path / "a.bundle"
    export_release(zones.dev, release, "prod", out, now=int(time.time()))
    manifest = verify_bundle(zones.prod, out, now=int(time.time())).manifest
    step = next(s for s in manifest.steps if s.name == "Deploy web")
    assert step.structured_config == ("config/*.yaml", "web.config")
    required = {p.name: p.required for p in manifest.placeholders}
    assert required == {"Acme.ApiKey": True, "Acme.Optional": False}


@pytest.mark.parametrize("edit, where, code", [
    (('substitute = ["appsettings.json", "index.html"]', 'substitute = ["../outside.json"]'),
     "steps[1].substitute[0]", "unsafe_path"),
    (('substitute = ["appsettings.json", "index.html"]', 'structured_config = ["/etc/app.yaml"]'),
     "steps[1].structured_config[0]", "unsafe_path"),
    (('roles = ["db"]', 'roles = ["db"]\nstructured_config = ["a.yaml"]'), "steps[0].structured_config",
     "invalid_release"),
    (('value = "acme_prod"', 'value = "acme_prod"\nrequired = false'), "variables[0].required", "invalid_release"),
])
def test_bad_structured_config_and_required_keys_are_refused_naming_the_key(zones: Zones, release_dir: Path,
                                                                           tmp_path: Path, edit: tuple[str, str],
                                                                           where: str, code: str) -> None:
    release = release_dir / "release.toml"
    _edit(release, *edit)
    before = snapshot(zones.dev.home)
    with raises_code(code) as caught:
        load_release(release)
    assert where in caught.value.message
    with raises_code("release_lint_failed") as refused:  # export lints first, listing every problem (decision 570)
        export_release(zones.dev, release, "prod", tmp_path / "x.bundle", now=int(time.time()))
    assert [(f["path"], f["code"]) for f in refused.value.details if f["severity"] == "error"] == [(where, code)]
    assert snapshot(zones.dev.home) == before and not (tmp_path / "x.bundle").exists()
