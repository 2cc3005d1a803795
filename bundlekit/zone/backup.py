"""`zone backup` and `zone restore`: a whole zone home in one encrypted, verified file (decision 581).

What a backup holds: every folder and regular file of the home (keys as they are on disk,
protected or not; ``zone.json``; ``bundlekit.conf``; the package store ``packages/``; the
outbox; ...), with ``state.db`` replaced by a consistent copy taken with SQLite's backup API.
Left out: the state's journal files, ``staging/`` (half-received packages), ``keys.swap/``
(``zone/keyfiles.py``) and ``self/`` (bundlekit's own installations: not relocatable, decision 952); links and special files are skipped and listed, and so are the
packages the copied state lists whose object is not in the home's store (removed before, or by
a prune while the backup ran: run it again after the prune). A zone whose state is
in PostgreSQL is refused (``backup_unsupported``): its state is not in the home.

Restore checks everything before the home is touched: the clear header names the backup's
zone (another zone's home is refused, ``backup_zone_mismatch``, before any passphrase is
asked), then the whole file is opened and written into a private folder beside the home, where
every file's digest, the zone file, the key files and the state (``PRAGMA integrity_check``, the
zone id it records) are checked. Only then does one rename put it in place: into a new or empty
home, or with ``replace`` by exchanging it with the existing home, which is kept beside it as
``HOME.replaced-<time>``. A restore killed before that rename leaves the home as it was; the
private folder (``.NAME.restore-*``) is removed by the next restore.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from bundlekit.core.atomic import AtomicFile, TempFolder, fsync_dir, fsync_tree
from bundlekit.core.clock import EpochSeconds
from bundlekit.core.files import open_regular
from bundlekit.core.tree import remove_tree
from bundlekit.errors import BundleError, InputError, StateError, VerificationError
from bundlekit.format.backup import BackupHeader, BackupReader, BackupWriter, check_path, keys_for, read_header
from bundlekit.format.passphrase import ProtectedKey, is_protected, new_kdf
from bundlekit.zone.audit import note
from bundlekit.zone.home import Zone, open_zone
from bundlekit.zone.keyfiles import SWAP, exchange_folders
from bundlekit.zone.outputs import refuse_in_home
from bundlekit.zone.sqlite import SQLiteDatabase, check_database, copy_database

__all__ = ["BackupResult", "RestoreResult", "backup_zone", "restore_zone", "peek_backup", "restore_leftovers",
           "leftover_message", "check_backup_path"]

#: Entries of the home never put in a backup (the state goes in as a consistent copy instead).
#: bundlekit's own installations (``HOME/self``, self-update): virtual environments name their own
#: folder in every script, so a copy elsewhere would run the original home's (decision 952).
SELF = "self"
_SKIP = {"state.db", "state.db-wal", "state.db-shm", "state.db-journal", "staging", SWAP,
         ".bundlekit-replaced-by-restore", SELF}
#: Said by backup and restore about ``HOME/self`` (decision 952).
SELF_NOTE = ("bundlekit's own installations (HOME/self, made by self-update) are never in a backup: a virtual "
             "environment runs only from the folder it was made in. After a restore, run `bundlekit self-update "
             "BUNDLE --home HOME` with the bundlekit bundle the zone imported to install it there again")


@dataclass(frozen=True, slots=True)
class BackupResult:
    path: str
    zone: str
    zone_id: str
    files: int
    bytes: int
    skipped: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    #: Folders of the home left out on purpose (``self``: :data:`SELF_NOTE`).
    left_out: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "zone": self.zone, "zone_id": self.zone_id, "files": self.files,
                "bytes": self.bytes, "skipped": list(self.skipped), "missing_packages": list(self.missing),
                "left_out": list(self.left_out)}


@dataclass(frozen=True, slots=True)
class RestoreResult:
    home: str
    zone: str
    zone_id: str
    made: int
    files: int
    replaced: str | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"home": self.home, "zone": self.zone, "zone_id": self.zone_id, "made": self.made,
                "files": self.files, "replaced": self.replaced, "notes": list(self.notes)}


def backup_zone(zone: Zone, out: Path, passphrase: bytes, now: EpochSeconds) -> BackupResult:
    """Write the backup of ``zone`` to ``out`` (a new file: ``file_exists`` otherwise; outside any
    zone's home: ``output_in_home`` otherwise, decision 942), encrypted under ``passphrase``. Raises ``backup_unsupported`` for a PostgreSQL state and the state's
    and the file system's errors; on any of them ``out`` is not created."""
    if zone.settings.state is not None:
        raise StateError(f"{zone.home}: the zone's state is in PostgreSQL ({zone.settings.state.masked}), not in the "
                         "home, so a home backup cannot hold it; back the database up with pg_dump and each node's "
                         "home folder with the file system's tools", code="backup_unsupported")
    check_backup_path(zone, out)
    home = zone.home
    kdf = new_kdf()
    payload, check = keys_for(passphrase, kdf)
    header = BackupHeader(zone.zone_id, zone.name, int(now), kdf, check)
    skipped: list[str] = []
    # The backup's audit entry is written first, so the copy holds it too: the restored trail then
    # ends with the backup it came from (decision 676). Needs the zone's keys, as any change does.
    note(zone, "backup", {"made": int(now), "file": out.name})
    target = AtomicFile(out, 0o600, exclusive=True, sweep=True)  # what killed writers left there goes first
    try:
        # The copy of the state waits beside the backup (its size is the state's), in a folder
        # named and locked so that the one a killed backup leaves is swept too (decision 886).
        with TempFolder(out.parent, "backup") as work:
            snapshot = work / "state.db"
            copy_database(home / "state.db", snapshot)
            writer = BackupWriter(target.file, header, payload)  # type: ignore[arg-type]
            writer.record({"type": "zone", "zone_id": zone.zone_id, "name": zone.name,
                           "created": zone.info.created, "made": int(now)})
            with open(snapshot, "rb") as f:
                writer.add_file("state.db", 0o600, os.fstat(f.fileno()).st_size, f)  # type: ignore[arg-type]
            written = _add_tree(writer, home, skipped)
            missing = _missing_packages(zone, snapshot, written)
            writer.finish()
            target.commit()
    except FileExistsError:
        raise InputError(f"{out} appeared while the backup was written; it was left as it is. Give a new -o path",
                         code="file_exists") from None
    except BaseException:
        target.discard()
        raise
    left_out = (SELF,) if os.path.lexists(home / SELF) else ()
    return BackupResult(str(out), zone.name, zone.zone_id, writer.files, writer.bytes, tuple(skipped), missing,
                        left_out)


def check_backup_path(zone: Zone, out: Path) -> None:
    """Refuse ``out`` as the backup's path before anything is asked or read: inside a zone's home
    (``UsageError`` ``output_in_home``, decision 942) or where a file already is (``InputError``
    ``file_exists``: a backup never replaces one)."""
    refuse_in_home(out, "-o", zone, why=" (a backup there would also hold itself)")
    if os.path.lexists(out):
        raise InputError(f"{out} already exists; a backup never overwrites a file. Give a new -o path",
                         code="file_exists")


def _missing_packages(zone: Zone, snapshot: Path, written: set[str]) -> tuple[str, ...]:
    """The packages the copied state lists whose object is not in the backup (a home's own store
    only): removed before, or by a prune that ran while the backup was written."""
    if zone.settings.package_store is not None:
        return ()
    db = SQLiteDatabase(snapshot)
    try:
        listed = sorted({str(r["sha256"]) for r in db.all("SELECT sha256 FROM packages")})
    finally:
        db.close()
    return tuple(d for d in listed if f"packages/sha256/{d[:2]}/{d}" not in written)


def _add_tree(writer: BackupWriter, home: Path, skipped: list[str]) -> set[str]:
    """Every folder and regular file under ``home`` but :data:`_SKIP`, folders before their
    contents; returns the paths of the files written."""
    written: set[str] = set()
    pending = [""]
    while pending:
        rel = pending.pop(0)
        folder = home / rel if rel else home
        with os.scandir(folder) as found:
            entries = sorted(found, key=lambda e: e.name)
        for entry in entries:
            path = f"{rel}/{entry.name}" if rel else entry.name
            if not rel and entry.name in _SKIP:
                continue
            info = entry.stat(follow_symlinks=False)
            if stat.S_ISDIR(info.st_mode):
                writer.add_dir(path, info.st_mode)
                pending.append(path)
            elif stat.S_ISREG(info.st_mode):
                with open_regular(entry.path, path) as f:
                    writer.add_file(path, info.st_mode, os.fstat(f.fileno()).st_size, f)
                written.add(path)
            else:
                skipped.append(path)
    return written


def peek_backup(path: Path) -> BackupHeader:
    """The clear header of the backup at ``path`` (``invalid_backup``, file refusals)."""
    with open_regular(path, f"backup {path}") as f:
        header, _ = read_header(f, str(path))
    return header


def _home_zone_id(home: Path) -> str | None:
    try:
        return str(json.loads((home / "zone.json").read_text("utf-8"))["zone_id"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def restore_zone(path: Path, home: Path, passphrase: Callable[[], bytes], *, replace: bool = False,
                 now: EpochSeconds = 0) -> RestoreResult:
    """Restore the backup at ``path`` into ``home`` (module docstring).

    ``passphrase()`` is called once, after the clear checks. Raises ``invalid_backup``,
    ``backup_zone_mismatch`` (``home`` is another zone's), ``home_not_empty`` (``home`` holds
    anything and not ``replace``), ``passphrase_wrong``, ``backup_corrupt`` (anything in the
    file that does not authenticate or check), and the file system's errors; on each of them
    ``home`` is unchanged.
    """
    header = peek_backup(path)
    present = os.path.lexists(home)
    theirs = _home_zone_id(home) if present else None
    if theirs is not None and theirs != header.zone_id:
        raise VerificationError(f"{path} is a backup of zone {header.zone!r} ({header.zone_id}), but {home} holds "
                                f"zone {theirs}; nothing was changed. Restore it into its own zone's home or a new "
                                "folder", code="backup_zone_mismatch")
    if present and (not home.is_dir() or any(home.iterdir())) and not replace:
        what = f"holds zone {header.zone!r} already" if theirs else "is not empty"
        raise StateError(f"{home} {what}; nothing was changed. Give --replace to replace it with the backup (the "
                         "current home is kept beside it), or restore into a new folder", code="home_not_empty")
    parent = home.absolute().parent
    made = [p for p in (parent, *parent.parents) if not os.path.lexists(p)]  # removed again on a refusal
    parent.mkdir(parents=True, exist_ok=True)
    _sweep(parent, home.name, now)
    stage = parent / f".{home.name}.restore-{secrets.token_hex(4)}"
    try:
        stage.mkdir(mode=0o700)
        with open_regular(path, f"backup {path}") as f:
            header, prefix = read_header(f, str(path))
            reader = BackupReader(f, header, prefix, passphrase(), str(path))
            files = _extract(reader, stage)
        _check_staged(stage, header, reader)
        with open_zone(stage) as restored:  # its entry, signed with the restored keys, before it is put in place
            note(restored, "restore", {"backup_made": header.made, "replaced": bool(present and replace)})
            ran_self_update = bool(restored.db.all("SELECT slug FROM projects WHERE slug = ?", ("bundlekit",)))
        fsync_tree(stage)
    except BaseException:
        remove_tree(stage, ignore_errors=True)
        for folder in made:
            try:
                folder.rmdir()
            except OSError:
                break
        raise
    replaced = None
    if present and home.is_dir() and any(home.iterdir()):
        # Marked first: killed right after the exchange, the next restore finds the old home by
        # this mark in the private folder's place and keeps it instead of removing it.
        (home / _REPLACED).touch()
        exchange_folders(stage, home)
        replaced = _keep(stage, parent, home.name, now)
    else:
        if present and not home.is_dir():
            home.unlink()  # a file where the home goes (only with replace)
        os.rename(stage, home)  # over an empty folder too: rename(2) replaces it in one step
    fsync_dir(parent)
    return RestoreResult(str(home), header.zone, header.zone_id, header.made, files,
                         str(replaced) if replaced is not None else None, [SELF_NOTE] if ran_self_update else [])


#: Put in a home just before a restore exchanges it for the backup (see :func:`_sweep`).
_REPLACED = ".bundlekit-replaced-by-restore"


def _keep(old: Path, parent: Path, name: str, now: EpochSeconds) -> Path:
    """Move the home a restore replaced (at ``old``) to ``NAME.replaced-TIME`` beside it."""
    kept = parent / f"{name}.replaced-{int(now)}"
    n = 1
    while os.path.lexists(kept):
        kept, n = parent / f"{name}.replaced-{int(now)}-{n}", n + 1
    os.rename(old, kept)
    (kept / _REPLACED).unlink(missing_ok=True)
    return kept


def _sweep(parent: Path, name: str, now: EpochSeconds) -> None:
    """What a killed restore into ``parent/name`` left: a private folder is removed, unless it is
    the replaced home (marked), which is kept as ``NAME.replaced-TIME``."""
    for stale in parent.glob(f".{name}.restore-*"):
        if (stale / _REPLACED).exists():
            _keep(stale, parent, name, now)
        else:
            remove_tree(stale, ignore_errors=True)


def restore_leftovers(home: Path) -> list[tuple[Path, bool]]:
    """The private folders a stopped restore into ``home`` left beside it (``.NAME.restore-*``),
    each with whether it is the home that restore replaced (marked) rather than its unfinished copy."""
    parent = home.absolute().parent
    try:
        found = sorted(parent.glob(f".{home.absolute().name}.restore-*"))
    except OSError:
        return []
    return [(p, (p / _REPLACED).exists()) for p in found if p.is_dir() and not p.is_symlink()]


def leftover_message(path: Path, marked: bool, home: Path) -> str:
    """What to tell the user about a folder :func:`restore_leftovers` found (no secret in it)."""
    if marked:
        return (f"{path}: the home a stopped `zone restore --replace` replaced (its keys and state, before the "
                f"restore). Move it out of the way as a kept copy, or delete it once {home} works; the next "
                f"restore into {home} keeps it as {home.name}.replaced-TIME")
    return (f"{path}: left by a stopped `zone restore` into {home}: a decrypted copy of the backup, private keys "
            "included. Unless a restore is running now, delete it (`rm -rf`); the next restore into this home "
            "removes it too")


def _extract(reader: BackupReader, stage: Path) -> int:
    """Write every record into ``stage``; returns the number of files. ``backup_corrupt`` on any
    record out of place (the first not the zone record, a path twice, a file before its folder)."""
    records = reader.records()
    first = next(records)
    if first.get("type") != "zone":
        raise reader.corrupt("the first record is not the zone record")
    seen: set[str] = set()
    files = 0
    for rec in records:
        kind, rel = rec.get("type"), rec.get("path")
        if kind == "end":
            if rec.get("files") != files:
                raise reader.corrupt("the end record counts another number of files")
            break
        if kind not in ("dir", "file") or not isinstance(rel, str) or not isinstance(rec.get("mode"), int):
            raise reader.corrupt("a record of an unknown kind")
        check_path(rel, "backup")
        parent_rel = rel.rpartition("/")[0]
        if rel in seen or (parent_rel and parent_rel not in seen):
            raise reader.corrupt(f"{rel!r} listed twice or before its folder")
        seen.add(rel)
        mode = rec["mode"] & 0o777
        if kind == "dir":
            (stage / rel).mkdir(mode=0o700)
            os.chmod(stage / rel, mode | 0o700)
            continue
        size = rec.get("size")
        if not isinstance(size, int) or size < 0:
            raise reader.corrupt("a file record without a size")
        fd = os.open(stage / rel, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as out:
            for piece in reader.read_file(size):
                out.write(piece)
        os.chmod(stage / rel, mode)
        files += 1
    return files


def _check_staged(stage: Path, header: BackupHeader, reader: BackupReader) -> None:
    """The restored home must be a whole zone, the backup's own: zone file, keys, state."""
    if _home_zone_id(stage) != header.zone_id:
        raise reader.corrupt("its zone.json is missing or names another zone")
    for name, kind in (("sealing.key", "x25519"), ("signing.key", "ed25519")):
        key = stage / "keys" / name
        try:
            data = key.read_bytes()
        except OSError:
            raise reader.corrupt(f"keys/{name} is missing") from None
        if is_protected(data):
            try:
                ProtectedKey.parse(data, f"keys/{name}")
            except BundleError:
                raise reader.corrupt(f"keys/{name} is a damaged protected key file") from None
        elif len(data) != 32:
            raise reader.corrupt(f"keys/{name} is not a key file")
    problem, zone_id = check_database(stage / "state.db")
    if problem is not None:
        raise reader.corrupt(f"its state database fails the integrity check: {problem}")
    if zone_id != header.zone_id:
        raise reader.corrupt("its state database belongs to another zone")
