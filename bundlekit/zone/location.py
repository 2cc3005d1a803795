"""Where a node keeps its zone's state and packages: the settings file of a home, and state URLs.

A home whose state and package store live in its own folder (``state.db``, ``packages/``)
needs no settings. A node of a zone that outgrew one machine (decision 181) has
``HOME/bundlekit.conf``, mode 0600, ``KEY=VALUE`` lines::

    BUNDLEKIT_STATE=postgresql://bundlekit@db1.example:5432/prod
    BUNDLEKIT_PACKAGE_STORE=/mnt/bundlekit/prod-packages

The password of the state database never travels on a command line: it is read from
``HOME/keys/state.password`` (0600, copied there from ``--state-password-file``), or by libpq
from its own password file (``~/.pgpass``, ``PGPASSFILE``). A URL carrying a password is
accepted in the settings file (0600) but refused on the command line, and is shown
everywhere with the password replaced by ``***`` (:attr:`StateURL.masked`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from bundlekit.core.atomic import write_atomic
from bundlekit.errors import InputError, StateError, UsageError

__all__ = ["StateURL", "parse_state_url", "Settings", "read_settings", "write_settings", "settings_path",
           "password_path", "read_password", "load_password_file", "store_password", "SCHEMES"]

#: URL schemes of a PostgreSQL state (libpq's two spellings).
SCHEMES = ("postgresql", "postgres")
_STATE = "BUNDLEKIT_STATE"
_STORE = "BUNDLEKIT_PACKAGE_STORE"


@dataclass(frozen=True, slots=True)
class StateURL:
    """A PostgreSQL connection URL (``postgresql://USER@HOST:PORT/DB``); ``masked`` is safe to print."""

    conninfo: str = field(repr=False)
    masked: str
    password: str | None = field(default=None, repr=False)

    def __str__(self) -> str:
        return self.masked


def parse_state_url(text: str, *, where: str, allow_password: bool) -> StateURL:
    """Check a state URL; ``where`` names its origin in errors.

    Raises ``UsageError`` ``invalid_state_url`` (not a ``postgresql://`` URL with a host and a
    database) and ``password_in_url`` (a password where ``allow_password`` is false).
    """
    parts = urlsplit(text.strip())
    masked = _mask(text.strip())
    if parts.scheme not in SCHEMES or not parts.hostname or not parts.path.strip("/"):
        raise UsageError(f"{where}: {masked!r} is not a PostgreSQL state URL; expected "
                         "postgresql://USER@HOST:PORT/DATABASE", code="invalid_state_url")
    try:
        parts.port
    except ValueError:
        raise UsageError(f"{where}: {masked!r} has an invalid port", code="invalid_state_url") from None
    query = dict(parse_qsl(parts.query))
    password = unquote(parts.password) if parts.password is not None else query.get("password")
    if password is not None and not allow_password:
        raise UsageError(f"{where}: the state URL carries a password, and a command line is visible to every user "
                         "of this machine; give the URL without it and the password with --state-password-file "
                         "FILE (or in libpq's ~/.pgpass)", code="password_in_url")
    return StateURL(text.strip(), masked, password)


def _mask(text: str) -> str:
    parts = urlsplit(text)
    netloc = parts.netloc
    if parts.password is not None:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.split(':', 1)[0]}:***@{host}"
    query = [(k, "***" if k == "password" else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query, safe="*/"), parts.fragment))


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

    Raises ``StateError`` ``state_damaged`` for a line that is not ``KEY=VALUE`` or an unknown key.
    """
    path = settings_path(home)
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        return Settings()
    except (OSError, UnicodeDecodeError) as error:
        raise StateError(f"{path}: cannot read the node's settings ({error})", code="state_damaged") from None
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or key.strip() not in (_STATE, _STORE):
            raise StateError(f"{path}, line {number}: expected {_STATE}=URL or {_STORE}=DIR", code="state_damaged")
        values[key.strip()] = value.strip()
    try:
        state = (parse_state_url(values[_STATE], where=f"{path}: {_STATE}", allow_password=True)
                 if values.get(_STATE) else None)
    except UsageError as error:
        raise StateError(error.message, code="state_damaged") from None
    store = Path(values[_STORE]) if values.get(_STORE) else None
    return Settings(state, store)


def write_settings(home: Path, settings: Settings) -> None:
    """Write the home's settings file (0600: a state URL may carry a password)."""
    lines = ["# bundlekit node settings: where this node finds its zone's state and packages"]
    if settings.state is not None:
        lines.append(f"{_STATE}={settings.state.conninfo}")
    if settings.package_store is not None:
        lines.append(f"{_STORE}={settings.package_store}")
    write_atomic(settings_path(home), ("\n".join(lines) + "\n").encode("utf-8"), mode=0o600)


def read_password(home: Path) -> str | None:
    """The state database's password kept in the home, or None (libpq may still find one)."""
    try:
        return password_path(home).read_text("utf-8").rstrip("\r\n") or None
    except FileNotFoundError:
        return None


def load_password_file(path: Path) -> str:
    """A password given as ``--state-password-file``: the file's first line.

    Raises ``InputError`` ``invalid_input`` when it cannot be read or is empty.
    """
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"--state-password-file {path}: cannot read it ({getattr(error, 'strerror', error)})",
                         code="invalid_input") from None
    password = text.splitlines()[0] if text else ""
    if not password:
        raise InputError(f"--state-password-file {path}: the file is empty; put the password on its first line",
                         code="invalid_input")
    return password


def store_password(home: Path, password: str) -> None:
    """Keep the state password in ``HOME/keys/state.password`` (0600, in the 0700 keys folder)."""
    keys = home / "keys"
    keys.mkdir(mode=0o700, exist_ok=True)
    os.chmod(keys, 0o700)
    write_atomic(password_path(home), (password + "\n").encode("utf-8"), mode=0o600)
