"""A target's work folder: everything bundlekit writes on a target lives under it.

Layout (``spec/runner.md``)::

    WORK/.bundlekit/runner/<sha256>.pyz     the step runner, content-addressed
    WORK/.bundlekit/packages/<sha256>/<file name>   package archives, hashed on arrival
    WORK/.bundlekit/packages/.incoming-*    an archive being received (locked by its writer)
    WORK/.bundlekit-work/<deployment>/<step>/   a step's working folder (a script's cwd)
    WORK/<package id>/<version>/            an installed package
    WORK/<package id>/.bundlekit.lock       held while that package id is installed or swept

This module owns that layout, receiving archives, the per-package lock (``fcntl.flock``, so a
killed runner's lock is released by the kernel) and the sweep every runner does when it
starts: unfinished receptions, unfinished extractions and half-swapped versions an
interrupted run left (``docs/decisions/142-runner-leftovers.md``). Nothing secret is ever
written here by bundlekit itself (variables travel through pipes).
Shipped to targets: Python 3.8 or newer.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

from bundlekit.core.atomic import AtomicFile
from bundlekit.core.names import check_name
from bundlekit.core.tree import remove_tree, tree_size
from bundlekit.errors import BundleError, DeployError, VerificationError
from bundlekit.package.extract import sweep_leftovers

__all__ = ["WorkFolder", "STEP_FOLDER", "step_folder_name", "check_component"]

#: Folder under the work folder holding per-deployment step working folders.
STEP_FOLDER = ".bundlekit-work"
_OWN = ".bundlekit"
_LOCK = ".bundlekit.lock"
_INCOMING = ".incoming-"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
#: Scripts' private folders of runners before 0.2 (they held a variables file): swept on sight.
_LEGACY_RUN = ".bundlekit-run-"


def check_component(kind: str, value: object) -> str:
    """``value`` if it can be one folder name (package ids, versions, deployment ids), else DeployError."""
    # Package ids, versions and deployment ids become folder names on the target.
    return check_name(value, what=kind, error=DeployError, code="invalid_name")


def step_folder_name(step: str) -> str:
    """A step's folder: a readable slug plus a hash, so names that slug alike stay distinct."""
    slug = re.sub(r"[^a-z0-9]+", "-", step.lower()).strip("-")[:40] or "step"
    return f"{slug}-{hashlib.sha256(step.encode('utf-8')).hexdigest()[:8]}"


class WorkFolder:
    """The work folder at ``root`` (created if missing, mode 0755 for the folder itself)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(os.path.expanduser(str(root))).absolute()
        #: archive path -> (inode, size, mtime) of a copy this runner received or hashed and found right
        self._verified: Dict[str, Tuple[int, int, int]] = {}

    @property
    def packages(self) -> Path:
        return self.root / _OWN / "packages"

    def prepare(self) -> None:
        """Create the layout; DeployError ``target_workdir_unusable`` when it cannot be written."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self.packages.mkdir(parents=True, exist_ok=True)
            probe = tempfile.NamedTemporaryFile(dir=self.packages, prefix=".probe-")
            probe.close()
        except OSError as error:
            raise DeployError(
                f"the work folder {self.root} cannot be written by this user ({error.strerror}). "
                "Create it and give the target's user write access, or choose another --work-dir.",
                code="target_workdir_unusable",
            ) from None

    def free_bytes(self) -> int:
        info = os.statvfs(self.root)
        return info.f_bavail * info.f_frsize

    def inside(self, path: Path, what: str) -> Path:
        """``path`` resolved, if it stays inside the work folder; else DeployError ``path_outside_target``.

        A link anywhere on the way (``.bundlekit-work``, a package id's folder) that leads out of
        the work folder is refused before anything is created or deleted through it.
        """
        root, resolved = self.root.resolve(), path.resolve()
        if resolved != root and root not in resolved.parents:
            raise DeployError(f"{what} {path} leads outside the work folder {self.root} (to {resolved}, through "
                              "a link); nothing was created or deleted there. Remove the link on the target.",
                              code="path_outside_target")
        return resolved

    # -- package archives -----------------------------------------------------------
    def archive(self, sha256: str, file_name: str) -> Path:
        """Where the archive ``file_name`` with ``sha256`` is kept (its name tells its format)."""
        if not isinstance(sha256, str) or not _SHA256.match(sha256):
            raise DeployError(f"{sha256!r} is not a SHA-256 in hex.", code="runner_protocol")
        return self.packages / sha256 / check_component("package file name", file_name)

    def has_archive(self, sha256: str, file_name: str) -> bool:
        return self.archive(sha256, file_name).is_file()

    def held_archive(self, sha256: str, file_name: str, size: Optional[int] = None) -> Tuple[bool, Optional[str]]:
        """Whether the archive ``file_name`` is held here with ``size`` bytes and ``sha256``:
        ``(True, None)``, ``(False, None)`` when it is not here, or ``(False, why)`` when the copy
        here is not those bytes (it is removed, so the zone sends it again; decision 401)."""
        path = self.archive(sha256, file_name)
        if not path.is_file() or path.is_symlink():
            return False, None
        why = self._mismatch(path, sha256, size)
        if why is None:
            return True, None
        with contextlib.suppress(OSError):
            path.unlink()
        return False, why

    def verified_archive(self, sha256: str, file_name: str) -> Path:
        """The archive ``file_name``, checked to be the bytes of ``sha256`` before it is used.
        Raises DeployError ``runner_protocol`` when it is not here, VerificationError
        ``package_hash_mismatch`` (the copy is removed) when it is not those bytes."""
        path = self.archive(sha256, file_name)
        if not path.is_file() or path.is_symlink():
            raise DeployError(f"package archive {file_name} is not in this target's cache ({path}); the zone must "
                              "send it first.", code="runner_protocol")
        why = self._mismatch(path, sha256, None)
        if why is not None:
            with contextlib.suppress(OSError):
                path.unlink()
            raise VerificationError(f"the package archive {path} on this target {why}; it was removed and nothing "
                                    "was installed. Deploy again: the zone sends it anew.",
                                    code="package_hash_mismatch")
        return path

    def _mismatch(self, path: Path, sha256: str, size: Optional[int]) -> Optional[str]:
        """Why the file at ``path`` is not ``size`` bytes with ``sha256`` (None when it is). A file
        this runner received or hashed, unchanged since (same inode, size and mtime), is not read again."""
        try:
            info = path.stat()
            if size is not None and info.st_size != size:
                return f"holds {info.st_size} bytes, not the package's {size}"
            stamp = (info.st_ino, info.st_size, info.st_mtime_ns)
            if self._verified.get(str(path)) == stamp:
                return None
            digest = hashlib.sha256()
            with open(path, "rb", buffering=0) as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
        except OSError as error:
            return f"cannot be read ({error.strerror})"
        if digest.hexdigest() != sha256:
            return f"has SHA-256 {digest.hexdigest()}, not the package's {sha256}"
        self._verified[str(path)] = stamp
        return None

    def receive(self, sha256: str, file_name: str, size: int, chunks: Iterator[bytes]) -> None:
        """Store an archive from ``chunks`` (exactly ``size`` bytes) if its SHA-256 is ``sha256``.

        Written to a locked ``.incoming-*`` file, hashed as it arrives, renamed into place
        only when complete and right. Raises VerificationError ``package_hash_mismatch``.

        Not fsync'd (decision 432): every runner process hashes a kept archive before its first
        use (:meth:`held_archive`, :meth:`verified_archive`), so a copy a crash cut short is found
        and sent again, never trusted; forcing 100s of MiB to disk on arrival cost more than the
        transfer itself on a busy machine.
        """
        final = self.archive(sha256, file_name)
        out = AtomicFile(final, 0o644, temp_dir=self.packages, prefix=_INCOMING, durable=False)
        try:
            fcntl.flock(out.fileno(), fcntl.LOCK_EX)  # a live transfer: the sweep leaves it alone
            digest = hashlib.sha256()
            received = 0
            for chunk in chunks:
                received += len(chunk)
                if received > size:
                    break
                digest.update(chunk)
                out.write(chunk)
            if received != size or digest.hexdigest() != sha256:
                raise VerificationError(
                    f"the package sent to {self.root} arrived as {received} bytes with SHA-256 "
                    f"{digest.hexdigest()}, not the {size} bytes and SHA-256 {sha256} the zone sent; "
                    "it was discarded. Deploy again.",
                    code="package_hash_mismatch",
                )
            final.parent.mkdir(exist_ok=True)
            out.commit()
            info = final.stat()
            self._verified[str(final)] = (info.st_ino, info.st_size, info.st_mtime_ns)
        finally:
            out.discard()

    # -- installed packages ---------------------------------------------------------------
    def package_folder(self, package_id: str, version: str) -> Path:
        """``WORK/<package id>/<version>``; DeployError ``path_outside_target`` if a link leads it out."""
        folder = self.root / check_component("package id", package_id) / check_component("package version", version)
        self.inside(folder.parent, "package folder")
        return folder

    @contextlib.contextmanager
    def package_lock(self, package_id: str, *, wait: bool = True) -> Iterator[bool]:
        """Hold the lock of ``package_id``'s folder; yields False if ``wait`` is false and it is taken."""
        folder = self.root / check_component("package id", package_id)
        self.inside(folder, "package folder")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(folder / _LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except OSError as error:
            raise DeployError(f"cannot use the package folder {folder} ({error.strerror}): something that is not "
                              "a folder bundlekit made is in the way. Move it aside on the target.",
                              code="extract_failed") from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)

    def step_folder(self, deployment_id: str, step: str) -> Path:
        """A fresh, empty working folder for ``step`` of ``deployment_id`` (a re-run starts clean)."""
        folder = self.root / STEP_FOLDER / check_component("deployment id", deployment_id) / step_folder_name(step)
        self.inside(folder, "working folder")  # before deleting or creating anything: links may lead out
        for attempt in (1, 2):
            try:
                if folder.exists():
                    remove_tree(folder)
                folder.mkdir(parents=True, mode=0o700)
                break
            except FileNotFoundError:
                # The deployment's folder, empty, was removed by another run's end between the two
                # mkdirs (decision 431): make it again, once.
                if attempt == 2:
                    raise DeployError(f"cannot create working folder {folder}: it keeps vanishing.",
                                      code="workdir_unusable") from None
            except OSError as error:
                raise DeployError(f"cannot create working folder {folder}: {error.strerror}.",
                                  code="workdir_unusable") from None
        return folder

    def drop_empty_step_folder(self, folder: Path) -> List[Path]:
        """Remove a step's working ``folder`` (from :meth:`step_folder`) if it is empty, then its
        deployment's folder if that is empty too (decision 431); returns what was removed.

        Only ``rmdir``: a folder holding anything stays (it is the script's, and prune's later), a
        link is never followed or removed, and an error leaves the folder as it is."""
        removed: List[Path] = []
        if Path(folder).parent.parent != self.root / STEP_FOLDER:
            return removed  # not a step's folder of this layout: leave it
        for path in (Path(folder), Path(folder).parent):
            try:
                if path.is_symlink():
                    break
                path.rmdir()
            except OSError:  # not empty, gone, or not ours to remove: prune decides later
                break
            removed.append(path)
        return removed

    # -- prune ---------------------------------------------------------------------------
    def prune(self, packages: List[List[str]], archives: List[List[str]], deployments: List[str]) -> Dict[str, Any]:
        """Remove what the zone's retention let go: installed ``[package id, version]`` folders,
        ``[sha256, file name]`` archives and the working folders of ``deployments``.

        Returns ``{"removed": [[kind, what, path, bytes]], "busy": [[kind, what]], "missing":
        [[kind, what]], "failed": [[kind, what, why]]}`` (kinds ``package``, ``archive``,
        ``work``; ``what`` is ``"<id> <version>"``, ``"<sha256>/<file>"`` or the deployment id). A package version is removed holding its package id's lock, taken without
        waiting: one a live runner is installing is ``busy`` and stays. Names are checked as
        everywhere (DeployError ``invalid_name``, ``runner_protocol``); nothing outside the work
        folder is reached (``path_outside_target``), and links are never followed.
        """
        done: Dict[str, Any] = {"removed": [], "busy": [], "missing": [], "failed": []}

        def remove(kind: str, what: str, path: Path, lock: Optional[str] = None) -> None:
            if path.is_symlink() or not path.exists():
                done["missing"].append([kind, what])
                return
            try:
                with contextlib.ExitStack() as stack:
                    if lock is not None and not stack.enter_context(self.package_lock(lock, wait=False)):
                        done["busy"].append([kind, what])
                        return
                    size = tree_size(path) if path.is_dir() else path.stat().st_size
                    if path.is_dir():
                        remove_tree(path)
                    else:
                        path.unlink()
            except OSError as error:
                done["failed"].append([kind, what, f"{path}: {error.strerror or error}"])
                return
            done["removed"].append([kind, what, str(path), size])

        for package_id, version in packages:
            try:
                folder = self.package_folder(package_id, version)
            except BundleError as error:  # a name that is not one, a link out of the work folder
                done["failed"].append(["package", f"{package_id} {version}", error.message])
                continue
            remove("package", f"{package_id} {version}", folder, lock=package_id)
        for sha256, file_name in archives:
            try:
                path = self.archive(sha256, file_name)
                self.inside(path.parent, "package archive")
            except BundleError as error:
                done["failed"].append(["archive", f"{sha256}/{file_name}", error.message])
                continue
            remove("archive", f"{sha256}/{file_name}", path)
            with contextlib.suppress(OSError):
                path.parent.rmdir()  # the hash's folder, once it holds no other file
        for deployment_id in deployments:
            try:
                folder = self.inside(self.root / STEP_FOLDER / check_component("deployment id", deployment_id),
                                     "working folder")
            except BundleError as error:
                done["failed"].append(["work", str(deployment_id), error.message])
                continue
            remove("work", deployment_id, folder)
        return done

    # -- the sweep ---------------------------------------------------------------------
    def sweep(self) -> List[str]:
        """Finish or remove what interrupted runs left; return one line per thing done."""
        done: List[str] = []
        for entry in _listdir(self.packages):
            if entry.startswith(_INCOMING):
                if _unlink_if_unlocked(self.packages / entry):
                    done.append(f"removed an unfinished package transfer {entry}")
        for entry in _listdir(self.root):
            folder = self.root / entry
            if entry.startswith(".") or folder.is_symlink() or not (folder / _LOCK).is_file():
                continue
            try:
                check_component("package id", entry)
            except BundleError:  # a copy a step made ("Acme.Web (old)"): not a folder of bundlekit's (atk38 B2)
                continue
            with self.package_lock(entry, wait=False) as held:
                if held:
                    done.extend(f"{entry}: {line}" for line in sweep_leftovers(folder))
        done.extend(self._sweep_legacy_run_folders())
        return done

    def _sweep_legacy_run_folders(self) -> List[str]:
        done = []
        base = self.root / STEP_FOLDER
        for deployment in _listdir(base):
            for step in _listdir(base / deployment):
                for entry in _listdir(base / deployment / step):
                    if entry.startswith(_LEGACY_RUN):
                        remove_tree(base / deployment / step / entry, ignore_errors=True)
                        done.append(f"removed a script's private folder left by a killed run in {deployment}/{step}")
        return done


def _listdir(folder: Path) -> List[str]:
    try:
        return sorted(os.listdir(folder))
    except OSError:
        return []


def _unlink_if_unlocked(path: Path) -> bool:
    try:
        fd: Optional[int] = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False
    assert fd is not None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # its writer is alive
        os.unlink(path)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
