"""The state rules of a release import (spec/bundle-format.md §4.4, §6.6): what a zone decides
from the release bundles it accepted before, after the bundle verified.

A bundle whose digest the zone accepted is a no-op, whatever its sequence; otherwise its
sequence must be above the highest the zone accepted for its project (source zone, space and
slug, the last two compared case-insensitively): below is a ``rollback``, equal (other content,
or it would be the same digest) is ``sequence_reused``. Bundles of different projects or
sources never refuse each other. The conformance kit's runner applies these rules to a vector
with a prior state (:func:`check_release_state`, ``scripts/vector_runner.py``); the import makes
the same two checks in the same order before anything else it decides (``importer/importer.py``).
"""

from __future__ import annotations

from bundlekit.core.hints import home_flag
from bundlekit.core.selfproject import SELF_SLUG, full_export
from bundlekit.core.text import shell_word
from bundlekit.errors import TrustError, VerificationError
from bundlekit.format.manifest import PackageRef
from bundlekit.importer.verify import VerifiedBundle
from bundlekit.zone import projects, sequences, truststore
from bundlekit.zone.db import Reader
from bundlekit.zone.spaces import DEFAULT, reads_same, space_names

__all__ = ["check_release_state", "check_sequence", "check_space", "package_gone"]


def check_release_state(db: Reader, v: VerifiedBundle, where: str) -> bool:
    """True when the zone whose state is ``db`` accepted the verified release ``v`` before (the
    same bundle digest): importing it again changes nothing. False when ``v`` may be imported;
    else ``VerificationError`` ``rollback`` (its sequence is below its project's highest accepted
    one) or ``sequence_reused`` (equal to it), the message naming ``where``."""
    if sequences.already_imported(db, v.digest):
        return True
    check_sequence(db, v, where)
    return False


def check_sequence(db: Reader, v: VerifiedBundle, where: str) -> None:
    """Refuse (``VerificationError``) the verified release ``v`` when its sequence is below
    (``rollback``) or equal to (``sequence_reused``) the highest the zone accepted for its project
    from its source; the caller has made sure ``v`` is not a bundle the zone accepted before."""
    m = v.manifest
    project, version = m.project["name"], m.release["version"]
    key = sequences.release_key(v.source.zone_id, m.project["space"], m.project["slug"])
    last = sequences.last_import(db, v.source.zone_id, m.project["slug"])
    newest = f"{last['release']} (sequence {last['sequence']})" if last else "a newer bundle"
    how = (f"To promote {version} again, re-export it in zone {v.source.name} (a new export gets the next "
           f"sequence number); when carrying several bundles of {project}, import them in the order they were "
           "exported, the newest last")
    details = {"project": m.project["slug"], "sequence": m.sequence,
               "last_sequence": last["sequence"] if last else None, "last_release": last["release"] if last else None,
               "hints": ["re-export it", "import the newer one last"]}
    sequences.check_incoming(
        db, key, m.sequence, older_code="rollback", details=details,
        older=f"{where}: {project} {version} has sequence {m.sequence} from zone {v.source.name!r}, older than "
              f"{project} {newest} already imported here; refusing a rollback or replay. {how}",
        reused=f"{where}: sequence {m.sequence} of {project} from zone {v.source.name!r} was already imported "
               "with different content; refusing. Re-export the release without --sequence")


def check_space(db: Reader, v: VerifiedBundle, space: str, where: str) -> None:
    """Refuse (``TrustError`` ``space_denied``) the verified release ``v`` imported into ``space``
    (a space of this zone, in its spelling) unless its source is trusted in that space, the
    bundle's ``project.space`` is that space (any, for ``Default``) and its project, if the
    zone holds it, belongs to that space (decision 660). Nothing the bundle says chooses the
    space: only a trust rule of ``space`` lets a bundle into it."""
    m = v.manifest
    trusted_in = truststore.space_of(db, v.source.zone_id)
    if m.project.get("slug") == SELF_SLUG and any(s.casefold() != DEFAULT.casefold()
                                                   for s in (space, trusted_in or DEFAULT)):
        raise _self_space_denied(v, trusted_in, where)
    named = str(m.project.get("space", ""))
    if trusted_in is None or trusted_in.casefold() != space.casefold():
        raise TrustError(f"{where}: zone {v.source.name!r} is not trusted in space {space} of this zone"
                         + (f" (its trust rule is in space {trusted_in})" if trusted_in else "")
                         + "; a source's releases enter only the space its trust rule names. Nothing was changed. "
                         + _way_in(db, v, named, space, trusted_in),
                         code="space_denied", details={"space": space, "trusted_in": trusted_in})
    held = projects.project_for_import(db, m.project["slug"])
    if space != DEFAULT and not reads_same(named, space):  # as its source spells it: it reads as this space
        source = v.source.name
        if held is not None and _takes(held.in_space, named):  # its project is here, in a space that takes it
            way = (f"Project {m.project['name']} belongs to space {held.in_space} of this zone (a project never moves "
                   f"between spaces): to take zone {source}'s releases into it, {_move_rule(source, held.in_space)}")
        else:
            target = _space_taking(db, named)
            way = (f"Zone {source} must export it with space = {space!r} under [project] in its release file, which "
                   f"needs a space of that name there too (in zone {source}, `bundlekit spaces add "
                   f"{shell_word(space)}`), or this zone take it into space {target}, where it can enter: "
                   f"{_move_rule(source, target)}")
        raise TrustError(f"{where}: the bundle's project.space is {named!r}, but it is imported into space {space}, "
                         f"the space zone {source!r} is trusted in; a bundle for another space is refused. "
                         f"Nothing was changed. {way}", code="space_denied", details={"space": space, "named": named})
    if held is not None and held.in_space.casefold() != space.casefold():
        raise TrustError(f"{where}: project {m.project['slug']!r} of this zone belongs to space {held.in_space}, not "
                         f"{space}; no import into one space changes another. Nothing was changed. "
                         + _held_elsewhere(v, held.in_space),
                         code="space_denied", details={"space": space, "held_in": held.in_space})


def _held_elsewhere(v: VerifiedBundle, held_in: str) -> str:
    """The way in for a release whose project this zone holds in space ``held_in``, another than
    its source's trust rule names: a project never moves between spaces (decision 946), so only
    a rule in ``held_in`` takes its releases (new-user review 38, F6: ``--space`` of the rule led
    to this same dead end)."""
    return (f"Project {v.manifest.project['name']} stays in space {held_in} (a project never moves between spaces), "
            f"so its releases enter only there: {_move_rule(v.source.name, held_in)}")


def _takes(space: str, named: str) -> bool:
    """Whether space ``space`` of this zone takes a release whose ``project.space`` is ``named``
    (decision 660: ``Default`` takes any; another space only its own)."""
    return space == DEFAULT or reads_same(named, space)


def _way_in(db: Reader, v: VerifiedBundle, named: str, space: str, trusted_in: str | None) -> str:
    """What makes the release ``v`` (``project.space`` ``named``), refused in ``space`` because its
    source is trusted in ``trusted_in``, importable: the ``--space`` of the trust rule when that
    space takes it, else moving the rule with ``trust set --space`` (keeping its ``--via`` and
    other settings; review atk35 #5) to a space that takes it: ``space`` itself when it does,
    else the space the release names, else ``Default``."""
    target = space if _takes(space, named) else _space_taking(db, named)
    if trusted_in is None:
        return f"Trust its card in space {target} (`bundlekit trust add CARD --space {shell_word(target)}{home_flag()}`)"
    held = projects.project_for_import(db, v.manifest.project["slug"])
    if held is not None and held.in_space.casefold() != trusted_in.casefold():  # --space of the rule would fail too
        return _held_elsewhere(v, held.in_space)
    if _takes(trusted_in, named):
        return f"Import it with the --space of its trust rule (`--space {shell_word(trusted_in)}`)"
    return (f"This release names space {named} (project.space), so only space {target}"
            f"{'' if target == DEFAULT else f' or {DEFAULT}'} of this zone can take it: "
            f"{_move_rule(v.source.name, target)}")


def _space_taking(db: Reader, named: str) -> str:
    """The space of this zone a release naming space ``named`` enters best: the one that reads
    like it, else ``Default`` (which takes any)."""
    return next((s for s in space_names(db) if s != DEFAULT and reads_same(s, named)), DEFAULT)


def _move_rule(source: str, target: str) -> str:
    """The command that moves zone ``source``'s trust rule to space ``target`` keeping its other
    settings (``--via``, ``--evidence-for``, ...; not remove + add, which drop them: review atk35
    #5), and how to import the release then."""
    then = "" if target == DEFAULT else f" with --space {shell_word(target)}"
    return (f"`bundlekit trust set {shell_word(source)} --space {shell_word(target)}{home_flag()}` moves its trust rule there "
            f"and keeps the rule's other settings; then import it{then}")


def _self_space_denied(v: VerifiedBundle, trusted_in: str | None, where: str) -> TrustError:
    """The refusal of bundlekit's own release from a source not trusted in space Default, or into
    another space: advice that works for it (``export-self`` has no release file and no space, and
    self-update no ``--space``), not the advice for other projects (finding selfatk 3)."""
    name = v.source.name
    return TrustError(
        f"{where}: bundlekit's own releases (the reserved project bundlekit) are accepted only in space {DEFAULT}, "
        f"from a source trusted there for the project bundlekit; zone {name!r} is trusted in space "
        f"{trusted_in or DEFAULT}. A team space never replaces the zone's bundlekit. Nothing was changed. To accept "
        f"bundlekit from zone {name}, trust it in space {DEFAULT} (a zone is trusted in one space: `bundlekit trust "
        f"remove {shell_word(name)}{home_flag()}`, then `bundlekit trust add CARD --projects 'PATTERNS,bundlekit'{home_flag()}`), or have a "
        f"zone trusted in {DEFAULT} for bundlekit send it", code="space_denied",
        details={"space": DEFAULT, "trusted_in": trusted_in, "project": SELF_SLUG})


def package_gone(v: VerifiedBundle, p: PackageRef) -> VerificationError:
    """The refusal (``package_missing``) of an import that relies on the store's copy of package
    ``p``'s bytes, found gone at its commit: ``bundlekit prune`` removed it after the import
    was planned (decision 771). Nothing was imported."""
    where = f"{v.path}: package {p.id} {p.version}"
    if not p.included and p.delta is None:
        return VerificationError(
            f"{where} is listed by reference, and this zone no longer has it: bundlekit prune removed it while "
            f"this import was being planned; nothing was imported. Export the release again in zone {v.source.name} "
            f"with --full (`{full_export(v.manifest.project['slug'], v.manifest.destination.name)}`: the package "
            "travels with it) and import that bundle", code="package_missing",
            details={"package": p.id, "version": p.version})
    return VerificationError(
        f"{where}: the bundle carries it, and the import took the zone's copy of the same bytes instead, which "
        "bundlekit prune removed before the import was applied; nothing was imported. Import the same bundle "
        "again (it then stores the bundle's copy)", code="package_missing",
        details={"package": p.id, "version": p.version})
