"""Register a release in the zone that authored it: `releases create`, and every `export`.

The authoring zone keeps what it sends, so it can deploy the release to its own environments
and show those deployments on its dashboard: the project (its source is this zone), the
release with its snapshot (the variables it was created with; sensitive values sealed at rest,
``zone/secrets.py``), its lifecycle and release digest, and its packages in the package store.

Plan, then apply: :func:`plan_registration` checks everything and writes nothing;
:func:`store_packages` copies package files into the content-addressed store (a cache: a file
there that no state names is harmless); :func:`apply_registration` records the rest inside the
caller's transaction (``export`` records the export in the same one).

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
from dataclasses import dataclass, field
from typing import Any

from bundlekit.core.clock import EpochSeconds
from bundlekit.errors import ConflictError, StateError
from bundlekit.export.releasefile import ReleaseSpec
from bundlekit.format.lifecycle import release_digest
from bundlekit.format.manifest import scope_to_dict
from bundlekit.importer.merge import three_way_merge
from bundlekit.importer.merge_model import Snapshot, make_snapshot
from bundlekit.zone import projects, secrets
from bundlekit.zone.db import Writer
from bundlekit.zone.home import Zone
from bundlekit.zone.store import PackageStore

__all__ = ["Registration", "plan_registration", "store_packages", "apply_registration", "spec_digest"]


@dataclass
class Registration:
    """What creating a release will record. ``status``: ``created``, ``replaced`` or ``unchanged``."""

    spec: ReleaseSpec
    release: projects.NewRelease
    local: Snapshot
    status: str
    package_files: list[tuple[str, Any]] = field(default_factory=list)  # (sha256, path) to copy into the store
    secret_values: list[str] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, Any]:
        r = self.release
        return {"project": r.project["name"], "slug": r.project["slug"], "space": r.project["space"],
                "version": r.version, "channel": r.channel, "release_digest": r.release_digest,
                "lifecycle": r.lifecycle, "status": self.status}


def _hash_file(path: Any) -> tuple[str, int]:
    h, size = hashlib.sha256(), 0
    with open(path, "rb") as fh:
        while data := fh.read(1 << 20):
            h.update(data)
            size += len(data)
    return h.hexdigest(), size


def _packages(spec: ReleaseSpec) -> list[dict[str, Any]]:
    out = []
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


def plan_registration(zone: Zone, spec: ReleaseSpec, *, replace: bool) -> Registration:
    """Check that ``spec`` can be created in ``zone``; write nothing."""
    db = zone.db
    slug, version = spec.project["slug"], spec.release["version"]
    project = projects.project_for_import(db, slug)
    if project is not None and project.source_zone_id != zone.zone_id:
        raise StateError(f"project {project.name!r} came into zone {zone.name} from another zone; a release of it "
                         "is created where the project is authored, then exported here", code="not_local")
    pkgs = _packages(spec)
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
    local = snapshot if project is None else three_way_merge(project.base, project.local, snapshot,
                                                             strategy="keep-local").result
    release = projects.NewRelease(
        project=dict(spec.project), version=version, channel=spec.release["channel"], notes=spec.release["notes"],
        source_zone_id=zone.zone_id, content_digest=content, release_digest=digest, snapshot=snapshot,
        output_refs=[o.to_dict() for o in spec.output_refs],
        lifecycle=spec.lifecycle.to_dict() if spec.lifecycle is not None else None)
    files = [(p["sha256"], p["path"]) for p in pkgs if "path" in p]
    return Registration(spec, release, local, status, files, secret_values)


def store_packages(zone: Zone, reg: Registration) -> None:
    """Copy the release's package files into the zone's package store (before the transaction)."""
    store = PackageStore(zone.home)
    for digest, path in reg.package_files:
        store.add_file(path, digest)


def apply_registration(zone: Zone, tx: Writer, reg: Registration, now: EpochSeconds) -> None:
    """Record the release, its project and packages inside the caller's transaction."""
    if reg.status == "unchanged":
        return
    for value in reg.secret_values:
        secrets.store(zone, tx, value)
    projects.record_release(tx, reg.release, local=reg.local, base=reg.release.snapshot, now=now)
