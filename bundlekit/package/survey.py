"""Every problem a deploy would refuse a package for, at once (for ``bundlekit lint``).

Extraction and :func:`~bundlekit.package.archive.read_members` stop at the first unsafe member;
the development zone wants them all. The checks are ``archive.py``'s own (the per-member
checks and the layout check, run in collecting mode), never a second copy of them.
"""

from __future__ import annotations

import tarfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bundlekit.errors import DeployError
from bundlekit.package.archive import (
    _CORRUPTION,
    DEFAULT_MAX_MEMBERS,
    DEFAULT_MAX_TOTAL_BYTES,
    _Budget,
    _check_layout,
    _corrupt,
    _glob_match,
    _member_text,
    _open_archive,
    _pattern_parts,
    _Refusal,
    _tar_members,
    _zip_members,
)

__all__ = ["survey_package", "PackageSurvey", "MemberProblem"]


@dataclass(frozen=True)
class MemberProblem:
    """Why deployment would refuse one member: ``code`` is the refusal's error code."""

    member: str
    reason: str
    code: str


@dataclass(frozen=True)
class PackageSurvey:
    """What :func:`survey_package` found: ``files`` (every file member a deploy would write, as
    normalised relative paths), ``problems`` (every member a deploy would refuse the package
    for, in archive order) and ``texts`` (``(path, text)`` of the files matching the patterns
    that could be read as text)."""

    files: tuple[str, ...]
    problems: tuple[MemberProblem, ...]
    texts: tuple[tuple[str, str], ...]


def survey_package(archive: Path, patterns: Sequence[str], max_bytes: int) -> PackageSurvey:
    """Every problem extraction would refuse ``archive`` for, instead of the first one.

    The member checks are the ones :func:`read_members` and extraction run (this module's,
    not a copy): names (traversal, absolute paths), types (links, devices), duplicates and
    collisions, limits. Files matching ``patterns`` are read as :func:`read_members` reads
    them; one too large or not text is a problem too (``member_too_large``,
    ``member_not_text``). Raises ``DeployError`` only for the archive as a whole:
    ``unsupported_package``, ``package_format_mismatch``, ``corrupt_package``,
    ``package_unreadable``, ``invalid_file_pattern``.
    """
    compiled = [_pattern_parts(pattern) for pattern in patterns]
    archive = Path(archive)
    budget = _Budget(DEFAULT_MAX_TOTAL_BYTES, DEFAULT_MAX_MEMBERS)
    problems: list[_Refusal] = []
    handle, kind = _open_archive(archive)
    with handle:
        try:
            archive_obj: zipfile.ZipFile | tarfile.TarFile
            if kind == "zip":
                archive_obj = zipfile.ZipFile(handle)
            else:
                archive_obj = tarfile.open(fileobj=handle, mode="r:gz" if kind == "tar.gz" else "r:")
            with archive_obj:
                try:
                    if isinstance(archive_obj, zipfile.ZipFile):
                        members = _zip_members(archive_obj, archive.name.lower().endswith(".nupkg"), budget,
                                               problems)
                    else:
                        members = _tar_members(archive_obj, budget, problems)
                except _Refusal as over:  # a limit: nothing past it is read
                    problems.append(over)
                    return PackageSurvey((), tuple(_problem(p) for p in problems), ())
                _check_layout(members, problems)
                files = [m for m in members if not m.is_dir and not m.skip]
                texts: list[tuple[str, str]] = []
                found: list[MemberProblem] = []
                for m in sorted(files, key=lambda m: m.name):
                    if not any(_glob_match(parts, m.name.split("/")) for parts in compiled):
                        continue
                    try:
                        texts.append((m.name, _member_text(archive, archive_obj, m, max_bytes)))
                    except _Refusal as problem:
                        problems.append(problem)
                    except DeployError as error:
                        found.append(MemberProblem(m.name, error.message, error.code))
        except _CORRUPTION as error:
            raise _corrupt(archive, error) from None
        except OSError as error:
            raise DeployError(f"cannot read package {archive}: {error.strerror or error}.",
                              code="package_unreadable") from None
    return PackageSurvey(tuple(sorted(m.name for m in files)), tuple(_problem(p) for p in problems) + tuple(found),
                         tuple(texts))


def _problem(refusal: _Refusal) -> MemberProblem:
    return MemberProblem(refusal.member, refusal.reason, refusal.code)

