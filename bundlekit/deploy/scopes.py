"""The environment and tenant a deployment names, in the spelling the release or the zone uses.

One name, one dashboard column: a name typed in another case is the known one; an unknown
name is refused with the closest known names (decision 198), before anything is recorded.
"""

from __future__ import annotations

from typing import Any

from bundlekit.core.names import check_label
from bundlekit.core.text import closest, shell_word
from bundlekit.core.hints import cut, in_space, shown, here_flags, home_flag
from bundlekit.errors import InputError, StateError
from bundlekit.importer.edits import known_scope_values
from bundlekit.promotion.gate import release_lifecycle
from bundlekit.zone import projects
from bundlekit.zone.home import Zone

__all__ = ["environment_spelling", "tenant_spelling", "release_tenants"]


def environment_spelling(zone: Zone, project: projects.ProjectRecord, release: dict[str, Any],
                         environment: str) -> str:
    """``environment`` as ``release`` spells it (lifecycle, step filters, scopes), else as this
    zone knows it (targets, the project's releases, deployments and scopes).

    Raises ``StateError`` ``unknown_environment`` (exit 1, nothing run) when nothing names it
    (a typo, most likely: the closest names are suggested). For a release with a lifecycle the
    gate refuses an environment the lifecycle lacks the same way, naming its phases.
    """
    names: list[str] = []
    lifecycle = release_lifecycle(release)
    if lifecycle is not None:
        names += lifecycle.environments()
    snap = release["snapshot"]
    names += [e for s in snap["steps"].values() for e in s.get("environments", [])]
    names += [e for v in snap["variables"].values() for e in (v.get("scope") or {}).get("environment", [])]
    names += list(known_scope_values(zone.db, project)["environment"].values())
    found = next((n for n in names if n.casefold() == environment.casefold()), None)
    if found is not None or lifecycle is not None:  # a lifecycle's gate names its own environments
        return found or environment
    known = sorted({n.casefold(): n for n in names}.values(), key=str.casefold)
    similar = closest(environment, known)
    hint = (f" Did you mean {', '.join(repr(k) for k in similar)}?" if similar else
            f" Known environments: {', '.join(known)}." if known else "")
    # inside a space its deployments see its own targets only: say so, and add the target there (review v33-11a N4)
    option = here_flags(project.in_space)
    note = " (a space's deployments see its own targets only)" if option else ""
    raise StateError(
        f"no target, deployment or release{in_space(project.in_space, 'of')} of zone {zone.name} names environment "
        f"{shown(environment)}{note}; nothing was run.{hint} To deploy to a new environment, add a target in it first: "
        f"`bundlekit targets add NAME --environment {shell_word(environment)} --role ROLE --ssh USER@HOST --host-key "
        f"KEY{option}{home_flag()}` (or --root DIR)",
        code="unknown_environment", details={"environment": environment, "known": known, "suggestions": similar})


def release_tenants(project: projects.ProjectRecord, release: dict[str, Any]) -> list[str]:
    """The tenants of a release: every tenant its own or this zone's values are scoped to, in
    their first spelling (a tenant needs no registration)."""
    known: list[str] = []
    for snap in (release["snapshot"], project.local):
        for v in snap["variables"].values():
            for t in (v.get("scope") or {}).get("tenant", []):
                if t.casefold() not in {k.casefold() for k in known}:
                    known.append(t)
    return known


def tenant_spelling(project: projects.ProjectRecord, release: dict[str, Any], tenant: str | None) -> str | None:
    """The tenant as the release or zone spells it; ``StateError`` ``unknown_tenant`` naming the closest
    (``InputError`` ``invalid_label`` first for a name no tenant could have)."""
    if tenant is None:
        return None
    check_label(tenant, what="--tenant", error=InputError, code="invalid_label")
    known = release_tenants(project, release)
    match = next((t for t in known if t.casefold() == tenant.casefold()), None)
    if match is not None:
        return match
    close = closest(tenant, known, cutoff=0.5)
    hint = (f" Did you mean {', '.join(repr(k) for k in close)}?" if close else
            f" Known tenants: {', '.join(sorted(known))}." if known else
            " No value of the project is scoped to a tenant; a tenant exists once the release or this zone scopes "
            f"a value to it (`bundlekit variables set {shell_word(project.slug)} NAME VALUE --tenant NAME"
            f"{here_flags(project.in_space)}`).")
    raise StateError(f"project {project.name!r}{in_space(project.in_space)} has no tenant {shown(tenant)}.{hint}",
                     code="unknown_tenant", details={"tenant": cut(tenant), "known": sorted(known)})
