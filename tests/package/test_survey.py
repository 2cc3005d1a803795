"""Every member problem of a package at once, found by the checks extraction runs (for lint)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from bundlekit.package.archive import read_members
from bundlekit.package.extract import extract_package
from bundlekit.package.survey import MemberProblem, survey_package
from tests.conftest import raises_code
from tests.package.test_extract import zip_bytes


def test_a_package_with_several_unsafe_members_reports_each_with_extractions_own_reason(tmp_path: Path) -> None:
    package = tmp_path / "p.zip"
    package.write_bytes(zip_bytes([("ok.txt", b"fine"), ("../up.txt", b"x"), ("link", b"../../etc", stat.S_IFLNK | 0o777),
                                   ("Dup.txt", b"a"), ("dup.txt", b"b"), ("fifo", b"", stat.S_IFIFO | 0o600)]))
    survey = survey_package(package, [], 1 << 20)
    assert [(p.member, p.code) for p in survey.problems] == [
        ("../up.txt", "unsafe_package"), ("link", "unsafe_package"), ("fifo", "unsafe_package"),
        ("dup.txt", "unsafe_package")]
    assert survey.problems[1].reason == "is a symbolic link"
    assert "collides with member 'Dup.txt'" in survey.problems[3].reason
    assert survey.files == ("Dup.txt", "dup.txt", "ok.txt")  # every file member its own checks let through
    # extraction stops at the first, for the same reason
    with raises_code("unsafe_package") as refused:
        extract_package(package, tmp_path / "out")
    assert (refused.value.details["member"], refused.value.details["reason"]) == (
        survey.problems[0].member, survey.problems[0].reason)
    assert not (tmp_path / "out").exists()


def test_matching_files_are_read_as_read_members_reads_them_and_one_not_text_is_a_problem(tmp_path: Path) -> None:
    package = tmp_path / "p.zip"
    package.write_bytes(zip_bytes([("a.json", b'{"k": "#{V}"}'), ("b.json", b"\xff\xfe\x00"), ("c.txt", b"x")]))
    survey = survey_package(package, ["*.json"], 1 << 20)
    assert survey.texts == (("a.json", '{"k": "#{V}"}'),)
    assert survey.problems == (MemberProblem("b.json", survey.problems[0].reason, "member_not_text"),)
    with raises_code("member_not_text"):
        read_members(package, ["*.json"], 1 << 20)


@pytest.mark.parametrize("data, code", [(b"not an archive" * 40, "unsupported_package"),
                                        (zip_bytes([("a", os.urandom(4000))])[:300], "corrupt_package")])
def test_a_package_that_is_no_archive_is_refused_as_a_whole(tmp_path: Path, data: bytes, code: str) -> None:
    package = tmp_path / "p.zip"
    package.write_bytes(data)
    with raises_code(code):
        survey_package(package, [], 1 << 20)
