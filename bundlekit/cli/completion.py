"""Shell completion from the zone's state: project names, release versions, environments, targets.

click completes commands and options by itself (``eval "$(_BUNDLEKIT_COMPLETE=bash_source
bundlekit)"``, see the README); this module adds the values only the zone knows. It attaches
by parameter name to every command that has one (``project``: slugs; ``version``,
``environment``, ``machine``, a target ``name``, ``deployment_id``, ``tenant``, ``phase``; a
trusted zone for ``--to`` and ``trust set NAME``), so a new command gets completion by naming
its parameters the usual way. The zone is the one ``--home`` names on the command line so far, else ``$BUNDLEKIT_HOME`` or ``~/.bundlekit``; completion never fails a shell: a
missing or unreadable zone completes nothing.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Callable, Iterable

import click
from click.shell_completion import CompletionItem

from bundlekit.cli.common import resolve_home
from bundlekit.errors import BundleError

if TYPE_CHECKING:
    from bundlekit.zone.home import Zone
    from bundlekit.zone.projects import ProjectRecord

# The zone's modules are imported by the completer that reads them: every command attaches its
# completers as it loads (cli/lazy.py), and a command that never completes should not load the
# zone's target, environment and deployment readers to do so (decision 880).

__all__ = ["attach", "install"]

Completer = Callable[[click.Context, click.Parameter, str], list[CompletionItem]]
#: Seconds a completion may take before it offers nothing (a shell's TAB must not hang).
DEADLINE = 2.0


def _from_zone(ctx: click.Context, read: Callable[[Zone, click.Context], Iterable[str]], incomplete: str,
               ordered: bool = False) -> list[CompletionItem]:
    home = None
    c: click.Context | None = ctx
    while c is not None and home is None:
        home = c.params.get("home")
        c = c.parent
    from bundlekit.zone.home import open_zone

    found: list[str] = []

    def gather() -> None:
        try:
            with open_zone(resolve_home(home)) as z:
                found.extend(dict.fromkeys(read(z, ctx)))
        except (BundleError, OSError, ValueError, KeyError):
            found.clear()

    # A TAB never waits for long: a state locked by a writer (SQLite waits for it up to 30 s) or
    # an unreachable server completes nothing after DEADLINE seconds (review v33-15a F13).
    worker = threading.Thread(target=gather, name="completion", daemon=True)
    worker.start()
    worker.join(DEADLINE)
    if worker.is_alive():
        return []
    values = found if ordered else sorted(found, key=str.lower)  # ordered: as the lifecycle or process has them
    low = incomplete.lower()
    bash = any(k.endswith("_COMPLETE") and v.startswith("bash") for k, v in os.environ.items())
    return [CompletionItem(_bash_word(v) if bash else v) for v in values
            if v.lower().startswith(low) and v.isprintable()]


#: Characters a bash word holds as themselves; any other is written with a backslash.
_BASH_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.,/@%+")


def _bash_word(value: str) -> str:
    """``value`` as click's bash script must be given it so that bash puts it on the line as one
    word: every special character behind a backslash (``Prod\\ East``), and that backslash
    doubled, since the script reads each candidate with ``read`` (no ``-r``), which takes one
    level of backslashes away. Unescaped, a name holding ``$(...)``, a quote or a space ran a
    command or became several words on Enter (reviews v33-15a F5, w33-15). zsh's ``compadd`` and
    fish quote what they insert themselves. A name with a character that cannot be typed (a
    control character) is not offered."""
    return "".join(ch if ch in _BASH_PLAIN or not ch.isascii() and ch.isalnum() else "\\\\" + ch for ch in value)


def _projects(z: Zone, ctx: click.Context) -> Iterable[str]:
    # One word per project, its slug: every command takes it, it never needs quoting, and a
    # name differing from its slug only by case would be offered twice (finding 15.5).
    from bundlekit.zone import projects

    return list(projects.project_names(z.db))


def _versions(z: Zone, ctx: click.Context) -> Iterable[str]:
    from bundlekit.zone import projects

    project = ctx.params.get("project")
    if not project:
        return []
    p = projects.find_project(z.db, project, z.name)
    return [r["version"] for r in projects.list_releases(z.db) if r["slug"] == p.slug]


def _environments(z: Zone, ctx: click.Context) -> Iterable[str]:
    from bundlekit.zone.environments import known_environments

    return known_environments(z.db).values()  # one spelling each (decision 394)


def _project_of(z: Zone, ctx: click.Context) -> ProjectRecord | None:
    from bundlekit.zone import projects

    ref = ctx.params.get("project")
    return projects.find_project(z.db, ref, z.name) if ref else None


def _tenants(z: Zone, ctx: click.Context) -> Iterable[str]:
    """Tenants a value of the project (or of any project) is scoped to, in its newest release or
    this zone's values, and those deployed for."""
    from bundlekit.zone import projects
    from bundlekit.zone.deployments import list_deployments

    one = _project_of(z, ctx)
    seen: dict[str, str] = {}
    # the newest release of each project and the zone's own values: every release's snapshot
    # made a TAB parse the project's whole history (review v33-15a F13)
    owners = [one] if one else [projects.find_project(z.db, slug, z.name) for slug in projects.project_names(z.db)]
    for snap in _snapshots(z, owners):
        for v in snap["variables"].values():
            for t in (v.get("scope") or {}).get("tenant", []):
                seen.setdefault(t.casefold(), t)
    for d in list_deployments(z.db):
        if d["tenant"] and (one is None or d["project_slug"] == one.slug):
            seen.setdefault(d["tenant"].casefold(), d["tenant"])
    return seen.values()


def _phases(z: Zone, ctx: click.Context) -> Iterable[str]:
    """The lifecycle phases of the project's releases, in lifecycle order."""
    from bundlekit.zone import projects

    one = _project_of(z, ctx)
    names: dict[str, str] = {}
    for r in projects.list_releases(z.db):
        if one is None or r["slug"] == one.slug:
            for p in (r["lifecycle"] or {}).get("phases", []):
                names.setdefault(p["name"].casefold(), p["name"])
    return names.values()


def _snapshots(z: Zone, owners: list[ProjectRecord]) -> list[dict]:  # type: ignore[type-arg]
    """Each of ``owners``' local values, then its newest release's snapshot when it has a release
    (the zone's releases read once)."""
    from bundlekit.zone import projects

    newest = {r["slug"]: r["version"] for r in projects.list_releases(z.db)}  # by version: newest last
    return [snap for p in owners for snap in
            [p.local, *([projects.get_release(z.db, p, newest[p.slug])["snapshot"]] if p.slug in newest else [])]]


def _latest_snapshots(z: Zone, ctx: click.Context) -> list[dict]:  # type: ignore[type-arg]
    """:func:`_snapshots` of the project on the command line (none without one)."""
    one = _project_of(z, ctx)
    return [] if one is None else _snapshots(z, [one])


def _steps(z: Zone, ctx: click.Context) -> Iterable[str]:
    """The steps of the project's newest release, in process order."""
    for snap in _latest_snapshots(z, ctx)[1:]:
        steps = snap.get("steps") or {}
        return [steps[key]["name"] for key in snap.get("step_order", ()) if key in steps]
    return []


def _variable_names(z: Zone, ctx: click.Context) -> Iterable[str]:
    """The project's variable names, as this zone and its newest release spell them."""
    names: dict[str, str] = {}
    for snap in _latest_snapshots(z, ctx):
        for v in (snap.get("variables") or {}).values():
            names.setdefault(v["name"].casefold(), v["name"])
    return names.values()


def _spaces(z: Zone, ctx: click.Context) -> Iterable[str]:
    from bundlekit.zone.spaces import space_names

    return space_names(z.db)


def _targets(z: Zone, ctx: click.Context) -> Iterable[str]:
    from bundlekit.zone.targets import list_targets

    return [t.name for t in list_targets(z.db)]


def _deployments(z: Zone, ctx: click.Context) -> Iterable[str]:
    from bundlekit.zone.deployments import list_deployments

    return [d["id"] for d in list_deployments(z.db)]


def _zones(z: Zone, ctx: click.Context) -> Iterable[str]:
    from bundlekit.zone.truststore import zone_names

    return zone_names(z.db).values()


#: (command path, parameter name) whose value is a trusted zone's name (finding 15.1); ``--to``
#: elsewhere is a database URL or a HOST:PORT.
ZONE_PARAMS = {("export", "to"), ("outbox pack", "to"), ("deployments receipt", "to"), ("trust set", "name"),
               ("trust remove", "name"), ("trust set", "share"), ("trust add", "share"), ("relay", "to"),
               ("trust add", "via"), ("trust set", "via"), ("outputs", "zone_name")}


def _completer(read: Callable[[Zone, click.Context], Iterable[str]], ordered: bool = False) -> Completer:
    def complete(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
        return _from_zone(ctx, read, incomplete, ordered)
    return complete


#: parameter name -> what completes it (``name`` only under ``targets``).
BY_NAME: dict[str, Completer] = {
    "project": _completer(_projects),
    "version": _completer(_versions),
    "environment": _completer(_environments),
    "machine": _completer(_targets),
    "deployment_id": _completer(_deployments),
    "tenant": _completer(_tenants),
    "phase": _completer(_phases, ordered=True),
    "step": _completer(_steps, ordered=True),
    "space": _completer(_spaces, ordered=True),
}


def install(group: click.Group, path: str = "") -> None:
    """Attach the zone completers to every command of ``group`` by parameter name."""
    for name, cmd in group.commands.items():
        attach(name, cmd, path)


def attach(name: str, cmd: click.Command, path: str = "") -> None:
    """Attach the zone completers to ``cmd`` (named ``name`` under the command path ``path``,
    ``"targets "`` for a subcommand of ``targets``) and to its subcommands, by parameter name.
    The root group calls it as it loads a command (``cli/lazy.py``)."""
    if isinstance(cmd, click.Group):
        install(cmd, f"{path}{name} ")
        return
    for param in cmd.params:
        completer = BY_NAME.get(param.name or "")
        if param.name == "name" and path == "targets " and name != "add":
            completer = _completer(_targets)
        if param.name == "name" and path == "variables " and name in ("set", "unset"):
            completer = _completer(_variable_names)
        if (f"{path}{name}", param.name) in ZONE_PARAMS:
            completer = _completer(_zones)
        if completer is not None and getattr(param, "_custom_shell_complete", None) is None:
            # click's hook for shell_complete=...; set here so commands need not repeat it
            param._custom_shell_complete = completer  # type: ignore[attr-defined]
