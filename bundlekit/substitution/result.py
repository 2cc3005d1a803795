"""What a rendering gives back (:class:`RenderResult`), and how a name computed from a
sensitive value is shown in messages (decision 653)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, Tuple

from bundlekit.core.text import MASK
from bundlekit.substitution.variables import path_display

__all__ = ["RenderResult", "HIDDEN", "ComputedPath", "shown_path"]

#: What a name shows, in every message, in place of a part computed from a sensitive value
#: (``Octopus.Action[********].Output.X`` for ``Octopus.Action[#{Secret}].Output.X``): a name
#: derived from a secret is secret (decision 653, as a filter's reason is, decision 640).
HIDDEN = MASK


class ComputedPath(list):  # type: ignore[type-arg]
    """Evaluated name steps (``("i", ident)`` / ``("x", index)``), with the indexes of those a
    sensitive value was read to compute (``hidden``)."""

    hidden: Tuple[int, ...] = ()


def shown_path(steps: Sequence[Tuple[str, str]]) -> str:
    """The name ``steps`` for a message: each part in ``steps.hidden`` as :data:`HIDDEN`."""
    hidden = getattr(steps, "hidden", ())
    return path_display(tuple((kind, HIDDEN) if i in hidden else (kind, text)
                              for i, (kind, text) in enumerate(steps)))


@dataclass(frozen=True)
class RenderResult:
    """What a rendering produced and what it could not do.

    ``text``: the output. ``missing``: every unresolved name (deduplicated, in order of first
    use). ``used``: the case-folded names looked up, directly or through other values.
    ``sensitive``: a sensitive value was read (the caller masks the text). ``problems``: a
    message with line and column for each token left in place for another reason (a filter
    failed); a filter whose input or options derive from a sensitive value gets a message that
    quotes neither. ``skipped``: tokens that do not parse and were left as text (recovering
    parse only). ``absent``: paths into JSON values whose member does not exist (rendered
    empty). ``failed_at``: (label, offset in that text, message) of each problem, where label
    is ``template`` or ``value of NAME``. ``looping``: the missing names that are paths back
    into the value they are read from (never resolvable, whatever else is defined).
    ``hidden``: (name, how a message shows it) for each name in ``missing``, ``absent`` or
    ``looping`` with a part computed from a sensitive value (``X[********]``, decision 653): the
    names themselves stay exact for the callers that match them (output references), and every
    message shows :meth:`shown` instead.
    """

    text: str
    missing: tuple[str, ...]
    used: frozenset[str]
    sensitive: bool
    problems: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()
    failed_at: tuple[tuple[str, int, str], ...] = ()
    looping: tuple[str, ...] = ()
    hidden: tuple[tuple[str, str], ...] = ()

    def shown(self, name: str) -> str:
        """``name`` as a message may show it (see ``hidden``)."""
        return dict(self.hidden).get(name, name)

    @property
    def shown_missing(self) -> tuple[str, ...]:
        """``missing`` as messages show the names."""
        return tuple(self.shown(n) for n in self.missing)
