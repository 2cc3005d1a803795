"""Safe extraction of a deployment package into a folder on a target.

The order is always the same (``docs/decisions/042-safe-package-extraction.md``):

1. open the archive and check every member (``package/archive.py``): any problem refuses
   the whole package before anything is written;
2. extract into a fresh private temporary folder next to ``dest`` (same file system),
   creating each file with ``O_CREAT | O_EXCL | O_NOFOLLOW`` relative to folder
   descriptors opened with ``O_NOFOLLOW``, and counting the bytes actually produced;
3. rename the temporary folder to ``dest``. With ``replace=True`` an existing ``dest`` is
   exchanged with it in one step (Linux ``renameat2(RENAME_EXCHANGE)``: ``dest`` is the old
   folder or the new one, never missing), then the old one, now under the temporary name, is
   deleted; where the exchange is not available the old folder is renamed away first (a kill
   between the two renames leaves it for :func:`sweep_leftovers` to put back). On any failure
   the temporary folder is removed and ``dest`` is as it was.
"""

from __future__ import annotations

import ctypes
import os
import secrets
import stat
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import IO, List, Tuple, Union

from bundlekit.core.atomic import CHUNK, fsync_dir, fsync_tree
from bundlekit.core.progress import Advance, begin
from bundlekit.core.tree import remove_tree
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

__all__ = ["extract_package", "stage_package", "swap_in", "sweep_leftovers", "EXTRACT_MARK", "OLD_MARK"]

#: What names a staging folder, and an old version being replaced (``.<version><mark><random>``).
EXTRACT_MARK = ".extract-"
OLD_MARK = ".old-"


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


def _write_member(root_fd: int, member: _Member, stream: IO[bytes], budget: _Budget, produced: list[int],
                  progress: Advance | None = None) -> None:
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
            if progress:  # by the bytes written: one large file moves its bar too (finding 15.2)
                progress(len(chunk))
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
                _write_member(root_fd, member, stream, budget, produced, progress)
            written.append(member.name)
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
) -> List[str]:
    """Extract ``archive`` to the folder ``dest``; return the relative paths of its files.

    ``progress`` is told the total of the members' sizes (``core.progress.begin``, once the
    archive is checked) and the bytes of each member as it is written.

    :func:`stage_package` then :func:`swap_in`. Refusals are :class:`DeployError` with codes
    ``unsafe_package`` (a member is unsafe or a cap is exceeded), ``unsupported_package``,
    ``package_format_mismatch``, ``corrupt_package``, ``package_unreadable``,
    ``already_deployed`` (``dest`` exists and ``replace`` is false), ``unsafe_destination``
    and ``extract_failed`` (I/O error while writing). After a refusal nothing was written and
    ``dest`` is unchanged. NuGet metadata (``[Content_Types].xml``, ``_rels/``,
    ``package/services/metadata/``, ``*.nuspec``, ``*.nupkg.sha512``) is checked like every
    member but not extracted from a ``.nupkg``.
    """
    staging, files = stage_package(archive, dest, replace=replace, max_total_bytes=max_total_bytes,
                                   max_members=max_members, progress=progress)
    try:
        swap_in(staging, dest, replace=replace)
    finally:
        remove_tree(staging, ignore_errors=True)
    return files


def stage_package(
    archive: Path,
    dest: Path,
    *,
    replace: bool = False,
    max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
    max_members: int = DEFAULT_MAX_MEMBERS,
    progress: Advance | None = None,
) -> Tuple[Path, List[str]]:
    """Extract ``archive`` into a new staging folder next to ``dest``: ``(staging, files)``.

    The staging folder is ``.<dest name>.extract-<random>`` in ``dest``'s parent (same file
    system, so :func:`swap_in` is a rename); the caller may change files in it (substitution)
    before swapping it in, and removes it if it does not. Refusals as :func:`extract_package`;
    after one, nothing is left behind.
    """
    archive = Path(archive)
    dest = Path(dest).absolute()
    budget = _Budget(max_total_bytes, max_members)
    handle, kind = _open_archive(archive)
    with handle:
        _check_destination(dest, replace)
        archive_obj: Union[zipfile.ZipFile, tarfile.TarFile]
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
            return _stage(archive, members, archive_obj, budget, dest, progress)


def _stage(
    archive: Path, members: List[_Member], archive_obj: Union[zipfile.ZipFile, tarfile.TarFile],
    budget: _Budget, dest: Path, progress: Advance | None = None,
) -> Tuple[Path, List[str]]:
    parent = dest.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}{EXTRACT_MARK}", dir=parent))
    except OSError as error:
        raise DeployError(f"cannot prepare {parent} for extraction: {error.strerror}.",
                          code="extract_failed") from None
    try:
        files = _extract_into(staging, members, archive_obj, budget, progress)
        os.chmod(staging, 0o755)
    except _Refusal as problem:
        remove_tree(staging, ignore_errors=True)
        raise _refuse(archive, problem) from None
    except _CORRUPTION as error:
        remove_tree(staging, ignore_errors=True)
        raise _corrupt(archive, error) from None
    except OSError as error:
        remove_tree(staging, ignore_errors=True)
        raise DeployError(
            f"extracting package {archive} to {dest} failed: {error.strerror or error}. "
            "Check free space and permissions.",
            code="extract_failed",
        ) from None
    except BaseException:
        remove_tree(staging, ignore_errors=True)
        raise
    return staging, files


def swap_in(staging: Path, dest: Path, *, replace: bool = True) -> None:
    """Make the complete ``staging`` folder ``dest``: flush it, then rename it into place.

    An existing ``dest`` (only with ``replace``) is first renamed to ``.<name>.old-<random>``
    and deleted afterwards; :func:`sweep_leftovers` finishes the job after a kill in between.
    Raises ``DeployError`` (``already_deployed``, ``unsafe_destination``, ``extract_failed``).
    """
    dest = Path(dest).absolute()
    fsync_tree(Path(staging))  # on disk before the rename makes it visible (decision 432)
    dest_exists = _check_destination(dest, replace)  # narrow the window for a planted link
    try:
        _swap(Path(staging), dest, dest_exists)
    except OSError as error:
        raise DeployError(f"installing {dest} failed: {error.strerror or error}. Check free space and permissions.",
                          code="extract_failed") from None


def sweep_leftovers(parent: Path) -> List[str]:
    """Finish what an interrupted install left in ``parent`` (a package's folder); return what was done.

    A staging folder (``.<v>.extract-*``) is deleted; an old version renamed away
    (``.<v>.old-*``) is renamed back when ``<v>`` is missing (the swap was cut between its two
    renames), else deleted. The caller must hold the lock that installs into ``parent``.
    """
    done: List[str] = []
    try:
        entries = sorted(os.listdir(parent))
    except OSError:
        return done
    for entry in entries:
        path = Path(parent) / entry
        if not entry.startswith(".") or path.is_symlink() or not path.is_dir():
            continue
        if EXTRACT_MARK in entry:
            remove_tree(path, ignore_errors=True)
            done.append(f"removed unfinished extraction {entry}")
        elif OLD_MARK in entry:
            version = entry[1:entry.index(OLD_MARK)]
            live = Path(parent) / version
            if version and not os.path.lexists(live):
                os.rename(path, live)
                done.append(f"restored {version} (an install was cut while swapping)")
            else:
                remove_tree(path, ignore_errors=True)
                done.append(f"removed replaced version {entry}")
    return done


#: ``renameat2`` flag: exchange the two names atomically (Linux 3.15+, glibc 2.28+).
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _renameat2() -> "ctypes._CFuncPtr | None":
    try:
        libc = ctypes.CDLL(None, use_errno=True)  # the C library this process already has (no ldconfig run)
        return getattr(libc, "renameat2", None)
    except (OSError, AttributeError):
        return None


def exchange(a: Path, b: Path) -> bool:
    """Swap the names ``a`` and ``b`` (both existing, same file system) in one atomic step; False
    where the system cannot (not Linux, an old C library, a file system without the flag):
    nothing was changed then. Raises ``OSError`` for any other failure."""
    call = _renameat2()
    if call is None:
        return False
    if call(_AT_FDCWD, os.fsencode(str(a)), _AT_FDCWD, os.fsencode(str(b)), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: the flag is not supported here
        return False
    raise OSError(err, os.strerror(err), str(b))


def _swap(staging: Path, dest: Path, dest_exists: bool) -> None:
    """Make ``staging`` ``dest``: exchanged with an old ``dest`` (then deleted, under the staging
    name), or renamed; without the exchange, an old ``dest`` is renamed away first."""
    parent = dest.parent
    if dest_exists and exchange(staging, dest):
        fsync_dir(parent)
        remove_tree(staging, ignore_errors=True)  # the old version; the sweep ends the job after a kill
        return
    if not dest_exists:
        try:
            os.rename(staging, dest)
        except OSError as error:
            raise DeployError(f"package destination {dest} appeared while extracting ({error.strerror}).",
                              code="already_deployed") from None
        fsync_dir(parent)
        return
    old = parent / f".{dest.name}{OLD_MARK}{secrets.token_hex(8)}"
    os.rename(dest, old)
    try:
        os.rename(staging, dest)
    except OSError:
        os.rename(old, dest)
        raise
    fsync_dir(parent)
    remove_tree(old, ignore_errors=True)
