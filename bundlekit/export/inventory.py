"""The target inventory file: which roles and environments a secure zone's targets have.

``bundlekit targets export-inventory`` writes it in the secure zone; ``bundlekit lint
--targets FILE`` reads it in the development zone, so a step whose role no target has is
caught before the release crosses the air gap. The file is JSON (``spec/release-file.md``,
"Target inventory")::

    {"format": "bundlekit-targets/1", "zone": "prod",
     "environments": ["Production", "Staging"],
     "targets": [{"name": "web-01", "environment": "Production", "roles": ["web"]}]}

It holds names only: no addresses, keys or paths of the zone's machines.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from bundlekit.core.files import read_user_file
from bundlekit.errors import UsageError

__all__ = ["Inventory", "InventoryTarget", "INVENTORY_FORMAT", "inventory_document", "load_inventory"]

INVENTORY_FORMAT = "bundlekit-targets/1"
_MAX_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class InventoryTarget:
    name: str
    environment: str
    roles: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Inventory:
    """A zone's targets (name, environment, roles) and the environments it knows (with or
    without targets). Names compare case-insensitively, as a deploy compares them."""

    zone: str
    targets: tuple[InventoryTarget, ...]
    environments: tuple[str, ...]

    def all_environments(self) -> list[str]:
        return list(dict.fromkeys(list(self.environments) + [t.environment for t in self.targets]))

    def has_role(self, role: str, environment: str | None = None) -> bool:
        r = role.casefold()
        return any(r in (x.casefold() for x in t.roles)
                   and (environment is None or t.environment.casefold() == environment.casefold())
                   for t in self.targets)

    def roles(self) -> list[str]:
        return list(dict.fromkeys(r for t in self.targets for r in t.roles))


def inventory_document(zone: str, targets: Iterable[tuple[str, str, Iterable[str]]],
                       environments: Iterable[str]) -> dict[str, Any]:
    """The file's content for zone ``zone``: ``targets`` as (name, environment, roles)."""
    rows = [{"name": n, "environment": e, "roles": sorted(r, key=str.casefold)} for n, e, r in targets]
    envs = sorted({e.casefold(): e for e in list(environments) + [r["environment"] for r in rows]}.values(),
                  key=str.casefold)
    return {"format": INVENTORY_FORMAT, "zone": zone, "environments": envs,
            "targets": sorted(rows, key=lambda r: r["name"].casefold())}


def _bad(path: Path, problem: str) -> UsageError:
    return UsageError(f"--targets {path}: {problem}; write it in the zone that deploys: "
                      "`bundlekit targets export-inventory -o FILE`", code="invalid_inventory")


def load_inventory(path: Path) -> Inventory:
    """Read an inventory file. Raises ``UsageError`` ``invalid_inventory`` (naming the file and
    the field) for anything that is not one, and what ``read_user_file`` raises for a file that
    cannot be read."""
    raw = read_user_file(path, what=f"target inventory {path}", limit=_MAX_BYTES)
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise _bad(path, f"not JSON ({err})") from None
    if not isinstance(doc, dict) or doc.get("format") != INVENTORY_FORMAT:
        raise _bad(path, f"'format' is not {INVENTORY_FORMAT!r}")
    zone = doc.get("zone")
    targets = doc.get("targets")
    environments = doc.get("environments", [])
    if not isinstance(zone, str) or not isinstance(targets, list) or not isinstance(environments, list) \
            or not all(isinstance(e, str) for e in environments):
        raise _bad(path, "needs 'zone' (text), 'targets' (a list) and 'environments' (a list of names)")
    out = []
    for i, t in enumerate(targets):
        if not (isinstance(t, dict) and isinstance(t.get("name"), str) and isinstance(t.get("environment"), str)
                and isinstance(t.get("roles"), list) and all(isinstance(r, str) for r in t["roles"])):
            raise _bad(path, f"targets[{i}] needs 'name', 'environment' (text) and 'roles' (a list of names)")
        out.append(InventoryTarget(t["name"], t["environment"], tuple(t["roles"])))
    return Inventory(zone, tuple(out), tuple(environments))
