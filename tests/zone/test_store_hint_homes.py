"""A refusal that suggests commands for two zones gives this zone's --home to this zone's command only
(decision 964): "in the zone that authored the release, ..." is another zone's home."""

from __future__ import annotations

import hashlib
from pathlib import Path

from bundlekit.core.hints import given_home
from bundlekit.zone.store import PackageStore
from tests.conftest import raises_code


def test_damaged_store_copy_names_this_zone_s_home_for_import_only(tmp_path: Path) -> None:
    store = PackageStore(tmp_path / "packages")
    digest = hashlib.sha256(b"good").hexdigest()
    store.path(digest).parent.mkdir(parents=True)
    store.path(digest).write_bytes(b"damaged")
    with given_home("/srv/a b/prod"), raises_code("package_hash_mismatch") as caught:
        store.verify(digest)
    message = caught.value.message
    assert "`bundlekit import BUNDLE --home '/srv/a b/prod'`" in message
    assert "`bundlekit releases create RELEASE_FILE`" in message  # the authoring zone's, not this home
