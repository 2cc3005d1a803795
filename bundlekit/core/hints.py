"""How a message repeats what an operator typed, and how it writes the commands it suggests.

A refusal names the value it refuses, and a value given on the command line can be anything: a
100 000-character ``--space`` must not come back as a 100 000-character message (review
relayatk #9), so every echo of a user-given name goes through :func:`shown`, which cuts it as
``spaces add`` always did (:func:`bundlekit.core.names.quoted`).

A command a message suggests must work when pasted: its arguments are shell-quoted
(:func:`bundlekit.core.text.shell_word`), and inside a space other than ``Default`` it carries that space's ``--space``
option (:func:`space_flag`), while the sentence names the space (:func:`in_space`). Without it
an operator who follows the advice of a refusal in space B changes space Default instead and
meets the same refusal again (review relayatk #1).
"""

from __future__ import annotations

from typing import Optional

from bundlekit.core.names import MAX_LABEL_LENGTH, QUOTED_LENGTH, quoted
from bundlekit.core.text import shell_word

__all__ = ["DEFAULT_SPACE", "shown", "cut", "space_flag", "in_space"]

#: The space every zone has, and every command's space when none is given (decision 660).
DEFAULT_SPACE = "Default"


def shown(value: object, limit: int = QUOTED_LENGTH) -> str:
    """``value`` as a message repeats a name or value an operator gave: ``repr`` (control
    characters escaped), only its first ``limit`` characters and ``...`` when longer."""
    return quoted(value, limit)


def cut(text: str, limit: int = QUOTED_LENGTH) -> str:
    """``text`` unquoted (for a name the zone already knows, shown as it is spelled), only its
    first ``limit`` characters and ``...`` when longer."""
    return text if len(text) <= limit else text[:limit] + "..."


def _is_default(space: Optional[str]) -> bool:
    return space is None or space.casefold() == DEFAULT_SPACE.casefold()


def space_flag(space: Optional[str]) -> str:
    """`` --space NAME`` for a command suggested to an operator working in ``space``; empty in
    ``Default`` (or None: no space), where a command works without it."""
    return "" if _is_default(space) else f" --space {shell_word(space)}"  # type: ignore[arg-type]


def in_space(space: Optional[str], word: str = "in") -> str:
    """`` in space NAME`` (or ``word`` instead of ``in``: ``of``) for a sentence about something
    of ``space``; empty in ``Default`` (or None), as messages before spaces read."""
    return "" if _is_default(space) else f" {word} space {cut(space, MAX_LABEL_LENGTH)}"  # type: ignore[arg-type]
