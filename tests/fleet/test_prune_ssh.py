"""Retention on SSH targets, through the real CLI: old version folders and package copies on
machines reached over SSH are found and removed by each target's runner, a dry run changes
nothing there, and the package's transfer to an SSH target shows a progress bar."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cli.operator_world import World, ok, ok_json, world
from tests.cli.test_progress import _under_terminal
from tests.conftest import snapshot
from tests.fleet.sshd import SshServer, free_port, require_sshd, start_servers
from tests.retention.test_prune import _release_version

VERSIONS = ("1.0.0", "1.1.0", "1.2.0")


@dataclass
class Fleet:
    world: World
    db: SshServer
    web: SshServer
    first_deploy_terminal: str  # what the first deployment drew on a terminal


def _deploy(w: World, version: str) -> None:
    bundle = w.root / f"acme-{version}.bundle"
    ok("export", _release_version(w, version), "--to", "prod", "-o", bundle, home=w.dev)
    ok("import", bundle, home=w.prod)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """Acme 1.0.0, 1.1.0 and 1.2.0 deployed in turn to two SSH targets (one sshd each) in
    Production; Staging has a target nobody answers for."""
    require_sshd()
    w = world(tmp_path_factory.mktemp("prune-ssh"))
    zone_key = ok("targets", "ssh-key", home=w.prod).strip()
    db, web = start_servers(w.root / "machines", 2, zone_key, prefix="node")
    try:
        for name, role, server in (("db-01", "db", db), ("web-01", "web", web)):
            ok("targets", "remove", name, home=w.prod)
            ok("targets", "add", name, "--environment", "Production", "--role", role, "--ssh",
               f"{server.user}@127.0.0.1:{server.port}", "--host-key", server.host_key, "--work-dir",
               server.work_dir, home=w.prod)
        ok("targets", "add", "gone-01", "--environment", "Staging", "--role", "web", "--ssh",
           f"deploy@127.0.0.1:{free_port()}", "--host-key", web.host_key, home=w.prod)
        terminal = ""
        for n, version in enumerate(VERSIONS):
            _deploy(w, version)
            if n == 0:
                ok("variables", "set", "acme-web", "Acme.ApiKey", "k-prune-ssh", "--sensitive", home=w.prod)
                terminal, _, code = _under_terminal([sys.executable, "-m", "bundlekit", "deploy", "acme-web", version,
                                                     "--environment", "Production", "--home", str(w.prod)])
                assert code == 0, terminal
                # What a script left in its working folder stays after a successful run (an empty
                # folder goes at once, decision 431): prune removes it once its deployment ended.
                for server in (db, web):
                    left = server.work_dir / ".bundlekit-work" / "Deployments-1" / "step"
                    left.mkdir(parents=True)
                    (left / "report.txt").write_text("written by a script\n")
            else:
                ok("deploy", "acme-web", version, "--environment", "Production", home=w.prod)
        yield Fleet(w, db, web, terminal)
    finally:
        db.stop()
        web.stop()


def _archive(server: SshServer, version: str) -> list[Path]:
    return list((server.work_dir / ".bundlekit" / "packages").glob(f"*/Acme.Web.{version}.zip"))


def _size(folder: Path) -> int:
    return sum(p.lstat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def test_sending_a_package_to_an_ssh_target_shows_a_bar_then_extracting_it_another(fleet: Fleet) -> None:
    terminal = fleet.first_deploy_terminal
    assert "transfer to web-01: Acme.Web 1.0.0" in terminal and "extract on web-01: Acme.Web 1.0.0" in terminal
    assert "100%" in terminal and "> Deploy web on web-01" in terminal


def test_a_dry_run_asks_each_ssh_target_what_it_holds_and_changes_nothing_anywhere(fleet: Fleet) -> None:
    w, web = fleet.world, fleet.web
    ok("retention", "set", "--keep", "1", home=w.prod)
    machines = [fleet.db.work_dir, web.work_dir]
    before = snapshot(w.prod, *machines)
    plan = ok_json("prune", "--dry-run", home=w.prod)
    text = ok("prune", "--dry-run", home=w.prod)
    assert snapshot(w.prod, *machines) == before
    removed = {(r["kind"], r["what"]): r for r in plan["remove"]}
    old = removed[("target_folder", "web-01: Acme.Web 1.0.0")]
    assert old["target"] == "web-01" and old["bytes"] == _size(web.work_dir / "Acme.Web" / "1.0.0") > 10_000
    assert old["path"] == f"{web.user}@127.0.0.1:{web.port}:{web.work_dir}/Acme.Web/1.0.0"
    [archive] = _archive(web, "1.0.0")
    assert removed[("target_archive", "web-01: Acme.Web.1.0.0.zip")]["bytes"] == archive.stat().st_size
    assert ("work_folder", "db-01: Deployments-1") in removed and ("work_folder", "web-01: Deployments-1") in removed
    assert not any(v in what for _, what in removed for v in ("1.1.0", "1.2.0"))  # previous and current stay
    assert any(s.startswith("target gone-01") and "target_unreachable" in s for s in plan["skipped"])
    assert "web-01: Acme.Web 1.0.0" in text and "skipped        target gone-01" in text


def test_prune_removes_old_versions_on_ssh_targets_through_their_runners_and_a_rollback_still_works(
        fleet: Fleet) -> None:
    w, web = fleet.world, fleet.web
    ok("retention", "set", "--keep", "1", home=w.prod)
    plan = ok_json("prune", "--dry-run", home=w.prod)
    done = ok_json("prune", home=w.prod)
    assert done["remove"] == plan["remove"] and done["not_removed"] == []
    assert done["freed_bytes"] == plan["freed_bytes"] > 10_000
    assert not (web.work_dir / "Acme.Web" / "1.0.0").exists() and _archive(web, "1.0.0") == []
    for version in ("1.1.0", "1.2.0"):
        assert (web.work_dir / "Acme.Web" / version / "index.html").is_file() and _archive(web, version)
    assert not (fleet.db.work_dir / ".bundlekit-work" / "Deployments-1").exists()
    assert list((web.work_dir / ".bundlekit" / "runner").iterdir())  # the runner itself stays
    again = ok_json("prune", "--dry-run", home=w.prod)
    assert [r for r in again["remove"] if r["target"]] == []  # nothing left to let go on any target
    rollback = ok_json("deploy", "acme-web", "1.1.0", "--environment", "Production", home=w.prod)
    assert rollback["state"] == "Success"
    deploy_web = next(r for r in rollback["runs"] if r["step"] == "Deploy web")
    assert "already on the target; not sent" in deploy_web["log"]  # the previous release's copy was kept


def test_auto_prune_after_a_deployment_reaches_the_ssh_targets_of_its_environment_only(fleet: Fleet) -> None:
    w, web = fleet.world, fleet.web
    # 1.1.0 deployed again (the rollback the test above ends with; this test may run alone, on
    # another worker): 1.3.0 then makes it the previous release, and 1.2.0 may go
    ok("retention", "set", "--keep", "1", "--no-auto-prune", home=w.prod)
    ok("deploy", "acme-web", "1.1.0", "--environment", "Production", home=w.prod)
    ok("retention", "set", "--keep", "1", "--auto-prune", home=w.prod)
    _deploy(w, "1.3.0")
    out = ok_json("deploy", "acme-web", "1.3.0", "--environment", "Production", home=w.prod)
    assert out["state"] == "Success"
    removed = {r["what"] for r in out["pruned"]["remove"]}
    assert "web-01: Acme.Web 1.2.0" in removed and "web-01: Acme.Web 1.1.0" not in removed  # 1.1.0 is previous
    assert sorted(p.name for p in (web.work_dir / "Acme.Web").iterdir() if not p.name.startswith(".")) == [
        "1.1.0", "1.3.0"]
    assert not any("gone-01" in s for s in out["pruned"]["skipped"])  # Staging's targets were not asked
