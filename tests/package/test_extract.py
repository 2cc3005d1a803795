"""Safe package extraction: a corpus of hostile archives, each refused with nothing written."""

from __future__ import annotations

import io
import os
import stat
import tarfile
import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path

import pytest

from bundlekit.package.extract import extract_package
from bundlekit.errors import DeployError
from tests.conftest import raises_code, snapshot

# ----------------------------------------------------------------------------- builders


def zip_bytes(entries: Sequence[tuple[str, bytes] | tuple[str, bytes, int]]) -> bytes:
    """A zip with exactly these member names; an optional third item is the unix mode."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate names we want
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for entry in entries:
                info = zipfile.ZipInfo(entry[0])
                info.compress_type = zipfile.ZIP_DEFLATED
                if len(entry) == 3:
                    info.external_attr = entry[2] << 16
                    info.create_system = 3
                archive.writestr(info, entry[1])
    return buffer.getvalue()


def tar_bytes(members: list[tarfile.TarInfo | tuple[str, bytes]], gz: bool = False) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz" if gz else "w", format=tarfile.PAX_FORMAT) as archive:
        for member in members:
            if isinstance(member, tuple):
                info = tarfile.TarInfo(member[0])
                info.size = len(member[1])
                info.mode = 0o644
                archive.addfile(info, io.BytesIO(member[1]))
            else:
                archive.addfile(member)
    return buffer.getvalue()


def tar_special(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


@pytest.fixture
def area(tmp_path: Path) -> Path:
    """A parent folder with an unrelated file, and an 'outside' folder a link may point to."""
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "other.txt").write_text("unrelated")
    (tmp_path / "outside").mkdir()
    return tmp_path


def refused(area: Path, name: str, data: bytes, code: str, **kwargs: object) -> DeployError:
    archive = area / name
    archive.write_bytes(data)
    before = snapshot(area)
    with raises_code(code) as caught:
        extract_package(archive, area / "deploy" / "app", **kwargs)  # type: ignore[arg-type]
    assert snapshot(area) == before, "a refused package changed the file system"
    return caught.value


# ----------------------------------------------------------------------------- hostile corpus

BAD_NAMES = [
    ("../evil.txt", "'..'"),
    ("app/../../evil.txt", "'..'"),
    ("/tmp/evil.txt", "absolute"),
    ("..\\evil.txt", "backslash"),
    ("dir\\evil.txt", "backslash"),
    ("C:/evil.txt", "drive letter"),
    ("C:evil.txt", "drive letter"),
    ("a/d:x.txt", "drive letter"),
    ("line\nbreak.txt", "control character"),
    ("x" * 256, "longer than 255"),
]


@pytest.mark.parametrize("name, reason", BAD_NAMES)
def test_zip_member_with_unsafe_name_is_refused_before_anything_is_written(area: Path, name: str, reason: str) -> None:
    error = refused(area, "pkg.zip", zip_bytes([("good.txt", b"ok"), (name, b"evil")]), "unsafe_package")
    assert reason in error.message and "pkg.zip" in error.message
    assert error.details["member"] == name


@pytest.mark.parametrize("name, reason", BAD_NAMES)
def test_tar_member_with_unsafe_name_is_refused_before_anything_is_written(area: Path, name: str, reason: str) -> None:
    error = refused(area, "pkg.tar.gz", tar_bytes([("good.txt", b"ok"), (name, b"evil")], gz=True), "unsafe_package")
    assert reason in error.message


def test_zip_member_name_with_nul_is_refused_although_zipfile_hides_it(area: Path) -> None:
    data = zip_bytes([("good.txt", b"ok"), ("evilXsh", b"x")]).replace(b"evilXsh", b"evil\x00sh")
    assert refused(area, "pkg.zip", data, "unsafe_package").details["member"] == "evil\x00sh"


def test_empty_member_names_are_refused(area: Path) -> None:
    refused(area, "pkg.zip", zip_bytes([("", b"x")]), "unsafe_package")
    refused(area, "pkg.tar", tar_bytes([("", b"x")]), "unsafe_package")


def test_zip_symlink_member_is_refused(area: Path) -> None:
    data = zip_bytes([("link", b"../../outside", stat.S_IFLNK | 0o777)])
    assert "symbolic link" in refused(area, "pkg.zip", data, "unsafe_package").message


def test_zip_special_file_member_is_refused(area: Path) -> None:
    data = zip_bytes([("fifo", b"", stat.S_IFIFO | 0o644)])
    assert "special file" in refused(area, "pkg.zip", data, "unsafe_package").message


@pytest.mark.parametrize(
    "kind, words",
    [
        (tarfile.SYMTYPE, "symbolic link"),
        (tarfile.LNKTYPE, "hard link"),
        (tarfile.CHRTYPE, "character device"),
        (tarfile.BLKTYPE, "block device"),
        (tarfile.FIFOTYPE, "FIFO"),
    ],
)
def test_tar_links_devices_and_fifos_are_refused(area: Path, kind: bytes, words: str) -> None:
    data = tar_bytes([("good.txt", b"ok"), tar_special("special", kind, linkname="/etc/passwd")])
    assert words in refused(area, "pkg.tar", data, "unsafe_package").message


def test_symlink_then_file_through_it_is_refused(area: Path) -> None:
    # The classic two-step escape: a link to outside, then a file "through" the link.
    data = tar_bytes([tar_special("out", tarfile.SYMTYPE, str(area / "outside")), ("out/evil.txt", b"x")])
    refused(area, "pkg.tar", data, "unsafe_package")
    assert list((area / "outside").iterdir()) == []


@pytest.mark.parametrize(
    "names, words",
    [
        (["App.config", "app.config"], "collides"),
        (["caf\u00e9.txt", "cafe\u0301.txt"], "collides"),
        (["Dir/a.txt", "dir/b.txt"], "collides"),
        (["same.txt", "same.txt"], "appears twice"),
        (["a", "a/b.txt"], "folder with that name"),
    ],
)
def test_duplicate_and_colliding_members_are_refused(area: Path, names: list[str], words: str) -> None:
    entries = [(name, name.encode()) for name in names]
    assert words in refused(area, "pkg.zip", zip_bytes(entries), "unsafe_package").message
    assert words in refused(area, "pkg.tar", tar_bytes(list(entries)), "unsafe_package").message


def test_zip_bomb_by_declared_size_is_refused(area: Path) -> None:
    data = zip_bytes([("zeros.bin", bytes(2_000_000))])
    assert len(data) < 10_000
    error = refused(area, "bomb.zip", data, "unsafe_package", max_total_bytes=1_000_000)
    assert "declared uncompressed size" in error.message


def test_sizes_of_many_members_add_up_against_the_cap(area: Path) -> None:
    data = zip_bytes([(f"f{i}.bin", bytes(300_000)) for i in range(4)])
    refused(area, "many.zip", data, "unsafe_package", max_total_bytes=1_000_000)


def test_zip_whose_headers_understate_the_real_size_is_refused(area: Path) -> None:
    # Declared 100 bytes, deflated stream really holds 1 MB: zipfile stops at the declared
    # size, the CRC then fails, and the partial file is removed with the staging folder.
    real = bytes(1_000_000)
    data = bytearray(zip_bytes([("lie.bin", real)]))
    size = len(real).to_bytes(4, "little")
    assert data.count(size) == 2  # local header and central directory
    data = bytearray(bytes(data).replace(size, (100).to_bytes(4, "little")))
    refused(area, "lie.zip", bytes(data), "corrupt_package", max_total_bytes=500)


def test_tar_bomb_by_declared_size_is_refused_before_decompressing_it(area: Path) -> None:
    data = tar_bytes([("zeros.bin", bytes(3_000_000))], gz=True)
    refused(area, "bomb.tar.gz", data, "unsafe_package", max_total_bytes=1_000_000)


def test_member_count_cap_is_enforced(area: Path) -> None:
    entries = [(f"f{i}.txt", b"x") for i in range(11)]
    assert "limit of 10 members" in refused(area, "n.zip", zip_bytes(entries), "unsafe_package", max_members=10).message
    refused(area, "n.tar", tar_bytes(list(entries)), "unsafe_package", max_members=10)


def test_nupkg_percent_escapes_are_decoded_before_the_checks(area: Path) -> None:
    data = zip_bytes([("lib/ok.dll", b"x"), ("%2e%2e/evil.txt", b"x")])
    assert refused(area, "pkg.1.0.0.nupkg", data, "unsafe_package").details["member"] == "../evil.txt"


def test_unknown_format_and_misnamed_archives_are_refused(area: Path) -> None:
    refused(area, "pkg.zip", b"not an archive at all" * 40, "unsupported_package")
    refused(area, "pkg.zip", tar_bytes([("a.txt", b"x")], gz=True), "package_format_mismatch")
    refused(area, "pkg.tar.gz", zip_bytes([("a.txt", b"x")]), "package_format_mismatch")


def test_truncated_archives_are_refused_as_corrupt(area: Path) -> None:
    data = tar_bytes([("a.bin", os.urandom(200_000))], gz=True)
    refused(area, "cut.tar.gz", data[: len(data) // 2], "corrupt_package")
    zipped = zip_bytes([("a.bin", os.urandom(50_000))])
    refused(area, "cut.zip", zipped[:-200], "corrupt_package")


def test_a_planted_symlink_at_the_destination_is_never_written_through(area: Path) -> None:
    link = area / "deploy" / "app"
    link.symlink_to(area / "outside")
    good = zip_bytes([("a.txt", b"x")])
    refused(area, "pkg.zip", good, "unsafe_destination")
    refused(area, "pkg.zip", good, "unsafe_destination", replace=True)
    assert list((area / "outside").iterdir()) == []
    assert link.is_symlink()


# ----------------------------------------------------------------------------- good packages


def test_good_zip_extracts_files_folders_and_executable_bits(area: Path) -> None:
    archive = area / "app.zip"
    archive.write_bytes(zip_bytes([
        ("bin/", b"", stat.S_IFDIR | 0o755),
        ("bin/run.sh", b"#!/bin/sh\necho hi\n", stat.S_IFREG | 0o4755),
        ("conf/app.json", b"{}", stat.S_IFREG | 0o644),
        ("./readme.txt", b"hello"),
    ]))
    dest = area / "deploy" / "app"
    files = extract_package(archive, dest)
    assert files == ["bin/run.sh", "conf/app.json", "readme.txt"]
    assert (dest / "bin" / "run.sh").read_bytes() == b"#!/bin/sh\necho hi\n"
    mode = (dest / "bin" / "run.sh").stat().st_mode
    assert mode & stat.S_IXUSR and not mode & stat.S_ISUID
    assert not (dest / "conf" / "app.json").stat().st_mode & stat.S_IXUSR
    assert sorted(p.name for p in (area / "deploy").iterdir()) == ["app", "other.txt"]


class _Told:
    """A progress listener that notes, at each call, how much of the one member is on disk."""

    def __init__(self, file: Path) -> None:
        self.file, self.total, self.calls = file, None, []  # type: ignore[var-annotated]

    def begin(self, label: str, total: int | None) -> None:
        self.total = total

    def __call__(self, n: int) -> None:
        on_disk = sum(p.stat().st_size for p in self.file.parent.glob(".app.extract-*/big.bin"))
        self.calls.append((n, on_disk))


@pytest.mark.parametrize("stored", [True, False])
def test_progress_advances_within_one_large_file_by_the_bytes_written(area: Path, stored: bool) -> None:
    """A package of one 5 MiB file moved its extraction bar from 0 straight to 100% (finding
    15.2): the listener is now told the bytes of each chunk as it is written."""
    payload = os.urandom(5 * 1024 * 1024 + 3)
    archive = area / "one.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED) as z:
        z.writestr("big.bin", payload)
    told = _Told(area / "deploy" / "app")
    extract_package(archive, area / "deploy" / "app", progress=told)
    assert told.total == len(payload)
    assert sum(n for n, _ in told.calls) == len(payload)
    assert len(told.calls) >= 5, told.calls  # one per chunk of the file, not one for the file
    partial = [on_disk for _, on_disk in told.calls if 0 < on_disk < len(payload)]
    assert partial, f"no call came while the file was still being written: {told.calls}"


@pytest.mark.parametrize("name, gz", [("app.tar.gz", True), ("app.tgz", True), ("app.tar", False),
                                      ("app-without-suffix", True)])
def test_good_tar_extracts_in_every_flavour(area: Path, name: str, gz: bool) -> None:
    folder = tarfile.TarInfo("./web")
    folder.type = tarfile.DIRTYPE
    root = tarfile.TarInfo("./")
    root.type = tarfile.DIRTYPE
    payload = os.urandom(3 * 1024 * 1024 + 17)  # more than one copy chunk
    archive = area / name
    archive.write_bytes(tar_bytes([root, folder, ("./web/index.html", b"<h1>hi</h1>"),
                                   ("./web/big.bin", payload), ("./web/héllo wörld.txt", b"u")], gz=gz))
    dest = area / "deploy" / "app"
    assert extract_package(archive, dest) == ["web/index.html", "web/big.bin", "web/héllo wörld.txt"]
    assert (dest / "web" / "big.bin").read_bytes() == payload
    assert (dest / "web" / "héllo wörld.txt").read_bytes() == b"u"


def test_nupkg_metadata_is_skipped_and_escaped_names_are_decoded(area: Path) -> None:
    archive = area / "Acme.Web.1.2.3.nupkg"
    archive.write_bytes(zip_bytes([
        ("[Content_Types].xml", b"<Types/>"),
        ("_rels/.rels", b"<Relationships/>"),
        ("package/services/metadata/core-properties/abc.psmdcp", b"<x/>"),
        ("Acme.Web.nuspec", b"<package/>"),
        ("acme.web.1.2.3.nupkg.sha512", b"hash"),
        ("content/my%20file.txt", b"spaced"),
        ("package/app.dll", b"dll"),
    ]))
    dest = area / "deploy" / "app"
    assert extract_package(archive, dest) == ["content/my file.txt", "package/app.dll"]
    assert sorted(str(p.relative_to(dest)) for p in dest.rglob("*")) == [
        "content", "content/my file.txt", "package", "package/app.dll"]


def test_existing_destination_is_refused_unless_replace_which_swaps_it_whole(area: Path) -> None:
    dest = area / "deploy" / "app"
    v1, v2 = area / "v1.zip", area / "v2.zip"
    v1.write_bytes(zip_bytes([("old-only.txt", b"1"), ("shared.txt", b"v1")]))
    v2.write_bytes(zip_bytes([("shared.txt", b"v2"), ("new-only.txt", b"2")]))
    extract_package(v1, dest)
    before = snapshot(area)
    with raises_code("already_deployed"):
        extract_package(v2, dest)
    assert snapshot(area) == before
    assert extract_package(v2, dest, replace=True) == ["shared.txt", "new-only.txt"]
    assert sorted(p.name for p in dest.iterdir()) == ["new-only.txt", "shared.txt"]
    assert (dest / "shared.txt").read_bytes() == b"v2"
    assert sorted(p.name for p in (area / "deploy").iterdir()) == ["app", "other.txt"]  # no temp leftovers


def test_a_refused_replacement_leaves_the_deployed_folder_untouched(area: Path) -> None:
    dest = area / "deploy" / "app"
    good = area / "good.zip"
    good.write_bytes(zip_bytes([("a.txt", b"keep me")]))
    extract_package(good, dest)
    refused(area, "bad.zip", zip_bytes([("b.txt", b"x"), ("../evil", b"x")]), "unsafe_package", replace=True)
    assert (dest / "a.txt").read_bytes() == b"keep me"


def test_missing_archive_is_a_clear_refusal(area: Path) -> None:
    with raises_code("package_unreadable"):
        extract_package(area / "nope.zip", area / "deploy" / "app")



def test_a_replacement_exchanges_the_folders_so_the_live_name_never_goes_missing(area: Path) -> None:
    from bundlekit.package import extract

    dest = area / "deploy" / "app"
    v1, v2 = area / "v1.zip", area / "v2.zip"
    v1.write_bytes(zip_bytes([("shared.txt", b"v1")]))
    v2.write_bytes(zip_bytes([("shared.txt", b"v2")]))
    extract_package(v1, dest)
    seen: list[bytes] = []
    real = extract.exchange

    def watched(a: Path, b: Path) -> bool:
        done = real(a, b)
        seen.append((dest / "shared.txt").read_bytes())  # right after the one step: the new version, in place
        return done

    extract.exchange = watched  # type: ignore[assignment]
    try:
        extract_package(v2, dest, replace=True)
    finally:
        extract.exchange = real  # type: ignore[assignment]
    assert seen == [b"v2"]
    assert sorted(p.name for p in (area / "deploy").iterdir()) == ["app", "other.txt"]


def test_without_the_exchange_a_replacement_falls_back_to_two_renames(area: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bundlekit.package import extract

    monkeypatch.setattr(extract, "_renameat2", lambda: None)  # as on a system without renameat2
    dest = area / "deploy" / "app"
    v1, v2 = area / "v1.zip", area / "v2.zip"
    v1.write_bytes(zip_bytes([("shared.txt", b"v1")]))
    v2.write_bytes(zip_bytes([("shared.txt", b"v2")]))
    extract_package(v1, dest)
    assert extract.exchange(area / "v1.zip", area / "v2.zip") is False
    extract_package(v2, dest, replace=True)
    assert (dest / "shared.txt").read_bytes() == b"v2"
    assert sorted(p.name for p in (area / "deploy").iterdir()) == ["app", "other.txt"]


def test_the_runner_reports_one_large_files_extraction_in_several_messages(area: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The link to the zone's bar: the runner turns the bytes written into ``progress`` messages
    (spec/runner.md section 5), so the zone's bar moves while one large file is extracted. The
    runner sends at most one message a quarter second; with no pause every chunk is one."""
    from bundlekit.runtime.step import _Progress
    monkeypatch.setattr(_Progress, "EVERY", 0.0)
    payload = os.urandom(4 * 1024 * 1024 + 5)
    archive = area / "one.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as z:
        z.writestr("big.bin", payload)
    sent: list[dict[str, object]] = []
    told = _Progress(sent.append)
    extract_package(archive, area / "deploy" / "app", progress=told)
    told.flush()
    assert sent[0] == {"phase": "extract", "total": len(payload)}
    steps = [m["bytes"] for m in sent[1:]]
    assert len(steps) >= 4 and sum(steps) == len(payload), steps  # type: ignore[arg-type]
