"""What self-update refuses before it installs anything, whoever signed the bundle."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bundlekit.selfupdate.export_self import export_self
from bundlekit.selfupdate.install import self_update
from bundlekit.selfupdate.wheels import Target
from tests.conftest import Zones, raises_code, snapshot
from tests.importer.helpers import resign
from tests.selfupdate.test_wheels import wheel


def test_a_signed_bundlekit_release_naming_one_wheel_file_twice_is_refused(zones: Zones, tmp_path: Path) -> None:
    house = tmp_path / "wheels"
    house.mkdir()
    wheel(house, "bundlekit", "9.9.9", requires=("click",))
    wheel(house, "click", "8.1.0")
    good = export_self(zones.dev, "prod", tmp_path / "self.bundle", wheelhouse=house,
                       target=Target((3, 11), ("manylinux_2_17_x86_64",)), now=int(time.time())).result.path

    def same_file(doc: dict[str, Any]) -> None:
        # a trusted source's bundle whose second wheel would be written over the first
        doc["packages"][1]["file"] = doc["packages"][0]["file"]

    forged = resign(good, tmp_path / "forged.bundle", [zones.dev.signing_key()], same_file)
    zones.prod.close()
    before = snapshot(zones.prod.home)
    with raises_code("invalid_self_bundle", match="not one wheel file each"):
        self_update(zones.prod, forged, now=int(time.time()))
    assert snapshot(zones.prod.home) == before
