"""The reserved project ``bundlekit``: bundlekit's own releases (decision 560).

``bundlekit export-self`` makes a release of the project whose slug is :data:`SELF_SLUG`; no
release file may use that slug, and a zone installs such a release with ``bundlekit
self-update``, never by deploying it: its release has no steps, so a deployment of it would run
nothing and record a success that installed nothing (newuser finding 5). Every workflow that
would run, plan or record a deployment of a project asks :func:`refuse_self_project` first; the
dashboard asks :func:`is_self_project` to show the project apart (decision 947).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bundlekit.core.text import shell_word
from bundlekit.errors import UsageError

__all__ = ["SELF_SLUG", "is_self_project", "refuse_self_project", "export_command", "full_export",
           "refuse_self_import"]

#: The project slug of bundlekit's own releases.
SELF_SLUG = "bundlekit"


def is_self_project(slug: str) -> bool:
    """Whether ``slug`` (a project's slug, any letter case) is the reserved project."""
    return slug.casefold() == SELF_SLUG


def export_command(slug: str, to: str, *, full: bool = False) -> str:
    """The command a source zone runs to export a new bundle of project ``slug`` to zone ``to``
    (already shell-quoted by the caller): ``bundlekit export-self --to TO -o OUT --wheelhouse DIR``
    for bundlekit's own project, which has no release file (review atk35 F15; newuser35 findings 3
    and 16), else ``bundlekit export RELEASE_FILE --to TO -o OUT`` (newuser36 finding 1); with ``--full`` (every package's
    bytes, none by reference or as changes) when ``full``: export-self has it too."""
    if is_self_project(slug):
        return f"bundlekit export-self --to {to} -o OUT --wheelhouse DIR" + (" --full" if full else "")
    return f"bundlekit export RELEASE_FILE --to {to}" + (" --full" if full else "") + " -o OUT"


def full_export(slug: str, to: str) -> str:
    """The export a refusal of an import suggests when the bundle lacks a package's bytes (by
    reference, or as changes to one this zone lacks): ``bundlekit export RELEASE_FILE --to TO --full -o
    OUT`` (all of it, so it runs as printed: newuser36 finding 1), or for
    bundlekit's own release, which no release file makes, ``bundlekit export-self --to TO -o OUT
    --wheelhouse DIR --full`` (``to``: the zone the source exported it to, quoted here; newuser35
    finding 16)."""
    return export_command(slug, shell_word(to), full=True)


def refuse_self_project(slug: str, home: Path, *, asked: str) -> None:
    """Refuse (``UsageError`` ``self_not_deployable``) ``asked`` (the command, as a phrase:
    ``deploy bundlekit 0.1.1``) when ``slug`` is the reserved project; the message names the
    command that installs bundlekit in the zone at ``home``. Returns for any other project."""
    if not is_self_project(slug):
        return
    raise UsageError(
        f"{asked}: the project bundlekit is bundlekit's own release, which is never deployed to an environment (it "
        "has no steps: a deployment would install nothing). A zone installs it with `bundlekit self-update BUNDLE "
        f"--home {shell_word(str(home))}` (BUNDLE: what bundlekit export-self made). Nothing was run, recorded or "
        "changed", code="self_not_deployable", details={"project": SELF_SLUG})


def refuse_self_import(manifest: Any, bundle: Path, home: Path) -> None:
    """Refuse (``UsageError`` ``self_not_importable``) a plain ``import`` of ``bundle`` when its
    verified release ``manifest`` (a ``format.manifest.Manifest``) is of the reserved project: an
    import would make it the zone's accepted bundlekit (its sequence then refuses an older build
    as a rollback) without installing it or checking that it runs; ``bundlekit self-update`` does
    both first, then imports it (newuser35 finding 13, decision 972). Returns for any other."""
    if manifest.kind != "release" or not is_self_project(str(manifest.project.get("slug", ""))):
        return
    version = manifest.release.get("version")
    where = shell_word(str(home))
    raise UsageError(
        f"{bundle}: bundlekit {version} from zone {manifest.source.name} is bundlekit's own release, which a zone "
        f"installs with `bundlekit self-update {shell_word(str(bundle))} --home {where}` (it checks the bundle as "
        "import does, installs it in a new environment, imports it only once that runs, and switches to it; "
        f"`--dry-run` first shows what it would do). `import` would make bundlekit {version} this zone's accepted "
        "bundlekit without installing it, and an older build would then be refused as a rollback. Nothing was "
        "changed", code="self_not_importable", details={"project": SELF_SLUG, "version": version})
