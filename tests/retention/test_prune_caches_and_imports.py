"""Prune and what lives beside the package store: the source zone's chunk lists (decision 201)
are pruned like any cache, and an import never commits a release naming a package a prune
removes (decision 321).

One world per module, built through the real CLI in this process: production deployed
Acme.Web 1.0.0, 1.1.0 and 1.2.0 (each with bytes of its own) and reported all three in one
receipt, so the source zone knows what production holds and that it rebuilds deltas.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bundlekit.importer.importer import apply_import, plan_import
from bundlekit.retention.prune import LEFTOVER_AGE, apply_prune, plan_prune
from bundlekit.zone import retention
from bundlekit.zone.home import open_zone
from bundlekit.zone.state import open_state
from tests.cli.operator_world import World, ok, ok_json, world
from tests.conftest import own_state, raises_code, run_cli
from tests.retention.test_prune import _release_version

#: Their state tests run on both engines (decision 772).
pytestmark = pytest.mark.usefixtures("state_engine")


HELD = ("1.0.0", "1.1.0", "1.2.0")


@pytest.fixture(scope="module")
def held(tmp_path_factory: pytest.TempPathFactory, state_engine: str) -> World:
    w = world(tmp_path_factory.mktemp("prune-caches") / "w")
    for n, version in enumerate(HELD):
        bundle = w.root / f"acme-{version}.bundle"
        ok("export", _release_version(w, version), "--to", "prod", "-o", bundle, home=w.dev)
        ok("import", bundle, home=w.prod)
        if n == 0:
            ok("variables", "set", "acme-web", "Acme.ApiKey", "k-caches", "--sensitive", home=w.prod)
        ok("deploy", "acme-web", version, "--environment", "Production", home=w.prod)
    receipt = w.root / "receipt.bundle"
    ok("outbox", "pack", "-o", receipt, home=w.prod)
    ok("import", receipt, home=w.dev)
    return w


def _copy(w: World, tmp_path: Path) -> World:
    """A private copy of the world; prod's targets re-added under the copy (their roots are absolute)."""
    root = tmp_path / "w"
    shutil.copytree(w.root, root, symlinks=True)
    copy = World(root, root / "dev", root / "prod", root / "release" / "release.toml", root / "acme.bundle")
    own_state(copy.dev, copy.prod)
    for name, role in (("db-01", "db"), ("web-01", "web")):
        ok("targets", "remove", name, home=copy.prod)
        ok("targets", "add", name, "--environment", "Production", "--role", role, "--root",
           root / "targets" / name, home=copy.prod)
    return copy


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _chunk_list(home: Path, digest: str) -> Path:
    return home / "chunks" / "sha256" / digest[:2] / digest


def _package(w: World, version: str) -> Path:
    return w.root / "release" / "packages" / f"Acme.Web.{version}.zip"


# -- chunk lists ---------------------------------------------------------------------------------

def _delta_exports(w: World) -> dict[str, Path]:
    """dev exports 1.6.0 and 1.7.0 to prod as deltas against 1.2.0, which prod holds: the chunk
    lists of 1.2.0 (the base), 1.6.0 and 1.7.0 are kept in dev's cache. Returns them by version."""
    for version in ("1.6.0", "1.7.0"):
        ok("export", _release_version(w, version), "--to", "prod", "-o", w.root / f"acme-{version}.bundle",
           home=w.dev)
    lists = {v: _chunk_list(w.dev, _sha(_package(w, v))) for v in ("1.2.0", "1.6.0", "1.7.0")}
    assert all(p.is_file() for p in lists.values()), lists
    return lists


def test_prune_removes_chunk_lists_no_delta_can_use_and_keeps_the_bases_other_zones_hold(held: World,
                                                                                        tmp_path: Path) -> None:
    """The cache grew without end (590 KiB per GiB shipped). A list stays while a zone this one
    exports to holds its package (the base of the next delta) or a kept release uses it; the
    rest goes, listed by the dry run, and so does what an interrupted write left there."""
    w = _copy(held, tmp_path)
    lists = _delta_exports(w)
    leftover = lists["1.6.0"].parent / f".{lists['1.6.0'].name}.x1y2z3.tmp"
    leftover.write_bytes(b"half a list")
    hours_ago = time.time() - LEFTOVER_AGE - 60
    os.utime(leftover, (hours_ago, hours_ago))
    fresh = lists["1.6.0"].parent / f".{lists['1.6.0'].name}.fresh.tmp"  # a write under way now
    fresh.write_bytes(b"being written")
    ok("retention", "set", "--keep", "1", home=w.dev)

    plan = ok_json("prune", "--dry-run", home=w.dev)
    text = ok("prune", "--dry-run", home=w.dev)
    planned = {r["path"]: r for r in plan["remove"] if r["kind"] == "chunk_list"}
    assert set(planned) == {str(lists["1.6.0"]), str(leftover)}, plan["remove"]
    assert planned[str(lists["1.6.0"])]["what"] == "chunk list of Acme.Web 1.6.0"
    assert planned[str(lists["1.6.0"])]["bytes"] == lists["1.6.0"].stat().st_size > 0
    assert "chunk_list" in text and "chunk list of Acme.Web 1.6.0" in text
    assert lists["1.6.0"].is_file() and leftover.is_file()  # a dry run removes nothing

    done = ok_json("prune", home=w.dev)
    assert done["not_removed"] == []
    assert not lists["1.6.0"].exists() and not leftover.exists() and fresh.is_file()
    assert lists["1.2.0"].is_file() and lists["1.7.0"].is_file()
    # prod still holds 1.2.0: the next export is a delta against it all the same
    ok("export", _release_version(w, "1.8.0"), "--to", "prod", "-o", w.root / "acme-1.8.0.bundle", home=w.dev)
    assert _chunk_list(w.dev, _sha(_package(w, "1.8.0"))).is_file()


def test_a_chunk_list_whose_package_a_zone_reports_holding_after_the_plan_is_not_removed(held: World,
                                                                                        tmp_path: Path) -> None:
    """Decided again under the prune claim (decision 197): prod imports 1.6.0 and its receipt
    says it holds the package between the plan and the apply, so 1.6.0's list is a delta base
    now and stays, saying why."""
    w = _copy(held, tmp_path)
    lists = _delta_exports(w)
    ok("retention", "set", "--keep", "1", home=w.dev)
    with open_zone(w.dev) as z:
        plan = plan_prune(z, now=int(time.time()))
    assert str(lists["1.6.0"]) in {r.path for r in plan.removals if r.kind == "chunk_list"}
    ok("import", w.root / "acme-1.6.0.bundle", home=w.prod)
    ok("deploy", "acme-web", "1.6.0", "--environment", "Production", home=w.prod)
    ok("outbox", "pack", "-o", w.root / "receipt-2.bundle", home=w.prod)
    ok("import", w.root / "receipt-2.bundle", home=w.dev)
    with open_zone(w.dev) as z:
        result = apply_prune(z, plan, now=int(time.time()))
    why = {r.path: reason for r, reason in result.not_removed}
    assert why[str(lists["1.6.0"])].startswith("a zone's receipt now reports holding the package")
    assert lists["1.6.0"].is_file()


# -- imports and prune ---------------------------------------------------------------------------

def _by_reference(w: World) -> Path:
    """Release 1.5.0 of the project, made of package Acme.Web 1.0.0, which prod's receipt says
    it holds: the bundle lists it by reference. Prod's retention (keep 1) lets 1.0.0 go."""
    made = (w.root / "release" / "release-1.0.0.toml").read_text()  # its package is the one prod holds
    release = w.root / "release" / "release-1.5.0.toml"
    release.write_text(made.replace('version = "1.0.0"\nchannel', 'version = "1.5.0"\nchannel', 1))
    out = w.root / "acme-1.5.0.bundle"
    info = ok_json("export", release, "--to", "prod", "-o", out, home=w.dev)
    assert info["by_reference"] == ["Acme.Web 1.0.0"], info
    ok("retention", "set", "--keep", "1", home=w.prod)
    return out


def _releases(home: Path) -> list[str]:
    return [r["version"] for r in ok_json("releases", "list", home=home)["releases"]]


def test_an_import_planned_before_a_prune_removed_its_package_is_refused_and_imports_nothing(
        held: World, tmp_path: Path) -> None:
    """The race: the import checks that prod holds Acme.Web 1.0.0 and verifies the bundle; a
    `bundlekit prune` (another process) removes that package; the import commits. Before, the
    release was imported naming a package the zone no longer had, and only its deployment
    failed (release_pruned). Now the commit checks again and refuses it, importing nothing."""
    w = _copy(held, tmp_path)
    bundle = _by_reference(w)
    stored = w.prod / "packages" / "sha256" / _sha(_package(w, "1.0.0"))[:2] / _sha(_package(w, "1.0.0"))
    with open_zone(w.prod) as z:
        plan = plan_import(z, bundle, now=int(time.time()))
        pruned = run_cli("prune", "--json", home=w.prod)  # another process, between plan and commit
        assert pruned.returncode == 0, pruned.stdout + pruned.stderr
        assert str(stored) in {r["path"] for r in json.loads(pruned.stdout)["remove"]}
        assert not stored.exists()
        with raises_code("package_missing") as info:
            apply_import(z, plan, now=int(time.time()))
    assert "prune" in info.value.message and "--full" in info.value.message
    assert "1.5.0" not in _releases(w.prod) and not stored.exists()


def test_an_import_that_took_the_stores_copy_of_an_included_package_a_prune_then_removed_imports_nothing(
        held: World, tmp_path: Path) -> None:
    """Decision 771: the bundle carries Acme.Web 1.0.0, but prod's store held the same bytes at
    planning, so the import staged nothing for it; a prune (another process) then removes them.
    The commit checks every package it did not stage, refuses, and the same bundle imported
    again stores its own copy."""
    w = _copy(held, tmp_path)
    made = (w.root / "release" / "release-1.0.0.toml").read_text()
    release = w.root / "release" / "release-1.5.0.toml"
    release.write_text(made.replace('version = "1.0.0"\nchannel', 'version = "1.5.0"\nchannel', 1))
    bundle = w.root / "acme-1.5.0-full.bundle"
    info = ok_json("export", release, "--to", "prod", "--full", "-o", bundle, home=w.dev)
    assert info["by_reference"] == [], info
    ok("retention", "set", "--keep", "1", home=w.prod)
    stored = w.prod / "packages" / "sha256" / _sha(_package(w, "1.0.0"))[:2] / _sha(_package(w, "1.0.0"))
    with open_zone(w.prod) as z:
        plan = plan_import(z, bundle, now=int(time.time()))
        assert plan.staging is not None and not plan.staging.holds(_sha(_package(w, "1.0.0")))
        pruned = run_cli("prune", "--json", home=w.prod)  # another process, between plan and commit
        assert pruned.returncode == 0, pruned.stdout + pruned.stderr
        assert not stored.exists()
        with raises_code("package_missing") as info:
            apply_import(z, plan, now=int(time.time()))
    assert "Import the same bundle again" in info.value.message and "prune" in info.value.message
    assert "1.5.0" not in _releases(w.prod) and not stored.exists()
    ok("import", bundle, home=w.prod)
    assert "1.5.0" in _releases(w.prod) and _sha(stored) == _sha(_package(w, "1.0.0"))


def test_an_import_waits_while_a_prune_holds_the_zone_and_is_applied_when_it_ends(held: World,
                                                                                  tmp_path: Path) -> None:
    """Exclusive: while another process holds the zone's prune claim (as `bundlekit prune` does
    while it removes files) a real `bundlekit import --wait` process says what it waits for and
    commits nothing; once the claim is given back it imports."""
    w = _copy(held, tmp_path)
    bundle = _by_reference(w)
    pruning = open_state(w.prod)
    with pruning.transaction() as tx:
        assert pruning.claim(tx, retention.PRUNE_CLAIM)
    env = {k: v for k, v in os.environ.items() if k != "BUNDLEKIT_HOME"}
    proc = subprocess.Popen([sys.executable, "-m", "bundlekit", "import", str(bundle), "--wait", "300", "--home",
                             str(w.prod)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert line.startswith("waiting for bundlekit prune in zone prod to finish (up to 300 s)"), line
        assert proc.poll() is None and "1.5.0" not in _releases(w.prod)
    finally:
        pruning.release(retention.PRUNE_CLAIM)
        pruning.close()
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, out + err
    assert "imported Acme Web 1.5.0" in out and "1.5.0" in _releases(w.prod)
