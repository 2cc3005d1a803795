"""Safe extraction of a deployment package into a folder on a target.

The order is always the same (``docs/decisions/042-safe-package-extraction.md``):

1. open the archive and check every member (``package/archive.py``): any problem refuses
   the whole package before anything is written;
2. extract into a fresh private temporary folder next to ``dest`` (same file system),
   creating each file with ``O_CREAT | O_EXCL | O_NOFOLLOW`` relative to folder
   descriptors opened with ``O_NOFOLLOW``, and counting the bytes actually produced;
3. rename the temporary folder to ``dest`` (with ``replace=True`` an existing ``dest`` is
   renamed away first and deleted afterwards). On any failure the temporary folder is
   removed and ``dest`` is as it was.
"""

from __future__ import annotations

import os
import secrets
import shutil
import stat
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import IO

from bundlekit.core.atomic import CHUNK, fsync_dir
from bundlekit.core.progress import Advance, begin
from bundlekit.errors import DeployError
from bundlekit.package.archive import (
    _CORRUPTION,
    DEFAULT_MAX_MEMBERS,
    DEFAULT_MAX_TOTAL_BYTES,
    _Budget,
    _checked_members,
    _corrupt,
    _Member,
    _open_archive,
    _Refusal,
    _refuse,
)

__all__ = ["extract_package"]


# --------------------------------------------------------------------------- writing


def _open_folder(root_fd: int, parts: list[str]) -> int:
    """Open (creating as needed) the folder ``parts`` below ``root_fd``, never via a link."""
    fd = os.dup(root_fd)
    try:
        for part in parts:
            try:
                os.mkdir(part, 0o755, dir_fd=fd)
            except FileExistsError:
                pass
            child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def _write_member(root_fd: int, member: _Member, stream: IO[bytes], budget: _Budget, produced: list[int]) -> None:
    parts = member.name.split("/")
    folder = _open_folder(root_fd, parts[:-1])
    try:
        mode = 0o755 if member.executable else 0o644
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        out = os.fdopen(os.open(parts[-1], flags, mode, dir_fd=folder), "wb")
    finally:
        os.close(folder)
    with out:
        written = 0
        while True:
            chunk = stream.read(CHUNK)
            if not chunk:
                break
            written += len(chunk)
            produced[0] += len(chunk)
            # Count what the decompressor really produces, whatever the headers declared.
            if written > member.size:
                raise _Refusal(member.name, f"expands beyond its declared size of {member.size} bytes")
            if produced[0] > budget.max_total_bytes:
                raise _Refusal(member.name, f"takes the extracted size past the limit of "
                                            f"{budget.max_total_bytes} bytes")
            out.write(chunk)
        if written != member.size:
            raise _Refusal(member.name, f"is shorter than its declared size ({written} of "
                                        f"{member.size} bytes)", code="corrupt_package")


def _extract_into(
    root: Path, members: list[_Member], archive_obj: zipfile.ZipFile | tarfile.TarFile, budget: _Budget,
    progress: Advance | None = None,
) -> list[str]:
    written: list[str] = []
    produced = [0]
    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        for member in members:
            if member.skip:
                continue
            if member.is_dir:
                os.close(_open_folder(root_fd, member.name.split("/")))
                continue
            if isinstance(archive_obj, zipfile.ZipFile):
                assert isinstance(member.ref, zipfile.ZipInfo)
                stream: IO[bytes] = archive_obj.open(member.ref)
            else:
                assert isinstance(member.ref, tarfile.TarInfo)
                extracted = archive_obj.extractfile(member.ref)
                if extracted is None:  # pragma: no cover - only links/devices, refused earlier
                    raise _Refusal(member.name, "is not a regular file")
                stream = extracted
            with stream:
                _write_member(root_fd, member, stream, budget, produced)
            written.append(member.name)
            if progress:
                progress(member.size)
    finally:
        os.close(root_fd)
    return written




def _check_destination(dest: Path, replace: bool) -> bool:
    """Whether ``dest`` exists (a real folder); refuse links, files and unwanted overwrites."""
    if dest.parent == dest:
        raise DeployError(f"cannot extract a package over {dest}.", code="unsafe_destination")
    try:
        info = dest.lstat()
    except (FileNotFoundError, NotADirectoryError):  # absent, or a parent is a file (refused when made)
        return False
    if stat.S_ISLNK(info.st_mode):
        raise DeployError(
            f"package destination {dest} is a symbolic link; refusing to extract through it. "
            "Remove the link and deploy again.",
            code="unsafe_destination",
        )
    if not stat.S_ISDIR(info.st_mode):
        raise DeployError(
            f"package destination {dest} exists and is not a folder. Remove it and deploy again.",
            code="unsafe_destination",
        )
    if not replace:
        raise DeployError(
            f"package destination {dest} already exists. Deploy with replace to overwrite it.",
            code="already_deployed",
        )
    return True



def extract_package(
    archive: Path,
    dest: Path,
    *,
    replace: bool = False,
    max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
    max_members: int = DEFAULT_MAX_MEMBERS,
    progress: Advance | None = None,
) -> list[str]:
    """Extract ``archive`` to the folder ``dest``; return the relative paths of its files.

    ``progress`` is told the total of the members' sizes (``core.progress.begin``, once the
    archive is checked) and the bytes of each member as it is written.

    Refusals are :class:`DeployError` with codes ``unsafe_package`` (a member is unsafe or a
    cap is exceeded), ``unsupported_package``, ``package_format_mismatch``,
    ``corrupt_package``, ``package_unreadable``, ``already_deployed`` (``dest`` exists and
    ``replace`` is false), ``unsafe_destination`` and ``extract_failed`` (I/O error while
    writing). After a refusal nothing was written and ``dest`` is unchanged. NuGet metadata
    (``[Content_Types].xml``, ``_rels/``, ``package/services/metadata/``, ``*.nuspec``,
    ``*.nupkg.sha512``) is checked like every member but not extracted from a ``.nupkg``.
    """
    archive = Path(archive)
    dest = Path(dest).absolute()
    budget = _Budget(max_total_bytes, max_members)
    handle, kind = _open_archive(archive)
    with handle:
        dest_exists = _check_destination(dest, replace)
        archive_obj: zipfile.ZipFile | tarfile.TarFile
        try:
            if kind == "zip":
                archive_obj = zipfile.ZipFile(handle)
            else:
                archive_obj = tarfile.open(fileobj=handle, mode="r:gz" if kind == "tar.gz" else "r:")
        except _CORRUPTION as error:
            raise _corrupt(archive, error) from None
        with archive_obj:
            members = _checked_members(archive, archive_obj, budget)
            begin(progress, archive.name, sum(m.size for m in members if not m.skip))
            return _install(archive, members, archive_obj, budget, dest, dest_exists, progress)


def _install(
    archive: Path, members: list[_Member], archive_obj: zipfile.ZipFile | tarfile.TarFile,
    budget: _Budget, dest: Path, dest_exists: bool, progress: Advance | None = None,
) -> list[str]:
    parent = dest.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.extract-", dir=parent))
    except OSError as error:
        raise DeployError(f"cannot prepare {parent} for extraction: {error.strerror}.",
                          code="extract_failed") from None
    try:
        try:
            files = _extract_into(staging, members, archive_obj, budget, progress)
            os.chmod(staging, 0o755)
            # One flush of everything written before the rename makes it visible (an fsync
            # per file cost ~0.5 ms each, seconds for packages of thousands of files).
            os.sync()
            _check_destination(dest, replace=dest_exists)  # narrow the window for a planted link
            _swap_in(staging, dest, dest_exists)
        except _Refusal as problem:
            raise _refuse(archive, problem) from None
        except _CORRUPTION as error:
            raise _corrupt(archive, error) from None
        except OSError as error:
            raise DeployError(
                f"extracting package {archive} to {dest} failed: {error.strerror or error}. "
                "Check free space and permissions.",
                code="extract_failed",
            ) from None
        return files
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _swap_in(staging: Path, dest: Path, dest_exists: bool) -> None:
    """Rename ``staging`` to ``dest``; an old ``dest`` is renamed away first, then deleted."""
    parent = dest.parent
    if not dest_exists:
        try:
            os.rename(staging, dest)
        except OSError as error:
            raise DeployError(f"package destination {dest} appeared while extracting ({error.strerror}).",
                              code="already_deployed") from None
        fsync_dir(parent)
        return
    old = parent / f".{dest.name}.old-{secrets.token_hex(8)}"
    os.rename(dest, old)
    try:
        os.rename(staging, dest)
    except OSError:
        os.rename(old, dest)
        raise
    fsync_dir(parent)
    shutil.rmtree(old, ignore_errors=True)
