"""``export-self``: bundlekit and its dependency wheels as an ordinary signed release (decision 560).

The wheels :func:`~bundlekit.selfupdate.wheels.resolve` picks become the packages of a release of
the reserved project ``bundlekit`` (slug :data:`~bundlekit.export.releasefile.SELF_SLUG`, space
``Default``; no release file may use that slug), version = bundlekit's version, no steps and no
variables. It is exported by the same code as any release (``export/exporter.py``): signed, sealed
to nobody (there are no secrets), counted in the project's sequence numbers (so the destination's
anti-rollback covers self-updates), registered in this zone, and a wheel the destination reported
holding (a receipt's inventory) goes by reference or as changes to its earlier version. A wheel is the package ``wheel.<name>`` whose version is the rest of its
file name (``42.0.5-cp311-abi3-manylinux_2_28_x86_64``): one id and version per wheel file, so
wheels of one release for different platforms never collide.

One bundlekit version goes to destinations of several platforms (decision 948): its release is
the same version with another set of dependency wheels for each. The zone's record of that
version is the set it exported last (each bundle stays recorded as exported, with its digest);
what may not differ is bundlekit's own wheel: another build under the same version is refused
``release_exists``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from bundlekit.core.clock import EpochSeconds
from bundlekit.core.names import NAME_RULE, VERSION_RULE, name_problem, version_problem
from bundlekit.errors import ConflictError, InputError
from bundlekit.export.exporter import DEFAULT_EXPIRY, ExportResult, export_spec
from bundlekit.export.releasefile import SELF_SLUG, PackageSource, ReleaseSpec
from bundlekit.selfupdate.wheels import Target, Wheel, resolve
from bundlekit.zone import projects
from bundlekit.zone.home import Zone
from bundlekit.zone.outputs import check_output

__all__ = ["SELF_PROJECT", "WHEEL_PREFIX", "SelfExport", "self_release", "export_self"]

#: The reserved project of bundlekit's own releases.
SELF_PROJECT = {"name": "bundlekit", "slug": SELF_SLUG, "space": "Default"}
#: Package ids of wheels: ``wheel.`` and the distribution's canonical name.
WHEEL_PREFIX = "wheel."


@dataclass(frozen=True, slots=True)
class SelfExport:
    """What ``export-self`` wrote: the bundle, and the wheels in it (bundlekit's first)."""

    result: ExportResult
    wheels: tuple[Wheel, ...]
    target: Target


def self_release(wheelhouse: Path, target: Target) -> tuple[ReleaseSpec, list[Wheel]]:
    """The release ``export-self`` sends: the wheels of ``wheelhouse`` that install bundlekit on
    ``target`` (``InputError`` ``wheel_missing``, ``invalid_wheel``, ``invalid_wheelhouse``)."""
    wheels = resolve(wheelhouse, target)
    version = str(wheels[0].version)
    problem = version_problem(version)
    if problem:
        raise InputError(f"{wheels[0].path}: bundlekit version {version!r} {problem}; a release of bundlekit needs a "
                         f"version bundlekit can carry: {VERSION_RULE}", code="invalid_wheel")
    packages = []
    for w in wheels:
        pid = WHEEL_PREFIX + w.name
        for what, value in (("distribution name", pid), ("version and tags", w.stem)):
            problem = name_problem(value)
            if problem:
                raise InputError(f"{w.path}: the wheel's {what} {value!r} {problem}, so it cannot be a package of a "
                                 f"release ({NAME_RULE})", code="invalid_wheel")
        packages.append(PackageSource(pid, w.stem, w.path))
    notes = (f"bundlekit {version} for {target.describe()}: {len(wheels)} wheels. Install it in the destination "
             "with `bundlekit self-update BUNDLE --home DIR`.")
    spec = ReleaseSpec(path=wheelhouse, project=dict(SELF_PROJECT),
                       release={"version": version, "channel": "Default", "notes": notes},
                       packages=tuple(packages), steps=(), variables=())
    return spec, wheels


def export_self(zone: Zone, to: str, out: Path, *, wheelhouse: Path, target: Target, now: EpochSeconds,
                expires_in: int = DEFAULT_EXPIRY, progress: Callable[[int], None] | None = None,
                overwrite: bool = False, full: bool = False) -> SelfExport:
    """Write bundlekit's release for zone ``to`` at ``out`` (see the module). Raises what
    :func:`self_release` and :func:`~bundlekit.export.exporter.export_spec` raise (``out`` is
    checked first: ``output_in_home``, and ``file_exists`` unless ``overwrite``, decision 942), and
    ``ConflictError`` ``release_exists`` when bundlekit's own wheel is another build than the one
    this zone exported under the same version; a refusal writes nothing and records nothing.
    ``full``: every wheel's bytes travel, none by reference or as changes to one the destination
    reported holding (``export --full``; newuser35 finding 16)."""
    check_output(out, "-o", zone, overwrite=overwrite)
    spec, wheels = self_release(wheelhouse, target)
    _refuse_another_build(zone, wheels[0])
    # Another set of dependency wheels for the same version: another destination platform (decision 948).
    result = export_spec(zone, spec, to, out, now=now, expires_in=expires_in, progress=progress, replace=True,
                         overwrite=overwrite, delta=not full)
    return SelfExport(result, tuple(wheels), target)


def _refuse_another_build(zone: Zone, own: Wheel) -> None:
    """Refuse bundlekit's wheel ``own`` when this zone created the same version with a wheel of the
    same file name and other bytes: zones would run different code called one version."""
    version = str(own.version)
    before = projects.authored_packages(zone.db, SELF_SLUG, zone.zone_id, version).get(
        ((WHEEL_PREFIX + own.name).lower(), own.stem.lower()))
    if before is None:
        return
    digest = hashlib.sha256()
    with open(own.path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    if digest.hexdigest() == before[0]:
        return
    raise ConflictError(
        f"{own.path}: this is another build of bundlekit {version} than the one zone {zone.name} exported as "
        f"bundlekit {version} before (SHA-256 {digest.hexdigest()[:16]}..., then {before[0][:16]}...): zones would "
        f"run different code under one version. Nothing was exported. Send that build again (its wheel), or give "
        "this build a new version (`version` in bundlekit's pyproject.toml) and build its wheel again",
        code="release_exists", details={"version": version, "sha256": digest.hexdigest(), "exported": before[0]})
