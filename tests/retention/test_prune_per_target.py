"""Prune judges each target's folders by what that target got (decision 910), through the real
CLI, on both state engines: a target moved to another environment, or left on an older release
because the last releases went to other targets (steps by role), keeps what it runs; under
keep-all nothing leaves a target; a folder prune has no record of installing is left and said.

One zone per engine: releases Demo 1.0.1 .. 1.0.7 created here (each package with bytes of its
own; 1.0.6 and 1.0.7 install their package only on role ``canary`` and run a script step on
every web target), targets w1 and w2 (role web) in Production, 1.0.1 .. 1.0.4 deployed there
in turn.
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest

from tests.cli.operator_world import bk, ok, ok_json
from tests.conftest import ENGINE, own_state, snapshot

#: Their state tests run on both engines (decision 772).
pytestmark = pytest.mark.usefixtures("state_engine")

RELEASE = '''[project]
name = "Demo"
[release]
version = "{v}"
[[packages]]
id = "Demo.App"
version = "{v}"
file = "Demo.App.{v}.zip"
[[steps]]
name = "Deploy web"
type = "package"
package = "Demo.App"
roles = ["{role}"]
'''
#: A step every web target runs (1.0.6 and 1.0.7): a target that runs a release's script steps
#: but not its package step still runs the version it had.
SMOKE = '''[[steps]]
name = "Smoke test"
type = "script"
syntax = "bash"
roles = ["web"]
script = "echo smoke test on #{Octopus.Machine.Name}"
'''
DEPLOYED = ("1.0.1", "1.0.2", "1.0.3", "1.0.4")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, state_engine: str) -> Path:
    root = tmp_path_factory.mktemp("per-target")
    pg = ENGINE.pg
    state = () if pg is None else ("--state", pg.new_database(), "--state-password-file", pg.password_file)
    ok("init", "--zone", "demo", *state, home=root / "home")
    for n in range(1, 8):
        v = f"1.0.{n}"
        with zipfile.ZipFile(root / f"Demo.App.{v}.zip", "w") as z:
            z.writestr("index.html", f"version {v}\n" * 50)
        (root / f"rel-{v}.toml").write_text(RELEASE.format(v=v, role="canary") + SMOKE if n >= 6 else
                                           RELEASE.format(v=v, role="web"))
        ok("releases", "create", root / f"rel-{v}.toml", home=root / "home")
    for name in ("w1", "w2"):
        ok("targets", "add", name, "--environment", "Production", "--role", "web", "--root", root / "t" / name,
           home=root / "home")
    for v in DEPLOYED:
        ok("deploy", "demo", v, "--environment", "Production", home=root / "home")
    return root


def _copy(built: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A private copy of the zone and its targets; the targets re-added (removed and added, the
    way a target is moved: their roots are recorded as absolute paths) under the copy, w2 as it
    was, w1 not yet (each test adds it as it needs)."""
    shutil.copytree(built, tmp_path / "z")
    home, targets = tmp_path / "z" / "home", tmp_path / "z" / "t"
    own_state(home)
    for name in ("w1", "w2"):
        ok("targets", "remove", name, home=home)
    _add(home, targets, "w2", "Production", "web")
    return home, targets


def _add(home: Path, targets: Path, name: str, environment: str, *roles: str, root: str | None = None) -> None:
    """Add target ``name`` (in a new ``environment`` if need be) with ``roles`` at ``targets/root or name``."""
    ok("targets", "add", name, "--environment", environment, *[a for r in roles for a in ("--role", r)], "--root",
       targets / (root or name), *(["--new"] if environment != "Production" else []), home=home)


def _versions(target: Path) -> list[str]:
    return sorted(p.name for p in (target / "Demo.App").iterdir() if not p.name.startswith("."))


def _archives(target: Path) -> int:
    return sum(1 for _ in (target / ".bundlekit" / "packages").glob("*/*.zip"))


def _on(plan: dict, target: str) -> list[str]:  # type: ignore[type-arg]
    return sorted(r["what"] for r in plan["remove"] if r["target"] == target)


def test_a_target_moved_to_another_environment_keeps_what_it_runs(built: Path, tmp_path: Path) -> None:
    # v33-15a F1: w1 re-registered in Staging lost every version folder, its running 1.0.4 included,
    # even under the default policy (keep every release).
    home, targets = _copy(built, tmp_path)
    _add(home, targets, "w1", "Staging", "web")
    assert _versions(targets / "w1") == list(DEPLOYED) and _archives(targets / "w1") == 4
    before = snapshot(targets)
    plan = ok_json("prune", home=home)  # the default policy: keep every release
    assert plan["remove"] == [] and plan["left"] == []
    assert snapshot(targets) == before
    ok("retention", "set", "--keep", "1", home=home)
    plan = ok_json("prune", "--dry-run", home=home)
    # w1 keeps what was last deployed successfully to it (1.0.4) and the one before (1.0.3)
    assert _on(plan, "w1") == ["w1: Demo.App 1.0.1", "w1: Demo.App 1.0.2", "w1: Demo.App.1.0.1.zip",
                               "w1: Demo.App.1.0.2.zip"]
    done = ok_json("prune", home=home)
    assert done["not_removed"] == [] and _on(done, "w1") == _on(plan, "w1")
    assert _versions(targets / "w1") == ["1.0.3", "1.0.4"] and _archives(targets / "w1") == 2
    assert _versions(targets / "w2") == ["1.0.3", "1.0.4"]


def test_a_target_the_last_releases_skipped_keeps_the_release_it_runs(built: Path, tmp_path: Path) -> None:
    # v33-15a F2: 1.0.6 and 1.0.7 install only on role canary (w1): w2 still runs 1.0.4, which
    # Production's current and previous releases (1.0.7, 1.0.6) do not name, though their smoke
    # test ran on w2 too (the versions a target runs are those its package steps installed).
    home, targets = _copy(built, tmp_path)
    _add(home, targets, "w1", "Production", "web", "canary")
    for v in ("1.0.6", "1.0.7"):
        ok("deploy", "demo", v, "--environment", "Production", home=home)
    ok("retention", "set", "--keep", "1", home=home)
    plan = ok_json("prune", "--dry-run", home=home)
    assert _on(plan, "w2") == ["w2: Demo.App 1.0.1", "w2: Demo.App 1.0.2", "w2: Demo.App.1.0.1.zip",
                               "w2: Demo.App.1.0.2.zip"]
    assert {k["what"]: k["reasons"] for k in plan["kept_on_targets"] if k["target"] == "w2"} == {
        "w2: Demo.App 1.0.4": ["the version last installed successfully on target w2",
                               "one of the last 1 installed on target w2"],
        "w2: Demo.App 1.0.3": ["the one installed successfully on target w2 before it"]}
    text = ok("prune", "--dry-run", home=home)
    assert "w2: Demo.App 1.0.1" in text and "no release kept on w2 (Production) installs it here" in text
    assert "  keep           w2: Demo.App 1.0.4: the version last installed successfully on target w2" in text
    ok("prune", home=home)
    assert _versions(targets / "w2") == ["1.0.3", "1.0.4"] and _archives(targets / "w2") == 2
    assert _versions(targets / "w1") == ["1.0.6", "1.0.7"]


def test_auto_prune_after_a_deployment_keeps_what_each_target_runs(built: Path, tmp_path: Path) -> None:
    # The same two kinds, pruned after each successful deployment (--auto-prune).
    home, targets = _copy(built, tmp_path)
    _add(home, targets, "w1", "Production", "web", "canary")
    ok("retention", "set", "--keep", "1", "--auto-prune", home=home)
    for v in ("1.0.6", "1.0.7"):
        out = ok_json("deploy", "demo", v, "--environment", "Production", home=home)
        assert out["state"] == "Success"
        assert not [r for r in out["pruned"]["remove"] if r["what"] in ("w2: Demo.App 1.0.4", "w2: Demo.App 1.0.3")]
    assert _versions(targets / "w2") == ["1.0.3", "1.0.4"]
    assert _versions(targets / "w1") == ["1.0.6", "1.0.7"]
    # w2 moves to Staging and gets 1.0.5 there: it keeps 1.0.5 and 1.0.4 (its last two), then
    # 1.0.6 and 1.0.5; w1, in Production (not asked after a Staging deployment), keeps its own
    ok("targets", "remove", "w2", home=home)
    _add(home, targets, "w2", "Staging", "web", "canary")
    ok("releases", "create", tmp_path / "z" / "rel-1.0.5.toml", home=home)  # never deployed: its package went
    ok("deploy", "demo", "1.0.5", "--environment", "Staging", home=home)
    assert _versions(targets / "w2") == ["1.0.4", "1.0.5"]
    ok("deploy", "demo", "1.0.6", "--environment", "Staging", home=home)
    assert _versions(targets / "w2") == ["1.0.5", "1.0.6"]
    assert _versions(targets / "w1") == ["1.0.6", "1.0.7"]


def test_under_keep_all_nothing_leaves_a_target(built: Path, tmp_path: Path) -> None:
    # The zone keeps one release per environment; Staging keeps every release: w1, moved there,
    # keeps every version folder it holds while the store lets the old packages go.
    home, targets = _copy(built, tmp_path)
    _add(home, targets, "w1", "Staging", "web")
    ok("retention", "set", "--keep", "1", home=home)
    ok("retention", "set", "--environment", "Staging", "--keep-all", home=home)
    before = snapshot(targets / "w1")
    done = ok_json("prune", home=home)
    assert _on(done, "w1") == [] and snapshot(targets / "w1") == before
    assert {"Demo.App 1.0.1", "Demo.App 1.0.2"} <= {r["what"] for r in done["remove"] if r["kind"] == "package"}
    assert _versions(targets / "w2") == ["1.0.3", "1.0.4"]


def test_a_folder_prune_has_no_record_of_is_left_and_said(built: Path, tmp_path: Path) -> None:
    # w1's folder registered again under another name: no deployment recorded on w3 installed
    # what it holds, so prune cannot tell what runs there and leaves every item, saying so.
    home, targets = _copy(built, tmp_path)
    _add(home, targets, "w3", "Production", "web", root="w1")
    ok("retention", "set", "--keep", "1", home=home)
    before = snapshot(targets / "w1")
    plan = ok_json("prune", home=home)
    assert _on(plan, "w3") == [] and snapshot(targets / "w1") == before
    left = sorted(x["what"] for x in plan["left"])
    assert left == sorted([f"w3: Demo.App {v}" for v in ("1.0.1", "1.0.2")] +
                          [f"w3: Demo.App.{v}.zip" for v in ("1.0.1", "1.0.2")])
    assert all(x["reason"].startswith("no deployment this zone recorded on w3 (Production) installed it; left")
               for x in plan["left"])
    text = bk("prune", "--dry-run", home=home).stdout
    assert "  left           w3: Demo.App 1.0.1: no deployment this zone recorded on w3" in text


def test_a_release_waiting_to_be_deployed_keeps_its_packages(built: Path, tmp_path: Path) -> None:
    # v33-15a F10, v33-15u F8 (decision 911): 1.0.5 .. 1.0.7 came after Production's current 1.0.4
    # and were never deployed; --keep 1 (and an auto-prune after a deployment elsewhere) kept only
    # the newest, and deploying 1.0.6 then needed the package carried across again.
    home, targets = _copy(built, tmp_path)
    _add(home, targets, "w1", "Staging", "web", "canary")
    ok("retention", "set", "--keep", "1", "--auto-prune", home=home)
    plan = ok_json("prune", "--dry-run", home=home)
    kept = {k["version"]: k["reasons"] for k in plan["kept"]}
    assert kept["1.0.5"] == ["never deployed; newer than the current release in Production"]
    assert kept["1.0.6"] == kept["1.0.5"]
    assert "Demo.App 1.0.5" not in {r["what"] for r in plan["remove"]}
    out = ok_json("deploy", "demo", "1.0.7", "--environment", "Staging", home=home)  # and an auto-prune
    assert out["state"] == "Success"
    assert not {"Demo.App 1.0.5", "Demo.App 1.0.6"} & {r["what"] for r in out["pruned"]["remove"]}
    ok("targets", "remove", "w2", home=home)
    _add(home, targets, "w2", "Production", "web", "canary")
    assert ok_json("deploy", "demo", "1.0.6", "--environment", "Production", home=home)["state"] == "Success"
    assert _versions(targets / "w2") == ["1.0.4", "1.0.6"]  # 1.0.3: neither its last two nor kept by a release


def test_a_target_listing_as_much_as_a_bootstrap_ever_lists_is_read_whole(built: Path, tmp_path: Path) -> None:
    """Attack review 38, B3: 2,000 archives of 244-character names in a local target's package
    cache made its inventory line outgrow the 1 MiB the zone read, and prune (and every successful
    deployment under auto-prune) ended in a traceback. The zone now reads what a bootstrap can
    list; prune answers, and leaves what no deployment of its record installed."""
    home, targets = _copy(built, tmp_path)
    _add(home, targets, "w1", "Production", "web")
    cache = targets / "w1" / ".bundlekit" / "packages"
    for n in range(2000):
        folder = cache / f"{n:064x}"
        folder.mkdir(parents=True)
        (folder / (f"{n:04d}" + "a" * 240 + ".zip")).write_bytes(b"")
    plan = ok_json("prune", "--dry-run", home=home)
    # asked and answered: the only word of w1 is that it holds more than one listing (2,004 archives)
    assert [s for s in plan["skipped"] if "w1" in s] == [
        "target w1: holds more than one prune lists; prune again to remove the rest"], plan["skipped"]
    assert bk("prune", "--dry-run", home=home).exit_code == 0
