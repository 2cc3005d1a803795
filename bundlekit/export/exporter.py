"""Export: a release file becomes one signed, sealed, zstd-compressed bundle.

Plan, then apply: the release file, the destination, the rotation statements to carry and
the release's registration in this zone (``export/register.py``) are checked first; packages
then stream into the bundle's temporary file in bounded chunks (no lock held) and into the
zone's package store. One transaction then allocates the project's next sequence number,
seals the sensitive values to the destination (their binding names the bundle id, which the
number decides), attests this zone's own successful deployments of the release, signs the
manifest, records the export and the release; only after it commits does the file appear
under its final name. A refused export consumes no number; a crash after the commit burns
one (recorded, never reused) and leaves no bundle.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from bundlekit.core.files import open_regular
from bundlekit.core.clock import EpochSeconds, utc_text
from bundlekit.core.progress import begin
from bundlekit.errors import FormatError, InputError, StateError, TrustError, UsageError
from bundlekit.export.delta import RECIPE_ROOM, DeltaSource, recipe_bytes, write_delta
from bundlekit.export.lint import LintReport, lint_release, manifest_notes, refuse_on_errors
from bundlekit.export.lint_model import Finding
from bundlekit.export.releasefile import ReleaseSpec, load_release
from bundlekit.format import crypto
from bundlekit.format.bundleid import release_bundle_id
from bundlekit.format.container import BundleWriter
from bundlekit.format.delta import PACKED_MINOR
from bundlekit.format.manifest import (FORMAT_ID, MAX_SECONDS, MAX_SEQUENCE, Manifest, PackageRef, Placeholder,
                                       Variable, ZoneRef, scope_to_dict, writer_record)
from bundlekit.export.register import (apply_registration, check_authoring, in_zone_spelling, plan_registration,
                                       release_space, stage_packages)
from bundlekit.zone import deployments, exports, projects, sequences, truststore
from bundlekit.zone.exports import ExportRecord
from bundlekit.zone.db import Reader, Writer
from bundlekit.zone.home import Zone
from bundlekit.zone.rotation import signing_at_commit, zone_signing
from bundlekit.zone.outputs import check_output, exists_refusal
from bundlekit.zone.spaces import DEFAULT, answers_for, move_trust
from bundlekit.zone.store import Staging
from bundlekit.core.text import shell_word

__all__ = ["ExportResult", "export_release", "export_spec", "parse_duration", "bundle_id_for", "reference_time"]

DEFAULT_EXPIRY = 30 * 86400
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> int:
    """``--expires`` text (``12h``, ``30d``, ``2w``; a bare number is seconds) as seconds.

    Raises ``UsageError`` ``invalid_duration`` for anything else, for zero, and for a validity
    that no manifest can state (beyond 9999-12-31, the schema's last second).
    """
    m = re.fullmatch(r"\s*([0-9]+)\s*([smhdw]?)\s*", text)  # ASCII digits only
    if not m or int(m.group(1)) <= 0:
        raise UsageError(f"--expires {text!r}: use a positive number with a unit, like 12h, 30d or 2w",
                         code="invalid_duration")
    seconds = int(m.group(1)) * _UNITS[m.group(2) or "s"]
    if seconds > MAX_SECONDS:
        raise UsageError(f"--expires {text!r}: a bundle cannot be valid past the year 9999; give a validity like "
                         "30d or 52w", code="invalid_duration")
    return seconds


def reference_time(now: EpochSeconds) -> EpochSeconds:
    """Creation time: SOURCE_DATE_EPOCH when set (reproducible builds), else now."""
    sde = os.environ.get("SOURCE_DATE_EPOCH")
    if sde is None:
        return now
    if not (sde.isascii() and sde.isdigit()) or int(sde) > MAX_SECONDS:
        raise InputError(f"SOURCE_DATE_EPOCH={sde!r} is not a whole number of seconds from 0 to {MAX_SECONDS} "
                         "(the year 9999)", code="invalid_input")
    return int(sde)


def bundle_id_for(source_zone: str, dest_zone: str, space: str, slug: str, sequence: int) -> str:
    """The bundle id of a release bundle (spec/bundle-format.md §4): it names the project, whose
    sequence numbers it is counted in (format 1.1)."""
    return release_bundle_id(source_zone, dest_zone, space, slug, sequence)


@dataclass(frozen=True, slots=True)
class ExportResult:
    path: Path
    digest: str
    manifest: Manifest
    size: int
    #: What ``bundlekit lint`` warned about (the manifest carries them as ``lint_notes``).
    warnings: tuple[Finding, ...] = ()
    #: The highest sequence this project's bundles had before, when ``--sequence`` pinned one at or
    #: below it: a zone that imported a later bundle refuses this one as a rollback (review r1015a N4).
    reused_below: int | None = None


def export_release(zone: Zone, release_file: Path, to: str, out: Path, *, now: EpochSeconds,
                   expires_in: int = DEFAULT_EXPIRY, sequence: int | None = None,
                   progress: Callable[[int], None] | None = None, delta: bool = True,
                   replace: bool = False, overwrite: bool = False) -> ExportResult:
    """Write the release ``release_file`` describes as a bundle for zone ``to`` at ``out``.

    ``now`` and ``expires_in`` are seconds; ``sequence`` pins the number (it never lowers the
    project's high-water mark); ``delta`` leaves out packages the destination reported holding and
    sends only the new bytes of a package whose earlier version it holds (``export/delta.py``).
    The release is also created in this zone, as ``releases create`` would: a version this zone
    already created with other content is refused (``ConflictError`` ``release_exists``) unless
    ``replace`` (decision 390: a release keeps what it was created with, and its deployments here
    stay its own). Raises ``InputError`` (release file, ``--sequence``), ``StateError``
    ``unknown_zone``, ``not_local`` and ``sequence_taken`` (a pinned number this zone already wrote
    another bundle of the project under for ``to``: decision 800), ``unknown_space`` and ``TrustError``
    ``space_denied`` (the space the release file names: decision 887), ``VerificationError`` ``invalid_rotation`` and
    ``package_mismatch``; on any error nothing is recorded and ``out`` is untouched. The
    release is linted (``export/lint.py``) before anything is read or written: any error in the
    release file, its rules, templates or packages refuses the export (``UsageError``
    ``release_lint_failed``, every finding in ``details`` under its own code), but when the only
    errors are missing ``value_from`` sources it is ``InputError`` ``value_source_missing``; warnings
    travel in the manifest (``lint_notes``) and come back in the result. Before the lint, ``out``
    inside a zone's home is refused (``UsageError`` ``output_in_home``), and so is a file already
    at ``out`` unless ``overwrite`` (``InputError`` ``file_exists``, decision 942).
    """
    check_output(out, "-o", zone, overwrite=overwrite)
    # Lint first: it reports every problem of the release file at once (schema, rules, templates,
    # packages), where load_release would refuse the first one alone (decision 570).
    report = lint_release(release_file)
    _refuse_missing_sources(release_file, report)
    refuse_on_errors(report)
    spec = load_release(release_file)
    return export_spec(zone, spec, to, out, now=now, expires_in=expires_in, sequence=sequence, progress=progress,
                       delta=delta, replace=replace, notes=manifest_notes(report, release_file),
                       warnings=tuple(report.warnings), overwrite=overwrite)


def _refuse_other_space_destination(zone: Zone, spec: ReleaseSpec, dest_zone_id: str, dest_name: str,
                                    space: str) -> None:
    """``TrustError`` ``space_denied`` when the destination is trusted here in a space other than
    ``Default`` and the project's: its receipts could not be recorded, since a zone trusted in one
    space may not report on another's projects (decision 915, reviews v33-11a F4, v33-11u F5)."""
    trusted_in = truststore.space_of(zone.db, dest_zone_id)
    if not answers_for(trusted_in, space):
        raise TrustError(f"{spec.path}: project {spec.project['name']!r} belongs to space {space} of zone {zone.name}, "
                         f"but zone {dest_name!r} is trusted here in space {trusted_in}, so it answers for that "
                         f"space's projects only; to send it this space's releases, {move_trust(dest_name, space)}. "
                         "Nothing was changed", code="space_denied",
                         details={"space": space, "trusted_in": trusted_in, "zone": dest_name})


def _refuse_missing_sources(release_file: Path, report: LintReport) -> None:
    """When the only errors are ``value_from`` sources missing, refuse as ``releases create`` does
    (``InputError`` ``value_source_missing``, exit 1, naming how many more): the release file is
    right, the environment export runs in lacks its secrets (decision 710)."""
    missing = [f for f in report.errors if f.code == "value_source_missing"]
    if not missing or len(missing) != len(report.errors):
        return
    try:
        load_release(release_file)  # raises the first missing source's own refusal
    except InputError as err:
        if err.code != "value_source_missing" or len(missing) == 1:
            raise
        others = ", ".join(f.path or "" for f in missing[1:])
        raise InputError(f"{err.message}. {len(missing) - 1} more value_from source(s) missing too: {others} "
                         f"(`bundlekit lint {shell_word(str(release_file))}` lists each with its fix)", code="value_source_missing",
                         details=err.details) from None


def export_spec(zone: Zone, spec: ReleaseSpec, to: str, out: Path, *, now: EpochSeconds,
                expires_in: int = DEFAULT_EXPIRY, sequence: int | None = None,
                progress: Callable[[int], None] | None = None, delta: bool = True,
                replace: bool = False, notes: list[dict[str, Any]] | None = None,
                warnings: tuple[Finding, ...] = (), overwrite: bool = False) -> ExportResult:
    """:func:`export_release` of a release already read and checked (a release file's, or one
    bundlekit composes itself: ``export-self``); the same arguments, errors and atomicity.
    ``notes`` are the lint warnings the manifest carries (``lint_notes``), ``warnings`` the
    same findings as the result returns them."""
    check_output(out, "-o", zone, overwrite=overwrite)
    release_file = spec.path
    dest = truststore.get_zone(zone, to)
    if sequence is not None and not 1 <= sequence <= MAX_SEQUENCE:
        raise InputError(f"--sequence {sequence}: must be 1 to {MAX_SEQUENCE}", code="invalid_input")
    created = reference_time(now)
    if created + expires_in > MAX_SECONDS:
        raise UsageError(f"--expires: created {created} plus {expires_in} seconds ends after the year 9999, the "
                         "last time a bundle can state; give a shorter validity", code="invalid_duration")
    zone_signing(zone, now)  # the keys and statements are usable, before any work (read again at the commit)
    reported = exports.reported_inventory(zone.db, dest.zone_id) if delta else {}
    check_authoring(zone, spec)
    # The space the file names, else Default (release files name no space for it): a project of
    # another space is refused as `releases create` refuses it (decision 887, review v32-att N4).
    home = release_space(zone, spec, spec.project["space"], explicit=False)
    spec = in_zone_spelling(spec, home)
    space, slug = spec.project["space"], spec.project["slug"]
    _refuse_other_space_destination(zone, spec, dest.zone_id, dest.name, home or DEFAULT)
    if sequence is not None and "SOURCE_DATE_EPOCH" not in os.environ:  # only a reproducible one can match
        _refuse_taken(zone.db, bundle_id_for(zone.zone_id, dest.zone_id, space, slug, sequence), None, sequence)
    deltas = DeltaSource.for_destination(zone, dest.zone_id, reported, enabled=delta)
    writer = BundleWriter(out, "release")
    staging = Staging(zone.store)
    try:
        authored = projects.authored_packages(zone.db, slug, zone.zone_id, spec.release["version"])
        packages = _add_packages(writer, spec, progress, reported, staging, deltas, authored)
        registration = plan_registration(zone, spec, [p.to_dict() for p in packages], replace=replace, space=home)
        with zone.db.transaction() as tx:
            signing = signing_at_commit(zone, now)  # a key rotated while the packages were written is followed
            before = sequences.highest_exported(tx, space, slug)
            seq = sequences.next_release_sequence(tx, space, slug, sequence)
            bundle_id = bundle_id_for(zone.zone_id, dest.zone_id, space, slug, seq)
            variables, placeholders = _variables(spec, bundle_id, dest.sealing_key, dest.sealing_key_id)
            manifest = Manifest(
                kind="release", bundle_id=bundle_id,
                source=ZoneRef(zone.zone_id, zone.name, signing.key_id),
                destination=ZoneRef(dest.zone_id, dest.name, dest.sealing_key_id),
                sequence=seq, created=created, expires=created + expires_in, blobs=tuple(writer.blobs),
                project=spec.project, release=spec.release, steps=spec.steps, variables=variables,
                placeholders=placeholders, output_refs=spec.output_refs, packages=packages,
                rotations=signing.rotations(), lifecycle=spec.lifecycle,
                attestations=tuple(_attestations(tx, registration.release.release_digest)),
                raw={"format": FORMAT_ID, "writer": writer_record(), **({"lint_notes": notes} if notes else {})},
            )
            if any(p.delta is not None for p in packages):
                writer.minor = PACKED_MINOR  # only a bundle with a (packed) recipe says 1.3 (spec §5.1)
            digest = writer.finish(_checked(manifest, release_file), signing.signers("release"), commit=False)
            # Decided again under the write lock, with the bytes written; ``again``: the very bundle
            # this zone wrote before, exported again (decision 800).
            again = sequence is not None and _refuse_taken(tx, bundle_id, digest, seq)
            if not overwrite and os.path.lexists(out):  # appeared since the first look: nothing is recorded
                raise exists_refusal(out, "-o")
            exports.record_export(tx, ExportRecord(
                bundle_id, digest, dest.zone_id, dest.name, seq, spec.project["name"], spec.project["slug"],
                spec.project["space"], spec.release["version"], spec.release["channel"], created,
                created + expires_in, now, str(out.resolve())))
            apply_registration(zone, tx, registration, now)
        writer.commit()
        staging.commit()
    except BaseException:
        writer.abort()
        raise
    finally:
        staging.cleanup()
    reused = before if sequence is not None and before is not None and sequence <= before and not again else None
    return ExportResult(out, digest, manifest, out.stat().st_size, warnings, reused)


def _refuse_taken(db: Reader, bundle_id: str, digest: str | None, sequence: int) -> bool:
    """Refuse ``--sequence`` when this zone already wrote a bundle with the id it gives (same project,
    destination and number) unless the new one is that very bundle (``digest``; None: not yet written,
    so any record refuses): the record of the first would be replaced, and a receipt answering the
    first would then be refused whole (``StateError`` ``sequence_taken``, decision 800). Returns
    whether the new bundle is that very bundle (False: the number is new)."""
    row = exports.export_of(db, bundle_id)
    if row is None or row["digest"] == digest:
        return row is not None
    raise StateError(
        f"--sequence {sequence}: this zone already wrote bundle {bundle_id} of project {row['project_slug']} "
        f"with that number for zone {row['dest_name']!r} (release {row['release']}, exported "
        f"{utc_text(row['exported_at'])} to {row['path']}); a second bundle under that id would make this zone "
        "forget the first and refuse every receipt that answers it. Nothing was written. Export without "
        f"--sequence to take the project's next number, or pin a number no bundle of {row['project_slug']} "
        f"for {row['dest_name']!r} has; to send that release again as it was, carry the file written then",
        code="sequence_taken", details={"bundle_id": bundle_id, "sequence": sequence, "release": row["release"],
                                        "path": row["path"]})


def _attestations(tx: Writer, release_digest: str) -> list[dict[str, object]]:
    """This zone's successful deployments of the release: signed with it, they are evidence for the
    destination's lifecycle (spec/bundle-format.md §4.2)."""
    out: list[dict[str, object]] = []
    for d in deployments.successes_of(tx, release_digest):
        item: dict[str, object] = {"deployment_id": d["id"], "environment": d["environment"],
                                   "ended_ms": int(round(d["ended"] * 1000))}
        if d["tenant"]:
            item["tenant"] = d["tenant"]
        out.append(item)
    return out


def _checked(manifest: Manifest, release_file: Path) -> bytes:
    """The manifest's bytes once its reader accepts them (writers refuse what readers would);
    a refusal is the release file's (``invalid_release``), naming what the reader found."""
    try:
        return manifest.checked_bytes()
    except FormatError as err:
        if err.code != "invalid_manifest":
            raise
        raise UsageError(f"{release_file}: the bundle would be refused by every reader: {err.message}",
                         code="invalid_release", details=err.details) from None


def _file_sha256(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with open_regular(path, f"package file {path}") as fh:
        while data := fh.read(1 << 20):
            h.update(data)
            size += len(data)
    return h.hexdigest(), size


def _add_packages(writer: BundleWriter, spec: ReleaseSpec, progress: Callable[[int], None] | None,
                  reported: dict[tuple[str, str], str], staging: Staging, deltas: DeltaSource,
                  authored: dict[tuple[str, str], tuple[str, int]]) -> tuple[PackageRef, ...]:
    """Stream each package file into the bundle; stage a copy of any the zone's store lacks (moved
    into the store once the export commits: the zone deploys what it authored from there). A
    package ``authored`` records (releases of this project here: (id, version) -> SHA-256, size)
    whose bytes the store holds is not copied again; a re-export of the same bytes reads each file
    once, a rebuild under the same version twice (decision 881)."""
    out: list[PackageRef] = []
    recipe_room = RECIPE_ROOM  # what the recipes of this bundle may still take of the manifest
    for p in spec.packages:
        if p.path is None:
            assert p.sha256 is not None and p.size is not None
            out.append(PackageRef(p.id, p.version, p.file_name, p.size, p.sha256, included=False))
            continue
        known = reported.get((p.id.lower(), p.version.lower()))
        if known is not None:
            # The destination reported holding this id+version; if the bytes are the same, send a
            # reference only (a delta export). Different bytes still travel, and are refused there.
            digest, size = _file_sha256(p.path)
            if digest == known:
                out.append(PackageRef(p.id, p.version, p.file_name, size, digest, included=False))
                stage_packages(staging, [{"sha256": digest, "path": p.path}])
                continue
        base = deltas.base_for(p.id, p.version)
        if base is not None:
            begin(progress, f"{p.id} {p.version} (delta)", os.path.getsize(p.path))
            ref = write_delta(writer, p.id, p.version, p.file_name, p.path, base[0], base[1], deltas.lists, progress,
                              max_bytes=recipe_room)
            if ref is not None:
                assert ref.delta is not None
                recipe_room -= recipe_bytes(ref.delta.recipe)
                stage_packages(staging, [{"sha256": ref.sha256, "path": p.path}])
                out.append(ref)
                continue
        with open_regular(p.path, f"package file {p.path}") as fh:
            size = os.fstat(fh.fileno()).st_size
            begin(progress, f"{p.id} {p.version}", size)
            if _held(staging, authored.get((p.id.lower(), p.version.lower())), size):
                # Most likely the bytes the store already holds (the release sent to another zone, or
                # sent again): no copy is written while the bundle is (decision 881).
                blob = writer.add_blob(fh, size, progress)
            else:
                # The zone keeps what it authored: the copy for its store is written in the same pass.
                blob = writer.add_blob(fh, size, progress, tee=staging.pending())
                staging.adopt(blob.digest)
        # Rebuilt under the same version (other bytes than the store's): copied now, checked again.
        stage_packages(staging, [{"sha256": blob.digest, "path": p.path}])
        out.append(PackageRef(p.id, p.version, p.file_name, blob.size, blob.digest, included=True))
    return tuple(out)


def _held(staging: Staging, recorded: tuple[str, int] | None, size: int) -> bool:
    """Whether the zone's state records a package of this id and version with ``size`` bytes
    (``recorded``: SHA-256 and size) whose bytes the store holds: the export then need not copy it."""
    return recorded is not None and recorded[1] == size and staging.store.has(recorded[0])


def _variables(spec: ReleaseSpec, bundle_id: str, recipient: bytes,
               recipient_key_id: str) -> tuple[tuple[Variable, ...], tuple[Placeholder, ...]]:
    variables, placeholders = [], []
    for v in spec.variables:
        if v.placeholder:
            placeholders.append(Placeholder(v.name, v.scope, v.sensitive, v.description, v.required))
        elif v.sensitive:
            assert v.value is not None
            label = crypto.seal_label("variable", v.name, scope_to_dict(v.scope))
            sealed = crypto.seal(recipient, v.value.encode("utf-8"), crypto.seal_ad(bundle_id, recipient_key_id, label))
            variables.append(Variable(v.name, v.scope, True, None, crypto.b64(sealed)))
        else:
            variables.append(Variable(v.name, v.scope, False, v.value, None))
    return tuple(variables), tuple(placeholders)

