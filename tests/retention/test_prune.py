"""`bundlekit prune` through the CLI: planned and printed first, removes what retention lets go,
never the current or previous successful release of an environment, and refuses bad input."""

from __future__ import annotations

import json
import os
import shutil
import time
import zipfile
from pathlib import Path

import pytest

from tests.cli.operator_world import World, bk, ok, ok_json, world
from tests.conftest import snapshot

VERSIONS = ("1.0.0", "1.1.0", "1.2.0", "1.3.0")


def _release_version(w: World, version: str) -> Path:
    """A release file for ``version`` whose package Acme.Web ``version`` has bytes of its own."""
    src = w.root / "release"
    pkg = src / "packages" / f"Acme.Web.{version}.zip"
    shutil.copy(src / "packages" / "Acme.Web.1.4.0.zip", pkg)
    with zipfile.ZipFile(pkg, "a") as z:
        z.writestr("version.txt", version * 2000)
    text = (src / "release.toml").read_text()
    text = text.replace('version = "1.4.0"\nchannel', f'version = "{version}"\nchannel', 1)
    text = text.replace('id = "Acme.Web"\nversion = "1.4.0"\nfile = "packages/Acme.Web.1.4.0.zip"',
                        f'id = "Acme.Web"\nversion = "{version}"\nfile = "packages/Acme.Web.{version}.zip"')
    out = src / f"release-{version}.toml"
    out.write_text(text)
    return out


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> World:
    """1.0.0 .. 1.3.0 imported and deployed to Production in turn; 1.4.0 imported, not deployed."""
    w = world(tmp_path_factory.mktemp("prune"))
    for n, version in enumerate(VERSIONS):
        bundle = w.root / f"acme-{version}.bundle"
        ok("export", _release_version(w, version), "--to", "prod", "-o", bundle, home=w.dev)
        ok("import", bundle, home=w.prod)
        if n == 0:
            ok("variables", "set", "acme-web", "Acme.ApiKey", "k-prune", "--sensitive", home=w.prod)
        ok("deploy", "acme-web", version, "--environment", "Production", home=w.prod)
    latest = w.root / "acme-1.4.0-latest.bundle"
    ok("export", w.release, "--to", "prod", "-o", latest, home=w.dev)
    ok("import", latest, home=w.prod)  # 1.4.0: the latest import, not deployed yet
    return w


def _copy(w: World, tmp_path: Path) -> tuple[Path, Path]:
    """A private copy of prod and its targets (target roots are recorded as absolute paths, so the
    copy's targets are re-added under the copy)."""
    home = tmp_path / "prod"
    shutil.copytree(w.prod, home)
    shutil.copytree(w.root / "targets", tmp_path / "targets")
    for name, role in (("db-01", "db"), ("web-01", "web")):
        ok("targets", "remove", name, home=home)
        ok("targets", "add", name, "--environment", "Production", "--role", role, "--root",
           tmp_path / "targets" / name, home=home)
    return home, tmp_path / "targets"


def _versions(package_folder: Path) -> list[str]:
    """The versions installed in a package's folder on a target (not the runner's own ``.bundlekit.lock``)."""
    return sorted(p.name for p in package_folder.iterdir() if not p.name.startswith("."))


def test_dry_run_plans_and_prints_and_changes_nothing(deployed: World, tmp_path: Path) -> None:
    home, targets = _copy(deployed, tmp_path)
    ok("retention", "set", "--keep", "1", home=home)
    before = snapshot(home, targets)
    plan = ok_json("prune", "--dry-run", home=home)
    text = ok("prune", "--dry-run", home=home)
    assert snapshot(home, targets) == before
    removed = {(r["kind"], r["what"]) for r in plan["remove"]}
    assert {("package", f"Acme.Web {v}") for v in ("1.0.0", "1.1.0")} <= removed
    assert {("target_folder", f"web-01: Acme.Web {v}") for v in ("1.0.0", "1.1.0")} <= removed
    assert not any(v in w for _, w in removed for v in ("1.2.0", "1.3.0", "1.4.0"))
    kept = {k["version"]: k["reasons"] for k in plan["kept"]}
    assert kept["1.3.0"][0] == "current release in Production"
    assert kept["1.2.0"][0] == "previous successful release in Production"
    assert kept["1.4.0"][0] == "the latest release imported for the project"
    assert text.startswith("would remove:") and "Acme.Web 1.0.0" in text and "would free" in text
    assert plan["freed_bytes"] == sum(r["bytes"] for r in plan["remove"]) and plan["freed_bytes"] > 20_000


def test_prune_removes_what_the_plan_said_and_keeps_the_rest(deployed: World, tmp_path: Path) -> None:
    home, targets = _copy(deployed, tmp_path)
    ok("retention", "set", "--keep", "1", home=home)
    plan = ok_json("prune", "--dry-run", home=home)
    done = ok_json("prune", home=home)
    assert done["remove"] == plan["remove"] and done["dry_run"] is False
    for r in plan["remove"]:
        if r["path"]:
            assert not os.path.lexists(r["path"]), r
    assert _versions(targets / "web-01" / "Acme.Web") == ["1.2.0", "1.3.0"]
    assert ok_json("prune", "--dry-run", home=home)["remove"] == []  # nothing left to let go
    ok("deploy", "acme-web", "1.2.0", "--environment", "Production", home=home)  # a rollback still works
    shown = ok_json("retention", "show", home=home)
    assert shown["last_prune"]["freed_bytes"] == plan["freed_bytes"]


def test_deploying_a_pruned_release_is_refused_with_what_to_do(deployed: World, tmp_path: Path) -> None:
    home, targets = _copy(deployed, tmp_path)
    ok("retention", "set", "--keep", "1", home=home)
    ok("prune", home=home)
    before = snapshot(home, targets)
    r = bk("deploy", "acme-web", "1.0.0", "--environment", "Production", "--json", home=home)
    assert r.exit_code == 1
    err = json.loads(r.stdout)["error"]
    assert err["code"] == "release_pruned" and "--full" in err["message"] and "Acme.Web 1.0.0" in err["message"]
    assert snapshot(home, targets) == before


def test_auto_prune_runs_after_a_successful_deployment(deployed: World, tmp_path: Path) -> None:
    home, targets = _copy(deployed, tmp_path)
    ok("retention", "set", "--keep", "1", "--auto-prune", home=home)
    out = ok_json("deploy", "acme-web", "1.4.0", "--environment", "Production", home=home)
    assert out["state"] == "Success"
    removed = {r["what"] for r in out["pruned"]["remove"]}
    assert "Acme.Web 1.2.0" in removed and "Acme.Web 1.3.0" not in removed  # 1.3.0 is now the previous one
    assert _versions(targets / "web-01" / "Acme.Web") == ["1.3.0", "1.4.0"]


def test_without_a_policy_prune_keeps_every_release_and_clears_only_leftovers(deployed: World,
                                                                            tmp_path: Path) -> None:
    home, _ = _copy(deployed, tmp_path)
    old, fresh = home / "staging" / "0123abcd", home / "staging" / "4567ef01"
    for d in (old, fresh):
        d.mkdir(parents=True)
        (d / "blob.tmp").write_bytes(b"x" * 1000)
    hour_ago = time.time() - 7200
    os.utime(old / "blob.tmp", (hour_ago, hour_ago))
    os.utime(old, (hour_ago, hour_ago))
    plan = ok_json("prune", home=home)
    assert {r["kind"] for r in plan["remove"]} <= {"staging", "work_folder"}
    assert [r["path"] for r in plan["remove"] if r["kind"] == "staging"] == [str(old)]
    assert not old.exists() and fresh.exists()


@pytest.mark.parametrize("argv", [["--keep", "0"], ["--keep", "2", "--keep-days", "3"],
                                  ["--environment", "Staging", "--auto-prune"], ["--keep", "x"]])
def test_bad_retention_settings_are_usage_errors_and_change_nothing(deployed: World, tmp_path: Path,
                                                                   argv: list[str]) -> None:
    home = tmp_path / "prod"
    shutil.copytree(deployed.prod, home)
    before = snapshot(home)
    r = bk("retention", "set", *argv, "--json", home=home)
    assert r.exit_code == 2 and json.loads(r.stdout)["error"]["code"] == "usage"
    assert snapshot(home) == before
