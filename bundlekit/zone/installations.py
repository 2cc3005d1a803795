"""Other bundlekit installations of a home (``HOME/self``): what each is, asked without trusting the caller's
environment (decisions 951, 952).

An installation is a virtual environment (a *prefix*: ``bin/python``, ``bin/bundlekit``). Its version and
the state schema it reads are learned by asking it: its own ``bin/python`` is run isolated (``-I``: no
``PYTHONPATH``, no user site, no current folder on the path) with an environment from
:func:`clean_environment`, so what answers is what the installation holds, never a folder the caller's
environment names. Nothing here opens the zone's state; the zone layer uses it to name, in
``state_too_new``, an installation in ``HOME/self`` that reads a newer state, and self-update uses it to
check a new environment and the one ``--rollback`` would go back to.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

__all__ = ["Probe", "probe", "clean_environment", "launcher_interpreter", "runs_from_its_folder",
           "not_from_its_folder", "through_link", "self_installations", "is_running", "PROBE_TIMEOUT"]

#: Seconds an installation may take to answer (importing every command module of a loaded machine).
PROBE_TIMEOUT = 300

#: Variables of the caller's environment that change what a Python interpreter or pip loads or
#: installs: every ``PYTHON*`` (``PYTHONPATH``, ``PYTHONHOME``, ``PYTHONUSERBASE``, ``PYTHONSTARTUP``,
#: ``PYTHONSAFEPATH``, ...) and every ``PIP_*``. No ``PIP_*`` is harmless enough to keep: offline
#: (``--no-index``) the network ones (``PIP_PROXY``, ``PIP_CERT``, ``PIP_TRUSTED_HOST``) do nothing,
#: and the others (``PIP_TARGET``, ``PIP_PREFIX``, ``PIP_USER``, ``PIP_FIND_LINKS``, ``PIP_CONSTRAINT``,
#: ``PIP_IGNORE_INSTALLED``, ``PIP_NO_DEPS``, ``PIP_CONFIG_FILE``, ...) change where or what is installed.
DROPPED_PREFIXES = ("PYTHON", "PIP_")
#: Variables dropped by name: ``VIRTUAL_ENV`` (a caller's activated environment) and ``__PYVENV_LAUNCHER__``.
DROPPED_NAMES = frozenset({"VIRTUAL_ENV", "__PYVENV_LAUNCHER__", "BUNDLEKIT_HOME"})

# Run by the installation's own interpreter (any bundlekit version): its version, the state schema it
# reads and, with "full", every command module imported (they load its dependencies: a missing one
# fails here, not at the user's first command; decision 830 keeps `--version` from loading them).
_SCRIPT = r"""
import json, sys
out = {}
try:
    from importlib import metadata
    out["version"] = metadata.version("bundlekit")
    from bundlekit.zone.schema import SCHEMA_VERSION
    out["schema"] = int(SCHEMA_VERSION)
    if sys.argv[1:] == ["full"]:
        import importlib
        from bundlekit.cli import COMMANDS
        for entry in COMMANDS.values():
            for name in entry[0].split():
                importlib.import_module("bundlekit.cli." + name)
except BaseException as err:
    out["error"] = "%s: %s" % (type(err).__name__, err)
sys.stdout.write(json.dumps(out))
"""


@dataclass(frozen=True, slots=True)
class Probe:
    """What an installation answered: its ``version`` and the state ``schema`` it reads (None when
    unknown), and ``problem`` (one line: why it did not answer) when it did not."""

    version: str | None
    schema: int | None
    problem: str = ""

    @property
    def ok(self) -> bool:
        return not self.problem and self.version is not None and self.schema is not None


def clean_environment(base: Mapping[str, str] | None = None, **extra: str) -> dict[str, str]:
    """``base`` (default: this process's environment) without :data:`DROPPED_PREFIXES` and
    :data:`DROPPED_NAMES`, with ``PYTHONNOUSERSITE=1`` and ``extra`` added."""
    env = {k: v for k, v in (os.environ if base is None else base).items()
           if not k.startswith(DROPPED_PREFIXES) and k not in DROPPED_NAMES}
    env["PYTHONNOUSERSITE"] = "1"
    env.update(extra)
    return env


def probe(prefix: Path, *, full: bool = False) -> Probe:
    """Ask the installation at ``prefix`` (``prefix/bin/python -I``, a clean environment) for its
    version and state schema; with ``full``, also import every command module (its dependencies).
    Never raises: a problem is in :attr:`Probe.problem`."""
    python = Path(os.path.abspath(prefix)) / "bin" / "python"  # it runs from "/": a relative home is this one's
    try:
        done = subprocess.run([str(python), "-I", "-c", _SCRIPT, *(["full"] if full else [])], capture_output=True,
                              text=True, env=clean_environment(), timeout=PROBE_TIMEOUT, check=False,
                              stdin=subprocess.DEVNULL, cwd="/")
    except (OSError, subprocess.TimeoutExpired) as err:
        return Probe(None, None, f"{python} did not run ({err})")
    try:
        data = json.loads(done.stdout)
    except ValueError:
        data = None
    if done.returncode != 0 or not isinstance(data, dict):
        first = next((ln.strip() for ln in (done.stderr or done.stdout).splitlines()[-1:] if ln.strip()), "")
        return Probe(None, None, f"{python} did not run (exit {done.returncode}" + (f": {first}" if first else "") + ")")
    version = data.get("version") if isinstance(data.get("version"), str) else None
    schema = data.get("schema") if isinstance(data.get("schema"), int) else None
    return Probe(version, schema, str(data.get("error") or ""))


def launcher_interpreter(prefix: Path) -> str | None:
    """The interpreter ``prefix/bin/bundlekit`` runs, as written in it: its ``#!`` line's first word,
    or, in pip's ``#!/bin/sh`` + ``exec`` form for a long path or one with spaces, the word ``exec``
    runs. None when the file cannot be read or is not such a launcher."""
    try:
        with open(prefix / "bin" / "bundlekit", "rb") as fh:
            head = fh.read(8192).decode("utf-8", "replace").splitlines()[:2]
    except OSError:
        return None
    if not head or not head[0].startswith("#!"):
        return None
    words = head[0][2:].split()
    if words == ["/bin/sh"] and len(head) == 2:  # pip's form for a long path or one with spaces: sh execs it
        try:
            words = shlex.split(head[1])[1:]
        except ValueError:
            return None
    return words[0] if words else None


def runs_from_its_folder(prefix: Path) -> bool:
    """Whether ``prefix/bin/bundlekit`` is run by an interpreter inside ``prefix/bin`` (its ``#!``
    line): a virtual environment moved or restored to another folder still names the old one."""
    named = launcher_interpreter(prefix)
    return named is not None and os.path.realpath(os.path.dirname(named)) == os.path.realpath(prefix / "bin")


def through_link(prefix: Path) -> str | None:
    """The link ``prefix/bin/bundlekit`` reaches its interpreter through, or None: its ``#!`` line
    names a path with a symbolic link in it (an installation made through a symlinked home, as
    self-update did before it installed at the home's real path, decision 974), so the
    installation starts only while that link leads here."""
    named = launcher_interpreter(prefix)
    if named is None or not os.path.isabs(named):
        return None
    if os.path.normpath(os.path.dirname(named)) == os.path.realpath(prefix / "bin"):
        return None
    return _link_to(named, prefix)


def _link_to(named: str, prefix: Path) -> str | None:
    """The symbolic link on the absolute path ``named`` (an interpreter a launcher of ``prefix``
    names) that stood for a folder of ``prefix``'s real path: the rest of ``named`` after it is how
    that real path ends (``st1link`` + ``self/venvs/V/bin/python`` for ``/s/st1/self/venvs/V``).
    None when there is no such link: another link on the way (``/var`` of a moved home) is not it."""
    real = Path(os.path.realpath(prefix / "bin")).parts + (os.path.basename(named),)
    at = Path(named)
    for parent in reversed(at.parents[:-1]):  # "/a", "/a/b", ... (not "/" itself)
        rest = at.relative_to(parent).parts
        if os.path.islink(parent) and real[-len(rest):] == rest:
            return str(parent)
    return None


def not_from_its_folder(prefix: Path) -> str | None:
    """Why the installation at ``prefix`` does not run from its own folder, in words that follow
    its name in a message ("which ..."), or None when it does (:func:`runs_from_its_folder`). A
    moved or copied home keeps launchers naming the old folder: nothing starts there, or, when
    the old folder is still there, its installation runs instead (decision 953). One made through
    a symlinked home names the link, when it is still there, as the cause (decision 974)."""
    if runs_from_its_folder(prefix):
        return None
    if not os.path.lexists(prefix / "bin" / "bundlekit"):
        return "holds no bin/bundlekit"
    named = launcher_interpreter(prefix)
    if named is None:
        return "has a bin/bundlekit that is not a launcher pip writes (no interpreter named on its first lines)"
    outcome = ("which is still there, so the installation in that other folder would run instead"
               if os.path.exists(named) else "which is gone, so it does not start")
    link = _link_to(named, prefix) if os.path.isabs(named) else None
    if link is not None:
        cause = (f"was made through the link {link} (a symlinked home), which now leads to {os.path.realpath(link)}, "
                 "not here")
    elif not os.path.exists(named):
        cause = ("was moved or copied from another folder, or made through a link that was removed since (a "
                 "symlinked home)")
    else:
        cause = "was moved or copied from another folder"
    return f"{cause}: its bin/bundlekit runs {named}, outside its own bin/, {outcome}"


def self_installations(home: Path) -> list[tuple[str, Path]]:
    """``(link name, prefix)`` of ``HOME/self/current`` and ``HOME/self/previous`` that exist."""
    out = []
    for name in ("current", "previous"):
        link = home / "self" / name
        if os.path.islink(link) and (link / "bin" / "python").exists():
            out.append((name, link))
    return out


def is_running(prefix: Path) -> bool:
    """Whether ``prefix`` is the installation this process runs from."""
    try:
        return os.path.samefile(prefix, sys.prefix)
    except OSError:
        return False
