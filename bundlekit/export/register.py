"""Register a release in the zone that authored it: `releases create`, and every `export`.

The authoring zone keeps what it sends, so it can deploy the release to its own environments
and show those deployments on its dashboard: the project (its source is this zone), the
release with its snapshot (the variables it was created with; sensitive values sealed at rest,
``zone/secrets.py``), its lifecycle and release digest, and its packages in the package store.

Plan, then apply: :func:`check_authoring` and :func:`plan_registration` check everything and
write nothing; the package files go into the content-addressed store through the zone's
staging area (``export`` streams each one into the bundle and into the store in one read;
``releases create`` copies them: :func:`stage_packages`), moved in only after the state commits;
:func:`apply_registration` records the rest inside the caller's transaction (``export``
records the export in the same one).

Rules (decision 152): a project imported from another zone cannot be created here
(``not_local``); a version already created with other content is refused (``release_exists``)
unless ``replace`` (``export`` always replaces: the bundle it writes is what the zone then
holds). Package bytes go into the store by digest and the release names them by digest; the
authoring zone does not keep an id-and-version record of them (that is what importing zones
check: a rebuilt package under an old version is refused there, and the refusal comes back
here). The zone's own edits of the project (``variables set``) survive a new
release: the project's working copy is a three-way merge that keeps local changes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bundlekit.core.files import open_regular
from bundlekit.core.atomic import CHUNK
from bundlekit.core.clock import EpochSeconds
from bundlekit.errors import ConflictError, FormatError, StateError, TrustError, UsageError
from bundlekit.export.lint import lint_release, refuse_on_errors
from bundlekit.export.lint_model import Finding
from bundlekit.export.releasefile import ReleaseSpec, load_release
from bundlekit.format.lifecycle import release_digest
from bundlekit.format.manifest import scope_to_dict
from bundlekit.importer.merge import three_way_merge
from bundlekit.importer.merge_model import Snapshot, make_snapshot
from bundlekit.importer.snapshot import held_sides
from bundlekit.zone import audit, projects, secrets
from bundlekit.zone.db import Writer
from bundlekit.zone.spaces import DEFAULT, resolve_space
from bundlekit.zone.home import Zone
from bundlekit.zone.store import Staging
from bundlekit.core.text import shell_word

__all__ = ["Registration", "create_release", "check_authoring", "package_records", "plan_registration", "stage_packages",
           "apply_registration", "spec_digest", "in_zone_spelling"]


@dataclass
class Registration:
    """What creating a release will record. ``status``: ``created``, ``replaced`` or ``unchanged``."""

    spec: ReleaseSpec
    release: projects.NewRelease
    local: Snapshot
    status: str
    secret_values: list[str] = field(default_factory=list, repr=False)
    #: What lint warned about (``releases create`` prints them; export carries its own in the manifest).
    warnings: tuple[Finding, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        r = self.release
        return {"project": r.project["name"], "slug": r.project["slug"], "space": r.project["space"],
                "version": r.version, "channel": r.channel, "release_digest": r.release_digest,
                "lifecycle": r.lifecycle, "status": self.status}


def _hash_file(path: Any) -> tuple[str, int]:
    h, size = hashlib.sha256(), 0
    with open_regular(path, f"package file {path}") as fh:
        while data := fh.read(1 << 20):
            h.update(data)
            size += len(data)
    return h.hexdigest(), size


def package_records(spec: ReleaseSpec) -> list[dict[str, Any]]:
    """``{id, version, sha256, size, file}`` of every package of ``spec`` (files are read to hash
    them), plus ``path`` for those that have a file."""
    out: list[dict[str, Any]] = []
    for p in spec.packages:
        if p.path is None:
            out.append({"id": p.id, "version": p.version, "sha256": p.sha256, "size": p.size, "file": p.file_name})
        else:
            digest, size = _hash_file(p.path)
            out.append({"id": p.id, "version": p.version, "sha256": digest, "size": size, "file": p.file_name,
                        "path": p.path})
    return out


def spec_digest(spec: ReleaseSpec, source_zone_id: str, pkgs: list[dict[str, Any]]) -> str:
    """The release digest of the release ``spec`` describes, as any bundle of it will carry it."""
    variables = [{"name": v.name, "scope": scope_to_dict(v.scope), "sensitive": v.sensitive, "value": v.value}
                 for v in spec.variables if not v.placeholder]
    placeholders = []
    for v in spec.variables:
        if v.placeholder:
            d: dict[str, Any] = {"name": v.name, "scope": scope_to_dict(v.scope), "sensitive": v.sensitive}
            if v.description:
                d["description"] = v.description
            placeholders.append(d)
    return release_digest(source_zone_id=source_zone_id, project=spec.project, release=spec.release,
                          steps=[s.to_dict() for s in spec.steps], packages=pkgs, variables=variables,
                          placeholders=placeholders, output_refs=[o.to_dict() for o in spec.output_refs],
                          lifecycle=spec.lifecycle)


def check_authoring(zone: Zone, spec: ReleaseSpec) -> None:
    """Refuse (``not_local``) to author a project that came into ``zone`` from another zone."""
    project = projects.project_for_import(zone.db, spec.project["slug"])
    if project is not None and project.source_zone_id != zone.zone_id:
        raise StateError(f"project {project.name!r} came into zone {zone.name} from another zone; a release of it "
                         "is created where the project is authored, then exported here", code="not_local")


def release_space(zone: Zone, spec: ReleaseSpec, given: str | None, *, explicit: bool) -> str | None:
    """The space of ``zone`` a release of ``spec`` is created in (decision 887): the one its release
    file names (``project.space``, in the zone's spelling), else ``given`` (None: ``Default`` for a
    new project). Refuses, before anything is read or written: ``StateError`` ``unknown_space`` when
    the zone has no space the file names; ``TrustError`` ``space_denied`` when ``explicit`` (the
    user gave ``--space``) names another space than the file, or when the project belongs to
    another space than the one chosen (decision 660)."""
    space = given
    if spec.space_named:
        named = resolve_space(zone.db, spec.project["space"], option=f"{spec.path}: project.space",
                              then=", then run the same command again (a release is created in the space its release "
                                   "file names, which the zone that imports it must trust this zone in)")
        if explicit and given is not None and given.casefold() != named.casefold():
            raise TrustError(f"{spec.path}: project.space is {spec.project['space']!r} but --space is {given!r}; a "
                             f"release is created in the space its release file names: leave --space out, give "
                             f"--space {named}, or change the file. Nothing was changed", code="space_denied",
                             details={"space": given, "release_file_space": named})
        space = named
    if space is not None:
        _refuse_other_space(zone, spec, space)
        audit.worked_in(space)  # not the --space default when the file names another
    return space


def in_zone_spelling(spec: ReleaseSpec, space: str | None) -> ReleaseSpec:
    """``spec`` with its ``project.space`` spelled as the zone spells the space :func:`release_space`
    chose (``Pay  ments`` or ``ᴘᴀʏᴍᴇɴᴛꜱ`` in the file, space ``Pay ments``/``Payments`` here;
    decision 960), so every release and bundle of the project names its space one way and is
    counted in one sequence; ``spec`` itself when the file names no space or spells it so."""
    if not spec.space_named or space is None or spec.project["space"] == space:
        return spec
    return replace(spec, project={**spec.project, "space": space})


def _refuse_other_space(zone: Zone, spec: ReleaseSpec, space: str) -> None:
    """``space_denied`` when the project ``spec`` names belongs to another space of ``zone`` than
    ``space``, before anything else is said of it: where it came from is that space's business
    (decision 750)."""
    held = projects.project_for_import(zone.db, spec.project["slug"])
    if held is not None and held.in_space.casefold() != space.casefold():
        raise TrustError(f"{spec.path}: project {held.name!r} belongs to another space of zone {zone.name} than "
                         f"{space}; a release of it is created in its own space: name it as `space` under [project] in the "
                         "release file (or give --space where the command has it). Nothing was changed",
                         code="space_denied", details={"space": space})


def plan_registration(zone: Zone, spec: ReleaseSpec, pkgs: list[dict[str, Any]], *, replace: bool,
                      space: str | None = None) -> Registration:
    """Check that ``spec`` (with ``pkgs``: :func:`package_records`) can be created in ``zone``; write nothing.
    A new project is created in ``space`` (None: ``Default``; :func:`release_space` chooses it);
    with ``space`` given, an existing project of another space is refused ``space_denied``
    (decision 660)."""
    if space is not None:
        _refuse_other_space(zone, spec, space)
    check_authoring(zone, spec)
    db = zone.db
    slug, version = spec.project["slug"], spec.release["version"]
    project = projects.project_for_import(db, slug)
    secret_values, variables = [], []
    for v in spec.variables:
        entry: dict[str, Any] = {"name": v.name, "scope": scope_to_dict(v.scope), "sensitive": v.sensitive,
                                 "placeholder": v.placeholder, "value": None}
        if v.placeholder and v.description:
            entry["description"] = v.description
        if not v.placeholder:
            assert v.value is not None
            if v.sensitive:
                secret_values.append(v.value)
                entry["value"] = secrets.fingerprint(zone, v.value)
            else:
                entry["value"] = v.value
        variables.append(entry)
    snapshot = make_snapshot(variables=variables, steps=[s.to_dict() for s in spec.steps],
                             packages=[{k: p[k] for k in ("id", "version", "sha256", "size", "file")} for p in pkgs])
    digest = spec_digest(spec, zone.zone_id, pkgs)
    content = hashlib.sha256(json.dumps({"release_digest": digest, "snapshot": snapshot}, sort_keys=True)
                             .encode()).hexdigest()
    existing = projects.release_content_digest(db, slug, version)
    status = "created" if existing is None else "unchanged" if existing == content else "replaced"
    if status == "replaced" and not replace:
        raise ConflictError(f"{spec.path}: release {version} of {spec.project['name']} was already created in zone "
                            f"{zone.name} with other content; give the release a new version, or pass --replace",
                            code="release_exists")
    local, held = snapshot, snapshot
    if project is not None:  # decision 250: what the zone holds sensitive stays sensitive
        base, working, held, values = held_sides(zone, project, snapshot)
        local = three_way_merge(base, working, held, strategy="keep-local").result
        secret_values += values.values()
    release = projects.NewRelease(
        project=dict(spec.project), version=version, channel=spec.release["channel"], notes=spec.release["notes"],
        source_zone_id=zone.zone_id, content_digest=content, release_digest=digest, snapshot=held,
        output_refs=[o.to_dict() for o in spec.output_refs],
        lifecycle=spec.lifecycle.to_dict() if spec.lifecycle is not None else None,
        in_space=space if space is not None else DEFAULT)
    return Registration(spec, release, local, status, secret_values)


def stage_packages(staging: Staging, pkgs: list[dict[str, Any]]) -> None:
    """Copy the package files of ``pkgs`` into ``staging`` (moved into the store by its commit);
    a file that no longer hashes as it did is refused (``input_changed``)."""
    for p in pkgs:
        sink = staging.sink_for(p["sha256"]) if "path" in p else None
        if sink is None:
            continue
        h = hashlib.sha256()
        with open_regular(p["path"], f"package file {p['path']}") as fh:
            while data := fh.read(CHUNK):
                h.update(data)
                sink(data)
        if h.hexdigest() != p["sha256"]:
            raise FormatError(f"{p['path']}: changed while it was copied into the package store",
                              code="input_changed")


def apply_registration(zone: Zone, tx: Writer, reg: Registration, now: EpochSeconds) -> None:
    """Record the release, its project and packages inside the caller's transaction."""
    if reg.status == "unchanged":
        return
    for value in reg.secret_values:
        secrets.store(zone, tx, value)
    projects.record_release(zone, tx, reg.release, local=reg.local, base=reg.release.snapshot, now=now)


def _placed(err: UsageError, release_file: Path) -> None:
    """Give ``err`` (``invalid_release``) lint's account of the file when lint finds errors in it:
    each at its line and column, a misspelt key with the closest one (v1015 F9: the schema's own
    words, "Additional properties are not allowed", named neither)."""
    errors = lint_release(release_file).errors
    if not errors:
        return
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    err.reword("; ".join(f.text() for f in errors[:3]) + more
               + f". Fix them (`bundlekit lint {shell_word(str(release_file))}` lists every one) and create it again")
    err.details = [f.to_dict() for f in errors]


def create_release(zone: Zone, release_file: Path, *, replace: bool, now: EpochSeconds,
                   space: str | None = None, explicit: bool = True) -> Registration:
    """``bundlekit releases create``: register the release ``release_file`` describes in ``zone``,
    in the space its file names, else in ``space`` (``explicit``: the user gave it; see
    :func:`release_space` for ``unknown_space`` and ``space_denied``).

    Raises what :func:`load_release` raises (a broken rule of the release file, under the rule's
    own code: decision 570; an ``invalid_release`` whose file lint can place names the file, line
    and column of each problem, with the closest key for a misspelt one, as `bundlekit lint` and
    `export` do), then ``UsageError`` ``release_lint_failed`` when lint finds an error export would
    refuse too (templates, packages, scopes: decision 731), ``StateError`` ``not_local``,
    ``ConflictError`` ``release_exists`` (a version created with other content, unless
    ``replace``); on any refusal nothing is written. Lint's warnings come back in the
    registration's ``warnings``.
    """
    try:
        spec = load_release(release_file)
    except UsageError as err:
        if err.code == "invalid_release":
            _placed(err, release_file)
        raise
    space = release_space(zone, spec, space, explicit=explicit)
    spec = in_zone_spelling(spec, space)
    report = lint_release(release_file)
    refuse_on_errors(report, again="create the release again")
    pkgs = package_records(spec)
    reg = plan_registration(zone, spec, pkgs, replace=replace, space=space)
    reg.warnings = tuple(report.warnings)
    staging = Staging(zone.store)
    try:
        stage_packages(staging, pkgs)
        with zone.db.transaction() as tx:
            apply_registration(zone, tx, reg, now)
        staging.commit()
    finally:
        staging.cleanup()
    return reg
