"""Which interpreter paths pip's command launchers can carry (decision 955).

pip writes each command of an installation (``bin/bundlekit``) with distlib's ``ScriptMaker``,
which names the interpreter by its path, as ``sys.executable`` gives it, in one of two forms
(``distlib/scripts.py`` ``_build_shebang``, the same in pip 22.0 to 24.2):

- a plain ``#!PATH`` line, when the path holds no space and ``#!``, the path and the newline fit in
  127 bytes (512 on macOS). The kernel ends the interpreter's name at a space or tab and the line
  at a newline, so a tab or a line break in the path breaks it;
- otherwise ``#!/bin/sh`` and a line ``'''exec' PATH "$0" "$@"`` that sh runs (and Python reads
  as a string), the path in double quotes when it holds a space (``enquote_executable``) and bare
  when it is only long. In double quotes sh still expands ``$`` and backquotes and reads ``\\``
  and ``"``; bare, it also splits and globs on ``' | & ; < > ( ) * ? [``, a tab and a line break.
  Three quotes in a row end Python's string, and Python reads ``\\`` as an escape in it (``\\x``
  or ``\\N`` stop it; any other prints a warning at every start from Python 3.12 on).

A path that the form pip would choose cannot carry makes a ``bin/bundlekit`` that does not start,
known only after the install. :func:`launcher_problem` says so beforehand, and
:func:`check_launcher_path` refuses such a home; both are pure (no file is read).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from bundlekit.core.text import terminal_text
from bundlekit.errors import InputError

__all__ = ["LauncherProblem", "launcher_problem", "character_name", "check_launcher_path", "PLAIN_LIMIT"]

#: Longest plain ``#!`` line distlib writes, in bytes with ``#!`` and the newline: macOS, elsewhere.
PLAIN_LIMIT = {"darwin": 512, "": 127}

_QUOTED = '$`"\\'
_BARE = _QUOTED + "'|&;<>()*?[\t\n"
_NAMES = {"\t": "a tab", "\n": "a line break"}


def character_name(char: str) -> str:
    """``char`` (one :func:`launcher_problem` found) as a message names it: ```$```, ``a tab``, or
    the byte a path that is not UTF-8 holds."""
    if not _utf8(char):
        return f"the byte {char.encode('utf-8', 'surrogateescape')!r}"
    return _NAMES.get(char, f"`{char}`")


@dataclass(frozen=True, slots=True)
class LauncherProblem:
    """Why a launcher would not start: ``char``, the first character of the path it cannot carry
    (or ``'''``); ``form``, the form pip would write and what goes wrong there, in words for a
    message; ``shorter_helps``: a shorter path without spaces, which gets the plain ``#!`` line,
    would carry that character."""

    char: str
    form: str
    shorter_helps: bool


def launcher_problem(python: str, *, platform: str = sys.platform) -> LauncherProblem | None:
    """Why a launcher pip writes for the interpreter at ``python`` (an absolute path, as
    ``sys.executable`` gives it) would not start on ``platform`` (``sys.platform``'s value);
    None when it works."""
    try:
        size = len(python.encode("utf-8")) + 3
    except UnicodeEncodeError:
        bad = next(c for c in python if not _utf8(c))
        return LauncherProblem(bad, "a launcher in UTF-8, which cannot name that byte (pip stops)", False)
    limit = PLAIN_LIMIT["darwin" if platform == "darwin" else ""]
    if " " not in python and size <= limit:
        form = "a plain `#!` line, which the system ends at a tab or a line break"
        bad_chars = "\t\n"
    elif "'''" in python:
        return LauncherProblem("'''", "a `#!/bin/sh` script (its path is long or holds a space), whose sh line "
                                      "Python reads as a string that three quotes in a row end", True)
    elif " " in python:
        form = ("a `#!/bin/sh` script naming it in double quotes (its path holds a space), where the shell still "
                "reads `$`, backquotes, `\\` and `\"` (and Python reads `\\` as an escape)")
        bad_chars = _QUOTED
    else:
        form = (f"a `#!/bin/sh` script naming it bare (its path is longer than a `#!` line takes: {size} bytes with "
                f"`#!` and the line end, more than {limit}), where the shell reads `$`, backquotes, quotes, `\\`, `|&;<>()`, `*?[`, "
                "tabs and line breaks")
        bad_chars = _BARE
    found = next((c for c in python if c in bad_chars), None)
    return None if found is None else LauncherProblem(found, form, bad_chars != "\t\n" and found not in "\t\n")


def check_launcher_path(home: Path, python: Path) -> None:
    """Refuse (``InputError`` ``unsupported_home_path``) to install into the home ``home`` an
    installation whose interpreter is ``python``: the commands pip writes there could not start
    (:func:`launcher_problem`). Names the character, the form and what to do: move the home."""
    path = os.path.abspath(python)  # what the interpreter's sys.executable will be
    found = launcher_problem(path)
    if found is None:
        return
    name = terminal_text(character_name(found.char))
    shorter = " (or to a shorter one without spaces)" if found.shorter_helps else ""
    raise InputError(
        f"{terminal_text(str(home))}: self-update cannot install bundlekit in this home: the new installation's "
        f"interpreter would be {terminal_text(path)}, whose path holds {name}, and pip names it in every command it "
        f"installs in {found.form}; the new bundlekit would not start. Nothing was changed. Move the home to a path "
        f"without {name}{shorter}, then run `bundlekit self-update BUNDLE --home NEWHOME` there",
        code="unsupported_home_path", details={"path": path, "character": found.char})


def _utf8(char: str) -> bool:
    try:
        char.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
