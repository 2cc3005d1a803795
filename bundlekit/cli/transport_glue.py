"""Accepting media volume folders wherever a bundle path is expected (`import DIR [DIR ...]`)."""

from __future__ import annotations

from pathlib import Path

from bundlekit.errors import UsageError


def bundle_from_volumes(paths: tuple[Path, ...], home: Path) -> Path:
    missing = [p for p in paths if not p.exists()]
    if missing:
        raise UsageError(f"{missing[0]}: no such file or folder", code="not_found")
    raise UsageError(f"{paths[0]}: expected one bundle file", code="usage")
