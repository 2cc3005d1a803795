"""Carrying through the CLI: import straight from media volume folders, and through a diode spool."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.conftest import run_cli, snapshot
from tests.e2e.world import make_world


def test_import_accepts_volume_folders_from_several_sticks_with_one_lost(tmp_path: Path) -> None:
    w = make_world(tmp_path / "w")
    bundle = w.export("acme.bundle")
    vols = tmp_path / "vols"
    r = run_cli("media", "split", bundle, "--volume-size", "1K", "--parity", "1", "--out", vols)
    assert r.returncode == 0, r.stderr
    files = sorted(p for p in vols.iterdir() if p.is_file())
    assert len(files) >= 4
    stick_a, stick_b = tmp_path / "stick-a", tmp_path / "stick-b"
    stick_a.mkdir()
    stick_b.mkdir()
    for i, f in enumerate(files[1:]):  # the first volume was lost; parity rebuilds it
        shutil.copy(f, (stick_a if i % 2 else stick_b) / f.name)
    r = run_cli("import", stick_a, stick_b, "--json", home=w.prod)
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["release"] == "1.4.0"


def test_import_refuses_an_incomplete_volume_set_and_changes_nothing(tmp_path: Path) -> None:
    w = make_world(tmp_path / "w")
    bundle = w.export("acme.bundle")
    vols = tmp_path / "vols"
    assert run_cli("media", "split", bundle, "--volume-size", "1K", "--out", vols).returncode == 0
    next(p for p in sorted(vols.iterdir()) if p.is_file()).unlink()
    before = snapshot(w.prod)
    r = run_cli("import", vols, "--json", home=w.prod)
    assert r.returncode == 1 and json.loads(r.stdout)["error"]["code"] == "volumes_incomplete"
    assert snapshot(w.prod) == before


def test_bundle_through_a_diode_spool_then_imported(tmp_path: Path) -> None:
    w = make_world(tmp_path / "w")
    bundle = w.export("acme.bundle")
    spool, out = tmp_path / "spool", tmp_path / "received"
    spool.mkdir()
    out.mkdir()
    r = run_cli("diode", "send", bundle, "--spool", spool)
    assert r.returncode == 0, r.stderr
    r = run_cli("diode", "receive", "--spool", spool, "--out", out, "--idle-timeout", "2", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    received = out / bundle.name
    assert received.read_bytes() == bundle.read_bytes()
    assert run_cli("import", received, home=w.prod).returncode == 0
