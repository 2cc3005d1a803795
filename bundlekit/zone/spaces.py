"""The spaces of a zone: teams kept apart inside one zone (decision 660).

A zone holds spaces; ``Default`` always exists and holds everything made before spaces. A
trust rule, a project and a target belong to one space (their ``in_space`` column); a
project's own ``space`` is what its source wrote (``project.space`` of its bundles) and is
not the space it belongs to here. Space names are labels (spec/names.md §5) compared without
case, kept in the spelling they were added with.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from bundlekit.core.clock import EpochSeconds
from bundlekit.core.names import check_label
from bundlekit.core.text import closest
from bundlekit.errors import InputError, StateError
from bundlekit.zone import audit
from bundlekit.zone.db import Reader
from bundlekit.zone.home import Zone

__all__ = ["DEFAULT", "list_spaces", "add_space", "resolve_space", "space_names", "answers_for", "move_trust"]

#: The space every zone has, and every command's space when none is given.
DEFAULT = "Default"


def space_names(db: Reader) -> list[str]:
    """The names of the zone's spaces, ``Default`` first, then as added."""
    rows = db.all("SELECT name, added FROM spaces")
    return [r["name"] for r in sorted(rows, key=lambda r: (r["name"] != DEFAULT, r["added"], r["name"].casefold()))]


def list_spaces(db: Reader) -> list[dict[str, Any]]:
    """Every space with what belongs to it: ``{name, added (epoch seconds; 0 for Default),
    projects, targets, trusted_zones}`` (counts), in :func:`space_names` order."""
    added = {r["name"]: r["added"] for r in db.all("SELECT name, added FROM spaces")}
    counts: dict[str, dict[str, int]] = {name.casefold(): {"projects": 0, "targets": 0, "trusted_zones": 0}
                                         for name in added}
    for table, key in (("projects", "projects"), ("targets", "targets"), ("trusted_zones", "trusted_zones")):
        for r in db.all(f"SELECT in_space, COUNT(*) AS n FROM {table} GROUP BY in_space"):
            counts.setdefault(r["in_space"].casefold(), {"projects": 0, "targets": 0, "trusted_zones": 0})
            counts[r["in_space"].casefold()][key] += r["n"]
    return [{"name": name, "added": added[name], **counts[name.casefold()]} for name in space_names(db)]


def resolve_space(db: Reader, name: str, *, option: str = "--space") -> str:
    """``name`` in the spelling the zone knows the space by; ``StateError`` ``unknown_space``
    naming the closest spaces and how to add one."""
    known = space_names(db)
    for k in known:
        if k.casefold() == name.casefold():
            audit.worked_in(k, spelling_only=True)  # the entry names the space as the zone spells it
            return k
    similar = closest(name, known)
    hint = f" Did you mean {', '.join(repr(s) for s in similar)}?" if similar else ""
    raise StateError(f"{option} {name!r}: no space of that name in this zone (spaces: {', '.join(known)}).{hint} "
                     f"Add it with `bundlekit spaces add NAME`; nothing was changed", code="unknown_space",
                     details={"space": name, "known": known, "suggestions": similar})


#: Unicode's Default_Ignorable_Code_Point ranges (DerivedCoreProperties.txt): characters that
#: render as nothing, so two names differing by one read the same.
_IGNORABLE = ((0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160), (0x17B4, 0x17B5),
              (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x206F), (0x3164, 0x3164),
              (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3),
              (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF))


def _invisible(ch: str) -> bool:
    code = ord(ch)
    return unicodedata.category(ch) == "Cf" or any(low <= code <= high for low, high in _IGNORABLE)


def _looks(name: str) -> str:
    """What a person sees of a space name: compatibility forms (fullwidth letters) and case
    folded, invisible formatting characters dropped (``Pay\u200bments`` reads ``Payments``)."""
    text = unicodedata.normalize("NFKC", name).casefold()
    return unicodedata.normalize("NFKC", "".join(ch for ch in text if not _invisible(ch)))


def add_space(zone: Zone, name: str, now: EpochSeconds) -> dict[str, Any]:
    """Add space ``name`` (a label without invisible formatting characters). ``InputError``
    ``invalid_label``; ``StateError`` ``space_exists`` when a space that reads the same exists
    (in any case, in another compatibility form such as fullwidth letters: review v33-11a F8, as
    an operator pasting a name into ``trust add --space`` cannot tell them apart). Returns its
    :func:`list_spaces` entry."""
    check_label(name, what="space name", error=InputError, code="invalid_label")
    hidden = next((ch for ch in name if _invisible(ch)), None)
    if hidden is not None:
        raise InputError(f"space name {name!r} holds the invisible character U+{ord(hidden):04X}: a space "
                         "name is read and typed by people; use visible characters only. Nothing was changed",
                         code="invalid_label", details={"space": name, "character": f"U+{ord(hidden):04X}"})
    with zone.db.transaction() as tx:
        taken = [k for k in space_names(tx) if _looks(k) == _looks(name)]
        if taken:
            raise StateError(f"space {taken[0]!r} already exists in zone {zone.name}; nothing was changed",
                             code="space_exists", details={"space": taken[0]})
        tx.run("INSERT INTO spaces(name, added) VALUES (?, ?)", (name, now))
    return next(s for s in list_spaces(zone.db) if s["name"] == name)


def answers_for(trusted_in: str | None, project_space: str) -> bool:
    """Whether a zone trusted here in space ``trusted_in`` may be sent, and report on, a project of
    this zone's space ``project_space`` (decision 915): a zone trusted in ``Default`` answers for
    every space, as a destination's ``Default`` takes any ``project.space`` (decision 660); one
    trusted in another space only for that space's projects. ``None`` (not trusted) for none."""
    if trusted_in is None:
        return False
    return trusted_in.casefold() in (DEFAULT.casefold(), project_space.casefold())


def move_trust(zone_name: str, space: str) -> str:
    """How an operator makes trusted zone ``zone_name`` answer for ``space`` (:func:`answers_for`):
    the words both refusals of decision 915 end with."""
    where = space if space == DEFAULT else f"{space} or {DEFAULT}"
    return (f"trust it in space {where} instead (`bundlekit trust remove {zone_name}`, then `bundlekit trust add "
            f"CARD --space {space}`)")
