"""The spec carries its own JSON Schemas (spec/schemas/), byte for byte the ones the package loads."""

from __future__ import annotations

import json
from pathlib import Path

from bundlekit.format.manifest import manifest_schema

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "spec" / "schemas"
PACKAGE = ROOT / "bundlekit" / "schemas"


def test_spec_schemas_are_real_files_so_the_spec_copied_alone_keeps_them() -> None:
    assert SPEC.is_dir() and not SPEC.is_symlink()
    for path in SPEC.iterdir():
        assert path.is_file() and not path.is_symlink(), path


def test_spec_and_package_schemas_are_identical() -> None:
    spec = {p.name: p.read_bytes() for p in SPEC.glob("*.json")}
    package = {p.name: p.read_bytes() for p in PACKAGE.glob("*.json")}
    assert sorted(spec) == ["manifest.schema.json", "release-file.schema.json"]
    assert spec == package, "edit spec/schemas/ and copy it to bundlekit/schemas/ (or the reverse): they differ"


def test_the_schema_the_reader_applies_is_the_spec_schema() -> None:
    assert manifest_schema() == json.loads((SPEC / "manifest.schema.json").read_text("utf-8"))
