"""Where a node keeps its zone's state and packages: the settings file of a home, and state URLs.

A home whose state and package store live in its own folder (``state.db``, ``packages/``)
needs no settings. A node of a zone that outgrew one machine (decision 181) has
``HOME/bundlekit.conf``, mode 0600, ``KEY=VALUE`` lines::

    BUNDLEKIT_STATE=postgresql://bundlekit@db1.example:5432/prod
    BUNDLEKIT_PACKAGE_STORE=/mnt/bundlekit/prod-packages

The password of the state database never travels on a command line: it is read from
``HOME/keys/state.password`` (0600, copied there from ``--state-password-file``, a file or
standard input), or by libpq from its own password file (``~/.pgpass``, ``PGPASSFILE``). A URL
carrying a password is accepted in the settings file (0600) but refused on the command line,
and is shown everywhere with the password replaced by ``***`` (:attr:`StateURL.masked`;
decision 310: the URL is parsed here, never by libpq, and a refusal quotes none of it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from bundlekit.core.atomic import write_atomic
from bundlekit.core.text import terminal_text
from bundlekit.errors import StateError, UsageError
from bundlekit.zone.state_url import EXPECTED, SCHEMES, MalformedURL, StateURL, split_state_url

__all__ = ["StateURL", "parse_state_url", "url_refused", "Settings", "read_settings", "write_settings", "settings_path",
           "password_path", "read_password", "load_password_file", "store_password", "SCHEMES"]

_STATE = "BUNDLEKIT_STATE"
_STORE = "BUNDLEKIT_PACKAGE_STORE"
_HOW = ("percent-encode '@', ':', '/', '?', '%' and spaces inside the user, password or database, e.g. %40 for "
        "'@'")


def parse_state_url(text: str, *, where: str, allow_password: bool, setting: bool = False) -> StateURL:
    """Check a state URL (:func:`~bundlekit.zone.state_url.split_state_url`); ``where`` names its origin,
    ``setting`` says it is a home's ``BUNDLEKIT_STATE`` rather than a command line's value.

    Raises :func:`url_refused`'s error when it is not a state URL (the message names the part that is
    wrong and quotes no part of the text, which could hold the password), and ``UsageError``
    ``password_in_url`` for a password, or another secret parameter, where ``allow_password`` is false.
    """
    try:
        url = split_state_url(text, where=where, setting=setting)
    except MalformedURL as bad:
        raise url_refused(where, setting, bad.reason) from None
    if url.secrets and not allow_password:
        raise UsageError(f"{where}: the state URL carries a password ({url.masked}), and a command line is visible "
                         "to every user of this machine (change that password if others share it); give the URL "
                         "without it and the password with --state-password-file FILE ('-': standard input) or "
                         "in libpq's password file (~/.pgpass, PGPASSFILE)", code="password_in_url")
    return url


def url_refused(where: str, setting: bool, reason: str) -> StateError | UsageError:
    """The refusal of a state URL that is not valid: ``UsageError`` ``invalid_state_url`` for a
    command line's value, ``StateError`` ``invalid_node_settings`` for a home's setting."""
    message = f"{where}: not a PostgreSQL state URL: {reason}. Give {EXPECTED} ({_HOW})"
    if setting:
        return StateError(f"{message}; correct it in that file", code="invalid_node_settings")
    return UsageError(message, code="invalid_state_url")


@dataclass(frozen=True, slots=True)
class Settings:
    """A node's settings: ``state`` (None: SQLite in the home) and ``package_store`` (None: in the home)."""

    state: StateURL | None = None
    package_store: Path | None = None


def settings_path(home: Path) -> Path:
    return home / "bundlekit.conf"


def password_path(home: Path) -> Path:
    return home / "keys" / "state.password"


def read_settings(home: Path) -> Settings:
    """The home's settings (defaults when there is no settings file).

    Raises ``StateError`` ``invalid_node_settings`` for a file that cannot be read, a line that
    is not ``KEY=VALUE`` with a known key, or a ``BUNDLEKIT_STATE`` that is not a state URL (the
    message names the file, line and setting, and never quotes the URL's text).
    """
    path = settings_path(home)
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        return Settings()
    except (OSError, UnicodeDecodeError) as error:
        raise StateError(f"{path}: cannot read the node's settings ({getattr(error, 'strerror', None) or error}); "
                         "make it readable UTF-8 text for this user", code="invalid_node_settings") from None
    values: dict[str, tuple[int, str]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or key.strip() not in (_STATE, _STORE):
            raise StateError(f"{path}, line {number}: not a setting; each line is {_STATE}=URL or {_STORE}=DIR "
                             "(or a '#' comment). Correct that line", code="invalid_node_settings")
        values[key.strip()] = (number, value.strip())
    state = None
    if values.get(_STATE, (0, ""))[1]:
        number, value = values[_STATE]
        state = parse_state_url(value, where=f"{_STATE} in {path}, line {number}", allow_password=True, setting=True)
    store = Path(values[_STORE][1]) if values.get(_STORE, (0, ""))[1] else None
    return Settings(state, store)


def write_settings(home: Path, settings: Settings) -> None:
    """Write the home's settings file (0600: a state URL may carry a password)."""
    lines = ["# bundlekit node settings: where this node finds its zone's state and packages"]
    if settings.state is not None:
        lines.append(f"{_STATE}={settings.state.text}")
    if settings.package_store is not None:
        lines.append(f"{_STORE}={settings.package_store}")
    write_atomic(settings_path(home), ("\n".join(lines) + "\n").encode("utf-8"), mode=0o600)


def read_password(home: Path) -> str | None:
    """The state database's password kept in the home, or None (libpq may still find one).

    Raises ``StateError`` ``invalid_state_password`` for a file that cannot be read, is not
    UTF-8 text or holds a control character (the message never quotes the file's text)."""
    path = password_path(home)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as error:
        why = "it is not UTF-8 text" if isinstance(error, UnicodeDecodeError) else \
            f"it cannot be read ({error.strerror or error})"
        raise _bad_password(path, why) from None
    password = text.rstrip("\r\n")
    if any(ord(c) < 32 or ord(c) == 127 for c in password):
        raise _bad_password(path, "it holds a control character (a password is one line of text)")
    return password or None


def _bad_password(path: Path, why: str) -> StateError:
    return StateError(f"{path}: the state database's password file is damaged: {why}; nothing was done. Replace "
                      "it with the password on one line (mode 0600), or delete it to use libpq's ~/.pgpass or "
                      "PGPASSFILE", code="invalid_state_password")


def load_password_file(path: Path) -> str:
    """A password given as ``--state-password-file``: the file's first line.

    Raises ``UsageError`` ``usage`` (exit 2) when it cannot be read or is empty: the option
    names a file the user wrote for it, so it is the command line that is wrong.
    """
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"--state-password-file {terminal_text(str(path))}: cannot read it "
                         f"({getattr(error, 'strerror', None) or 'not UTF-8 text'}); give a file whose first line "
                         "is the password", code="usage") from None
    password = text.splitlines()[0] if text else ""
    if not password:
        raise UsageError(f"--state-password-file {terminal_text(str(path))}: the file is empty; put the password on "
                         "its first line", code="usage")
    return password


def store_password(home: Path, password: str) -> None:
    """Keep the state password in ``HOME/keys/state.password`` (0600, in the 0700 keys folder)."""
    keys = home / "keys"
    keys.mkdir(mode=0o700, exist_ok=True)
    os.chmod(keys, 0o700)
    write_atomic(password_path(home), (password + "\n").encode("utf-8"), mode=0o600)
