"""Where the command line gets a passphrase: a file, or a prompt that does not echo (decision 580).

The passphrase of a zone's protected keys, and of a backup, is never on a command line or in
the environment. It is read from:

- the file ``--passphrase-file PATH`` names: every command that works in a zone takes it
  (decision 791), and those that set a new passphrase (or a backup's) read that one from it;
- the file ``BUNDLEKIT_PASSPHRASE_FILE`` names (the environment holds the path, never the
  passphrase);
- otherwise, on a terminal, a prompt that does not echo (a new passphrase is asked twice);
- otherwise nothing: ``InputError`` ``passphrase_missing``, saying how to give one.

A passphrase file holds one line (its trailing line break is dropped); an empty file, more
than one line, not UTF-8 or over 1 KiB is ``invalid_passphrase``. A file other users can read
is used with a warning. The passphrase itself is never quoted in any message.
"""

from __future__ import annotations

import getpass
import os
import stat
import sys
from pathlib import Path
from typing import Any, Callable, Optional, TypeVar

import click

from bundlekit.cli.common import echo
from bundlekit.core.files import read_user_file
from bundlekit.errors import InputError
from bundlekit.format.passphrase import MAX_PASSPHRASE_BYTES
from bundlekit.zone.keyfiles import set_passphrase_source

__all__ = ["ENV", "passphrase_file_option", "read_passphrase_file", "zone_passphrase", "new_passphrase",
           "new_passphrase_file",
           "current_passphrase", "given_passphrase", "install", "use_zone_passphrase_file"]

ENV = "BUNDLEKIT_PASSPHRASE_FILE"
#: A new passphrase shorter than this many characters is refused (it is the only lock on the keys).
MIN_NEW_CHARS = 8

F = TypeVar("F", bound=Callable[..., Any])


def passphrase_file_option(help: str) -> Callable[[F], F]:
    def add(f: F) -> F:
        return click.option("--passphrase-file", "passphrase_file", default=None,
                            type=click.Path(dir_okay=False, path_type=Path), help=help)(f)
    return add


def read_passphrase_file(path: Path, what: str) -> bytes:
    """The passphrase in the file ``path`` (``what`` names where the path came from), as UTF-8
    bytes. Raises ``invalid_passphrase`` and :func:`read_user_file`'s refusals."""
    data = read_user_file(path, what=what, limit=MAX_PASSPHRASE_BYTES + 2)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{what}: not UTF-8 text; write the passphrase as one line of UTF-8 text",
                         code="invalid_passphrase") from None
    text = text[:-2] if text.endswith("\r\n") else text[:-1] if text.endswith("\n") else text
    if not text or "\n" in text or "\r" in text or len(text.encode("utf-8")) > MAX_PASSPHRASE_BYTES:
        raise InputError(f"{what}: a passphrase file holds the passphrase alone on one line (1 to "
                         f"{MAX_PASSPHRASE_BYTES} bytes); this one is empty, longer or has several lines",
                         code="invalid_passphrase")
    try:
        mode = os.stat(path).st_mode
    except OSError:
        mode = 0
    if mode & (stat.S_IRGRP | stat.S_IROTH) and what not in _warned:
        _warned.add(what)
        echo(f"warning: {what} can be read by other users; `chmod 600` it", err=True)
    return text.encode("utf-8")


def _prompt(question: str) -> bytes:
    try:
        text = getpass.getpass(question)
    except EOFError:
        text = ""
    if not text:
        raise InputError("no passphrase was typed; nothing was changed", code="passphrase_missing")
    return text.encode("utf-8")


def _on_terminal() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()


def _missing(why: str) -> InputError:
    return InputError(f"{why}: a passphrase is needed and none was given (no terminal to ask on); nothing was "
                      f"changed. Give --passphrase-file PATH or set {ENV} to that path (a file holding the "
                      "passphrase, never the passphrase itself), or run on a terminal", code="passphrase_missing")


_typed: dict[str, bytes] = {}
_warned: set[str] = set()


#: The ``--passphrase-file`` every command working in a zone takes (decision 791), for this run.
_zone_file: list[Path] = []


def use_zone_passphrase_file(path: Optional[Path]) -> None:
    """Take the zone keys' passphrase from ``path`` (a command's ``--passphrase-file``; None: not given)."""
    _zone_file[:] = [] if path is None else [path]


def current_passphrase(why: str) -> bytes:
    """An existing passphrase: the command's ``--passphrase-file`` (:func:`use_zone_passphrase_file`),
    else ``$BUNDLEKIT_PASSPHRASE_FILE``, else asked once per process on a terminal, else
    ``passphrase_missing``. ``why`` names what it opens."""
    if _zone_file:
        return read_passphrase_file(_zone_file[0], f"--passphrase-file {_zone_file[0]}")
    path = os.environ.get(ENV)
    if path:
        return read_passphrase_file(Path(path), f"{ENV} ({path})")
    if "zone" in _typed:
        return _typed["zone"]
    if not _on_terminal():
        raise _missing(why)
    _typed["zone"] = typed = _prompt(f"Passphrase for {why} (not shown): ")
    return typed


def zone_passphrase(why: str) -> bytes:
    """The passphrase source for the zone's protected keys (``zone/keyfiles.py``)."""
    return current_passphrase(why)


def new_passphrase_file(path: Path) -> bytes:
    """A new passphrase from ``--passphrase-file PATH``: :func:`read_passphrase_file`, and at
    least :data:`MIN_NEW_CHARS` characters (``invalid_passphrase``)."""
    return _long_enough(read_passphrase_file(path, f"--passphrase-file {path}"), f"--passphrase-file {path}")


def _long_enough(passphrase: bytes, where: str) -> bytes:
    if len(passphrase.decode("utf-8")) < MIN_NEW_CHARS:
        raise InputError(f"{where}: a new passphrase must have at least {MIN_NEW_CHARS} characters (it is the only "
                         "lock on what it protects); nothing was changed. Choose a longer one",
                         code="invalid_passphrase")
    return passphrase


def new_passphrase(option: Optional[Path], what: str, *, from_env: bool = True) -> bytes:
    """A passphrase being set (for keys or a backup): ``--passphrase-file``, else (with
    ``from_env``: the keys' passphrase, never a backup's) ``$BUNDLEKIT_PASSPHRASE_FILE``, else
    typed twice on a terminal. It must have at least :data:`MIN_NEW_CHARS` characters, from a
    file as typed (``invalid_passphrase``; decision 677)."""
    if option is not None:
        return new_passphrase_file(option)
    path = os.environ.get(ENV) if from_env else None
    if path:
        return _long_enough(read_passphrase_file(Path(path), f"{ENV} ({path})"), f"{ENV} ({path})")
    if not _on_terminal():
        if not from_env:
            raise InputError(f"{what}: a passphrase is needed and none was given (no terminal to ask on); nothing was "
                             f"changed. Give --passphrase-file PATH (a backup never takes the keys' passphrase from "
                             f"{ENV})", code="passphrase_missing")
        raise _missing(what)
    first = _long_enough(_prompt(f"New passphrase for {what} (not shown): "), "the passphrase typed")
    if _prompt("The same passphrase again: ") != first:
        raise InputError("the two passphrases typed differ; nothing was changed", code="invalid_passphrase")
    return first


def given_passphrase(option: Optional[Path], what: str) -> bytes:
    """An existing passphrase (a backup's): ``--passphrase-file``, else asked on a terminal, else
    ``passphrase_missing``; never ``$BUNDLEKIT_PASSPHRASE_FILE``, which is the zone keys' (decision 677)."""
    if option is not None:
        return read_passphrase_file(option, f"--passphrase-file {option}")
    if not _on_terminal():
        raise InputError(f"{what}: a passphrase is needed and none was given (no terminal to ask on); nothing was "
                         f"changed. Give --passphrase-file PATH (the backup's passphrase is never taken from {ENV}, "
                         "the zone keys' passphrase)", code="passphrase_missing")
    return _prompt(f"Passphrase for {what} (not shown): ")


def install() -> None:
    """Make the command line the source of the zone keys' passphrase."""
    set_passphrase_source(zone_passphrase)


install()
