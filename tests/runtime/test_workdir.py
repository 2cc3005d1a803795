"""The runner's work folder on a target: layout, package cache, locks, and the sweep of leftovers."""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from bundlekit.package.extract import extract_package, stage_package
from bundlekit.runtime.boot import bootstrap_argv
from bundlekit.runtime.files import matching_files, substitute_file
from bundlekit.runtime.workdir import STEP_FOLDER, WorkFolder
from tests.conftest import raises_code, snapshot


def make_zip(path: Path, files: dict[str, bytes]) -> Path:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    path.write_bytes(buffer.getvalue())
    return path


@pytest.fixture
def work(tmp_path: Path) -> WorkFolder:
    folder = WorkFolder(tmp_path / "root")
    folder.prepare()
    return folder


def test_step_folders_are_private_fresh_and_distinct_per_step(work: WorkFolder) -> None:
    first = work.step_folder("deployments-7", "Deploy web")
    other = work.step_folder("deployments-7", "deploy-web")
    assert first != other and first.parent == work.root / STEP_FOLDER / "deployments-7"
    assert first.stat().st_mode & 0o777 == 0o700
    (first / "leftover.txt").write_text("from a previous attempt")
    assert list(work.step_folder("deployments-7", "Deploy web").iterdir()) == []


@pytest.mark.parametrize("deployment_id", ["../escape", "", ".hidden", "a/b"])
def test_unsafe_deployment_ids_are_refused(work: WorkFolder, deployment_id: str) -> None:
    with raises_code("invalid_name"):
        work.step_folder(deployment_id, "Step")
    assert not (work.root / STEP_FOLDER).exists()


@pytest.mark.parametrize("package_id, version", [("../evil", "1.0"), ("ok", ".."), ("a/b", "1"), ("ok", "1 0")])
def test_package_ids_and_versions_cannot_escape_the_work_folder(work: WorkFolder, package_id: str,
                                                                version: str) -> None:
    with raises_code("invalid_name"):
        work.package_folder(package_id, version)


@pytest.mark.parametrize("linked", [STEP_FOLDER, "Acme.Web"])
def test_a_folder_linked_out_of_the_work_folder_is_refused_before_anything_outside_is_touched(
        work: WorkFolder, tmp_path: Path, linked: str) -> None:
    outside = tmp_path / "outside"
    earlier = outside / "Deployments-7"
    earlier.mkdir(parents=True)
    (earlier / "keep.txt").write_text("someone else's")
    (work.root / linked).symlink_to(outside)
    with raises_code("path_outside_target"):
        if linked == STEP_FOLDER:
            work.step_folder("Deployments-7", "Run migrations")
        else:
            work.package_folder("Acme.Web", "1.0.0")
    assert sorted(p.name for p in outside.rglob("*")) == ["Deployments-7", "keep.txt"]


def test_a_package_is_kept_only_if_what_arrived_has_the_announced_sha256(work: WorkFolder) -> None:
    data = b"PK-not-really" * 1000
    good = hashlib.sha256(data).hexdigest()
    work.receive(good, "p.zip", len(data), iter([data[:5000], data[5000:]]))
    assert work.has_archive(good, "p.zip") and work.archive(good, "p.zip").read_bytes() == data
    bad = hashlib.sha256(b"something else").hexdigest()
    with raises_code("package_hash_mismatch"):
        work.receive(bad, "q.zip", len(data), iter([data]))
    assert not work.has_archive(bad, "q.zip")
    assert [p.name for p in work.packages.iterdir()] == [good]  # no partial file left behind


def test_a_held_archive_whose_bytes_changed_is_not_trusted_but_removed_so_the_zone_sends_it_again(
        work: WorkFolder) -> None:
    right = b"PK-the-package-bytes" * 100
    sha = hashlib.sha256(right).hexdigest()
    work.receive(sha, "Acme.Web.1.0.0.zip", len(right), iter([right]))
    assert work.held_archive(sha, "Acme.Web.1.0.0.zip", len(right)) == (True, None)
    path = work.archive(sha, "Acme.Web.1.0.0.zip")
    for evil, said in ((b"EVIL" + right, f"holds {len(right) + 4} bytes, not the package's {len(right)}"),
                       (b"EVIL" + right[4:], "has SHA-256 " + hashlib.sha256(b"EVIL" + right[4:]).hexdigest())):
        path.write_bytes(evil)  # replaced on the target behind the runner's back (same size the second time)
        assert work.held_archive(sha, "Acme.Web.1.0.0.zip", len(right)) == (False, said + (
            f", not the package's {sha}" if said.startswith("has") else ""))
        assert not path.exists()  # removed: the zone sends the package again


def test_a_package_archive_is_hashed_before_a_step_uses_it(work: WorkFolder) -> None:
    right = b"PK-the-package-bytes" * 100
    sha = hashlib.sha256(right).hexdigest()
    work.receive(sha, "a.zip", len(right), iter([right]))
    assert work.verified_archive(sha, "a.zip") == work.archive(sha, "a.zip")
    fresh = WorkFolder(work.root)  # another runner: it did not receive or hash this copy itself
    work.archive(sha, "a.zip").write_bytes(b"EVIL" + right[4:])
    with raises_code("package_hash_mismatch") as caught:
        fresh.verified_archive(sha, "a.zip")
    assert "nothing was installed" in caught.value.message and not work.archive(sha, "a.zip").exists()
    with raises_code("runner_protocol"):
        fresh.verified_archive(sha, "a.zip")


def test_the_sweep_finishes_an_install_cut_between_its_two_renames(work: WorkFolder, tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "v1.zip", {"index.html": b"v1"})
    dest = work.package_folder("Acme.Web", "1.0.0")
    with work.package_lock("Acme.Web"):
        extract_package(archive, dest)
        staging, _ = stage_package(archive, dest, replace=True)  # an unfinished extraction
        os.rename(dest, dest.parent / ".1.0.0.old-0123")  # the live version renamed away, then killed
    done = work.sweep()
    assert (dest / "index.html").read_bytes() == b"v1"  # the last complete version is back
    assert not staging.exists() and sorted(p.name for p in dest.parent.iterdir()) == [".bundlekit.lock", "1.0.0"]
    assert any("restored 1.0.0" in line for line in done) and any("unfinished extraction" in line for line in done)


def test_the_sweep_leaves_what_a_live_runner_holds(work: WorkFolder, tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "v1.zip", {"index.html": b"v1"})
    dest = work.package_folder("Acme.Web", "1.0.0")
    with work.package_lock("Acme.Web"):
        staging, _ = stage_package(archive, dest)
        fd, name = os.open(work.packages / ".incoming-live", os.O_CREAT | os.O_RDWR, 0o600), "x"
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            assert work.sweep() == []  # another runner is installing: nothing of it is touched
            assert staging.exists() and (work.packages / ".incoming-live").exists()
        finally:
            os.close(fd)
    (work.packages / ".incoming-dead").write_bytes(b"half a package")
    assert len(work.sweep()) == 3 and not staging.exists() and list(work.packages.iterdir()) == []
    assert name


def test_the_sweep_removes_variables_files_older_runners_left(work: WorkFolder) -> None:
    leftover = work.root / STEP_FOLDER / "deployments-3" / "migrate-0a1b2c3d" / ".bundlekit-run-x1y2"
    leftover.mkdir(parents=True)
    (leftover / "variables.b64").write_text("c2VjcmV0 c2VjcmV0\n")
    assert work.sweep() and not leftover.exists()


def test_the_sweep_passes_over_a_copy_of_a_package_folder_under_a_name_bundlekit_never_makes(
        work: WorkFolder, tmp_path: Path) -> None:
    """Attack review 38, B2: a step's backup (`cp -a Acme.Web "Acme.Web (old)"`) copied the lock
    file too, and the sweep refused its name as a package id: every deployment to that target
    failed invalid_name. The copy is not bundlekit's: left as it is; the real folder still swept."""
    archive = make_zip(tmp_path / "v1.zip", {"index.html": b"v1"})
    dest = work.package_folder("Acme.Web", "1.0.0")
    with work.package_lock("Acme.Web"):
        extract_package(archive, dest)
    copy = work.root / "Acme.Web (old)"
    copy.mkdir()
    (copy / ".bundlekit.lock").write_bytes(b"")
    (copy / ".1.0.0.old-0123").mkdir()  # what the sweep would remove in a folder of its own
    (dest.parent / ".1.0.0.old-4567").mkdir()
    before = snapshot(copy)
    done = work.sweep()
    assert snapshot(copy) == before
    assert not (dest.parent / ".1.0.0.old-4567").exists() and done and all("(old)" not in line for line in done)

def test_only_regular_files_inside_the_package_are_substituted(tmp_path: Path) -> None:
    folder = tmp_path / "pkg"
    (folder / "config").mkdir(parents=True)
    (folder / "config" / "app.conf").write_text("host=#{Host}\n")
    (folder / "web.conf").write_bytes(b"\xef\xbb\xbfport=#{Port}")
    secret = tmp_path / "outside.conf"
    secret.write_text("#{Host}")
    (folder / "config" / "link.conf").symlink_to(secret)
    found = matching_files(folder, ["config/app.conf", "config/link.conf", "web.conf", "missing.conf"])
    assert [name for name, _ in found] == ["config/app.conf", "web.conf"]
    for _, path in found:
        substitute_file(path, lambda text: text.replace("#{Host}", "db-01").replace("#{Port}", "5432"))
    assert (folder / "config" / "app.conf").read_text() == "host=db-01\n"
    assert (folder / "web.conf").read_bytes() == b"\xef\xbb\xbfport=5432"
    assert secret.read_text() == "#{Host}"


@pytest.mark.parametrize("name", ["../x.conf", "/etc/passwd", "a\\b", ""])
def test_file_names_must_stay_inside_the_package(tmp_path: Path, name: str) -> None:
    with raises_code("invalid_file_pattern"):
        matching_files(tmp_path, [name])


def test_binary_files_are_refused_for_substitution(tmp_path: Path) -> None:
    (tmp_path / "blob.conf").write_bytes(b"\xff\xfe\x00")
    with raises_code("substitution_file_not_text"):
        substitute_file(tmp_path / "blob.conf", str.upper)
    assert (tmp_path / "blob.conf").read_bytes() == b"\xff\xfe\x00"


# ----------------------------------------------------------------------------- prune and inventory


def _installed(work: WorkFolder, tmp_path: Path, version: str, payload: bytes) -> tuple[str, Path]:
    """Acme.Web ``version`` installed as a runner installs it (archive kept, version extracted); its sha256."""
    archive = make_zip(tmp_path / f"Acme.Web.{version}.zip", {"index.html": payload})
    data = archive.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    work.receive(sha, archive.name, len(data), iter([data]))
    dest = work.package_folder("Acme.Web", version)
    with work.package_lock("Acme.Web"):
        extract_package(work.archive(sha, archive.name), dest)
    return sha, dest


def _inventory(work_dir: Path) -> dict[str, object]:
    argv = bootstrap_argv(sys.executable, str(work_dir), "0" * 64, 1, inventory=True)
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert out.returncode == 0 and out.stdout.startswith("BUNDLEKIT-PROBE "), out
    report = json.loads(out.stdout[len("BUNDLEKIT-PROBE "):])
    assert isinstance(report, dict)
    return report


def test_the_inventory_lists_what_runners_installed_with_sizes_and_writes_nothing(work: WorkFolder,
                                                                                  tmp_path: Path) -> None:
    sha, dest = _installed(work, tmp_path, "1.0.0", b"v1" * 500)
    (work.root / "notes").mkdir()  # the operator's own folder: no runner lock, not bundlekit's
    (work.root / "notes" / "1.0").mkdir()
    (work.root / "Acme.Web" / "2.0.0").symlink_to(tmp_path)  # a link is never listed or followed
    work.step_folder("Deployments-4", "Smoke test").joinpath("out.txt").write_bytes(b"x" * 300)
    before = snapshot(work.root)
    found = _inventory(work.root)["inventory"]
    assert snapshot(work.root) == before
    assert found == {"packages": [["Acme.Web", "1.0.0", 1000]],
                     "archives": [[sha, "Acme.Web.1.0.0.zip", work.archive(sha, "Acme.Web.1.0.0.zip").stat().st_size]],
                     "work": [["Deployments-4", 300]], "truncated": False}
    empty = {"packages": [], "archives": [], "work": [], "truncated": False}
    assert _inventory(tmp_path / "never-made")["inventory"] == empty  # no work folder: nothing held, nothing made
    assert not (tmp_path / "never-made").exists()


def test_prune_removes_the_named_versions_archives_and_working_folders_only(work: WorkFolder, tmp_path: Path) -> None:
    old_sha, old = _installed(work, tmp_path, "1.0.0", b"old")
    new_sha, new = _installed(work, tmp_path, "1.1.0", b"new")
    work.step_folder("Deployments-1", "Deploy").joinpath("log").write_text("done")
    work.step_folder("Deployments-2", "Deploy")
    done = work.prune([["Acme.Web", "1.0.0"], ["Acme.Web", "0.9.0"]], [[old_sha, "Acme.Web.1.0.0.zip"]],
                      ["Deployments-1"])
    assert [(k, w) for k, w, _path, _size in done["removed"]] == [
        ("package", "Acme.Web 1.0.0"), ("archive", f"{old_sha}/Acme.Web.1.0.0.zip"), ("work", "Deployments-1")]
    assert done["removed"][0][3] == 3 and done["missing"] == [["package", "Acme.Web 0.9.0"]]
    assert done["busy"] == done["failed"] == []
    assert not old.exists() and not (work.packages / old_sha).exists()
    assert (new / "index.html").read_bytes() == b"new" and work.has_archive(new_sha, "Acme.Web.1.1.0.zip")
    assert sorted(p.name for p in (work.root / STEP_FOLDER).iterdir()) == ["Deployments-2"]


def test_prune_leaves_a_version_a_live_runner_is_installing(work: WorkFolder, tmp_path: Path) -> None:
    _, dest = _installed(work, tmp_path, "1.0.0", b"v1")
    fd = os.open(work.root / "Acme.Web" / ".bundlekit.lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # another runner's install of Acme.Web is under way
        done = work.prune([["Acme.Web", "1.0.0"]], [], [])
    finally:
        os.close(fd)
    assert done["busy"] == [["package", "Acme.Web 1.0.0"]] and done["removed"] == []
    assert (dest / "index.html").exists()


def test_prune_reaches_nothing_outside_the_work_folder_and_goes_on_after_a_bad_item(work: WorkFolder,
                                                                                    tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    (outside / "Deployments-9").mkdir(parents=True)
    (outside / "Deployments-9" / "keep.txt").write_text("someone else's")
    (work.root / STEP_FOLDER).symlink_to(outside)
    _, dest = _installed(work, tmp_path, "1.0.0", b"v1")
    done = work.prune([["../escape", "1"], ["Acme.Web", "1.0.0"]], [["not-a-sha", "x.zip"]], ["Deployments-9"])
    assert [(k, w) for k, w, _why in done["failed"]] == [
        ("package", "../escape 1"), ("archive", "not-a-sha/x.zip"), ("work", "Deployments-9")]
    assert (outside / "Deployments-9" / "keep.txt").read_text() == "someone else's"
    assert [w for _k, w, _p, _s in done["removed"]] == ["Acme.Web 1.0.0"] and not dest.exists()
