"""Shell completion from the zone's state: project names, release versions, environments, targets.

click completes commands and options by itself (``eval "$(_BUNDLEKIT_COMPLETE=bash_source
bundlekit)"``, see the README); this module adds the values only the zone knows. It attaches
by parameter name to every command that has one (``project``, ``version``, ``environment``,
``machine``, a target ``name``, ``deployment_id``), so a new command gets completion by
naming its parameters the usual way. The zone is the one ``--home`` names on the command line
so far, else ``$BUNDLEKIT_HOME`` or ``~/.bundlekit``; completion never fails a shell: a
missing or unreadable zone completes nothing.
"""

from __future__ import annotations

from typing import Callable, Iterable

import click
from click.shell_completion import CompletionItem

from bundlekit.cli.common import resolve_home
from bundlekit.errors import BundleError
from bundlekit.zone import projects
from bundlekit.zone.deployments import list_deployments
from bundlekit.zone.home import Zone, open_zone
from bundlekit.zone.targets import list_targets

__all__ = ["install"]

Completer = Callable[[click.Context, click.Parameter, str], list[CompletionItem]]


def _from_zone(ctx: click.Context, read: Callable[[Zone, click.Context], Iterable[str]], incomplete: str,
               ) -> list[CompletionItem]:
    home = None
    c: click.Context | None = ctx
    while c is not None and home is None:
        home = c.params.get("home")
        c = c.parent
    try:
        with open_zone(resolve_home(home)) as z:
            values = sorted(set(read(z, ctx)), key=str.lower)
    except (BundleError, OSError, ValueError, KeyError):
        return []
    low = incomplete.lower()
    return [CompletionItem(v) for v in values if v.lower().startswith(low)]


def _projects(z: Zone, ctx: click.Context) -> Iterable[str]:
    for slug, name in projects.project_names(z.db).items():
        yield slug
        if " " not in name:
            yield name


def _versions(z: Zone, ctx: click.Context) -> Iterable[str]:
    project = ctx.params.get("project")
    if not project:
        return []
    p = projects.find_project(z.db, project, z.name)
    return [r["version"] for r in projects.list_releases(z.db) if r["slug"] == p.slug]


def _environments(z: Zone, ctx: click.Context) -> Iterable[str]:
    yield from (t.environment for t in list_targets(z.db))
    yield from (d["environment"] for d in list_deployments(z.db))


def _targets(z: Zone, ctx: click.Context) -> Iterable[str]:
    return [t.name for t in list_targets(z.db)]


def _deployments(z: Zone, ctx: click.Context) -> Iterable[str]:
    return [d["id"] for d in list_deployments(z.db)]


def _completer(read: Callable[[Zone, click.Context], Iterable[str]]) -> Completer:
    def complete(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
        return _from_zone(ctx, read, incomplete)
    return complete


#: parameter name -> what completes it (``name`` only under ``targets``).
BY_NAME: dict[str, Completer] = {
    "project": _completer(_projects),
    "version": _completer(_versions),
    "environment": _completer(_environments),
    "machine": _completer(_targets),
    "deployment_id": _completer(_deployments),
}


def install(group: click.Group, path: str = "") -> None:
    """Attach the zone completers to every command of ``group`` by parameter name."""
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            install(cmd, f"{path}{name} ")
            continue
        for param in cmd.params:
            completer = BY_NAME.get(param.name or "")
            if param.name == "name" and path == "targets " and name != "add":
                completer = _completer(_targets)
            if completer is not None and getattr(param, "_custom_shell_complete", None) is None:
                # click's hook for shell_complete=...; set here so commands need not repeat it
                param._custom_shell_complete = completer  # type: ignore[attr-defined]
