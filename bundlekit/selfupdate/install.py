"""``self-update``: install bundlekit's release from a bundle, offline, beside the running one (decision 561).

The bundle is checked as ``bundlekit import`` checks any release (signatures, trust policy for the
project ``bundlekit``, destination, expiry, anti-rollback, every blob), with nothing changed. Its
wheels, pinned by the signed SHA-256 of the manifest, are written to a folder of their own, and a
new virtual environment ``HOME/self/venvs/VERSION-DIGEST`` gets them with ``pip install
--no-index --find-links --require-hashes``: pip never reaches an index and installs only those
bytes. Only when the new environment's ``bundlekit --version`` names the release is the bundle
imported (as ``bundlekit import`` would: the zone records the release, its wheels and its sequence
number) and ``HOME/self/current`` switched to it: a symlink replaced atomically, ``HOME/self/previous``
naming what ``current`` named before (the first time, the running installation). ``--rollback``
swaps the two. A refused or failed self-update removes the environment it began and leaves the
home and ``current`` as they were.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from bundlekit.core.atomic import replace_symlink
from bundlekit.core.clock import EpochSeconds
from bundlekit.core.text import terminal_text
from bundlekit.core.tree import remove_tree
from bundlekit.errors import DeployError, StateError, UsageError
from bundlekit.export.releasefile import SELF_SLUG
from bundlekit.format.manifest import Manifest, PackageRef
from bundlekit.importer.importer import import_bundle
from bundlekit.importer.rebuild import rebuild_all
from bundlekit.importer.verify import usable_packages, verifier_for, verify_bundle
from bundlekit.selfupdate.export_self import WHEEL_PREFIX
from bundlekit.zone.home import Zone

__all__ = ["SelfUpdate", "self_update", "rollback", "self_dir", "PIP_TIMEOUT"]

#: Seconds pip and the new ``bundlekit --version`` may take before the update is given up.
PIP_TIMEOUT = 900


@dataclass
class SelfUpdate:
    """What ``self-update`` did (or, with ``dry_run``, would do)."""

    version: str
    venv: Path
    current: Path
    previous: str | None = None
    wheels: list[str] = field(default_factory=list)
    dry_run: bool = False
    already: bool = False

    def to_dict(self) -> dict[str, object]:
        return {"version": self.version, "venv": str(self.venv), "current": str(self.current),
                "previous": self.previous, "wheels": self.wheels, "dry_run": self.dry_run, "already": self.already}


def self_dir(zone: Zone) -> Path:
    """The folder bundlekit manages its own installations in: ``HOME/self``."""
    return zone.home / "self"


def self_update(zone: Zone, bundle: Path, *, now: EpochSeconds, dry_run: bool = False) -> SelfUpdate:
    """Install the bundlekit release ``bundle`` carries and switch ``HOME/self/current`` to it.

    Raises what ``bundlekit import`` raises for the bundle, ``UsageError`` ``invalid_self_bundle``
    for a release of another project, and ``DeployError`` ``self_update_failed`` when the new
    environment cannot be made or does not run; then nothing is changed.
    """
    plan = import_bundle(zone, bundle, now=now, dry_run=True)  # every check of an import; changes nothing
    m = plan.manifest
    if m.project.get("slug") != SELF_SLUG:
        raise UsageError(f"{bundle}: a release of {m.project.get('name')!r}, not of bundlekit itself; import it with "
                         "`bundlekit import` (`bundlekit export-self` makes a bundle for self-update)",
                         code="invalid_self_bundle")
    wheels = [p for p in m.packages if p.id.startswith(WHEEL_PREFIX)]
    files = [p.file.lower() for p in wheels]
    if not wheels or len(set(files)) != len(files):
        raise UsageError(f"{bundle}: a release of bundlekit whose packages are not one wheel file each; ask the "
                         "source zone for `bundlekit export-self` again", code="invalid_self_bundle")
    version = m.release["version"]
    root = self_dir(zone)
    venv = root / "venvs" / f"{version}-{plan.verified.digest[:12]}"
    current = root / "current"
    result = SelfUpdate(version, venv, current, _link(root / "previous"), [p.file for p in wheels], dry_run)
    if _link(current) == _relative(venv, root):
        result.already = True
        return result
    if dry_run:
        result.previous = _link(current) or sys.prefix
        return result
    made = [d for d in (root, root / "venvs") if not d.exists()]
    root.joinpath("venvs").mkdir(parents=True, exist_ok=True)
    work = root / f".wheels-{secrets.token_hex(6)}"
    try:
        (work / "wheels").mkdir(parents=True)
        if _installed_version(venv) != version:  # else: this release's environment, switched away from
            remove_tree(venv, ignore_errors=True)  # a former attempt's, which does not run: never current
            made.append(venv)
            _extract(zone, bundle, m, wheels, work / "wheels", now)
            _install(venv, work, wheels, version, str(bundle))
        import_bundle(zone, bundle, now=now)  # the zone now holds the release, as `bundlekit import` leaves it
    except BaseException:
        remove_tree(work, ignore_errors=True)
        for d in reversed(made):
            remove_tree(d, ignore_errors=True)
        raise
    remove_tree(work, ignore_errors=True)
    result.previous = _switch(root, _relative(venv, root))
    return result


def rollback(zone: Zone) -> SelfUpdate:
    """Swap ``HOME/self/current`` and ``HOME/self/previous`` (``StateError`` ``rollback_missing``
    when there is no previous installation, or it is gone)."""
    root = self_dir(zone)
    previous, current = _link(root / "previous"), _link(root / "current")
    if previous is None or current is None:
        raise StateError(f"{root}: no earlier bundlekit installation to go back to (self-update has not switched "
                         "this zone yet)", code="rollback_missing")
    target = root / previous
    if not (target / "bin" / "bundlekit").exists():
        raise StateError(f"{root / 'previous'}: names {previous}, which holds no bin/bundlekit any more; nothing was "
                         "changed", code="rollback_missing")
    replace_symlink(root / "previous", current)
    replace_symlink(root / "current", previous)
    return SelfUpdate(_installed_version(target) or "", target, root / "current", current)


def _relative(path: Path, root: Path) -> str:
    return str(path.relative_to(root))


def _link(path: Path) -> str | None:
    try:
        return os.readlink(path)
    except (FileNotFoundError, OSError):
        return None


def _switch(root: Path, venv: str) -> str:
    """Point ``current`` at ``venv`` and ``previous`` at what ``current`` named (the first time: the
    running installation, ``sys.prefix``). Returns what ``previous`` names now."""
    before = _link(root / "current") or sys.prefix
    replace_symlink(root / "previous", before)
    replace_symlink(root / "current", venv)
    return before


def _extract(zone: Zone, bundle: Path, m: Manifest, wheels: list[PackageRef], work: Path, now: EpochSeconds) -> None:
    """Write each wheel into ``work`` under its file name: from the zone's store when it holds the
    bytes, else from the bundle (verified again as it streams; deltas rebuilt from their bases)."""
    by_digest = {p.sha256: p for p in wheels}
    files: dict[str, BinaryIO] = {}

    def sink_for(digest: str):  # type: ignore[no-untyped-def]
        p = by_digest.get(digest)
        if p is None or digest in files or zone.store.has(digest):
            return None
        files[digest] = open(work / p.file, "xb")
        return files[digest].write

    try:
        for p in wheels:
            if zone.store.has(p.sha256):
                shutil.copyfile(zone.store.path(p.sha256), work / p.file)
        verified = verify_bundle(zone, bundle, now=now, sink_for=sink_for, rebuild=False)
        usable = usable_packages(zone, verified.source, verifier_for(zone, now).sources)
        rebuild_all(bundle, verified.digest, m, zone.store, sink_for, usable=usable)
    finally:
        for fh in files.values():
            fh.close()
    absent = [p.file for p in wheels if not (work / p.file).exists()]
    if absent:
        raise _failed(str(bundle), f"the bundle does not carry {', '.join(absent)} and this zone does not hold it; "
                      "ask the source zone for `bundlekit export-self` again")


def _install(venv: Path, work: Path, wheels: list[PackageRef], version: str, where: str) -> None:
    """A new environment at ``venv`` with exactly ``wheels`` (files in ``work/wheels``) installed,
    offline; it must run."""
    wheels_dir = work / "wheels"
    requirements = work / "requirements.txt"
    requirements.write_text("".join(f"{_requirement(p)} --hash=sha256:{p.sha256}\n" for p in wheels), "utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_") and k != "BUNDLEKIT_HOME"}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    _run([sys.executable, "-m", "venv", str(venv)], env, where, "creating the virtual environment")
    python = venv / "bin" / "python"
    _run([str(python), "-m", "pip", "install", "--no-index", "--find-links", str(wheels_dir), "--only-binary",
          ":all:", "--require-hashes", "--no-cache-dir", "-r", str(requirements)], env, where,
         "installing the wheels (offline)")
    shown = _installed_version(venv, env)
    if shown != version:
        raise _failed(where, f"the new installation's `bundlekit --version` says {terminal_text(repr(shown))}, not "
                             f"{version}; it was removed and the current one is kept")


def _requirement(p: PackageRef) -> str:
    """``name==version`` of a wheel package (``wheel.NAME``, version ``VERSION-TAGS``)."""
    return f"{p.id[len(WHEEL_PREFIX):]}=={p.version.split('-', 1)[0]}"


def _installed_version(venv: Path, env: dict[str, str] | None = None) -> str | None:
    """The version ``venv/bin/bundlekit --version`` reports, or None when it does not run."""
    try:
        done = subprocess.run([str(venv / "bin" / "bundlekit"), "--version"], capture_output=True, text=True,
                              env=env, timeout=PIP_TIMEOUT, check=False, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    words = done.stdout.split()
    return words[-1] if done.returncode == 0 and words else None


def _run(cmd: list[str], env: dict[str, str], where: str, what: str) -> None:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=PIP_TIMEOUT, check=False,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise _failed(where, f"{what} failed: {err}") from None
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-6:])
        raise _failed(where, f"{what} failed (exit {done.returncode}): {terminal_text(tail, multiline=True)}")


def _failed(where: str, problem: str) -> DeployError:
    return DeployError(f"{where}: self-update: {problem}; nothing was changed (the running bundlekit stays current)",
                       code="self_update_failed")
