"""Opening a bundle file that is not there, or not a file: a clear refusal, never a traceback."""

from __future__ import annotations

from pathlib import Path

from bundlekit.format.container import BundleFile
from tests.conftest import raises_code


def test_a_missing_bundle_file_is_refused_with_its_code(tmp_path: Path) -> None:
    with raises_code("bundle_not_found") as info:
        BundleFile(tmp_path / "missing.bundle")
    assert info.value.code == "bundle_not_found" and "missing.bundle" in info.value.message


def test_a_folder_given_as_a_bundle_is_refused_with_its_code(tmp_path: Path) -> None:
    with raises_code("not_a_bundle") as info:
        BundleFile(tmp_path)
    assert info.value.code == "not_a_bundle"
