"""Finding and judging media volumes: which set is ours, what is missing, damaged, doubled or foreign.

``scan`` reads only headers (cheap); ``find_volume_set`` picks the one set the folders hold;
``check`` also hashes every payload and says whether the set can be joined. Nothing here
writes.

A medium may hold volumes of two bundles (an old set left on the stick and a new one). No
set is ever chosen for the operator: folders with volumes of several bundles are refused
(``volumes_mixed``) with each set described (file name, SHA-256, and, read unverified from
its own volumes, kind, project, version, created and bundle digest) until one is picked
with ``choice`` (``--set``: a prefix of its SHA-256 or bundle digest, or its file name).
Decision 193.
"""

from __future__ import annotations

import hashlib
import os
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from bundlekit.core.atomic import CHUNK
from bundlekit.core.progress import begin
from bundlekit.errors import InputError, TransportError, UsageError
from bundlekit.transport.media_sets import BundleSeen, VolumeFile, about_set
from bundlekit.transport.volume import HEADER_SIZE, MAGIC, VolumeHeader, parse_header

__all__ = [
    "VolumeFile", "VolumeSet", "VolumeStatus", "Duplicate", "BundleSeen", "MediaReport",
    "scan", "find_volume_set", "check", "mixed_message", "sets_in", "sets_of", "describe_sets", "payload_digest", "read_payload", "is_volume_dir", "volume_label",
]


def volume_label(index: int, data_count: int, parity_count: int) -> str:
    if index < data_count:
        return f"data volume {index + 1} of {data_count}"
    return f"parity volume {index - data_count + 1} of {parity_count}"


def _dir_entries(d: Path) -> list[Path]:
    if not d.is_dir():
        raise InputError(f"{d}: not a folder; pass the folders that hold the volumes (for example a mounted "
                         "USB stick)", code="volume_dir_missing")
    out = []
    with os.scandir(d) as it:
        for e in it:
            # Regular files only: a symlink on removable media could point anywhere.
            if e.is_file(follow_symlinks=False):
                out.append(Path(e.path))
    return sorted(out)


def _read_volume(path: Path) -> VolumeFile | None:
    try:
        with open(path, "rb") as f:
            raw = f.read(HEADER_SIZE)
            size = os.fstat(f.fileno()).st_size
    except OSError as exc:
        return VolumeFile(path, None, f"cannot be read: {exc.strerror}")
    if not raw.startswith(MAGIC):
        return None
    try:
        header = parse_header(raw)
    except TransportError as exc:
        return VolumeFile(path, None, exc.message)
    expected = HEADER_SIZE + header.payload_length
    if size < expected:
        return VolumeFile(path, header, f"truncated: {size} bytes, the header promises {expected}")
    if size > expected:
        return VolumeFile(path, header, f"{size - expected} unexpected bytes after the payload")
    return VolumeFile(path, header)


def scan(dirs: Sequence[Path]) -> list[VolumeFile]:
    """Every file in ``dirs`` (not recursive) that starts with the volume magic."""
    seen: set[Path] = set()
    found: list[VolumeFile] = []
    for d in dirs:
        for p in _dir_entries(Path(d)):
            key = p.resolve()
            if key in seen:  # the same folder given twice is not a duplicate volume
                continue
            seen.add(key)
            v = _read_volume(p)
            if v is not None:
                found.append(v)
    return found


def is_volume_dir(path: Path) -> bool:
    """True if ``path`` is a folder holding at least one file that starts with the volume magic."""
    p = Path(path)
    if not p.is_dir():
        return False
    try:
        entries = _dir_entries(p)
    except (InputError, OSError):
        return False
    for e in entries:
        try:
            with open(e, "rb") as f:
                if f.read(len(MAGIC)) == MAGIC:
                    return True
        except OSError:
            continue
    return False


@dataclass(slots=True, frozen=True)
class VolumeSet:
    """The set the folders are about (header level only; payloads not yet hashed)."""

    header: VolumeHeader
    candidates: dict[int, tuple[VolumeFile, ...]]
    foreign: tuple[VolumeFile, ...]
    unreadable: tuple[VolumeFile, ...]
    bundles: tuple[BundleSeen, ...]

    @property
    def data_count(self) -> int:
        return self.header.data_count

    @property
    def parity_count(self) -> int:
        return self.header.parity_count

    @property
    def name(self) -> str:
        return self.header.name


def _group(found: Iterable[VolumeFile]) -> tuple[dict[tuple[Any, ...], list[VolumeFile]], list[VolumeFile]]:
    sets: dict[tuple[Any, ...], list[VolumeFile]] = defaultdict(list)
    unreadable = []
    for v in found:
        if v.header is None:
            unreadable.append(v)
        else:
            sets[v.header.set_key].append(v)
    return sets, unreadable


def _summaries(sets: dict[tuple[Any, ...], list[VolumeFile]]) -> dict[tuple[Any, ...], BundleSeen]:
    out = {}
    for key, vols in sets.items():
        h = vols[0].header
        assert h is not None
        out[key] = BundleSeen(h.name, h.bundle_sha256.hex(), h.bundle_size,
                              len({v.header.index for v in vols if v.header}), h.data_count, about_set(vols))
    return dict(sorted(out.items(), key=lambda kv: (-kv[1].volumes, kv[1].name, kv[1].sha256)))


def _matches(b: BundleSeen, choice: str) -> bool:
    c = choice.strip().lower()
    digest = str((b.about or {}).get("digest", ""))
    return b.name == choice or (len(c) >= 8 and (b.sha256.startswith(c) or digest.startswith(c)))


def _choose(dirs: Sequence[Path], choice: str | None = None
            ) -> tuple[VolumeSet | None, tuple[BundleSeen, ...], list[VolumeFile]]:
    found = scan(dirs)
    sets, unreadable = _group(found)
    seen = _summaries(sets)
    bundles = tuple(seen.values())
    if not sets:
        return None, bundles, unreadable
    if choice is not None:
        picked = [k for k, b in seen.items() if _matches(b, choice)]
        if len(picked) != 1:
            where = ", ".join(str(d) for d in dirs)
            short = len(choice.strip()) < 8 and not any(b.name == choice for b in bundles)
            lead = (f"give 8 or more characters of a set's SHA-256 or bundle digest (--set {choice!r} has "
                    f"{len(choice.strip())}){_by_name(bundles)}" if short else
                    f"--set {choice!r} names {'none' if not picked else 'more than one'} of the volume sets; give 8 "
                    f"or more characters of one SHA-256 or bundle digest{_by_name(bundles)}")
            raise UsageError(f"{lead}. The volume sets in {where}: {_describe(bundles)}", code="unknown_volume_set",
                             details={"bundles": [b.to_dict() for b in bundles]})
        best_key = picked[0]
    elif len(sets) > 1:
        return None, bundles, unreadable
    else:
        best_key = next(iter(sets))
    best = sets[best_key]
    cands: dict[int, list[VolumeFile]] = defaultdict(list)
    for v in best:
        assert v.header is not None
        cands[v.header.index].append(v)
    foreign = tuple(v for k, vs in sets.items() if k != best_key for v in vs)
    header = best[0].header
    assert header is not None
    vs = VolumeSet(header=header, candidates={i: tuple(c) for i, c in sorted(cands.items())}, foreign=foreign,
                   unreadable=tuple(unreadable), bundles=bundles)
    return vs, bundles, unreadable


def _describe(bundles: Sequence[BundleSeen]) -> str:
    return "; ".join(b.describe() for b in bundles)


def sets_in(dirs: Sequence[Path]) -> tuple[list[VolumeFile], tuple[BundleSeen, ...]]:
    """Every volume file in ``dirs`` and the sets they form (described)."""
    found = scan(dirs)
    return found, sets_of(found)


def sets_of(vols: Sequence[VolumeFile]) -> tuple[BundleSeen, ...]:
    """The sets these volume files form, described (volumes with a damaged header form none)."""
    return tuple(_summaries(_group(vols)[0]).values())


def describe_sets(bundles: Sequence[BundleSeen]) -> str:
    """``name: project version created ..., SHA-256 ...; ...`` for a refusal message."""
    return _describe(bundles)


def _by_name(bundles: Sequence[BundleSeen]) -> str:
    """How ``--set`` may name a set besides a SHA-256 prefix: by its file name only when no other
    set shares it (a shared name chooses nothing), with that said."""
    names = [b.name for b in bundles]
    shared = sorted({n for n in names if names.count(n) > 1})
    if not shared:
        return ", or its file name"
    if len(shared) == len(set(names)):
        return f"; {' and '.join(repr(n) for n in shared)} names more than one set, so a file name does not choose"
    return (f", or its file name unless several sets share it ({', '.join(repr(n) for n in shared)} "
            "names more than one)")


def mixed_message(dirs: Sequence[Path], bundles: Sequence[BundleSeen]) -> str:
    """The refusal for folders that hold several sets: each described, and how to choose."""
    where = ", ".join(str(d) for d in dirs)
    return (f"{where} {'holds' if len(dirs) == 1 else 'hold'} volumes of {len(bundles)} bundles: "
            f"{_describe(bundles)}. Choose one with --set SHA256-PREFIX (8 or more characters{_by_name(bundles)}), "
            "or remove the volumes of the other")


def find_volume_set(dirs: Sequence[Path], choice: str | None = None) -> VolumeSet:
    """The one volume set the folders hold, or the one ``choice`` names among several.

    Raises ``TransportError`` ``no_volumes`` and ``volumes_mixed`` (several sets and no
    ``choice``), ``UsageError`` ``unknown_volume_set`` (``choice`` names none or several).
    """
    vs, bundles, unreadable = _choose(dirs, choice)
    where = ", ".join(str(d) for d in dirs)
    if vs is None and not bundles:
        extra = f" ({len(unreadable)} file(s) with a damaged volume header)" if unreadable else ""
        raise TransportError(f"no bundlekit volumes found in {where}{extra}; pass the folders that hold the "
                             "*.bkvol files", code="no_volumes")
    if vs is None:
        raise TransportError(mixed_message(dirs, bundles), code="volumes_mixed",
                             details={"bundles": [b.to_dict() for b in bundles]})
    return vs


def read_payload(v: VolumeFile, consume: Callable[[bytes], object]) -> bool:
    """Feed a volume's payload to ``consume`` in bounded chunks; False if short or unreadable."""
    assert v.header is not None
    remaining = v.header.payload_length
    try:
        with open(v.path, "rb") as f:
            f.seek(HEADER_SIZE)
            while remaining:
                chunk = f.read(min(CHUNK, remaining))
                if not chunk:
                    return False
                consume(chunk)
                remaining -= len(chunk)
    except OSError:
        return False
    return True


def payload_digest(v: VolumeFile, progress: Callable[[int], None] | None = None) -> bytes | None:
    """SHA-256 of a volume's payload, or None if the file is shorter than its header says.

    ``progress`` is told the volume (``begin``) and the bytes hashed."""
    h = hashlib.sha256()
    if progress is None:
        return h.digest() if read_payload(v, h.update) else None
    assert v.header is not None
    begin(progress, v.path.name, v.header.payload_length)

    def feed(data: bytes) -> None:
        h.update(data)
        progress(len(data))

    return h.digest() if read_payload(v, feed) else None


@dataclass(slots=True, frozen=True)
class VolumeStatus:
    path: str
    index: int | None
    label: str | None
    status: str  # ok | damaged | duplicate | foreign | unreadable
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "index": self.index, "label": self.label, "status": self.status,
                "detail": self.detail}


@dataclass(slots=True, frozen=True)
class Duplicate:
    index: int
    label: str
    paths: tuple[str, ...]
    identical: bool

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "label": self.label, "paths": list(self.paths), "identical": self.identical}


@dataclass(slots=True, frozen=True)
class MediaReport:
    """What ``media check`` found. ``code`` is the TransportError code when the set cannot be joined."""

    joinable: bool
    code: str | None
    message: str
    bundle: BundleSeen | None = None
    data_volumes: int = 0
    parity_volumes: int = 0
    needs_parity: bool = False
    missing: tuple[int, ...] = ()
    damaged: tuple[int, ...] = ()
    duplicates: tuple[Duplicate, ...] = ()
    foreign: tuple[str, ...] = ()
    mixed: bool = False
    bundles: tuple[BundleSeen, ...] = ()
    volumes: tuple[VolumeStatus, ...] = field(default=())

    def label(self, index: int) -> str:
        return volume_label(index, self.data_volumes, self.parity_volumes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "joinable": self.joinable, "code": self.code, "message": self.message,
            "bundle": self.bundle.to_dict() if self.bundle else None,
            "data_volumes": self.data_volumes, "parity_volumes": self.parity_volumes,
            "needs_parity": self.needs_parity,
            "missing": [{"index": i, "label": self.label(i)} for i in self.missing],
            "damaged": [{"index": i, "label": self.label(i)} for i in self.damaged],
            "duplicates": [d.to_dict() for d in self.duplicates],
            "foreign": list(self.foreign), "mixed": self.mixed,
            "bundles": [b.to_dict() for b in self.bundles],
            "volumes": [v.to_dict() for v in self.volumes],
        }


def check(dirs: Sequence[Path], choice: str | None = None, *,
          progress: Callable[[int], None] | None = None) -> MediaReport:
    """Check every volume in ``dirs`` (hashing each payload) and say whether the bundle can be joined.

    Folders with several sets are not joinable (``volumes_mixed``) unless ``choice`` picks one.
    """
    vs, bundles, unreadable = _choose(dirs, choice)
    statuses: list[VolumeStatus] = [VolumeStatus(str(v.path), None, None, "unreadable", v.problem or "")
                                    for v in unreadable]
    if vs is None:
        if not bundles:
            msg = ("no bundlekit volumes found" + (f"; {len(unreadable)} file(s) have a damaged header"
                                                  if unreadable else ""))
            return MediaReport(False, "no_volumes", msg, volumes=tuple(statuses))
        return MediaReport(False, "volumes_mixed", mixed_message(dirs, bundles),
                           mixed=True, bundles=bundles, volumes=tuple(statuses))
    h = vs.header
    k, m = h.data_count, h.parity_count
    good: set[int] = set()
    duplicates: list[Duplicate] = []
    for index, cands in vs.candidates.items():
        label = volume_label(index, k, m)
        digests: list[bytes | None] = []
        for n, v in enumerate(cands):
            assert v.header is not None
            d = payload_digest(v, progress) if v.problem is None else None
            digests.append(d)
            if v.problem is not None:
                statuses.append(VolumeStatus(str(v.path), index, label, "damaged", v.problem))
            elif d != v.header.payload_sha256:
                statuses.append(VolumeStatus(str(v.path), index, label, "damaged",
                                             "payload SHA-256 does not match the header"))
            else:
                first_good = index not in good
                good.add(index)
                statuses.append(VolumeStatus(str(v.path), index, label, "ok" if first_good else "duplicate",
                                             "" if first_good else "another copy of this volume is also present"))
        if len(cands) > 1:
            identical = all(x is not None and x == digests[0] for x in digests)
            duplicates.append(Duplicate(index, label, tuple(str(v.path) for v in cands), identical))
    for v in vs.foreign:
        assert v.header is not None
        statuses.append(VolumeStatus(str(v.path), v.header.index, None, "foreign",
                                     f"belongs to {v.header.name} (sha256 {v.header.bundle_sha256.hex()[:16]}...),"
                                     f" not to {h.name}"))
    missing = tuple(i for i in range(k + m) if i not in vs.candidates)
    damaged = tuple(i for i in vs.candidates if i not in good)
    lost = len(missing) + len(damaged)
    needs_parity = any(i < k for i in missing + damaged)
    joinable = lost <= m if m else lost == 0
    chosen = next(b for b in bundles if b.sha256 == h.bundle_sha256.hex() and b.size == h.bundle_size)
    if joinable:
        msg = f"{h.name}: {k} data + {m} parity volume(s); can be joined"
        if lost:
            msg += f" ({lost} volume(s) will be rebuilt from parity)" if needs_parity else \
                   f" ({lost} parity volume(s) unavailable, not needed)"
    else:
        parts = []
        if missing:
            parts.append("missing: " + ", ".join(volume_label(i, k, m) for i in missing))
        if damaged:
            parts.append("damaged: " + ", ".join(volume_label(i, k, m) for i in damaged))
        can = f"parity can rebuild at most {m}" if m else "there are no parity volumes"
        msg = (f"{h.name} cannot be joined: {'; '.join(parts)} ({lost} unavailable, {can}); copy the "
               "missing or damaged volumes again")
    if vs.foreign:
        others = [b for b in bundles if b.sha256 != h.bundle_sha256.hex() or b.name != h.name]
        msg += f"; {len(vs.foreign)} volume(s) of other bundles ignored as --set chose ({_describe(others)})"
    if unreadable:
        msg += f"; {len(unreadable)} file(s) with a damaged volume header ignored"
    statuses.sort(key=lambda s: (s.index is None, s.index if s.index is not None else 0, s.path))
    return MediaReport(
        joinable=joinable, code=None if joinable else "volumes_incomplete", message=msg, bundle=chosen,
        data_volumes=k, parity_volumes=m, needs_parity=needs_parity and joinable, missing=missing,
        damaged=damaged, duplicates=tuple(duplicates), foreign=tuple(str(v.path) for v in vs.foreign),
        mixed=len(bundles) > 1, bundles=bundles, volumes=tuple(statuses),
    )
