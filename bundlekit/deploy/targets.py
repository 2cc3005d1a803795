"""Deployment targets as the deploy engine sees them: who they are and how to reach their runner.

A target is identity (``name``, ``environment``, ``roles``) plus where its step runner runs
(``docs/decisions/140-step-runner.md``): every step on every target is executed by the same
runner (:mod:`bundlekit.runtime`), started

* for a :class:`LocalFolderTarget`: on this machine, under the zone's worker isolation
  (:class:`Isolation`: a separate unprivileged user, or a sandbox that shows only the system,
  the interpreter and the target's folder, or, only when the operator chose it, unconfined),
  with the target's folder as its work folder;
* for an :class:`SshTarget`: on the machine reached over SSH, as the target's user, with
  ``work_dir`` as its work folder (``~/bundlekit`` on the target by default).

How a runner is started is :mod:`bundlekit.deploy.launch` (local) and :mod:`bundlekit.deploy.ssh`.
"""

from __future__ import annotations

import ipaddress
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from bundlekit.core.hints import home_flag
from bundlekit.core.names import work_folder_problem
from bundlekit.errors import DeployError, UsageError

__all__ = ["Target", "LocalFolderTarget", "SshTarget", "Isolation", "ISOLATION_MODES", "DEFAULT_WORK_DIR",
           "WORK_FOLDER", "DEFAULT_MAX_PARALLEL", "check_ssh_address", "check_work_dir"]

#: Folder under a target's work folder holding per-deployment step working folders.
WORK_FOLDER = ".bundlekit-work"
#: An SSH target's work folder when none is given (relative to the target user's home).
DEFAULT_WORK_DIR = "~/bundlekit"
#: How many targets run a step (or are checked) at once unless told otherwise.
DEFAULT_MAX_PARALLEL = 10
#: How local runners are isolated from the zone (see :class:`Isolation`).
ISOLATION_MODES = ("user", "sandbox", "unconfined")
_HOST = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}"
                   r"[A-Za-z0-9])?)*|\d{1,3}(?:\.\d{1,3}){3}|\[[0-9A-Fa-f:.]+\])$")
_USER = re.compile(r"^[a-z_][a-z0-9_.-]{0,31}\$?$", re.IGNORECASE)


def _identity(kind: str, name: object, environment: object, roles: object) -> frozenset[str]:
    for label, value in (("name", name), ("environment", environment)):
        if not isinstance(value, str) or not value.strip():
            raise DeployError(f"a {kind} target needs a non-empty {label}.", code="invalid_target")
    out: frozenset[str] = frozenset(roles)  # type: ignore[call-overload]
    if any(not isinstance(role, str) or not role.strip() for role in out):
        raise DeployError(f"target {name!r}: every role must be a non-empty name.", code="invalid_target")
    return out


class Target:
    """A deployment target: ``name``, ``environment``, ``roles`` (and a kind, ``local`` or ``ssh``)."""

    __slots__ = ()

    name: str
    environment: str
    roles: frozenset[str]
    kind: str = ""

    def has_role(self, roles: Iterable[str]) -> bool:
        """Whether the target carries any of ``roles`` (role names are case-insensitive)."""
        mine = {role.casefold() for role in self.roles}
        return any(role.casefold() in mine for role in roles)

    @property
    def address(self) -> str:
        """Where the target is, for people: a folder, or ``user@host:port``."""
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class Isolation:
    """How a runner on this machine is kept away from the zone's home.

    ``user``: the runner runs as ``user`` (an unprivileged OS user that is not the zone's owner;
    the home is 0700); ``sandbox``: it runs inside bubblewrap (``bwrap``) as the zone's owner, or
    as ``nobody`` with no capability when the zone runs as root (decision 450), shown only the
    system's folders, the interpreter and its own folder (decision 760; the zone's home, ``hide``,
    covered by an empty folder should one of those hold it), its own ``/tmp`` and process
    namespace; ``unconfined``: as the zone's owner with nothing hidden (only ever chosen by the
    operator, and said in every deployment's record). ``python`` is the interpreter the runner
    uses: one the worker user can execute; by default this process's own (which has the
    libraries of every configuration format, lxml included).
    """

    mode: str
    user: str | None = None
    python: str = field(default_factory=lambda: sys.executable)
    hide: tuple[str, ...] = ()
    bwrap: str = "/usr/bin/bwrap"

    def __post_init__(self) -> None:
        if self.mode not in ISOLATION_MODES:
            raise DeployError(f"worker isolation {self.mode!r} is not one of {', '.join(ISOLATION_MODES)}.",
                              code="invalid_target")
        if self.mode == "user" and not self.user:
            raise DeployError("worker isolation 'user' needs the worker's user name.", code="invalid_target")

    def describe(self) -> str:
        """One line for records and ``init``: how steps on this machine run."""
        if self.mode == "user":
            return f"steps on this machine run as the unprivileged worker user {self.user!r}"
        if self.mode == "sandbox":
            return ("WARNING: no separate worker user: steps on this machine run inside a bubblewrap sandbox "
                    "that shows them only the system's folders, the interpreter and their own folder (decision "
                    "760), as `nobody` when the zone runs as root, else as the zone's own "
                    f"OS user (`bundlekit worker setup{home_flag()}` creates a worker user)")
        return ("WARNING: steps on this machine run UNCONFINED as the zone's own OS user and can read the "
                f"zone's keys (chosen with `bundlekit worker set --unconfined{home_flag()}`; `bundlekit worker setup{home_flag()}` "
                "creates a worker user)")

    @property
    def warning(self) -> str | None:
        return None if self.mode == "user" else self.describe()


@dataclass(frozen=True, slots=True)
class LocalFolderTarget(Target):
    """A folder on this machine; its runner runs under ``isolation`` with ``root`` as work folder.

    Packages are installed to ``<root>/<id>/<version>``.
    """

    name: str
    environment: str
    roles: frozenset[str] = field(default_factory=frozenset)
    root: Path = field(default_factory=Path.cwd)
    isolation: Isolation = field(default_factory=lambda: Isolation("sandbox"))
    kind: str = "local"

    def __post_init__(self) -> None:
        object.__setattr__(self, "roles", _identity("local", self.name, self.environment, self.roles))
        object.__setattr__(self, "root", Path(self.root).absolute())
        if not isinstance(self.isolation, Isolation):
            raise DeployError(f"target {self.name!r}: isolation must be an Isolation.", code="invalid_target")

    @property
    def address(self) -> str:
        return str(self.root)


@dataclass(frozen=True, slots=True)
class SshTarget(Target):
    """A machine reached over SSH: ``user@host:port``, pinned ``host_keys`` (OpenSSH public key lines).

    ``identity_file`` (a private key file on the zone's machine) replaces the zone's own SSH key
    for this target; ``work_dir`` is absolute, or ``~/...`` on the target.
    """

    name: str
    environment: str
    roles: frozenset[str]
    host: str
    user: str
    host_keys: tuple[str, ...]
    port: int = 22
    identity_file: str | None = None
    work_dir: str = DEFAULT_WORK_DIR
    kind: str = "ssh"

    def __post_init__(self) -> None:
        object.__setattr__(self, "roles", _identity("ssh", self.name, self.environment, self.roles))
        check_ssh_address(self.name, self.user, self.host, self.port)
        check_work_dir(self.name, self.work_dir)
        if not self.host_keys:
            raise UsageError(f"target {self.name!r}: at least one pinned host key is needed (--host-key).",
                             code="invalid_host_key")

    @property
    def address(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"


def check_ssh_address(name: str, user: object, host: object, port: object) -> None:
    """Refuse a user, host or port that cannot be right, naming the target (``invalid_target``)."""
    if not isinstance(user, str) or not _USER.match(user):
        raise UsageError(f"target {name!r}: {user!r} is not a valid user name (letters, digits, '_', '.', "
                          "'-', starting with a letter or '_').", code="invalid_target_address")
    if not isinstance(host, str) or not _HOST.match(host) or len(host) > 253 or not _ipv6_ok(host):
        raise UsageError(f"target {name!r}: {host!r} is not a valid host name or IP address.",
                         code="invalid_target_address")
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise UsageError(f"target {name!r}: port {port!r} must be a number from 1 to 65535.",
                         code="invalid_target_address")


def _ipv6_ok(host: str) -> bool:
    """A ``[...]`` host must hold an IPv6 address (the pattern alone lets ``[:::]`` through)."""
    if not host.startswith("["):
        return True
    try:
        ipaddress.IPv6Address(host[1:-1])
    except ValueError:
        return False
    return True


def check_work_dir(name: str, work_dir: object) -> None:
    """A target's work folder must be absolute (or ``~/...``, the target user's home) and plain."""
    if work_folder_problem(work_dir) is not None:
        raise UsageError(f"target {name!r}: work folder {work_dir!r} must be an absolute path (or ~/FOLDER on "
                         "the target) without '..'.", code="invalid_target_address")
