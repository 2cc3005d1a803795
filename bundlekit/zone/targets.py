"""The zone's deployment targets as recorded in its state (kind, environment, roles, root).

Turning a record into something that runs steps is the deploy layer's job
(``bundlekit.deploy.service.open_target``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bundlekit.core.clock import EpochSeconds
from bundlekit.core.names import check_label, check_name, fold
from bundlekit.errors import InputError, StateError
from bundlekit.zone.db import Reader, Row
from bundlekit.zone.home import Zone

__all__ = ["TargetRecord", "add_target", "list_targets", "remove_target"]


@dataclass(frozen=True, slots=True)
class TargetRecord:
    name: str
    environment: str
    roles: tuple[str, ...]
    kind: str
    root: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "environment": self.environment, "roles": list(self.roles), "kind": self.kind,
                "root": self.root}


def _row(r: Row) -> TargetRecord:
    return TargetRecord(r["name"], r["environment"], tuple(json.loads(r["roles"])), r["kind"], r["root"])


def add_target(zone: Zone, name: str, environment: str, roles: tuple[str, ...], root: Path,
               now: EpochSeconds) -> TargetRecord:
    check_name(name, what="target name", error=InputError, code="invalid_target_name")
    check_label(environment, what="environment", error=InputError, code="invalid_label")
    if not roles:
        raise InputError("give the target at least one --role", code="invalid_input")
    for role in roles:
        check_label(role, what="role", error=InputError, code="invalid_label")
    root = root.expanduser().resolve()
    if root.exists() and not root.is_dir():
        raise InputError(f"--root {root}: exists and is not a folder", code="invalid_input")
    # Target names are case-insensitive, as Octopus's machine names are.
    taken = {fold(t.name): t.name for t in list_targets(zone.db)}
    other = taken.get(fold(name))
    if other is not None:
        raise StateError(f"target {other!r} already exists; `bundlekit targets remove {other}` first",
                         code="target_exists")
    with zone.db.transaction() as tx:
        tx.run("INSERT INTO targets(name, environment, roles, kind, root, added) VALUES (?,?,?,?,?,?)",
               (name, environment, json.dumps(sorted(set(roles))), "local", str(root), now))
        root.mkdir(parents=True, exist_ok=True)  # only once the state accepted the target (a refusal creates nothing)
    return list_targets(zone.db, name=name)[0]


def list_targets(db: Reader, *, environment: str | None = None, name: str | None = None) -> list[TargetRecord]:
    """Targets ordered by environment and name; only one environment's, or the one named, when given."""
    sql, args = "SELECT * FROM targets", []
    if environment is not None:
        sql, args = sql + " WHERE environment = ?", [environment]
    elif name is not None:
        sql, args = sql + " WHERE name = ?", [name]
    return [_row(r) for r in db.all(sql + " ORDER BY environment, name", args)]


def remove_target(zone: Zone, name: str) -> TargetRecord:
    found = list_targets(zone.db, name=name)
    if not found:
        raise StateError(f"no target named {name!r}; see `bundlekit targets list`", code="unknown_target")
    with zone.db.transaction() as tx:
        tx.run("DELETE FROM targets WHERE name = ?", (name,))
    return found[0]

