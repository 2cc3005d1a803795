"""A wheel that is not what its file name says (finding atk35 7, decision 954): export-self refuses
it at the source, naming the file and the pip command that fetches it again; self-update and its
dry run refuse a bundle carrying one (or naming a wheel file as another package) before anything is
installed, with the home unchanged. Minimal wheels, so no pip runs."""

from __future__ import annotations

import shutil
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

from bundlekit.selfupdate.export_self import export_self
from bundlekit.selfupdate.install import self_update
from bundlekit.selfupdate.wheels import Target, wheel_at
from tests.conftest import Zones, raises_code, snapshot
from tests.importer.helpers import resign
from tests.selfupdate.test_wheels import wheel

LINUX = Target((3, 11), ("manylinux_2_17_x86_64",))


def _house(tmp_path: Path) -> Path:
    house = tmp_path / "wheels"
    house.mkdir()
    wheel(house, "bundlekit", "9.9.9", requires=("click",))
    wheel(house, "click", "8.1.0")
    return house


def _export(zones: Zones, house: Path, out: Path) -> Path:
    return export_self(zones.dev, "prod", out, wheelhouse=house, target=LINUX, now=int(time.time())).result.path


def test_export_self_refuses_a_copy_renamed_to_a_newer_version_than_its_metadata(zones: Zones, tmp_path: Path) -> None:
    house = _house(tmp_path)
    # a mislabelled copy: by its file name the newest click, so the one export-self would pick
    shutil.copy(house / "click-8.1.0-py3-none-any.whl", house / "click-9.9.9-py3-none-any.whl")
    out = tmp_path / "self.bundle"
    before = snapshot(zones.dev.home, out)
    with raises_code("invalid_wheel") as refused:
        _export(zones, house, out)
    message = refused.value.message
    assert message.startswith(f"{house / 'click-9.9.9-py3-none-any.whl'}: its click-8.1.0.dist-info/METADATA "
                              "says click 8.1.0, not click 9.9.9 as its file name does")
    assert "Nothing was exported" in message and "fetch it again" in message
    assert "pip download --only-binary=:all: --no-deps" in message and "click==9.9.9" in message
    assert snapshot(zones.dev.home, out) == before  # no bundle, no export recorded


def test_export_self_refuses_a_wheel_file_holding_another_distribution(zones: Zones, tmp_path: Path) -> None:
    house = _house(tmp_path)
    (house / "click-8.1.0-py3-none-any.whl").unlink()
    other = wheel(tmp_path, "mdurl", "0.1.2")
    shutil.copy(other, house / "click-8.1.0-py3-none-any.whl")
    with raises_code("invalid_wheel", match="METADATA says mdurl 0.1.2, not click 8.1.0"):
        _export(zones, house, tmp_path / "self.bundle")


def test_names_and_versions_are_compared_as_pip_compares_them(tmp_path: Path) -> None:
    # PEP 427 escapes the file name's distribution name; PEP 503 and 440 normalise both sides
    path = tmp_path / "typing_extensions-4.12.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("typing_extensions-4.12.0.dist-info/METADATA",
                    "Metadata-Version: 2.1\nName: Typing.Extensions\nVersion: 4.12\n")
    assert wheel_at(path).mislabelled() is None
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("typing_extensions-4.12.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: typing-extensions\n")
    assert wheel_at(path).mislabelled() == ("its typing_extensions-4.12.0.dist-info/METADATA says typing-extensions "
                                            "no Version, not typing-extensions 4.12.0 as its file name does")


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "install"])
def test_self_update_refuses_a_bundle_carrying_a_mislabelled_wheel_before_installing(
        zones: Zones, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dry_run: bool) -> None:
    house = _house(tmp_path)
    (house / "click-8.1.0-py3-none-any.whl").rename(house / "click-9.9.9-py3-none-any.whl")
    with monkeypatch.context() as m:  # what an export-self before decision 954 packed
        m.setattr("bundlekit.selfupdate.wheels._check_label", lambda wheel, target: None)
        bundle = _export(zones, house, tmp_path / "self.bundle")
    zones.prod.close()
    before = snapshot(zones.prod.home)
    with raises_code("invalid_self_bundle") as refused:
        self_update(zones.prod, bundle, now=int(time.time()), dry_run=dry_run)
    message = refused.value.message
    assert (f"{bundle}: the bundle's wheel click-9.9.9-py3-none-any.whl: its click-8.1.0.dist-info/METADATA says "
            "click 8.1.0, not click 9.9.9 as its file name does; pip would refuse to install it") in message
    assert "Nothing was changed" in message and "ask zone dev to fetch that wheel again" in message.lower()
    assert snapshot(zones.prod.home) == before  # nothing installed, nothing imported, no HOME/self


def test_self_update_refuses_a_wheel_file_the_manifest_names_as_another_package(zones: Zones, tmp_path: Path) -> None:
    good = _export(zones, _house(tmp_path), tmp_path / "self.bundle")

    def other_package(doc: dict[str, Any]) -> None:
        # a trusted source's bundle whose click wheel is listed as mdurl: pip would be asked for mdurl
        (click,) = [p for p in doc["packages"] if p["file"].startswith("click-")]
        click["id"] = "wheel.mdurl"

    forged = resign(good, tmp_path / "forged.bundle", [zones.dev.signing_key()], other_package)
    zones.prod.close()
    before = snapshot(zones.prod.home)
    with raises_code("invalid_self_bundle", match="it is the package wheel.mdurl 8.1.0-py3-none-any, which its file "
                                                  "name is not"):
        self_update(zones.prod, forged, now=int(time.time()), dry_run=True)
    assert snapshot(zones.prod.home) == before
