"""Manifest -> merge snapshot, and the content digest that says "same release".

Sensitive values enter snapshots only as fingerprints (``secret:<hmac>``, see
``zone/secrets.py``): the merge compares them for equality and never sees a value.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Callable

from bundlekit.format.manifest import Manifest
from bundlekit.importer.merge_model import Snapshot, make_snapshot, mark_sensitive, sensitive_keys
from bundlekit.zone import secrets
from bundlekit.zone.home import Zone
from bundlekit.zone.projects import ProjectRecord

__all__ = ["incoming_snapshot", "content_digest", "empty_snapshot", "held_sides"]


def empty_snapshot() -> Snapshot:
    return make_snapshot()


def incoming_snapshot(m: Manifest, secret_ref: Callable[[int], str]) -> Snapshot:
    """The project as the bundle describes it; ``secret_ref(i)`` gives variable i's fingerprint."""
    variables: list[dict[str, Any]] = []
    for i, v in enumerate(m.variables):
        variables.append({"name": v.name, "scope": {k: sorted(x) for k, x in v.scope.items()},
                          "sensitive": v.sensitive, "placeholder": False,
                          "value": secret_ref(i) if v.sensitive else v.value})
    for p in m.placeholders:
        entry: dict[str, Any] = {"name": p.name, "scope": {k: sorted(x) for k, x in p.scope.items()},
                                 "sensitive": p.sensitive, "placeholder": True, "value": None}
        if p.description:
            entry["description"] = p.description
        if not p.required:
            entry["required"] = False
        variables.append(entry)
    steps = [s.to_dict() for s in m.steps]
    packages = [{"id": p.id, "version": p.version, "sha256": p.sha256, "size": p.size, "file": p.file}
                for p in m.packages]
    return make_snapshot(variables=variables, steps=steps, packages=packages)


def content_digest(m: Manifest, snapshot: Snapshot) -> str:
    """What makes two releases 'the same': project, release fields and the snapshot."""
    doc = {"project": dict(m.project), "release": dict(m.release), "snapshot": snapshot}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def held_sides(zone: Zone, project: ProjectRecord | None, incoming: Snapshot
               ) -> tuple[Snapshot | None, Snapshot | None, Snapshot, dict[str, str]]:
    """(base, local, incoming, values): the three sides of a merge as the zone holds them
    (decision 250). A variable the project's base or local copy marks sensitive is sensitive
    in the incoming snapshot too, and every sensitive value on every side is a reference:
    clear ones are fingerprinted and returned in ``values`` (reference -> value) for the
    caller to seal when it applies. The zone records the release with this incoming side; a
    release's content digest is computed from the snapshot as it came."""
    values: dict[str, str] = {}
    sides: list[Snapshot | None] = [None, None]
    if project is not None:
        for n, snap in enumerate((project.base, project.local)):
            sides[n], found = secrets.sealed_refs(zone, snap)  # a home from before decision 250
            values.update(found)
    held, found = secrets.sealed_refs(zone, mark_sensitive(incoming, sensitive_keys(*sides)))
    values.update(found)
    return sides[0], sides[1], held, values
