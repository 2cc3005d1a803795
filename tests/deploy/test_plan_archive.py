"""read_members: the preflight reads package files in place, with extraction's member checks."""

from __future__ import annotations

import io
import tarfile
import zipfile
from collections.abc import Mapping
from pathlib import Path

import pytest

from bundlekit.package.archive import read_members
from bundlekit.package.extract import extract_package
from bundlekit.runtime.files import matching_files
from tests.conftest import raises_code

FILES = {
    "appsettings.json": "{}",
    "appsettings.Production.json": "{}",
    "config/site.json": '{"a": 1}',
    "config/deep/more.json": "[]",
    "config/readme.txt": "hello",
    ".hidden.json": "{}",
    "App.JSON": "{}",
    "web/index.html": "<h1>#{X}</h1>",
}


def zip_of(path: Path, files: Mapping[str, str | bytes]) -> Path:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    path.write_bytes(buffer.getvalue())
    return path


PATTERN_SETS = [["*.json"], ["**/*.json"], ["config/*"], ["config/**/*.json"], ["web/index.html", "*.txt"],
                ["**/*"], ["./config/site.json"], ["app*.json"]]


@pytest.mark.parametrize("patterns", PATTERN_SETS, ids=[",".join(p) for p in PATTERN_SETS])
def test_patterns_select_exactly_the_files_the_target_would_substitute(tmp_path: Path, patterns: list[str]) -> None:
    archive = zip_of(tmp_path / "p.zip", FILES)
    folder = tmp_path / "root" / "Acme.Web" / "1.0.0"
    extract_package(archive, folder)
    # What Path.glob finds in the extracted folder is what the preflight reads and plans ...
    globbed = sorted({p.relative_to(folder).as_posix() for pattern in patterns for p in folder.glob(pattern)
                      if p.is_file()})
    read = read_members(archive, patterns, 1 << 20)
    assert [name for name, _ in read] == globbed
    # ... and the runner on the target substitutes exactly the files the plan names.
    assert [name for name, _ in matching_files(folder, [name for name, _ in read])] == globbed
    assert all(text == FILES[name] for name, text in read)


def test_a_byte_order_mark_is_dropped_and_tar_gz_is_read_too(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        data = b"\xef\xbb\xbf{\"k\": \"v\"}"
        info = tarfile.TarInfo("appsettings.json")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    path = tmp_path / "p.tar.gz"
    path.write_bytes(buffer.getvalue())
    assert read_members(path, ["*.json"], 100) == [("appsettings.json", '{"k": "v"}')]


def test_an_unsafe_member_anywhere_refuses_the_whole_package_even_when_not_selected(tmp_path: Path) -> None:
    archive = zip_of(tmp_path / "p.zip", {"appsettings.json": "{}", "../escape.txt": "x"})
    with raises_code("unsafe_package") as caught:
        read_members(archive, ["appsettings.json"], 100)
    assert "../escape.txt" in caught.value.message


def test_nuget_metadata_is_not_read_because_it_is_not_extracted(tmp_path: Path) -> None:
    archive = zip_of(tmp_path / "p.nupkg", {"Acme.nuspec": "<x/>", "[Content_Types].xml": "<x/>",
                                            "content.xml": "<y/>"})
    assert [name for name, _ in read_members(archive, ["*.xml", "*.nuspec"], 100)] == ["content.xml"]


def test_limits_text_and_pattern_checks(tmp_path: Path) -> None:
    archive = zip_of(tmp_path / "p.zip", {"big.json": "x" * 101, "bin.json": b"\xff\xfe\x00", "ok.json": "{}"})
    cases = [(["big.json"], "member_too_large"), (["bin.json"], "member_not_text"),
             (["../*.json"], "invalid_file_pattern"), (["/etc/*"], "invalid_file_pattern"),
             (["a\\b"], "invalid_file_pattern")]
    for patterns, code in cases:
        with raises_code(code):
            read_members(archive, patterns, 100)
    assert read_members(archive, ["ok.json"], 100) == [("ok.json", "{}")]


def test_a_file_that_is_not_an_archive_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.zip"
    path.write_bytes(b"not an archive at all")
    with raises_code("unsupported_package"):
        read_members(path, ["*"], 100)
