"""`bundlekit prune` through the CLI: planned and printed first, removes what retention lets go
from the zone's real package store and its targets, never the current or previous successful
release of an environment (not even one a deployment made current after the plan), and
refuses bad input."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from bundlekit.retention.prune import apply_prune, plan_prune
from bundlekit.zone.home import open_zone
from tests.cli.operator_world import World, bk, ok, ok_json, world
from tests.conftest import FIXTURES, own_state, run_cli, snapshot

#: Their state tests run on both engines (decision 772).
pytestmark = pytest.mark.usefixtures("state_engine")


VERSIONS = ("1.0.0", "1.1.0", "1.2.0", "1.3.0")


def _release_version(w: World | Path, version: str) -> Path:
    """A release file for ``version`` whose package Acme.Web ``version`` has bytes of its own
    (``w``: a world, or a copy of the fixture release's folder)."""
    src = w.root / "release" if isinstance(w, World) else w
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
def deployed(tmp_path_factory: pytest.TempPathFactory, state_engine: str) -> World:
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
    own_state(home)
    shutil.copytree(w.root / "targets", tmp_path / "targets")
    for name, role in (("db-01", "db"), ("web-01", "web")):
        ok("targets", "remove", name, home=home)
        ok("targets", "add", name, "--environment", "Production", "--role", role, "--root",
           tmp_path / "targets" / name, home=home)
    return home, tmp_path / "targets"


def _stored(home: Path, package: Path, store: Path | None = None) -> Path:
    """Where the zone's package store (``HOME/packages``, or ``store``) keeps ``package``'s bytes."""
    digest = hashlib.sha256(package.read_bytes()).hexdigest()
    return (store or home / "packages") / "sha256" / digest[:2] / digest


def _web(w: World, version: str) -> Path:
    return w.root / "release" / "packages" / f"Acme.Web.{version}.zip"


def _size(path: Path) -> int:
    """Bytes under ``path`` (a file or a folder), as ``du --apparent-size -b`` counts files."""
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


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
    let_go = [_stored(home, _web(deployed, v)) for v in ("1.0.0", "1.1.0")]
    kept = [_stored(home, _web(deployed, v)) for v in ("1.2.0", "1.3.0", "1.4.0")]
    assert all(p.is_file() for p in let_go + kept)  # the real store, HOME/packages/sha256/..
    plan = ok_json("prune", "--dry-run", home=home)
    assert {str(p) for p in let_go} == {r["path"] for r in plan["remove"] if r["kind"] == "package"}
    paths = [Path(r["path"]) for r in plan["remove"] if r["path"]]
    sizes = {p: _size(p) for p in paths if os.path.lexists(p)}
    assert list(sizes) == paths  # everything planned exists before
    assert [r["bytes"] for r in plan["remove"] if r["path"]] == list(sizes.values())
    done = ok_json("prune", home=home)
    assert done["remove"] == plan["remove"] and done["dry_run"] is False and done["not_removed"] == []
    assert not any(os.path.lexists(p) for p in paths)  # ... and is gone after
    assert done["freed_bytes"] == sum(sizes.values()) > 2 * 20_000
    assert all(p.is_file() for p in kept)
    assert _versions(targets / "web-01" / "Acme.Web") == ["1.2.0", "1.3.0"]
    assert ok_json("prune", "--dry-run", home=home)["remove"] == []  # nothing left to let go
    ok("deploy", "acme-web", "1.2.0", "--environment", "Production", home=home)  # a rollback still works
    shown = ok_json("retention", "show", home=home)
    assert shown["last_prune"]["freed_bytes"] == done["freed_bytes"]


def test_prune_empties_the_shared_package_store_the_zone_is_configured_with(deployed: World, tmp_path: Path) -> None:
    """A node's store is the folder its settings name (``--package-store``), not its home."""
    home, _ = _copy(deployed, tmp_path)
    shared = tmp_path / "mnt" / "store"
    shared.parent.mkdir()
    shutil.move(home / "packages", shared)
    conf = home / "bundlekit.conf"  # on PostgreSQL it names the state already
    conf.write_text((conf.read_text() if conf.exists() else "") + f"BUNDLEKIT_PACKAGE_STORE={shared}\n")
    old_leftover = shared / "staging" / "node-b-4242-0a1b2c"  # another node's import, over for 8 days
    old_leftover.mkdir(parents=True)
    (old_leftover / "pending.x").write_bytes(b"y" * 3000)
    week_ago = time.time() - 8 * 86400
    os.utime(old_leftover, (week_ago, week_ago))
    ok("retention", "set", "--keep", "1", home=home)
    let_go = [_stored(home, _web(deployed, v), shared) for v in ("1.0.0", "1.1.0")]
    assert all(p.is_file() for p in let_go)
    sizes = sum(p.stat().st_size for p in let_go) + 3000
    done = ok_json("prune", home=home)
    assert {r["path"] for r in done["remove"] if r["kind"] in ("package", "staging")} == \
        {str(p) for p in let_go} | {str(old_leftover)}
    assert not any(p.exists() for p in let_go) and not old_leftover.exists()
    assert sum(r["bytes"] for r in done["remove"] if r["kind"] in ("package", "staging")) == sizes
    assert _stored(home, _web(deployed, "1.3.0"), shared).is_file() and not (home / "packages").exists()


def test_a_release_rolled_back_to_between_plan_and_apply_keeps_its_files(deployed: World, tmp_path: Path) -> None:
    """The race a reviewer found: prune plans, another process rolls back to an old release
    (now current), prune applies its stale plan. The apply decides again under the zone's write
    lock and prune claim: the rolled-back release's folder and package stay, saying why."""
    home, targets = _copy(deployed, tmp_path)
    ok("retention", "set", "--keep", "1", home=home)
    with open_zone(home) as z:
        plan = plan_prune(z, now=int(time.time()))
    planned = {r.what for r in plan.removals}
    assert {"web-01: Acme.Web 1.1.0", "Acme.Web 1.1.0", "web-01: Acme.Web 1.0.0"} <= planned
    rolled = run_cli("deploy", "acme-web", "1.1.0", "--environment", "Production", home=home)  # another process
    assert rolled.returncode == 0, rolled.stderr
    with open_zone(home) as z:
        result = apply_prune(z, plan, now=int(time.time()))
    why = {r.what: reason for r, reason in result.not_removed}
    assert why["web-01: Acme.Web 1.1.0"].startswith("Acme Web 1.1.0 is kept now (current release in Production")
    assert why["Acme.Web 1.1.0"].startswith("Acme Web 1.1.0 is kept now (current release in Production")
    assert (targets / "web-01" / "Acme.Web" / "1.1.0" / "index.html").is_file()
    assert _stored(home, _web(deployed, "1.1.0")).is_file()
    assert not (targets / "web-01" / "Acme.Web" / "1.0.0").exists()  # what is still let go goes
    assert not _stored(home, _web(deployed, "1.0.0")).exists()
    assert {r.what for r in result.removed} == planned - set(why)
    again = run_cli("deploy", "acme-web", "1.1.0", "--environment", "Production", home=home)
    assert again.returncode == 0, again.stderr  # the current release still deploys


def test_deploying_a_pruned_release_is_refused_with_what_to_do(deployed: World, tmp_path: Path) -> None:
    home, targets = _copy(deployed, tmp_path)
    ok("retention", "set", "--keep", "1", home=home)
    ok("prune", home=home)
    before = snapshot(home, targets)
    r = bk("deploy", "acme-web", "1.0.0", "--environment", "Production", "--json", home=home)
    assert r.exit_code == 1
    err = json.loads(r.stdout)["error"]
    assert err["code"] == "release_pruned" and "--full" in err["message"] and "Acme.Web 1.0.0" in err["message"]
    assert "import the bundle that delivered it again" in err["message"]
    assert snapshot(home, targets) == before
    # that advice followed: the very bundle puts the package back, and says prune removed it (review v33-15u F6)
    again = ok_json("import", deployed.root / "acme-1.0.0.bundle", home=home)
    assert "removed by prune" in json.dumps(again) and "damaged" not in json.dumps(again), again
    assert bk("deploy", "acme-web", "1.0.0", "--environment", "Production", "--dry-run", home=home).exit_code == 0


def test_auto_prune_prints_its_plan_before_removing_and_a_dry_run_says_it_will_run(deployed: World,
                                                                                    tmp_path: Path) -> None:
    """Review v33-15u F4: a deployment's auto-prune removed first and told after, and a dry run
    said nothing of it."""
    home, targets = _copy(deployed, tmp_path)
    ok("retention", "set", "--keep", "1", "--auto-prune", home=home)
    dry = bk("deploy", "acme-web", "1.4.0", "--environment", "Production", "--dry-run", home=home)
    assert dry.exit_code == 0 and "retention prunes (auto-prune" in dry.stdout and "prune --dry-run" in dry.stdout
    dry_json = json.loads(bk("deploy", "acme-web", "1.4.0", "--environment", "Production", "--dry-run", "--json",
                             home=home).stdout)
    assert dry_json["auto_prune"] is True
    out = bk("deploy", "acme-web", "1.4.0", "--environment", "Production", home=home).stdout
    lines = out.splitlines()
    first = lines.index("retention (auto-prune after this deployment) is removing:")
    assert any("Acme.Web 1.2.0" in x for x in lines[first:first + 20])
    assert first < next(i for i, x in enumerate(lines) if x.startswith("retention: removed "))


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
    """Staging folders go when their import is over (its process gone; another node's, after a
    week), never while it runs; store files no record or release names go after an hour."""
    home, _ = _copy(deployed, tmp_path)
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    host = socket.gethostname()
    dead = home / "staging" / f"{host}-{int(ended.stdout)}-0123abcd"
    running = home / "staging" / f"{host}-{os.getpid()}-4567ef01"
    other_node = home / "staging" / "node-b-77-89abcdef"
    for d in (dead, running, other_node):
        d.mkdir(parents=True)
        (d / "pending.tmp").write_bytes(b"x" * 1000)
    orphan, young = (home / "packages" / "sha256" / "ab" / f"ab{c * 62}" for c in "01")
    orphan.parent.mkdir(exist_ok=True)
    for f in (orphan, young):
        f.write_bytes(b"z" * 500)
    hour_ago = time.time() - 7200
    for p in (dead, running, orphan):
        os.utime(p, (hour_ago, hour_ago))
    plan = ok_json("prune", home=home)
    assert {r["kind"] for r in plan["remove"]} <= {"staging", "store_file", "work_folder"}
    assert [r["path"] for r in plan["remove"] if r["kind"] == "staging"] == [str(dead)]
    assert [r["path"] for r in plan["remove"] if r["kind"] == "store_file"] == [str(orphan)]
    assert not dead.exists() and running.exists() and other_node.exists()
    assert not orphan.exists() and young.exists()
    assert all(_stored(home, _web(deployed, v)).is_file() for v in VERSIONS)


def test_a_zone_that_creates_its_releases_prunes_their_packages_from_its_store(tmp_path: Path) -> None:
    """Releases created here (``releases create``) have no package records: their store files
    are pruned all the same, the kept one is "the latest release created", and a pruned one
    comes back by creating it again."""
    src = tmp_path / "release"
    shutil.copytree(FIXTURES / "acme", src)
    home = tmp_path / "dev"
    ok("init", "--zone", "dev", home=home)
    files = {v: _release_version(src, v) for v in ("1.0.0", "1.1.0", "1.2.0")}
    for f in files.values():
        ok("releases", "create", f, home=home)
    stored = {v: _stored(home, src / "packages" / f"Acme.Web.{v}.zip") for v in files}
    assert all(p.is_file() for p in stored.values())
    ok("retention", "set", "--keep", "1", home=home)
    plan = ok_json("prune", home=home)
    kept = {k["version"]: k["reasons"] for k in plan["kept"]}
    assert list(kept) == ["1.2.0"] and kept["1.2.0"][0] == "the latest release created for the project"
    sizes = {str(stored[v]): (tmp_path / "release" / "packages" / f"Acme.Web.{v}.zip").stat().st_size
             for v in ("1.0.0", "1.1.0")}
    assert {r["path"]: r["bytes"] for r in plan["remove"] if r["kind"] == "package"} == sizes
    assert plan["freed_bytes"] == sum(sizes.values())
    assert not stored["1.0.0"].exists() and not stored["1.1.0"].exists() and stored["1.2.0"].is_file()
    r = bk("deploy", "acme-web", "1.0.0", "--environment", "Production", "--json", home=home)
    err = json.loads(r.stdout)["error"]
    assert (r.exit_code, err["code"]) == (1, "release_pruned") and "releases create" in err["message"]
    ok("releases", "create", files["1.0.0"], home=home)  # the files copied back into the store
    assert stored["1.0.0"].is_file()
    r = bk("deploy", "acme-web", "1.0.0", "--environment", "Production", "--json", home=home)
    assert json.loads(r.stdout)["error"]["code"] != "release_pruned"  # (no targets here: refused later)


@pytest.mark.parametrize("argv", [["--keep", "0"], ["--keep", "2", "--keep-days", "3"],
                                  ["--environment", "Staging", "--auto-prune"], ["--keep", "x"],
                                  # beyond what the state database stores: once an OverflowError traceback
                                  ["--keep", str(2**64)], ["--keep-days", str(2**63)]])
def test_bad_retention_settings_are_usage_errors_and_change_nothing(deployed: World, tmp_path: Path,
                                                                   argv: list[str]) -> None:
    home = tmp_path / "prod"
    shutil.copytree(deployed.prod, home)
    before = snapshot(home)
    r = bk("retention", "set", *argv, "--json", home=home)
    assert r.exit_code == 2 and json.loads(r.stdout)["error"]["code"] == "usage"
    assert snapshot(home) == before


def _deploy_with_clock_ahead(home: Path, version: str, seconds: int) -> None:
    """Deploy ``version`` to Production with the zone's wall clock ``seconds`` ahead (a VM restored
    without NTP, later corrected): the real CLI in a process whose ``time.time`` is shifted."""
    code = ("import sys, time; real = time.time; time.time = lambda: real() + %d; "
            "sys.argv = ['bundlekit'] + sys.argv[1:]; from bundlekit.__main__ import main; sys.exit(main())" % seconds)
    r = subprocess.run([sys.executable, "-c", code, "deploy", "acme-web", version, "--environment", "Production",
                        "--home", str(home)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr


def test_a_deploy_stamped_while_the_clock_ran_ahead_does_not_stay_current_for_prune(deployed: World,
                                                                                    tmp_path: Path) -> None:
    # r1015a A2: 1.1.0 deployed with the clock a day fast, then 1.2.0 and 1.3.0 with the right clock.
    # 1.3.0 is current and 1.2.0 the previous successful release (the one a rollback needs): prune
    # keeps both, whatever the recorded times say, and `deployments list` flags the future time.
    home, targets = _copy(deployed, tmp_path)
    _deploy_with_clock_ahead(home, "1.1.0", 86400)
    for version in ("1.2.0", "1.3.0"):
        ok("deploy", "acme-web", version, "--environment", "Production", home=home)
    ok("retention", "set", "--keep", "1", home=home)
    plan = ok_json("prune", "--dry-run", home=home)
    kept = {k["version"]: k["reasons"] for k in plan["kept"]}
    assert kept["1.3.0"][0] == "current release in Production"
    assert kept["1.2.0"][0] == "previous successful release in Production"
    removed = {r["what"] for r in plan["remove"]}
    assert "web-01: Acme.Web 1.2.0" not in removed and "web-01: Acme.Web 1.1.0" in removed
    ok("prune", home=home)
    assert _versions(targets / "web-01" / "Acme.Web") == ["1.2.0", "1.3.0"]
    listed = ok("deployments", "list", home=home).splitlines()[1:]  # under the header
    assert " 1.3.0 " in listed[0]  # newest first by the zone's own numbering
    future = [line for line in listed if "future: clock ahead?" in line]
    assert len(future) == 1 and " 1.1.0 " in future[0], listed


def test_auto_prune_after_a_deployment_lists_what_it_removed_there_and_in_retention_show(deployed: World,
                                                                                       tmp_path: Path) -> None:
    # r1015u F5: not only "removed 3 item(s)": each package and target folder, as `prune` lists them.
    home, targets = _copy(deployed, tmp_path)
    ok("retention", "set", "--keep", "1", "--auto-prune", home=home)
    out = ok("deploy", "acme-web", "1.4.0", "--environment", "Production", home=home)
    removed = [line.split() for line in out.splitlines() if line.startswith("  removed ")]
    assert ["removed", "package", "Acme.Web", "1.2.0"] in [r[:4] for r in removed], out
    assert ["removed", "target_folder", "web-01:", "Acme.Web", "1.2.0"] in [r[:5] for r in removed], out
    assert not any("1.3.0" in " ".join(r) for r in removed)
    assert out.count("  removed ") == int(out.split("retention: removed ")[1].split()[0])
    shown = ok("retention", "show", home=home)
    assert [line for line in shown.splitlines() if line.startswith("  removed ")] == [
        line for line in out.splitlines() if line.startswith("  removed ")]
    assert {r["what"] for r in ok_json("retention", "show", home=home)["last_prune"]["remove"]} >= {
        "Acme.Web 1.2.0", "web-01: Acme.Web 1.2.0"}


def test_releases_list_marks_the_releases_whose_packages_prune_removed(deployed: World, tmp_path: Path) -> None:
    # r1015u F7: after `prune`, 1.0.0 and 1.1.0 are listed as pruned; what is kept is not marked.
    home, _ = _copy(deployed, tmp_path)
    ok("retention", "set", "--keep", "1", home=home)
    ok("prune", home=home)
    rows = {r["version"]: r["pruned"] for r in ok_json("releases", "list", home=home)["releases"]}
    assert rows == {"1.0.0": True, "1.1.0": True, "1.2.0": False, "1.3.0": False, "1.4.0": False}
    text = ok("releases", "list", home=home).splitlines()
    assert [line.split()[2] for line in text if "(packages pruned" in line] == ["1.0.0", "1.1.0"]
