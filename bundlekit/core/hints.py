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

Likewise a command that acts on *this* zone carries the ``--home`` the operator gave
(:func:`home_flag`, set once per command by the CLI with :func:`given_home`): without it, pasted,
it would change the zone ``$BUNDLEKIT_HOME`` names instead (finding newuser35 #9, decision 964).
A command suggested for another zone ("in zone dev, `bundlekit export ...`") never carries it.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, List, Optional

from bundlekit.core.names import MAX_LABEL_LENGTH, QUOTED_LENGTH, quoted
from bundlekit.core.text import shell_word

__all__ = ["DEFAULT_SPACE", "shown", "cut", "listed", "space_flag", "in_space", "home_flag", "given_home", "here_flags", "without_home"]

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


def listed(names: Iterable[str], sep: str = ", ") -> str:
    """``names`` joined by ``sep`` for a listing, each shown as it is spelled unless it holds a comma
    or white space (a name an older bundlekit let in), which is quoted (:func:`quoted`), so one name
    is never read as two (newuser36 finding 9)."""
    return sep.join(quoted(n) if re.search(r"[,\s]", n) else n for n in names)


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


#: The ``--home`` of the commands running, innermost last (as given, ``~`` expanded; None without
#: one). A list, not a context variable: the threads a command starts read it as well.
_GIVEN_HOME: List[Optional[str]] = []


class given_home:
    """``with given_home(home):``: while the block runs, :func:`home_flag` names ``home`` (the
    ``--home`` the operator gave, None without one). The CLI wraps each command in it; lower layers
    only read it, so they need not be handed the home to name it."""

    def __init__(self, home: Optional[str]) -> None:
        self.home = home or None

    def __enter__(self) -> None:
        _GIVEN_HOME.append(self.home)

    def __exit__(self, *exc: Any) -> None:
        _GIVEN_HOME.pop()


def home_flag() -> str:
    """`` --home DIR`` (shell-quoted, with its leading space) for a command suggested to act on the
    zone the running command works on, when the operator gave ``--home``; empty without one (the
    pasted command then uses ``$BUNDLEKIT_HOME`` or ``~/.bundlekit``, the same zone)."""
    home = _GIVEN_HOME[-1] if _GIVEN_HOME else None
    return "" if home is None else f" --home {shell_word(home)}"


def here_flags(space: Optional[str]) -> str:
    """The options a command suggested for this zone needs when pasted: :func:`space_flag` of
    ``space`` and :func:`home_flag` (``--space 'Team A' --home DIR``; empty for Default without --home)."""
    return space_flag(space) + home_flag()


def without_home(text: str) -> str:
    """``text`` with this run's :func:`home_flag` taken out: for a message kept in a record that
    travels to other zones in receipts (a preflight refusal), where this zone's home means nothing
    and is not theirs to read."""
    flag = home_flag()
    return text.replace(flag, "") if flag else text
