"""The spaces of a zone: teams kept apart inside one zone (decision 660).

A zone holds spaces; ``Default`` always exists and holds everything made before spaces. A
trust rule, a project and a target belong to one space (their ``in_space`` column); a
project's own ``space`` is what its source wrote (``project.space`` of its bundles) and is
not the space it belongs to here. Space names are labels (spec/names.md §5) compared without
case, kept in the spelling they were added with.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from bundlekit.core.clock import EpochSeconds
from bundlekit.core.confusables import invisible, skeleton, small_capitals_folded
from bundlekit.core.hints import DEFAULT_SPACE, cut, home_flag
from bundlekit.core.names import check_label, label_problem, quoted
from bundlekit.core.text import closest, shell_word
from bundlekit.errors import InputError, StateError
from bundlekit.zone import audit
from bundlekit.zone.db import Reader
from bundlekit.zone.home import Zone

__all__ = ["DEFAULT", "list_spaces", "add_space", "resolve_space", "reads_same", "code_points", "told_apart", "space_names",
           "answers_for", "move_trust"]

#: The space every zone has, and every command's space when none is given.
DEFAULT = DEFAULT_SPACE

_SPACES = re.compile(r"\s+")


def space_names(db: Reader) -> list[str]:
    """The names of the zone's spaces, ``Default`` first, then as added."""
    rows = db.all("SELECT name, added FROM spaces")
    return [r["name"] for r in sorted(rows, key=lambda r: (r["name"] != DEFAULT, r["added"], r["name"].casefold()))]


def list_spaces(db: Reader) -> list[dict[str, Any]]:
    """Every space with what belongs to it: ``{name, added (epoch seconds; for Default, which every
    zone has from its start, the zone's creation time, or None in a state that does not record
    it), projects, targets, trusted_zones}`` (counts), in :func:`space_names` order."""
    added = {r["name"]: r["added"] for r in db.all("SELECT name, added FROM spaces")}
    if not added.get(DEFAULT):  # stored as 0 (schema 14, decision 660): not a time (decision 965)
        created = db.scalar("SELECT value FROM meta WHERE key = 'created'")
        added[DEFAULT] = int(created) if created is not None else None
    counts: dict[str, dict[str, int]] = {name.casefold(): {"projects": 0, "targets": 0, "trusted_zones": 0}
                                         for name in added}
    for table, key in (("projects", "projects"), ("targets", "targets"), ("trusted_zones", "trusted_zones")):
        for r in db.all(f"SELECT in_space, COUNT(*) AS n FROM {table} GROUP BY in_space"):
            counts.setdefault(r["in_space"].casefold(), {"projects": 0, "targets": 0, "trusted_zones": 0})
            counts[r["in_space"].casefold()][key] += r["n"]
    return [{"name": name, "added": added[name], **counts[name.casefold()]} for name in space_names(db)]


def resolve_space(db: Reader, name: str, *, option: str = "--space", then: str = "") -> str:
    """``name`` in the spelling the zone knows the space by: the space spelled so, else the one
    that reads the same (:func:`reads_same`: case, compatibility forms, invisible characters,
    confusable letters of other scripts), as ``spaces add`` compares names (review relayatk #9).
    ``StateError`` ``unknown_space`` naming the closest spaces and how to add one, or, when
    several spaces read like ``name`` (a zone from before decision 943), naming them all. The
    ``spaces add`` it suggests names ``name`` itself, shell-quoted, when it is one ``spaces add``
    takes (else ``NAME``); ``then`` says what to do after adding it (``, then export again``)."""
    known = space_names(db)
    if name in known:
        audit.worked_in(name, spelling_only=True)
        return name
    alike = [k for k in known if reads_same(k, name)]
    if len(alike) == 1:
        audit.worked_in(alike[0], spelling_only=True, typed=name)  # the entry names the space as the zone spells it
        return alike[0]
    shown = quoted(name)
    if alike:
        raise StateError(f"{option} {shown}: {len(alike)} spaces of this zone read like it "
                         f"({', '.join(f'{k!r} ({code_points(k)})' for k in alike)}); give one exactly as "
                         f"`bundlekit spaces list --json{home_flag()}` spells it; nothing was changed", code="unknown_space",
                         details={"space": cut(name), "known": known, "suggestions": alike})
    similar = closest(name, known)
    hint = f" Did you mean {', '.join(repr(s) for s in similar)}?" if similar else ""
    # the name it refuses, when `spaces add` takes it (newuser36 finding 7); a name it would refuse stays NAME
    raise StateError(f"{option} {shown}: no space of that name in this zone (spaces: {', '.join(known)}).{hint} Add it "
                     f"with `bundlekit spaces add {shell_word(name) if not label_problem(name) else 'NAME'}{home_flag()}`"
                     f"{then}; nothing was changed",
                     code="unknown_space",
                     details={"space": cut(name), "known": known, "suggestions": similar})


def _looks(name: str) -> set[str]:
    """What a person sees of a space name, as keys: compatibility forms (fullwidth letters)
    folded, invisible formatting characters dropped (``Pay\u200bments`` reads ``Payments``),
    small capitals read as the letters they are (``ᴘᴀʏᴍᴇɴᴛꜱ``, decision 960), then the UTS #39
    confusable skeleton with and without case (Cyrillic ``А`` and Greek ``Α`` read as Latin
    ``A``; ``Il`` as ``ll``; decision 943), each run of white space read as one space
    (``Pay  ments`` reads ``Pay ments``: a page shows both alike; decision 960)."""
    visible = small_capitals_folded(unicodedata.normalize("NFKC", "".join(
        ch for ch in unicodedata.normalize("NFKC", name) if not invisible(ch))))
    return {_one_space(skeleton(visible)), _one_space(skeleton(unicodedata.normalize("NFKC", visible.casefold())))}


def _one_space(text: str) -> str:
    """``text`` with each run of white space as one space (the skeleton maps every white space
    character, U+2003 EM SPACE as U+3000, to U+0020)."""
    return _SPACES.sub(" ", text)


def reads_same(a: str, b: str) -> bool:
    """Whether space names ``a`` and ``b`` read the same to a person (:func:`_looks`), so a zone
    never holds both (``spaces add`` refuses the second) and ``--space`` takes either."""
    return bool(_looks(a) & _looks(b))


def told_apart(name: str, known: list[str]) -> str:
    """``name`` as a listing shows a space: as spelled, with its code points and the other spaces
    it reads like when the zone holds some (made before decision 943 refused them), so two rows
    that read the same can be told apart."""
    alike = [k for k in known if k != name and reads_same(k, name)]
    if not alike:
        return name
    return f"{name} ({code_points(name)}; reads like {', '.join(repr(k) for k in alike)})"


def code_points(name: str) -> str:
    """The characters of ``name`` outside ASCII as ``U+XXXX`` (``'А' U+0410``), and its runs of
    white space (``2 spaces in a row``), so two names that read the same can be told apart in a
    message; ``ASCII`` when it has neither."""
    odd = [f"U+{ord(ch):04X}" for ch in name if ord(ch) > 0x7E or ord(ch) < 0x20]
    runs = [f"{len(m.group())} spaces in a row" for m in re.finditer(r"\s{2,}", name)]
    return "; ".join(filter(None, [" ".join(dict.fromkeys(odd)) or ("ASCII" if not runs else ""), *runs]))


def add_space(zone: Zone, name: str, now: EpochSeconds) -> dict[str, Any]:
    """Add space ``name`` (a label without invisible formatting characters). ``InputError``
    ``invalid_label``; ``StateError`` ``space_exists`` when a space that reads the same exists
    (:func:`reads_same`: in any case, in another compatibility form such as fullwidth letters,
    review v33-11a F8; spelled with look-alike letters of another script, review relayatk #2,
    decision 943), as an operator pasting a name into ``trust add --space`` cannot tell them
    apart. Returns its :func:`list_spaces` entry."""
    check_label(name, what="space name", error=InputError, code="invalid_label")
    hidden = next((ch for ch in name if invisible(ch)), None)
    if hidden is not None:
        raise InputError(f"space name {name!r} holds the invisible character U+{ord(hidden):04X}: a space "
                         "name is read and typed by people; use visible characters only. Nothing was changed",
                         code="invalid_label", details={"space": name, "character": f"U+{ord(hidden):04X}"})
    with zone.db.transaction() as tx:
        taken = [k for k in space_names(tx) if reads_same(k, name)]
        if taken:
            alike = ("" if taken[0].casefold() == name.casefold() else
                     f" and reads like {name!r} ({code_points(taken[0])} against {code_points(name)}): people pick a "
                     "space by reading its name, so two that read the same would be taken for one another")
            raise StateError(f"space {taken[0]!r} already exists in zone {zone.name}{alike}; use it "
                             f"(`--space {shell_word(taken[0])}`) or choose a name that reads differently; nothing was changed",
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
    the words the refusals of decision 915 end with. It names ``trust set --space``, which moves
    the zone's trust rule and keeps its other settings (``--via``, ``--evidence-for``, ...), not
    ``trust remove`` + ``trust add``, which would drop them (review atk35 #5)."""
    where = space if space == DEFAULT else f"{space} or {DEFAULT}"
    return (f"trust it in space {where} instead (`bundlekit trust set {shell_word(zone_name)} --space "
            f"{shell_word(space)}{home_flag()}` moves its trust rule there and keeps the rule's other settings)")
