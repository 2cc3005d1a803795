"""Removable media: cut a bundle into self-describing volumes (plus optional parity) and join them back.

``split`` streams the bundle once, writing every data volume under a temporary name and
hashing on a worker thread; the headers (which need the whole-file SHA-256) are written
last, then every volume is renamed into place. ``join`` copies the data volumes of the
set found by :func:`~bundlekit.transport.media_scan.find_volume_set` into an
:class:`~bundlekit.core.atomic.AtomicFile`, checking each payload as it goes; a missing or
damaged data volume is rebuilt stripe by stripe from parity, and the result is renamed
into place only if its whole SHA-256 matches. Memory stays at a few chunks per volume.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from bundlekit.core.atomic import CHUNK, TEMP_PREFIX, AtomicFile, commit_all, fsync_dir, sweep_leftovers
from bundlekit.core.files import open_regular
from bundlekit.core.progress import begin
from bundlekit.errors import FormatError, InputError, TransportError, UsageError
from bundlekit.transport._util import EarlyFlush, HashPipe, carried_name
from bundlekit.transport.erasure import StripeCodec
from bundlekit.transport.media_scan import (
    BundleSeen, MediaReport, VolumeFile, VolumeSet, check, describe_sets, find_volume_set, is_volume_dir,
    payload_digest, read_payload, sets_in, sets_of, volume_label,
)
from bundlekit.transport.volume import (
    CODE_NONE, CODE_RS_CAUCHY, HEADER_SIZE, MAX_PARITY_SET, MAX_VOLUMES, VolumeHeader, data_payload_length,
    layout_for, stripe_length,
)

__all__ = [
    "DEFAULT_VOLUME_SIZE", "STRIPE_CHUNK", "split", "check", "join", "join_to_temp", "find_volume_set",
    "is_volume_dir", "volume_names", "MediaReport", "VolumeSet", "split_leftovers", "SplitNotes",
]


def split_leftovers(dirs: Sequence[Path]) -> list[Path]:
    """The temporary volume files (``.bundlekit-RANDOM.NAME.bkvol.tmp``, before decision 886
    ``.NAME.bkvol.RANDOM.tmp``) an interrupted ``media split`` left in ``dirs``, sorted: hidden,
    often hundreds of MB on a stick sized for the set (review r1015a A5). Folders that do not
    exist hold none."""
    return sorted({p for d in dirs if Path(d).is_dir() for pattern in (".*.bkvol.*.tmp", f"{TEMP_PREFIX}*.bkvol.tmp")
                   for p in Path(d).glob(pattern) if p.is_file()})

#: FAT32's largest file, header included.
DEFAULT_VOLUME_SIZE = (4 << 30) - 1
#: Bytes of each volume in one parity stripe: bounds memory at (k + m) * STRIPE_CHUNK.
STRIPE_CHUNK = 1 << 20


def volume_names(name: str, data_count: int, parity_count: int) -> list[str]:
    w = max(3, len(str(data_count)))
    pw = max(2, len(str(parity_count)))
    names = [f"{name}.{j + 1:0{w}d}-of-{data_count:0{w}d}.bkvol" for j in range(data_count)]
    names += [f"{name}.parity{p + 1:0{pw}d}-of-{parity_count:0{pw}d}.bkvol" for p in range(parity_count)]
    return names


class _Staged:
    """A volume being written under a temporary name in its final folder (renamed by ``commit_all``)."""

    def __init__(self, out_dir: Path, final: str) -> None:
        self.out = AtomicFile(out_dir / final, 0o644)
        self.file: BinaryIO = self.out.file
        self.file.write(bytes(HEADER_SIZE))  # placeholder until the whole-file digest is known
        self.hasher = hashlib.sha256()

    def finish(self, header: VolumeHeader) -> None:
        self.out.pwrite(header.encode(), 0)
        self.out.sync()


def _open_bundle(bundle: Path) -> tuple[BinaryIO, int]:
    if bundle.is_dir():
        raise FormatError(f"{bundle}: is a folder, not a bundle file; pass the bundle to split", code="not_a_bundle")
    try:
        f = open_regular(bundle, f"bundle {bundle}")
    except FileNotFoundError:
        raise InputError(f"{bundle}: no such file; pass the bundle to split", code="bundle_not_found") from None
    except IsADirectoryError:
        raise FormatError(f"{bundle}: is a folder, not a bundle file; pass the bundle to split", code="not_a_bundle") from None
    except OSError as exc:
        raise InputError(f"{bundle}: cannot be read ({exc.strerror})", code="bundle_unreadable") from None
    return f, os.fstat(f.fileno()).st_size


@dataclass(slots=True)
class SplitNotes:
    """What :func:`split` did besides writing volumes: ``replaced`` lists the old set's volumes
    (path, bytes) removed or renamed over with ``replace``; ``unchanged`` is True when the folder
    already held this very set, every volume under its name, and nothing was written."""

    replaced: list[tuple[Path, int]] = field(default_factory=list)
    unchanged: bool = False


def _refuse_old(out_dir: Path, old: Sequence[VolumeFile], sets: Sequence[BundleSeen], digest: bytes | None,
                replace: bool) -> None:
    """Refuse (``output_exists``) a split into a folder holding volumes of another set, listing
    what ``--replace`` would remove; with ``replace``, refuse only volumes under names of their
    own (a user's copy: bundlekit removes only volumes named as it names them, decision 921)."""
    if not old:
        return
    ours = [v for v in old if _bundlekit_named(v)]
    theirs = [v for v in old if not _bundlekit_named(v)]
    same_bundle = digest is not None and bool(sets) and all(b.sha256 == digest.hex() for b in sets)
    what = (f"{len(old)} volume(s) of this same bundle cut otherwise (another --volume-size or --parity)"
            if same_bundle else
            f"{len(old)} volume(s) of another set ({describe_sets(sets) or 'damaged headers'})")
    own = (f"{_listed(theirs)} {'holds a volume' if len(theirs) == 1 else 'hold volumes'} under "
           f"{'a name' if len(theirs) == 1 else 'names'} of {'its' if len(theirs) == 1 else 'their'} own, which "
           "--replace never removes: move {0} out of the folder (or delete {0}) first".format(
               "it" if len(theirs) == 1 else "them") if theirs else "")
    details = {"bundles": [b.to_dict() for b in sets], "would_replace": [str(v.path) for v in ours],
               "not_replaced": [str(v.path) for v in theirs]}
    if not replace:
        raise InputError(f"{out_dir}: already holds {what}; split into an empty folder"
                         + (f", or pass --replace to remove {_listed(ours)} once the new volumes are written"
                            if ours else "") + (f"; {own}" if own else ""), code="output_exists", details=details)
    if theirs:
        raise InputError(f"{out_dir}: already holds {what}; {own}, then split again with --replace",
                         code="output_exists", details=details)


def _bundlekit_named(v: VolumeFile) -> bool:
    """Whether a volume file carries the name bundlekit gives that volume (:func:`volume_names`)."""
    h = v.header
    if h is None:
        return _VOLUME_NAME.fullmatch(v.path.name) is not None
    return (h.index < h.data_count + h.parity_count
            and volume_names(h.name, h.data_count, h.parity_count)[h.index] == v.path.name)


def _listed(vols: Sequence[VolumeFile], most: int = 6) -> str:
    names = [v.path.name for v in vols]
    return ", ".join(names[:most]) + (f" and {len(names) - most} more" if len(names) > most else "")


_VOLUME_NAME = re.compile(r".+\.(?:[0-9]{3,}-of-[0-9]{3,}|parity[0-9]{2,}-of-[0-9]{2,})\.bkvol", re.S)


def split(bundle: Path, out_dir: Path, volume_size: int = DEFAULT_VOLUME_SIZE, parity: int = 0, *,
          replace: bool = False, progress: Callable[[int], None] | None = None,
          leftovers: list[tuple[Path, int]] | None = None, notes: SplitNotes | None = None) -> list[Path]:
    """Cut ``bundle`` into volumes of at most ``volume_size`` bytes (header included) in ``out_dir``.

    With ``parity`` N > 0, N parity volumes are added so that any N missing or damaged
    volumes can be rebuilt. Returns the volume paths, data first. Output is deterministic:
    the same bundle and options give byte-identical volumes.

    A folder that already holds volumes of another set (an old set left on the stick) is refused
    (``output_exists``, naming the set and the files ``replace`` would remove) unless
    ``replace``: then the old volumes are removed once every new one is in place, so the folder
    never ends up with neither set. Only volumes named as bundlekit names them are removed; one
    under a name of its own (a user's copy) is refused even with ``replace``. A folder that
    already holds this very set, complete under its names, is left as it is (``notes.unchanged``;
    ``media check`` verifies it). ``notes`` gets what was replaced (:class:`SplitNotes`).
    ``progress`` is told each volume (``begin``) and the bytes read. The temporaries an
    interrupted split of the same volume names left in ``out_dir`` are removed first (each, with
    its size in bytes, appended to ``leftovers``).
    """
    bundle, out_dir = Path(bundle), Path(out_dir)
    name = carried_name(bundle)
    nominal = volume_size - HEADER_SIZE
    if nominal < 1:
        raise UsageError(f"volume size {volume_size} leaves no room for data after the {HEADER_SIZE}-byte "
                         f"header; use at least {HEADER_SIZE + 1} bytes (for example 64K)",
                         code="volume_size_too_small")
    if parity < 0:
        raise UsageError(f"--parity {parity}: expected 0 or more parity volumes", code="invalid_parity")
    src, size = _open_bundle(bundle)
    with src:
        k = layout_for(size, nominal)
        limit = MAX_PARITY_SET if parity else MAX_VOLUMES
        if k + parity > limit:
            raise UsageError(f"{bundle}: {size} bytes in {volume_size}-byte volumes makes {k} data + {parity} "
                             f"parity volumes, more than the {limit} allowed; choose a larger --volume-size",
                             code="too_many_volumes")
        names = volume_names(name, k, parity)
        chunk = max(1, min(STRIPE_CHUNK, stripe_length(size, nominal, k))) if parity else 0
        old, old_sets = sets_in([out_dir]) if out_dir.is_dir() else ([], ())
        digest = None
        if any(b.size == size for b in old_sets):  # maybe this very bundle: worth one read to know
            digest = hashlib.file_digest(src, "sha256").digest()
            src.seek(0)
        key = (digest, size, k, parity, nominal, chunk, CODE_RS_CAUCHY if parity else CODE_NONE)
        same = [v for v in old if v.header is not None and v.header.set_key == key]
        old = [v for v in old if v not in same]
        if same and not old and {v.path.name for v in same} >= set(names):
            if notes is not None:
                notes.unchanged = True  # this very set, every volume under its name: nothing to do
            return [out_dir / n for n in names]
        _refuse_old(out_dir, old, sets_of(old) if same else old_sets, digest, replace)
        old_paths = {v.path for v in old}
        taken = {v.path for v in same} | old_paths
        clash = [n for n in names if (out_dir / n).exists() and out_dir / n not in taken]
        if clash:
            raise InputError(f"{out_dir}: already holds {clash[0]}" + (f" and {len(clash) - 1} more" if len(clash) > 1
                                                                      else "")
                             + "; split into an empty folder or remove the old volumes", code="output_exists")
        out_dir.mkdir(parents=True, exist_ok=True)
        mine = {f".{n}." for n in names}  # as bundlekit named temporaries before decision 886
        for path in split_leftovers([out_dir]):
            if any(path.name.startswith(prefix) for prefix in mine):
                size_left = path.stat().st_size
                path.unlink(missing_ok=True)
                if leftovers is not None:
                    leftovers.append((path, size_left))
        # every temporary a killed bundlekit writer left here (whose lock is free), said once below
        swept = sweep_leftovers(out_dir, tell=False)
        if leftovers is not None:
            leftovers.extend(swept)
        staged: list[_Staged] = []
        try:
            whole = hashlib.sha256()
            # Two hashing threads: the whole-file and the per-volume SHA-256 run side by side.
            with HashPipe() as pipe, HashPipe() as whole_pipe, EarlyFlush() as flusher:
                for j in range(k):
                    st = _Staged(out_dir, names[j])
                    staged.append(st)
                    begin(progress, names[j], data_payload_length(size, nominal, k, j))
                    _copy_exact(src, st.file, data_payload_length(size, nominal, k, j), pipe, st.hasher,
                                whole_pipe, whole, flusher, what=str(bundle), progress=progress)
                flusher.settle()
                if src.read(1):
                    raise InputError(f"{bundle}: grew while it was being split; split it again once it is "
                                     "complete", code="bundle_changed")
                if parity:
                    for p in range(parity):
                        staged.append(_Staged(out_dir, names[k + p]))
                    pipe.drain()  # data volumes fully written before the parity pass reads them back
                    _write_parity(staged[:k], staged[k:], size, nominal, chunk, pipe)
                pipe.drain()
                whole_pipe.drain()
            digest = whole.digest()
            for j, st in enumerate(staged):
                st.finish(VolumeHeader(
                    index=j, data_count=k, parity_count=parity, chunk_size=chunk, bundle_size=size,
                    bundle_sha256=digest, nominal_payload=nominal,
                    payload_length=(stripe_length(size, nominal, k) if j >= k
                                    else data_payload_length(size, nominal, k, j)),
                    payload_sha256=st.hasher.digest(), name=name, code=CODE_RS_CAUCHY if parity else CODE_NONE))
        except BaseException:
            for st in staged:
                st.out.discard()
            raise
        gone = [(v.path, v.path.stat().st_size) for v in sorted(old, key=lambda v: v.path)]
        done = commit_all([st.out for st in staged])
        if notes is not None:
            notes.replaced.extend(gone)  # removed, or renamed over by a new volume of the same name
        stale = sorted(old_paths - set(done))
        for path in stale:
            path.unlink(missing_ok=True)
        if stale:
            fsync_dir(out_dir)
        return done


def _copy_exact(src: BinaryIO, dst: BinaryIO, length: int, pipe: HashPipe, hasher: "hashlib._Hash",
                whole_pipe: HashPipe, whole: "hashlib._Hash", flusher: EarlyFlush, *, what: str,
                progress: Callable[[int], None] | None = None) -> None:
    remaining = length
    fd = dst.fileno()
    while remaining:
        data = src.read(min(CHUNK, remaining))
        if not data:
            raise InputError(f"{what}: shrank while it was being read; try again once it is complete",
                             code="bundle_changed")
        dst.write(data)
        pipe.feed(data, hasher)
        whole_pipe.feed(data, whole)
        flusher.wrote(fd, len(data))
        remaining -= len(data)
        if progress:
            progress(len(data))


def _read_chunk(f: BinaryIO, payload_length: int, offset: int, length: int) -> bytes:
    """Chunk of a payload at ``offset``, zero-padded to ``length`` past the payload's end."""
    want = max(0, min(length, payload_length - offset))
    data = os.pread(f.fileno(), want, HEADER_SIZE + offset) if want else b""
    if len(data) != want:
        raise TransportError(f"{getattr(f, 'name', 'volume')}: shorter than its header says", code="volume_damaged")
    return data + bytes(length - want) if want < length else data


def _write_parity(data: Sequence[_Staged], parity: Sequence[_Staged], size: int, nominal: int, chunk: int,
                  pipe: HashPipe) -> None:
    k = len(data)
    codec = StripeCodec(k, len(parity))
    span = stripe_length(size, nominal, k)
    for st in data:
        st.file.flush()
    for off in range(0, span, chunk):
        c = min(chunk, span - off)
        chunks = [_read_chunk(st.file, data_payload_length(size, nominal, k, j), off, c) for j, st in enumerate(data)]
        for st, pchunk in zip(parity, codec.encode(chunks)):
            st.file.write(pchunk)
            pipe.feed(pchunk, st.hasher)


def join(dirs: Sequence[Path], out: Path, *, choice: str | None = None,
         progress: Callable[[int], None] | None = None, exclusive: bool = False) -> Path:
    """Rebuild the bundle from the volumes in ``dirs`` into ``out``; nothing appears at ``out`` on failure.

    Folders holding several sets are refused (``volumes_mixed``) unless ``choice`` picks one.
    ``exclusive``: a file at ``out`` is never replaced (``FileExistsError`` at the end, ``out`` as
    it was; the caller checked before and words the refusal).
    """
    vs = find_volume_set([Path(d) for d in dirs], choice)
    h = vs.header
    k, size, nominal = h.data_count, h.bundle_size, h.nominal_payload
    with AtomicFile(Path(out), sweep=True, exclusive=exclusive) as af:
        f = af.file
        if _join_fast(vs, f, progress):
            return Path(out)
        # Something is missing or wrong: check volume by volume, then rebuild from parity.
        f.seek(0)
        f.truncate(0)
        whole = hashlib.sha256()
        good: dict[int, VolumeFile] = {}
        lost: list[int] = []
        with HashPipe() as pipe:
            for j in range(k):
                before = whole.copy()
                for cand in vs.candidates.get(j, ()):
                    if cand.problem is not None:
                        continue
                    f.seek(j * nominal)
                    vh = hashlib.sha256()
                    begin(progress, f"{cand.path.name} (checking)", cand.header.payload_length if cand.header else None)
                    ok = _copy_payload(cand, f, pipe, (whole, vh), progress=progress)
                    pipe.drain()
                    assert cand.header is not None
                    if ok and vh.digest() == cand.header.payload_sha256:
                        good[j] = cand
                        break
                    whole = before.copy()  # this copy was bad: forget what it fed
                else:
                    lost.append(j)
        if lost:
            _rebuild(vs, f, lost, good)
            whole = _rehash(f, size)
        f.truncate(size)
        if whole.digest() != h.bundle_sha256:
            raise TransportError(f"the joined {h.name} does not match the SHA-256 its volumes name "
                                 f"({h.bundle_sha256.hex()}); nothing was written to {out}; run `bundlekit media "
                                 "check DIRS` and copy the damaged volumes again", code="bundle_digest_mismatch")
    return Path(out)


def _join_fast(vs: VolumeSet, dst: BinaryIO, progress: Callable[[int], None] | None = None) -> bool:
    """The common case in one pass and one hash: every data volume present and the whole digest right.

    Per-volume digests only matter for finding what to repair, so they are skipped here.
    """
    h = vs.header
    plan = []
    for j in range(h.data_count):
        usable = [c for c in vs.candidates.get(j, ()) if c.problem is None]
        if not usable:
            return False
        plan.append(usable[0])
    whole = hashlib.sha256()
    with HashPipe() as pipe, EarlyFlush() as flusher:
        for v in plan:
            assert v.header is not None
            begin(progress, v.path.name, v.header.payload_length)
            if not _copy_payload(v, dst, pipe, (whole,), flusher, progress=progress):
                pipe.drain()
                return False
        pipe.drain()
    if whole.digest() != h.bundle_sha256:
        return False
    dst.truncate(h.bundle_size)
    return True


def _copy_payload(v: VolumeFile, dst: BinaryIO, pipe: HashPipe, hashers: tuple[hashlib._Hash, ...],
                  flusher: EarlyFlush | None = None, *, progress: Callable[[int], None] | None = None) -> bool:
    fd = dst.fileno()

    def copy(data: bytes) -> None:
        dst.write(data)
        pipe.feed(data, *hashers)
        if flusher is not None:
            flusher.wrote(fd, len(data))
        if progress:
            progress(len(data))

    return read_payload(v, copy)


def _rebuild(vs: VolumeSet, dst: BinaryIO, lost: list[int], good: dict[int, VolumeFile]) -> None:
    h = vs.header
    k, m = h.data_count, h.parity_count
    available: dict[int, VolumeFile] = dict(good)
    for p in range(k, k + m):
        if len(available) >= k:
            break
        for cand in vs.candidates.get(p, ()):
            if cand.problem is None and cand.header is not None and payload_digest(cand) == cand.header.payload_sha256:
                available[p] = cand
                break
    if len(available) < k:
        unavailable = [i for i in range(k + m) if i not in available]
        raise TransportError(
            f"{h.name} cannot be joined: " + ", ".join(volume_label(i, k, m) for i in lost)
            + f" missing or damaged and only {len(available) - len(good)} usable parity volume(s) of {m}; "
            "run `bundlekit media check DIRS` to see which volumes to copy again",
            code="volumes_incomplete", details={"unavailable": unavailable})
    codec = StripeCodec(k, m)
    chosen = sorted(available)[:k]
    span = stripe_length(h.bundle_size, h.nominal_payload, k)
    files = {i: open(available[i].path, "rb") for i in chosen}
    try:
        for off in range(0, span, h.chunk_size):
            c = min(h.chunk_size, span - off)
            chunks = {}
            for i, fh in files.items():
                hdr = available[i].header
                assert hdr is not None
                chunks[i] = _read_chunk(fh, hdr.payload_length, off, c)
            rebuilt = codec.decode(chunks, c)
            for j in lost:
                plen = data_payload_length(h.bundle_size, h.nominal_payload, k, j)
                if off < plen:
                    dst.seek(j * h.nominal_payload + off)
                    dst.write(rebuilt[j][:min(c, plen - off)])
    finally:
        for fh in files.values():
            fh.close()


def _rehash(f: BinaryIO, size: int) -> "hashlib._Hash":
    f.flush()
    h = hashlib.sha256()
    off = 0
    while off < size:
        data = os.pread(f.fileno(), min(CHUNK, size - off), off)
        if not data:
            break
        h.update(data)
        off += len(data)
    return h


def join_to_temp(dirs: Sequence[Path], tmp_dir: Path, *, choice: str | None = None,
                 progress: Callable[[int], None] | None = None) -> Path:
    """Join the volume set in ``dirs`` into ``tmp_dir`` under the bundle's original name (for import)."""
    vs = find_volume_set([Path(d) for d in dirs], choice)
    return join(dirs, Path(tmp_dir) / vs.name, choice=choice, progress=progress)
