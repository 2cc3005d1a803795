"""A key rotated while an export runs: the bundle is signed with the key valid when it is recorded.

The rotation is made by another process of the same home (here: a second open of the home, its
own state connection) while the export writes its packages, before it records the bundle. The
export must not sign past the rotation with the key it retired: receivers that learned the
rotation revoke that key, and would refuse the bundle.
"""

from __future__ import annotations

import time
from pathlib import Path

from bundlekit.export.exporter import export_release
from bundlekit.importer.importer import import_bundle
from bundlekit.zone.home import open_zone
from bundlekit.zone.rotation import rotate_key
from tests.conftest import RELEASE, make_zones


def test_a_key_rotated_while_the_packages_are_written_signs_the_bundle_and_the_receiver_follows(
        tmp_path: Path) -> None:
    z = make_zones(tmp_path)
    old_id = z.dev.signing_key_id
    rotated: list[str] = []

    def meanwhile(_: int) -> None:  # the export's progress: its packages are being written
        if not rotated:
            with open_zone(z.dev.home) as other:  # another process of the same home
                st = rotate_key(other, int(time.time()))
                rotated.append(other.signing_key_id)
                assert st is not None

    out = tmp_path / "a.bundle"
    result = export_release(z.dev, RELEASE, "prod", out, now=int(time.time()), progress=meanwhile)
    assert rotated, "the rotation did not happen during the export"
    [new_id] = rotated
    assert new_id != old_id
    assert result.manifest.source.key_id == new_id  # the key valid at the commit, not the retired one
    assert len(result.manifest.rotations) == 1  # the rotation statement rides along, co-signed by the old key
    imported = import_bundle(z.prod, out, now=int(time.time()))
    assert imported is not None
    assert z.prod.db.scalar("SELECT COUNT(*) AS n FROM revoked_keys WHERE key_id = ?", (old_id,)) == 1
