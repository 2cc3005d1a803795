"""A dry run needs no write access to the home (finding selfatk 7): an auditor with a read-only view of
a zone can ask what a bundle would install or import. The view is a read-only bind mount (root only)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import RELEASE, run_cli, snapshot
from tests.selfupdate.conftest import NEWER, export_self, two_zones


def _read_only_view(home: Path, view: Path) -> None:
    view.mkdir()
    for args in (["mount", "--bind", str(home), str(view)], ["mount", "-o", "remount,bind,ro", str(view)]):
        if subprocess.run(args, capture_output=True).returncode != 0:
            subprocess.run(["umount", str(view)], capture_output=True)
            pytest.skip("a read-only bind mount needs root and mount(8)")


@pytest.mark.skipif(os.geteuid() != 0, reason="a read-only bind mount needs root")
def test_self_update_and_import_dry_runs_work_on_a_read_only_home(tmp_path: Path, wheelhouse: Path) -> None:
    dev, prod = two_zones(tmp_path)
    bundle = tmp_path / "self.bundle"
    assert export_self(dev, wheelhouse, bundle).returncode == 0
    release = tmp_path / "acme.bundle"
    assert run_cli("export", RELEASE, "--to", "prod", "-o", release, home=dev).returncode == 0
    before = snapshot(prod)
    view = tmp_path / "prod-ro"
    _read_only_view(prod, view)
    try:
        assert subprocess.run(["touch", str(view / "probe")], capture_output=True).returncode != 0
        dry = run_cli("self-update", bundle, "--dry-run", home=view)
        assert dry.returncode == 0, dry.stderr
        assert f"would install bundlekit {NEWER}" in dry.stdout
        imported = run_cli("import", release, "--dry-run", home=view)
        assert imported.returncode == 0, imported.stderr
    finally:
        subprocess.run(["umount", str(view)], check=True)
    assert snapshot(prod) == before
