"""The content-addressed package store of a zone, and the staging area imports write into.

``ROOT/sha256/ab/<digest>`` holds package bytes, named by their SHA-256, so the store is a
cache that can only grow by content that was verified: a file lands there only by rename
from staging after its blob passed every check. ``ROOT`` is ``HOME/packages`` (staging in
``HOME/staging``), or a folder every node of a zone mounts (``--package-store``, NFS in
practice; staging in ``ROOT/staging``, the same file system so the rename is atomic).

Publishing is write to a private temporary file, fsync, rename into place, fsync the
folder (decision 183): a reader never sees a partial object under its final name, and two
nodes publishing the same object at once both succeed, leaving one intact copy (the last
rename wins; both wrote the same verified bytes). Readers check the hash of what they read
(:meth:`PackageStore.verify`, and the deploy preflight on every package it uses).

A store every node mounts carries a marker, ``ROOT/bundlekit-store.json`` (``{"zone_id",
"zone"}``), written by ``init``; ``join`` and every command that opens a node's shared store
check it (:func:`check_store`, decision 275), so a node pointed at an empty folder, an
unmounted mount point or another zone's store is refused before it reads or writes anything.

The ``packages`` table (``zone/packages.py``: id, version -> digest) is the state; a crash
between moving a file into the store and committing the transaction leaves an unreferenced
file, harmless and reused on re-run. Each import stages in its own folder named after its
host and process, so a sweep removes only what a process that is gone left behind, never a
running import's files (on this node or another).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import secrets
import socket
import tempfile
from itertools import islice
from pathlib import Path
from typing import Callable, Iterable, NoReturn

from bundlekit.core.hints import home_flag
from bundlekit.core import clock
from bundlekit.core.atomic import CHUNK, AtomicFile, commit_all, fsync_dir, write_atomic
from bundlekit.core.tree import remove_tree
from bundlekit.errors import StateError, VerificationError

__all__ = ["PackageStore", "Staging", "STALE_STAGING", "stale_staging", "MARKER", "mark_store", "check_new_store",
           "check_store"]

#: Seconds after which a staging folder of another host is considered abandoned.
STALE_STAGING = 7 * 86400


class PackageStore:
    """The store under ``root`` (objects in ``root/sha256``); imports stage in ``staging``."""

    def __init__(self, root: Path, staging: Path | None = None) -> None:
        self.base = root
        self.root = root / "sha256"
        self.staging = staging if staging is not None else root / "staging"

    def path(self, digest: str) -> Path:
        return self.root / digest[:2] / digest

    def has(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def verify(self, digest: str) -> Path:
        """The object's path after streaming it through SHA-256.

        Raises ``VerificationError`` ``package_hash_mismatch`` when the bytes are not
        ``digest`` (damaged on the shared storage), ``StateError`` ``package_missing``-like
        errors are the caller's: a missing object raises ``FileNotFoundError``.
        """
        path = self.path(digest)
        h = hashlib.sha256()
        with open(path, "rb") as f:
            while chunk := f.read(CHUNK):
                h.update(chunk)
        if h.hexdigest() != digest:
            raise VerificationError(f"{path}: the package store's copy does not match its SHA-256; the store was "
                                    f"damaged. Import the release's bundle again (`bundlekit import BUNDLE{home_flag()}`): it restores the copy (in the "
                                    "zone that authored the release, remove this file and run there: `bundlekit releases create "
                                    "RELEASE_FILE`: it copies the package file into a store that lacks it)",
                                    code="package_hash_mismatch")
        return path


#: The file in a shared store's root that names the zone it belongs to.
MARKER = "bundlekit-store.json"


def mark_store(root: Path, zone_id: str, zone_name: str) -> None:
    """Write ``root``'s marker: this folder is zone ``zone_id``'s package store."""
    write_atomic(root / MARKER, (json.dumps({"zone_id": zone_id, "zone": zone_name}, indent=2) + "\n").encode())
    fsync_dir(root)


def _marker(root: Path, where: str) -> dict[str, str] | None:
    """The marker's fields, None when there is none; ``store_unavailable`` when the folder cannot be read."""
    try:
        text = (root / MARKER).read_text("utf-8")
    except FileNotFoundError:
        if root.is_dir():
            return None
        raise StateError(f"{root} ({where}): the package store folder does not exist. Mount the zone's shared "
                         "package store there (the folder the zone's other nodes use), or fix the setting; nothing "
                         "was read or written", code="store_unavailable") from None
    except OSError as error:
        reason = error.strerror or str(error)
        raise StateError(f"{root} ({where}): this node cannot read the package store folder ({reason}). Fix the "
                         "mount or its permissions for the user bundlekit runs as; nothing was read or written",
                         code="store_unavailable") from None
    try:
        data = json.loads(text)
        return {"zone_id": str(data["zone_id"]), "zone": str(data.get("zone", ""))}
    except (ValueError, KeyError, TypeError):
        raise StateError(f"{root / MARKER}: damaged package store marker (JSON with the zone_id of the store's "
                         "zone expected)", code="store_mismatch") from None


def check_new_store(root: Path, where: str) -> None:
    """Refuse a folder for a new zone's package store that is not empty or missing (``store_mismatch``)."""
    if not root.exists():
        return
    found = _marker(root, where)
    if found is not None:
        raise StateError(f"{root} ({where}): already the package store of zone {found['zone'] or found['zone_id']!r} "
                         f"({found['zone_id']}); give a new or empty folder for the new zone's packages",
                         code="store_mismatch")
    if any(root.iterdir()):
        raise StateError(f"{root} ({where}): the folder is not empty and is no package store; give a new or empty "
                         "folder for the new zone's packages", code="store_mismatch")


def check_store(root: Path, zone_id: str, zone_name: str, *, where: str, listed: Callable[[], Iterable[str]],
                holds_objects: bool = False) -> None:
    """Refuse a package store folder that is not zone ``zone_id``'s (decision 275).

    ``where`` names the setting or option the folder came from; ``listed`` gives digests the
    zone's state records. Raises ``StateError`` ``store_unavailable`` (missing or unreadable:
    not mounted, permissions) and ``store_mismatch`` (another zone's marker, or no marker).
    A folder without a marker that holds packages the state records is a store made before
    stores were marked: it is marked and accepted. With ``holds_objects`` (``join``), a marked
    folder must also hold at least one of the first 200 objects the state records, when it
    records any (decision 316): a copied marker over an empty folder is refused.
    """
    found = _marker(root, where)
    if found is not None:
        if found["zone_id"] != zone_id:
            raise StateError(f"{root} ({where}): this is the package store of zone "
                             f"{found['zone'] or found['zone_id']!r} ({found['zone_id']}), not of zone {zone_name!r} "
                             f"({zone_id}). Give the folder zone {zone_name}'s other nodes use (their "
                             "BUNDLEKIT_PACKAGE_STORE); nothing was read or written", code="store_mismatch")
        if holds_objects:
            sample = list(islice(listed(), 200))
            store = PackageStore(root)
            if sample and not any(store.has(d) for d in sample):
                raise StateError(f"{root} ({where}): the folder is marked as zone {zone_name!r}'s package store but "
                                 f"holds none of the {len(sample)} package object(s) checked that the zone's state "
                                 "records (a copied marker, or a stale or partial copy of the store). Give the folder "
                                 "the zone's other nodes use (their BUNDLEKIT_PACKAGE_STORE), mounted on this machine; "
                                 "nothing was written", code="store_mismatch")
        return
    store = PackageStore(root)
    sample = list(islice(listed(), 200))
    if any(store.has(d) for d in sample):
        try:
            mark_store(root, zone_id, zone_name)
        except OSError:
            pass  # a read-only store still serves reads; the next node that can write marks it
        return
    hint = ""
    if not sample:
        hint = (f" (A store made by a bundlekit before stores were marked that holds no package yet: write "
                f'{{"zone_id": "{zone_id}"}} into {root / MARKER}.)')
    held = f" and none of the {len(sample)} package object(s) checked that the zone's state records" if sample else ""
    raise StateError(f"{root} ({where}): this folder is not zone {zone_name!r}'s package store: it has no "
                     f"{MARKER}{held} (an empty folder, or a mount point with nothing mounted). Give the folder the zone's "
                     "other nodes use (their BUNDLEKIT_PACKAGE_STORE), mounted on this machine; nothing was read or "
                     f"written.{hint}", code="store_mismatch")


def _node_prefix() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Staging:
    """Blobs being verified are written here, then moved into the store only when all passed.

    ``check_only`` (a dry run: nothing is ever committed): when the home refuses the staging folder
    (a read-only home, an auditor's account), the blobs are checked in a private folder of the
    system's temporary folder instead (finding selfatk 7: a dry run needs no write access)."""

    def __init__(self, store: PackageStore, *, check_only: bool = False) -> None:
        self.base = store.staging
        self.store = store
        self.check_only = check_only
        self.dir: Path | None = None
        self._files: dict[str, AtomicFile] = {}
        self._pending: list[AtomicFile] = []

    def _open(self, final: Path | None, prefix: str) -> AtomicFile:
        try:
            if self.dir is None:
                self.dir = self._own_folder()
            return AtomicFile(final, 0o644, temp_dir=self.dir, prefix=prefix, bulk=True)
        except OSError as error:
            self._refused(error)

    def _writer(self, out: AtomicFile) -> Callable[[bytes], object]:
        def write(data: bytes) -> object:
            try:
                return out.write(data)
            except OSError as error:
                self._refused(error)

        return write

    def sink_for(self, digest: str) -> Callable[[bytes], object] | None:
        """A writer for the bytes with SHA-256 ``digest``, or ``None`` when the store or this
        staging already holds them (one bundle may carry the same bytes in two roles: an
        included package and a rebuilt one, decision 300)."""
        if self.store.has(digest) or digest in self._files:
            return None
        out = self._open(self.store.path(digest), f"{digest}.")
        self._files[digest] = out
        return self._writer(out)

    def holds(self, digest: str) -> bool:
        """Whether this staging holds the bytes with SHA-256 ``digest`` (its commit moves them into
        the store); False for bytes it left to the store's copy (:meth:`sink_for`, :meth:`adopt`)."""
        return digest in self._files

    def pending(self) -> Callable[[bytes], object]:
        """A writer for a staged file whose digest is not known yet (written while it is hashed);
        :meth:`adopt` names it once the digest is known, else :meth:`cleanup` removes it."""
        out = self._open(None, "pending.")
        self._pending.append(out)
        return self._writer(out)

    def adopt(self, digest: str) -> None:
        """The oldest :meth:`pending` file holds the bytes with SHA-256 ``digest``: commit moves
        it into the store, unless the store or this staging already has them (then it is dropped)."""
        out = self._pending.pop(0)
        if self.store.has(digest) or digest in self._files:
            out.discard()
            return
        out.path = self.store.path(digest)
        self._files[digest] = out

    def _own_folder(self) -> Path:
        """This import's staging folder. Another import that just finished may remove the empty
        shared ``staging`` folder between our creating it and our folder inside it: try again."""
        folder = self.base / f"{_node_prefix()}{secrets.token_hex(6)}"
        for attempt in range(10):
            try:
                folder.mkdir(parents=True)
                return folder
            except FileNotFoundError:
                if attempt == 9:
                    raise
            except OSError as error:
                if not self.check_only or error.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
                    raise
                return Path(tempfile.mkdtemp(prefix="bundlekit-dry-run-"))
        raise AssertionError("unreachable")

    def _refused(self, error: OSError) -> NoReturn:
        raise StateError(f"{self.store.base}: the package store refused a write ({error.strerror or error}); "
                         "nothing was changed. Free space or fix the store's permissions, then run the command again",
                         code="store_write_failed") from None

    def sync(self) -> None:
        """fsync every staged blob now (:meth:`commit` then only renames: it can run under the write lock)."""
        try:
            for out in self._files.values():
                out.sync()
        except OSError as error:
            self._refused(error)

    def commit(self) -> list[str]:
        """fsync every staged blob, then move them all into the store; returns the digests moved."""
        if self.check_only:
            raise RuntimeError("a check-only staging (a dry run) is never committed")
        try:
            commit_all(list(self._files.values()))
        except OSError as error:
            self._refused(error)
        moved = list(self._files)
        self._files.clear()
        return moved

    def cleanup(self) -> None:
        for out in [*self._files.values(), *self._pending]:
            out.discard()
        self._files.clear()
        self._pending.clear()
        if self.dir is not None:
            remove_tree(self.dir, ignore_errors=True)
            self.dir = None
        try:
            self.base.rmdir()
        except OSError:
            pass

    @staticmethod
    def sweep(store: PackageStore) -> None:
        """Remove what interrupted imports left in staging (:func:`stale_staging`)."""
        for entry, _why in stale_staging(store, clock.now()):
            remove_tree(entry, ignore_errors=True)
        try:
            store.staging.rmdir()
        except OSError:
            pass


def stale_staging(store: PackageStore, now: clock.EpochSeconds) -> list[tuple[Path, str]]:
    """The staging folders of ``store`` that interrupted imports left, each with why, sorted:
    folders of processes of this host that are gone, folders of other hosts untouched for
    :data:`STALE_STAGING` seconds before ``now``, and folders named by an older bundlekit
    (before per-process names). A running import's folder, on this node or another, is never
    listed. Links are never listed."""
    try:
        entries = sorted(store.staging.iterdir())
    except OSError:
        return []
    host = socket.gethostname()
    out: list[tuple[Path, str]] = []
    for entry in entries:
        if entry.is_symlink() or not entry.is_dir():
            continue
        owner = entry.name.rpartition("-")[0]
        node, _, pid = owner.rpartition("-")
        if not owner:
            out.append((entry, "an import's staging folder named by an older bundlekit"))
        elif node == host and pid.isdigit():
            if not _alive(int(pid)):
                out.append((entry, f"an import's staging folder; its process ({pid} on {host}) has ended"))
        else:
            try:
                idle = now - entry.stat().st_mtime
            except OSError:
                continue
            if idle > STALE_STAGING:
                out.append((entry, f"an import's staging folder of node {node or owner}, untouched for "
                                   f"{int(idle // 86400)} days"))
    return out
