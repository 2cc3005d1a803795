"""LocalFolderTarget: the engine's view of a machine, backed by a real folder."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from bundlekit.deploy.masking import Masker
from bundlekit.deploy.targets import WORK_FOLDER, LocalFolderTarget, Target
from tests.conftest import raises_code


def make_zip(path: Path, files: dict[str, bytes]) -> Path:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    path.write_bytes(buffer.getvalue())
    return path


@pytest.fixture
def target(tmp_path: Path) -> LocalFolderTarget:
    return LocalFolderTarget("web-01", "Production", frozenset({"Web", "api"}), tmp_path / "root")


def test_identity_is_validated_and_roles_match_case_insensitively(tmp_path: Path) -> None:
    target = LocalFolderTarget("web-01", "Production", {"Web"}, tmp_path)  # type: ignore[arg-type]
    assert isinstance(target, Target) and target.roles == frozenset({"Web"})
    assert target.has_role(["db", "WEB"]) and not target.has_role(["db"])
    for bad in ({"name": ""}, {"environment": " "}, {"roles": {""}}):
        arguments = {"name": "n", "environment": "e", "roles": frozenset({"r"}), "root": tmp_path} | bad
        with raises_code("invalid_target"):
            LocalFolderTarget(**arguments)  # type: ignore[arg-type]


def test_workdirs_are_private_fresh_and_distinct_per_step(target: LocalFolderTarget) -> None:
    first = target.prepare_workdir("Deploy web", "deployments-7")
    other = target.prepare_workdir("deploy-web", "deployments-7")
    assert first != other
    assert first.parent == target.root / WORK_FOLDER / "deployments-7"
    assert first.stat().st_mode & 0o777 == 0o700
    (first / "leftover.txt").write_text("from a previous attempt")
    assert list(target.prepare_workdir("Deploy web", "deployments-7").iterdir()) == []


@pytest.mark.parametrize("deployment_id", ["../escape", "", ".hidden", "a/b"])
def test_unsafe_deployment_ids_are_refused(target: LocalFolderTarget, deployment_id: str) -> None:
    with raises_code("invalid_name"):
        target.prepare_workdir("Step", deployment_id)
    assert not target.root.exists()


def test_packages_install_under_root_id_version_with_replace(target: LocalFolderTarget, tmp_path: Path) -> None:
    v1 = make_zip(tmp_path / "v1.zip", {"index.html": b"v1"})
    v1b = make_zip(tmp_path / "v1b.zip", {"index.html": b"v1 rebuilt"})
    dest = target.install_package(v1, "Acme.Web", "1.0.0")
    assert dest == target.root / "Acme.Web" / "1.0.0"
    assert (dest / "index.html").read_bytes() == b"v1"
    with raises_code("already_deployed"):
        target.install_package(v1b, "Acme.Web", "1.0.0")
    target.install_package(v1b, "Acme.Web", "1.0.0", replace=True)
    assert (dest / "index.html").read_bytes() == b"v1 rebuilt"


@pytest.mark.parametrize("package_id, version", [("../evil", "1.0"), ("ok", ".."), ("a/b", "1"), ("ok", "1 0")])
def test_package_ids_and_versions_cannot_escape_the_root(target: LocalFolderTarget, tmp_path: Path,
                                                         package_id: str, version: str) -> None:
    archive = make_zip(tmp_path / "p.zip", {"a.txt": b"x"})
    with raises_code("invalid_name"):
        target.install_package(archive, package_id, version)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.zip"]


def test_scripts_run_in_a_workdir_inside_the_target_only(target: LocalFolderTarget, tmp_path: Path) -> None:
    workdir = target.prepare_workdir("Configure", "deployments-1")
    result = target.run_script("bash", "pwd; set_octopusvariable Where here", workdir=workdir,
                               variables={}, masker=Masker())
    assert result.state == "Success" and result.log.splitlines()[0] == str(workdir)
    assert [o.name for o in result.outputs] == ["Where"]
    with raises_code("path_outside_target"):
        target.run_script("bash", "true", workdir=tmp_path / "elsewhere", variables={}, masker=Masker())
    assert not (tmp_path / "elsewhere").exists()


def test_substitute_files_renders_matching_text_files_only(target: LocalFolderTarget, tmp_path: Path) -> None:
    folder = target.root / "Acme.Web" / "1.0.0"
    (folder / "config").mkdir(parents=True)
    (folder / "config" / "app.conf").write_text("host=#{Host}\n")
    (folder / "config" / "keep.txt").write_text("host=#{Host}\n")
    (folder / "web.conf").write_bytes(b"\xef\xbb\xbfport=#{Port}")
    secret = tmp_path / "outside.conf"
    secret.write_text("#{Host}")
    (folder / "config" / "link.conf").symlink_to(secret)
    done = target.substitute_files(folder, ["config/*.conf", "**/web.conf"],
                                   lambda text: text.replace("#{Host}", "db-01").replace("#{Port}", "5432"))
    assert done == ["config/app.conf", "web.conf"]
    assert (folder / "config" / "app.conf").read_text() == "host=db-01\n"
    assert (folder / "config" / "keep.txt").read_text() == "host=#{Host}\n"
    assert (folder / "web.conf").read_bytes() == b"\xef\xbb\xbfport=5432"
    assert secret.read_text() == "#{Host}"


@pytest.mark.parametrize("pattern", ["../*.conf", "/etc/*.conf", "a\\b", ""])
def test_file_patterns_must_stay_inside_the_folder(target: LocalFolderTarget, pattern: str) -> None:
    folder = target.root / "pkg"
    folder.mkdir(parents=True)
    with raises_code("invalid_file_pattern"):
        target.substitute_files(folder, [pattern], str.upper)


def test_binary_files_are_refused_for_substitution(target: LocalFolderTarget) -> None:
    folder = target.root / "pkg"
    folder.mkdir(parents=True)
    (folder / "blob.conf").write_bytes(b"\xff\xfe\x00")
    with raises_code("substitution_file_not_text"):
        target.substitute_files(folder, ["*.conf"], str.upper)
    assert (folder / "blob.conf").read_bytes() == b"\xff\xfe\x00"


def test_json_configuration_is_applied_per_matching_file(target: LocalFolderTarget) -> None:
    folder = target.root / "pkg"
    folder.mkdir(parents=True)
    (folder / "appsettings.json").write_text('{"Db": {"Host": "dev"}}')
    (folder / "other.json").write_text('{"Unrelated": 1}')
    assert target.replace_structured_config(folder, [("appsettings.json", "json"), ("other.json", "json")],
                                            {"db:host": "prod"}) == {"appsettings.json": ["Db:Host"], "other.json": []}
    assert json.loads((folder / "appsettings.json").read_text()) == {"Db": {"Host": "prod"}}


def test_operations_on_folders_outside_the_target_are_refused(target: LocalFolderTarget, tmp_path: Path) -> None:
    (tmp_path / "outside").mkdir()
    with raises_code("path_outside_target"):
        target.replace_structured_config(tmp_path / "outside", [("a.json", "json")], {})


def test_a_work_folder_linked_out_of_the_target_is_refused_before_anything_outside_is_touched(
        target: LocalFolderTarget, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    earlier = outside / "Deployments-7"
    earlier.mkdir(parents=True)
    (earlier / "keep.txt").write_text("someone else's")
    target.root.mkdir()
    (target.root / WORK_FOLDER).symlink_to(outside)
    with raises_code("path_outside_target"):
        target.prepare_workdir("Run migrations", "Deployments-7")
    assert sorted(p.name for p in outside.rglob("*")) == ["Deployments-7", "keep.txt"]
