"""The environments a zone knows, and one rule for every command that is given an environment name.

A zone knows an environment when something in its state names it: a target, a deployment, a
release (its lifecycle, a step's environment filter, a variable's scope), the zone's own
variable scopes, or a retention policy. Names compare case-insensitively and keep the first
spelling met (lifecycles and releases before what the zone's operators typed).

:func:`resolve_environment` is the rule (decision 394): a name that matches a known one in
another case is that one (so ``production`` is ``Production``: one dashboard column, one
retention policy); a name close to a known one but not equal is most likely a typo and is
refused with the closest names, unless the caller says it is new; any other name is new.
"""

from __future__ import annotations

import json
from typing import Any

from bundlekit.core.hints import cut, shown
from bundlekit.core.names import check_environment
from bundlekit.core.text import closest
from bundlekit.errors import InputError, StateError
from bundlekit.zone.db import Reader

__all__ = ["known_environments", "resolve_environment"]


def _snapshot_environments(snapshot: dict[str, Any]) -> list[str]:
    out = [e for s in snapshot.get("steps", {}).values() for e in s.get("environments", [])]
    out += [e for v in snapshot.get("variables", {}).values() for e in (v.get("scope") or {}).get("environment", [])]
    return out


def known_environments(db: Reader) -> dict[str, str]:
    """casefolded name -> spelling of every environment the zone's state names."""
    names: list[str] = []
    for r in db.all("SELECT lifecycle, snapshot FROM releases"):
        for phase in (json.loads(r["lifecycle"]) if r["lifecycle"] else {}).get("phases", []):
            names += phase["environments"]
        names += _snapshot_environments(json.loads(r["snapshot"]))
    for r in db.all("SELECT local FROM projects"):
        names += _snapshot_environments(json.loads(r["local"]))
    names += [r["environment"] for r in db.all("SELECT DISTINCT environment FROM targets")]
    names += [r["environment"] for r in db.all("SELECT DISTINCT environment FROM deployments")]
    names += [r["environment"] for r in db.all("SELECT environment FROM retention_rules WHERE environment <> ''")]
    known: dict[str, str] = {}
    for n in names:
        known.setdefault(n.casefold(), n)
    return known


def resolve_environment(db: Reader, name: str, *, option: str = "--environment", new: bool = False) -> str:
    """``name`` in the spelling the zone knows it by, or ``name`` itself when it is new.

    Raises ``InputError`` ``invalid_label`` for a name no environment may have (a new one is
    stored: review relayatk #9 found a 100 000-character one kept by `retention set`), and
    ``StateError`` ``unknown_environment`` (exit 1) when ``name`` is not known but is close to a
    known environment (the closest are named) and ``new`` is false.
    """
    check_environment(name, error=InputError, code="invalid_label")
    known = known_environments(db)
    if name.casefold() in known:
        return known[name.casefold()]
    similar = closest(name, known.values())
    if not similar or new:
        return name
    listed = ", ".join(sorted(known.values(), key=str.casefold))
    raise StateError(f"{option} {shown(name)}: no environment of that name in this zone (known: {listed}). Did you mean "
                     f"{', '.join(repr(k) for k in similar)}? If it is a new environment, repeat the command with "
                     "--new", code="unknown_environment",
                     details={"environment": cut(name), "known": sorted(known.values(), key=str.casefold),
                              "suggestions": similar})
