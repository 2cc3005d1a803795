"""Deployment package archives (zip, nupkg, tar, tar.gz): opening, member checks, reading in place.

This module owns deciding whether an archive is safe to use: it detects the format from the
first bytes (the file name must not contradict them), reads the whole member list and
checks every member (names, types, duplicates, collisions on case-insensitive or
Unicode-normalising file systems, member count and declared sizes) and refuses the whole
package on any problem. It never relies on ``tarfile``'s or ``zipfile``'s own protections.
Export (scanning substituted files) and the deploy preflight read members in place through
:func:`read_members`; ``package/extract.py`` turns a checked archive into a folder
(``docs/decisions/042-safe-package-extraction.md``). Names starting with ``_`` are shared
with ``extract.py`` and ``survey.py`` only.
"""

from __future__ import annotations

import fnmatch
import gzip
import lzma
import stat
import tarfile
import urllib.parse
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO

from bundlekit.core.atomic import CHUNK
from bundlekit.core.names import check_path, fold, normalise_path, path_problem, quoted
from bundlekit.package.textfiles import decode_text
from bundlekit.errors import DeployError

__all__ = ["read_members", "member_matches", "DEFAULT_MAX_TOTAL_BYTES", "DEFAULT_MAX_MEMBERS"]

#: Default cap on the sum of uncompressed member sizes (declared and actual).
DEFAULT_MAX_TOTAL_BYTES = 8 << 30
#: Default cap on the number of members (files and folders).
DEFAULT_MAX_MEMBERS = 100_000
_ZIP_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
_TAR_FILE_TYPES = {tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE}
_TAR_TYPE_NAMES = {
    tarfile.SYMTYPE: "a symbolic link",
    tarfile.LNKTYPE: "a hard link",
    tarfile.CHRTYPE: "a character device",
    tarfile.BLKTYPE: "a block device",
    tarfile.FIFOTYPE: "a FIFO (named pipe)",
    tarfile.GNUTYPE_SPARSE: "a sparse file",
}
_SUFFIX_FORMATS = {".zip": "zip", ".nupkg": "zip", ".tar.gz": "tar.gz", ".tgz": "tar.gz", ".tar": "tar"}
# NuGet packaging metadata that Octopus does not deploy (prefixes and exact names, lower case).
_NUPKG_SKIP_PREFIXES = ("_rels/", "package/services/metadata/")
_NUPKG_SKIP_NAMES = ("[content_types].xml",)
_NUPKG_SKIP_SUFFIXES = (".nupkg.sha512", ".nuspec")


@dataclass(frozen=True)
class _Member:
    """One checked archive member: ``name`` is a normalised relative POSIX path."""

    name: str
    is_dir: bool
    size: int
    executable: bool
    skip: bool
    ref: zipfile.ZipInfo | tarfile.TarInfo


class _Refusal(Exception):
    """A member problem, turned into a DeployError naming the archive by the caller."""

    def __init__(self, member: str, reason: str, code: str = "unsafe_package") -> None:
        super().__init__(reason)
        self.member = member
        self.reason = reason
        self.code = code


def _refuse(archive: Path, problem: _Refusal, shown: str | None = None) -> DeployError:
    return DeployError(
        f"{shown or f'package {archive}'} refused: member {quoted(problem.member)} {problem.reason}. "
        "Nothing was extracted; rebuild the package without this entry.",
        code=problem.code,
        details={"archive": str(archive), "member": problem.member, "reason": problem.reason},
    )


# --------------------------------------------------------------------------- member checks


def _safe_name(raw: str) -> str:
    """The normalised relative path of a member name, or a _Refusal saying why it is unsafe.

    The rules are :mod:`bundlekit.core.names`'s for relative paths; ``.`` components and a
    ``./`` prefix are normalised away. Returns "" for an entry naming the package root itself
    (``./``), which is skipped.
    """
    problem = path_problem(raw, normalise=True)
    if problem:
        raise _Refusal(raw, problem)
    return normalise_path(raw)


def _check_layout(members: list[_Member], problems: list[_Refusal] | None = None) -> None:
    """Refuse duplicates, spelling collisions and file/folder clashes among all members.

    With ``problems`` every clash is appended there instead of raising the first."""
    def refuse(problem: _Refusal) -> None:
        if problems is None:
            raise problem
        problems.append(problem)

    spelled: dict[str, str] = {}  # folded path -> the spelling seen first
    files: dict[str, str] = {}
    folders: dict[str, str] = {}  # folded folder path (explicit or implied) -> spelling
    for member in members:
        folded = fold(member.name)
        if folded in spelled:
            other = spelled[folded]
            if other == member.name:
                refuse(_Refusal(member.name, "appears twice in the package"))
            else:
                refuse(_Refusal(
                    member.name,
                    f"collides with member {other!r} on case-insensitive or Unicode-normalising "
                    "file systems (Windows, macOS)",
                ))
            continue
        spelled[folded] = member.name
        (folders if member.is_dir else files)[folded] = member.name
        parts = member.name.split("/")
        for depth in range(1, len(parts)):
            prefix = "/".join(parts[:depth])
            folded_prefix = fold(prefix)
            seen = folders.setdefault(folded_prefix, prefix)
            if seen != prefix:
                refuse(_Refusal(
                    member.name,
                    f"uses folder {prefix!r}, which collides with {seen!r} on case-insensitive "
                    "or Unicode-normalising file systems",
                ))
                break
    for folded, name in files.items():
        if folded in folders:
            refuse(_Refusal(name, "is a file, but other members need a folder with that name"))


def _nupkg_skipped(name: str, is_dir: bool) -> bool:
    lowered = name.lower()
    if is_dir:
        # A folder entry on the way to (or inside) skipped metadata is not created either.
        folder = lowered + "/"
        return any(folder.startswith(p) or p.startswith(folder) for p in _NUPKG_SKIP_PREFIXES)
    return (
        lowered.startswith(_NUPKG_SKIP_PREFIXES)
        or lowered in _NUPKG_SKIP_NAMES
        or lowered.endswith(_NUPKG_SKIP_SUFFIXES)
    )


class _Budget:
    def __init__(self, max_total_bytes: int, max_members: int) -> None:
        self.max_total_bytes = max_total_bytes
        self.max_members = max_members
        self.members = 0
        self.declared = 0

    def count(self, name: str, size: int) -> None:
        self.members += 1
        if self.members > self.max_members:
            raise _Refusal(name, f"is beyond the limit of {self.max_members} members per package")
        if size < 0:
            raise _Refusal(name, "declares a negative size")
        self.declared += size
        if self.declared > self.max_total_bytes:
            raise _Refusal(
                name,
                f"takes the declared uncompressed size past the limit of {self.max_total_bytes} bytes",
            )


def _zip_members(zf: zipfile.ZipFile, nupkg: bool, budget: _Budget,
                 problems: list[_Refusal] | None = None) -> list[_Member]:
    members: list[_Member] = []
    for info in zf.infolist():
        # orig_filename: zipfile silently cuts ``filename`` at a NUL byte.
        budget.count(info.orig_filename, info.file_size)  # past a limit, nothing more is read
        try:
            member = _zip_member(info, nupkg)
        except _Refusal as problem:
            if problems is None:
                raise
            problems.append(problem)
            continue
        if member is not None:
            members.append(member)
    return members


def _zip_member(info: zipfile.ZipInfo, nupkg: bool) -> _Member | None:
    """One zip entry checked (None: the package root itself); raises _Refusal."""
    raw = info.orig_filename
    if nupkg and "%" in raw:
        try:
            raw = urllib.parse.unquote(raw, errors="strict")
        except UnicodeDecodeError:
            pass  # not an escape NuGet wrote; the name is checked as it stands
    name = _safe_name(raw)
    if info.flag_bits & 0x1:
        raise _Refusal(raw, "is encrypted", code="unsupported_package")
    if info.compress_type not in _ZIP_METHODS:
        raise _Refusal(raw, f"uses unsupported compression method {info.compress_type}",
                       code="unsupported_package")
    unix_mode = info.external_attr >> 16
    kind = stat.S_IFMT(unix_mode)
    if kind == stat.S_IFLNK:
        raise _Refusal(raw, "is a symbolic link")
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise _Refusal(raw, "is a special file (device, FIFO or socket)")
    is_dir = raw.endswith("/") or kind == stat.S_IFDIR
    if is_dir and info.file_size:
        raise _Refusal(raw, "is a folder entry that carries data")
    if name == "":
        if not is_dir:
            raise _Refusal(raw, "has an empty name")
        return None
    skip = nupkg and _nupkg_skipped(name, is_dir)
    return _Member(name, is_dir, info.file_size, bool(unix_mode & 0o100), skip, info)


def _tar_members(tf: tarfile.TarFile, budget: _Budget, problems: list[_Refusal] | None = None) -> list[_Member]:
    members: list[_Member] = []
    while True:
        info = tf.next()
        if info is None:
            return members
        budget.count(info.name, info.size if info.type in _TAR_FILE_TYPES else 0)
        try:
            member = _tar_member(info)
        except _Refusal as problem:
            if problems is None:
                raise
            problems.append(problem)
            continue
        if member is not None:
            members.append(member)


def _tar_member(info: tarfile.TarInfo) -> _Member | None:
    """One tar entry checked (None: the package root itself); raises _Refusal."""
    raw = info.name
    name = _safe_name(raw)
    if info.type in _TAR_TYPE_NAMES:
        raise _Refusal(raw, f"is {_TAR_TYPE_NAMES[info.type]}")
    if info.type not in _TAR_FILE_TYPES and info.type != tarfile.DIRTYPE:
        raise _Refusal(raw, f"has unsupported tar member type {info.type!r}")
    is_dir = info.type == tarfile.DIRTYPE
    if name == "":
        if not is_dir:
            raise _Refusal(raw, "has an empty name")
        return None
    return _Member(name, is_dir, 0 if is_dir else info.size, bool(info.mode & 0o100), False, info)


# --------------------------------------------------------------------------- opening


def _detect(archive: Path, head: bytes) -> str:
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        kind = "zip"
    elif head[:2] == b"\x1f\x8b":
        kind = "tar.gz"
    elif head[257:262] == b"ustar":
        kind = "tar"
    else:
        raise DeployError(
            f"package {archive} is not a zip, nupkg, tar or tar.gz archive (unrecognised first "
            "bytes). Repackage it in one of these formats.",
            code="unsupported_package",
        )
    lowered = archive.name.lower()
    for suffix, claimed in _SUFFIX_FORMATS.items():
        if lowered.endswith(suffix) and claimed != kind:
            raise DeployError(
                f"package {archive} is named like a {claimed} archive but its content is a {kind} "
                "archive. Rename or rebuild it so the name matches the format.",
                code="package_format_mismatch",
            )
    return kind


def _corrupt(archive: Path, error: BaseException, shown: str | None = None) -> DeployError:
    return DeployError(
        f"{shown or f'package {archive}'} is damaged or truncated ({error}). Copy it again from its source.",
        code="corrupt_package",
    )


# What a damaged archive raises from zipfile, tarfile and the decompressors. ValueError is
# here because a hostile archive must never surface as a bare ValueError.
_CORRUPTION = (
    zipfile.BadZipFile, tarfile.TarError, zlib.error, lzma.LZMAError, gzip.BadGzipFile, EOFError, ValueError,
)


def _checked_members(archive: Path, archive_obj: zipfile.ZipFile | tarfile.TarFile, budget: _Budget,
                     shown: str | None = None) -> list[_Member]:
    """Every member of an open archive, each checked; any problem refuses the whole package
    (named ``shown`` in the message, else by its path)."""
    try:
        if isinstance(archive_obj, zipfile.ZipFile):
            members = _zip_members(archive_obj, archive.name.lower().endswith(".nupkg"), budget)
        else:
            members = _tar_members(archive_obj, budget)
        _check_layout(members)
    except _Refusal as problem:
        raise _refuse(archive, problem, shown) from None
    except _CORRUPTION as error:
        raise _corrupt(archive, error, shown) from None
    except OSError as error:
        raise DeployError(f"cannot read package {archive}: {error.strerror or error}.",
                          code="package_unreadable") from None
    return members


# --------------------------------------------------------------------------- reading in place


def _pattern_parts(pattern: str) -> list[str]:
    path = check_path(pattern, what="file pattern", glob=True, normalise=True, error=DeployError,
                      code="invalid_file_pattern")
    return path.split("/") if path else []


def _glob_match(parts: list[str], names: list[str]) -> bool:
    """``pathlib.Path.glob`` semantics on a file path: case-sensitive, ``**`` = any folders.

    ``parts`` are the pattern's ``/``-separated parts, ``names`` the member path's. A ``**``
    stands for zero or more leading folders but never for the file name itself, so a pattern
    ending in ``**`` matches no member. Runs in O(len(parts) x len(names)) name tests: the
    positions in ``names`` the pattern can have reached are kept as one set per part, instead
    of trying every split of every ``**`` (which grew exponentially with the number of ``**``).
    """
    count = len(names)
    reached = {0}
    for part in parts:
        if not reached:
            return False
        if part == "**":
            reached = set(range(min(reached), count))
        else:
            reached = {at + 1 for at in reached
                       if at < count and fnmatch.fnmatchcase(names[at], part)}
    return count in reached


def member_matches(name: str, patterns: Sequence[str]) -> bool:
    """Whether the member path ``name`` matches one of ``patterns`` (as :func:`read_members` does)."""
    parts = name.split("/")
    return any(_glob_match(_pattern_parts(pattern), parts) for pattern in patterns)


def _open_archive(archive: Path) -> tuple[BinaryIO, str]:
    """Open a package for reading and detect its kind from its first bytes."""
    try:
        handle: BinaryIO = open(archive, "rb")
    except OSError as error:
        raise DeployError(f"cannot read package {archive}: {error.strerror}.",
                          code="package_unreadable") from None
    try:
        kind = _detect(archive, handle.read(512))
    except BaseException:
        handle.close()
        raise
    handle.seek(0)
    return handle, kind


def read_members(archive: Path, patterns: Sequence[str], max_bytes: int,
                 shown: str | None = None) -> list[tuple[str, str]]:
    """The text of every file member matching ``patterns``, read without extracting anything.

    The archive gets the same checks as :func:`extract_package` (one unsafe member refuses
    the whole package), so a member read here is exactly the file extraction would write.
    Patterns match like ``Path.glob`` on the extracted folder. Returns ``(relative path,
    text)`` sorted by path, decoded as :func:`~bundlekit.package.textfiles.decode_text` does (UTF-8, or
    UTF-16/UTF-32 with a byte order mark; the mark is dropped). A matching member larger
    than ``max_bytes`` is ``member_too_large``; one that is not UTF-8 is ``member_not_text``.
    ``shown`` names the package in refusals (``step 'Deploy web': package Acme.Web 1.4.0``)
    instead of its path, which in a zone's store says nothing.
    """
    compiled = [_pattern_parts(pattern) for pattern in patterns]
    archive = Path(archive)
    budget = _Budget(DEFAULT_MAX_TOTAL_BYTES, DEFAULT_MAX_MEMBERS)
    handle, kind = _open_archive(archive)
    with handle:
        try:
            archive_obj: zipfile.ZipFile | tarfile.TarFile
            if kind == "zip":
                archive_obj = zipfile.ZipFile(handle)
            else:
                archive_obj = tarfile.open(fileobj=handle, mode="r:gz" if kind == "tar.gz" else "r:")
            with archive_obj:
                members = _checked_members(archive, archive_obj, budget, shown)
                wanted = [m for m in members if not m.is_dir and not m.skip
                          and any(_glob_match(parts, m.name.split("/")) for parts in compiled)]
                return sorted((m.name, _member_text(archive, archive_obj, m, max_bytes)) for m in wanted)
        except _Refusal as problem:
            raise _refuse(archive, problem, shown) from None
        except _CORRUPTION as error:
            raise _corrupt(archive, error, shown) from None
        except OSError as error:
            raise DeployError(f"cannot read package {archive}: {error.strerror or error}.",
                              code="package_unreadable") from None


def _member_text(archive: Path, archive_obj: zipfile.ZipFile | tarfile.TarFile, member: _Member,
                 max_bytes: int) -> str:
    if member.size > max_bytes:
        raise DeployError(
            f"package {archive}: member {member.name!r} is {member.size} bytes, above the "
            f"{max_bytes}-byte limit for files read for substitution.",
            code="member_too_large", details={"archive": str(archive), "member": member.name},
        )
    if isinstance(archive_obj, zipfile.ZipFile):
        assert isinstance(member.ref, zipfile.ZipInfo)
        stream: IO[bytes] | None = archive_obj.open(member.ref)
    else:
        assert isinstance(member.ref, tarfile.TarInfo)
        stream = archive_obj.extractfile(member.ref)
    if stream is None:  # pragma: no cover - only links/devices, refused by the member checks
        raise _Refusal(member.name, "is not a regular file")
    data = bytearray()
    with stream:
        while chunk := stream.read(CHUNK):
            data += chunk
            # Count what the decompressor produces, whatever the header declared.
            if len(data) > member.size:
                raise _Refusal(member.name, f"expands beyond its declared size of {member.size} bytes")
    if len(data) != member.size:
        raise _Refusal(member.name, f"is shorter than its declared size ({len(data)} of {member.size} bytes)",
                       code="corrupt_package")
    try:
        return decode_text(bytes(data))[0]
    except UnicodeDecodeError:
        raise DeployError(
            f"package {archive}: member {member.name!r} is not text (UTF-8, or UTF-16/UTF-32 with a byte order "
            "mark), so variables cannot be substituted in it. Remove it from the step's substitution patterns.",
            code="member_not_text", details={"archive": str(archive), "member": member.name},
        ) from None

