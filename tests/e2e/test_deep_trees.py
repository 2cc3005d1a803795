"""Deep packages and deep trees on a target (issue 12, finding "Deep packages"; decision 541).

The attack: a zip nested 2000 folders deep deployed, then the redeploy failed with a
``RecursionError`` traceback while removing the old version. Now a package deeper than 64
folders is refused at the door (export when it reads the package; else the deploy, before
anything is extracted, and again on the redeploy) with a short message that names the step,
the package and the depth; and a tree of any depth that a *script* makes on the target (in the installed
package's folder and in its working folder) is removed by the redeploy's clean-up and by
``prune`` without recursion. Through the real CLI in subprocesses, with real local targets.
"""

from __future__ import annotations

import json
import time
import zipfile
from collections.abc import Iterator

import pytest

from bundlekit.core.clock import EpochSeconds
from bundlekit.core.tree import remove_tree
from bundlekit.export.exporter import export_spec
from bundlekit.export.releasefile import load_release
from bundlekit.zone.home import open_zone

from tests.conftest import run_cli, snapshot
from tests.e2e.world import API_KEY, World, make_world

DEEPEN = '''
[[steps]]
name = "Deepen"
type = "script"
syntax = "python"
roles = ["web"]
script = """
import os
def deepen(top):
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(2000):
        os.mkdir("d", dir_fd=fd)
        child = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = child
    leaf = os.open("leaf.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
    os.write(leaf, b"deep")
    os.close(leaf)
    os.close(fd)
deepen(r"#{Octopus.Action[Deploy web].Output.Package.InstallationDirectoryPath}")
deepen(".")
print("made two trees 2000 folders deep")
"""

'''


@pytest.fixture(scope="module")
def w(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    made = make_world(tmp_path_factory.mktemp("deep"))
    try:
        yield made
    finally:
        remove_tree(made.root)  # pytest's clean-up of old temporary folders recurses: leave no deep tree


def _json(r: object) -> dict:  # type: ignore[type-arg]
    assert "Traceback" not in r.stderr and "RecursionError" not in r.stderr, r.stderr  # type: ignore[attr-defined]
    return json.loads(r.stdout)  # type: ignore[attr-defined,no-any-return]


def test_a_zip_2000_folders_deep_is_refused_at_export_naming_the_depth(w: World) -> None:
    package = w.release_dir / "packages" / "Acme.Web.1.4.0.zip"
    deep = w.root / "deep-release"
    deep.mkdir()
    (deep / "packages").mkdir()
    with zipfile.ZipFile(package) as src, zipfile.ZipFile(deep / "packages" / "Acme.Web.1.4.0.zip", "w") as out:
        for info in src.infolist():
            out.writestr(info, src.read(info))
        out.writestr("/".join(["d"] * 2000) + "/leaf.txt", "deep")
    (deep / "release.toml").write_text((w.release_dir / "release.toml").read_text())
    before = snapshot(w.dev)
    r = run_cli("export", deep / "release.toml", "--to", "prod", "-o", w.root / "deep.bundle", "--json", home=w.dev)
    err = _json(r)["error"]
    # Export lints first (decision 570): the member is a finding under extraction's own code, as lint says.
    assert (r.returncode, err["code"]) == (2, "release_lint_failed"), err
    assert [f["code"] for f in err["details"]] == ["unsafe_package"]
    assert "nested 2001 levels, more than 64 folders deep" in err["message"]
    assert "Acme.Web.1.4.0.zip" in err["message"] and "rebuild the package" in err["message"]
    assert len(err["message"]) < 800  # the 4000-character member name is not repeated whole
    assert snapshot(w.dev) == before and not (w.root / "deep.bundle").exists()


def test_a_zip_2000_folders_deep_that_export_did_not_check_is_refused_by_deploy_and_redeploy(w: World) -> None:
    # `bundlekit export` lints every package and would refuse this one; a source that does not (an
    # older bundlekit, or a program using the library's export_spec, which skips lint) can still send
    # it, so the deploying zone refuses it on its own.
    release = w.root / "deep-unread"
    release.mkdir()
    (release / "packages").mkdir()
    with zipfile.ZipFile(w.release_dir / "packages" / "Acme.Web.1.4.0.zip") as src, \
            zipfile.ZipFile(release / "packages" / "Acme.Web.1.4.0.zip", "w") as out:
        for info in src.infolist():
            out.writestr(info, src.read(info))
        out.writestr("/".join(["d"] * 2000) + "/leaf.txt", "deep")
    text = (w.release_dir / "release.toml").read_text().replace('version = "1.4.0"\nchannel', 'version = "0.9.0"\nchannel')
    text = text.replace('version = "1.4.0"\nfile', 'version = "0.9.0"\nfile')  # a package version of its own
    (release / "release.toml").write_text(text.replace('substitute = ["appsettings.json", "index.html"]\n', ""))
    bundle = w.root / "media" / "deep-unread.bundle"
    refused = run_cli("export", release / "release.toml", "--to", "prod", "-o", bundle, "--json", home=w.dev)
    error = _json(refused)["error"]
    assert (refused.returncode, error["code"]) == (2, "release_lint_failed")
    assert "more than 64 folders deep" in error["message"] and len(error["message"]) < 800  # the name, cut
    with open_zone(w.dev) as dev:
        export_spec(dev, load_release(release / "release.toml"), "prod", bundle, now=EpochSeconds(int(time.time())))
    w.cli("import", bundle, home=w.prod)
    key = run_cli("variables", "set", "acme-web", "Acme.ApiKey", "--sensitive", home=w.prod, input=API_KEY.encode())
    assert key.returncode == 0, key.stderr
    web = w.root / "targets" / "web-01"
    for _ in ("deploy", "redeploy"):
        r = run_cli("deploy", "acme-web", "0.9.0", "--environment", "Production", "--json", home=w.prod)
        err = _json(r)["error"]
        assert (r.returncode, err["code"]) == (5, "unsafe_package"), err
        assert err["message"].startswith("step 'Deploy web': package Acme.Web 0.9.0 refused: member 'd/d/d/")
        assert "nested 2001 levels, more than 64 folders deep" in err["message"] and len(err["message"]) < 800
        assert not (web / "Acme.Web").exists()  # refused before anything was extracted


def test_trees_a_script_made_2000_deep_are_removed_by_the_redeploy_and_by_prune(w: World) -> None:
    path = w.release_dir / "release.toml"
    text = path.read_text()
    path.write_text(text.replace('[[steps]]\nname = "Smoke test"', DEEPEN + '[[steps]]\nname = "Smoke test"', 1))
    w.cli("import", w.export("deepen.bundle"), home=w.prod)
    key = run_cli("variables", "set", "acme-web", "Acme.ApiKey", "--sensitive", home=w.prod, input=API_KEY.encode())
    assert key.returncode == 0, key.stderr
    deploy = ("deploy", "acme-web", "1.4.0", "--environment", "Production", "--json")
    first = _json(run_cli(*deploy, home=w.prod))
    assert first["state"] == "Success", first
    installed = w.root / "targets" / "web-01" / "Acme.Web"
    assert (installed / "1.4.0" / "d" / "d").is_dir()

    again = run_cli(*deploy, home=w.prod)  # replaces 1.4.0: the old folder, 2000 deep, is removed
    assert again.returncode == 0, again.stderr
    assert _json(again)["state"] == "Success"
    assert sorted(p.name for p in installed.iterdir()) == [".bundlekit.lock", "1.4.0"]  # no leftover old version

    # A newer release and a retention of one: prune removes the old runs' working folders, each 2000 deep.
    w.set_version("1.4.0", "1.4.1")
    w.cli("import", w.export("deepen-1.4.1.bundle"), home=w.prod)
    assert _json(run_cli("deploy", "acme-web", "1.4.1", "--environment", "Production", "--json",
                         home=w.prod))["state"] == "Success"
    w.cli("retention", "set", "--keep", "1", home=w.prod)
    pruned = _json(run_cli("prune", "--json", home=w.prod))
    work = w.root / "targets" / "web-01" / ".bundlekit-work"
    left = sorted(p.name for p in work.iterdir())
    assert [first["deployment_id"]] != left and first["deployment_id"] not in left, pruned
    assert pruned.get("failed", []) == [] or all(not f for f in pruned["failed"]), pruned
