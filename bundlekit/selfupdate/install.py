"""``self-update``: install bundlekit's release from a bundle, offline, beside the running one (decision 561).

The bundle is checked as ``bundlekit import`` checks any release (signatures, trust policy for the
project ``bundlekit``, destination, expiry, anti-rollback, every blob), with nothing changed. Its
wheels, pinned by the signed SHA-256 of the manifest, are written to a folder of their own, and a
new virtual environment ``HOME/self/venvs/VERSION-DIGEST`` gets them with ``pip install
--no-index --find-links --require-hashes``: pip never reaches an index and installs only those
bytes. Only when the new environment's ``bundlekit --version`` names the release is the bundle
imported (as ``bundlekit import`` would: the zone records the release, its wheels and its sequence
number) and ``HOME/self/current`` switched to it, ``HOME/self/previous`` naming what ``current``
named before (the first time, the running installation): both links as one switch
(``selfupdate/links.py``, decision 931). ``--rollback`` swaps the two, only to an installation that
runs from its own folder and answers as decision 952 asks (decision 953). Every switch, either way,
is an audit entry naming the installation before and after, written just before it. A bundle
accepted before that a newer bundlekit bundle of its source superseded is refused ``rollback``
(decision 930). A refused or failed self-update removes the environment it began and leaves the
home and ``current`` as they were; what a killed one left is swept by the next.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import BinaryIO

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from bundlekit.core.atomic import write_atomic
from bundlekit.core.clock import EpochSeconds
from bundlekit.core.selfproject import full_export
from bundlekit.core.text import terminal_text
from bundlekit.core.tree import remove_tree
from bundlekit.errors import BundleError, DeployError, InputError, StateError, UsageError
from bundlekit.export.releasefile import SELF_SLUG
from bundlekit.format.manifest import Manifest, PackageRef
from bundlekit.importer.importer import import_bundle
from bundlekit.importer.rebuild import rebuild_all
from bundlekit.importer.verify import usable_packages, verifier_for, verify_bundle
from bundlekit.selfupdate.export_self import WHEEL_PREFIX
from bundlekit.selfupdate.launcher import check_launcher_path
from bundlekit.selfupdate.wheels import Wheel, wheel_at
from bundlekit.selfupdate.links import (MARKER, WORK_PREFIX, Links, check_made, finish_switch, home_option_of,
                                        read_links, self_lock, sweep, switched_installations, write_switch)
from bundlekit.selfupdate.platform_check import check_installs_here
from bundlekit.selfupdate.switchable import check_from_its_folder, gone
from bundlekit.selfupdate.wayback import check_superseded, remake_hint
from bundlekit.zone import audit
from bundlekit.zone.home import Zone
from bundlekit.zone.installations import (clean_environment, is_running, not_from_its_folder,
                                          probe, through_link)
from bundlekit.zone.schema import SCHEMA_VERSION
from bundlekit.zone.state import stored_schema

__all__ = ["SelfUpdate", "self_update", "rollback", "rollback_refusal", "self_dir", "PIP_TIMEOUT"]

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
    #: The current installation's version when this release's is lower (the source's downgrade).
    downgrade_from: str | None = None
    #: Why ``previous`` cannot be switched back to (words that follow its name: "which ..."), as a
    #: deleted or moved installation leaves it; None when ``--rollback`` would switch back to it.
    previous_gone: str | None = None
    #: How to make a gone ``previous`` again (after "with"; newuser36 finding 5).
    previous_again: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {"version": self.version, "venv": str(self.venv), "current": str(self.current),
                "previous": self.previous, "wheels": self.wheels, "dry_run": self.dry_run, "already": self.already,
                "downgrade_from": self.downgrade_from, "previous_gone": self.previous_gone,
                "previous_again": self.previous_again}


def self_dir(zone: Zone) -> Path:
    """The folder bundlekit manages its own installations in: ``HOME/self``."""
    return zone.home / "self"


def self_update(zone: Zone, bundle: Path, *, now: EpochSeconds, dry_run: bool = False) -> SelfUpdate:
    """Install the bundlekit release ``bundle`` carries and switch ``HOME/self/current`` to it.

    Raises what ``bundlekit import`` raises for the bundle, ``VerificationError`` ``rollback`` for
    a bundle this zone accepted before whose sequence a newer bundlekit bundle from its source
    superseded (decision 930), ``UsageError`` ``invalid_self_bundle`` for a release of another
    project, ``self_platform_mismatch`` for one exported for another Python or platform than this
    interpreter's, ``StateError`` ``invalid_self_link`` when ``HOME/self/current`` or ``previous`` is not
    a link bundlekit made, and ``DeployError`` ``self_update_failed`` when the new environment
    cannot be made or does not run; then nothing is changed. A bundle of a lower version than
    the current one, with a higher sequence, is installed and said to be a downgrade
    (``downgrade_from``).
    """
    # Every check of an import, changing nothing. ``replace``: the same version with another set of
    # dependency wheels, made for another platform (a node of this zone on another one), is another
    # build of that version's release, not a conflict (decision 948); a release of another project is
    # refused just below, before anything is written.
    plan = import_bundle(zone, bundle, now=now, dry_run=True, replace=True, self_update=True)
    m = plan.manifest
    if m.project.get("slug") != SELF_SLUG:
        raise UsageError(f"{bundle}: a release of {m.project.get('name')!r}, not of bundlekit itself; import it with "
                         "bundlekit import (bundlekit export-self makes a bundle for self-update)",
                         code="invalid_self_bundle")
    wheels = [p for p in m.packages if p.id.startswith(WHEEL_PREFIX)]
    files = [p.file.lower() for p in wheels]
    if not wheels or len(set(files)) != len(files):
        raise UsageError(f"{bundle}: a release of bundlekit whose packages are not one wheel file each; ask the "
                         "source zone for a new bundle from bundlekit export-self", code="invalid_self_bundle")
    check_installs_here(bundle, m, wheels)  # pip would find no wheel of another Python or platform
    if plan.noop:  # accepted before: an import would do nothing, but installing it may undo a newer one
        check_superseded(zone, plan.verified, bundle, lambda: rollback_refusal(zone) is None)
    version = m.release["version"]
    root = self_dir(zone)
    # At the home's real path: pip names the interpreter's path in every command it writes, and one
    # through a symlinked --home would stop starting when that link goes (atk36 finding 1, decision 974).
    venv = Path(os.path.realpath(root)) / "venvs" / f"{version}-{plan.verified.digest[:12]}"
    name = _relative(venv, Path(os.path.realpath(root)))
    links = read_links(root)  # refuses a tampered current or previous before anything is written
    check_made(root, links, lambda: switched_installations(zone.db))  # and one bundlekit did not make
    result = SelfUpdate(version, venv, root / "current", links.previous, [p.file for p in wheels], dry_run)
    if links.current == name and _runs(venv, version)[0]:  # current, and it runs from its own folder (952)
        result.already = True
        if not dry_run and links.pending:
            with self_lock(root):
                finish_switch(root)
        return result
    result.downgrade_from = _downgrade(root, links.current, version)
    check_launcher_path(zone.home, venv / "bin" / "python")
    if dry_run:
        result.previous = _previous_after(links, name)
        result.previous_gone = gone(root, result.previous)
        result.previous_again = remake_hint(zone, root, result.previous) if result.previous_gone else None
        with tempfile.TemporaryDirectory(prefix="bundlekit-self-dry-run-") as tmp:  # never in the home: read-only
            _extract(zone, bundle, m, wheels, Path(tmp), now)
            _check_labels(Path(tmp), wheels, str(bundle), plan.verified.source.name)
        return result
    made = [d for d in (root, root / "venvs") if not d.exists()]
    with self_lock(root):
        links = read_links(root)  # as the run that held the lock before left them
        finish_switch(root)
        sweep(root, links)
        # Decide again under the lock (as decision 312 does for receipts): a run that held it may have
        # accepted a newer bundlekit bundle of this source, or switched current, since the checks above.
        check_superseded(zone, plan.verified, bundle, lambda: rollback_refusal(zone) is None)
        if links.current == name and _runs(venv, version)[0]:
            result.already = True
            result.downgrade_from = None
            return result
        result.downgrade_from = _downgrade(root, links.current, version)
        root.joinpath("venvs").mkdir(exist_ok=True)
        work = root / f"{WORK_PREFIX}{secrets.token_hex(6)}"
        try:
            (work / "wheels").mkdir(parents=True)
            if not _ready(venv, version, links, root):
                remove_tree(venv, ignore_errors=True)  # a former attempt's, never finished: never current
                made.append(venv)
                _extract(zone, bundle, m, wheels, work / "wheels", now)
                _check_labels(work / "wheels", wheels, str(bundle), plan.verified.source.name)
                _install(venv, work, wheels, version, str(bundle))
                write_atomic(venv / MARKER, f"{version} {plan.verified.digest}\n".encode("utf-8"))
            import_bundle(zone, bundle, now=now, replace=True, self_update=True)  # the zone holds the release, as `import` leaves it
        except BaseException:
            remove_tree(work, ignore_errors=True)
            for d in reversed(made):
                remove_tree(d, ignore_errors=True)
            raise
        remove_tree(work, ignore_errors=True)
        result.previous = _previous_after(links, name)
        result.previous_gone = gone(root, result.previous)
        result.previous_again = remake_hint(zone, root, result.previous) if result.previous_gone else None
        _audit_switch(zone, root, result.previous, name, rollback=False)
        write_switch(root, name, result.previous)
    return result


def rollback(zone: Zone) -> SelfUpdate:
    """Swap ``HOME/self/current`` and ``HOME/self/previous`` as one switch. ``StateError``
    ``rollback_missing`` when there is no previous installation, it is gone, it is the current
    one (nothing to go back to), or it does not run from its own folder (a moved or copied home,
    decision 953) or does not run; ``rollback_state_too_new`` when it cannot read the zone's
    state (decision 951); ``invalid_self_link`` when either is not a link bundlekit made."""
    root = self_dir(zone)
    read_links(root)
    if not root.is_dir():
        raise StateError(f"{root}: no earlier bundlekit installation to go back to (self-update has not switched "
                         "this zone yet)", code="rollback_missing")
    with self_lock(root):
        links = read_links(root)
        check_made(root, links, lambda: switched_installations(zone.db))  # never swap in a link made by hand
        previous, current = links.previous, links.current
        if previous is None or current is None:
            raise StateError(f"{root}: no earlier bundlekit installation to go back to (self-update has not "
                             "switched this zone yet)", code="rollback_missing")
        target = root / previous
        if os.path.normpath(target) == os.path.normpath(root / current):
            raise StateError(f"{root / 'previous'}: names {previous}, the current installation itself, so there is "
                             "nothing to go back to; nothing was changed. Install the release wanted with "
                             f"`bundlekit self-update BUNDLE {home_option_of(root)}`", code="rollback_missing")
        if not (target / "bin" / "bundlekit").exists():
            raise StateError(f"{root / 'previous'}: names {previous}, which holds no bin/bundlekit any more (it was "
                             "removed), so there is nothing to go back to; nothing was changed. Keep the current "
                             "installation, or make that release's installation again here with "
                             f"{remake_hint(zone, root, previous)}", code="rollback_missing", details={"previous": previous})
        check_from_its_folder(zone, root, previous, target)
        _check_reads_state(zone, root, previous, target)
        _audit_switch(zone, root, current, previous, rollback=True)
        write_switch(root, previous, current)
    left = gone(root, current)
    return SelfUpdate(_version_named(root, previous) or "", target, root / "current", current,
                      previous_gone=left, previous_again=remake_hint(zone, root, current) if left else None)


def rollback_refusal(zone: Zone) -> str | None:
    """Why ``self-update --rollback`` would be refused in ``zone`` now (its refusal's words), or
    None when it would switch: the checks :func:`rollback` makes, without its lock, changing
    nothing. A hint offers ``--rollback`` only when this is None (newuser36 finding 5)."""
    root = self_dir(zone)
    try:
        links = read_links(root)
        check_made(root, links, lambda: switched_installations(zone.db))
        previous, current = links.previous, links.current
        if previous is None or current is None:
            return "self-update has not switched this zone yet"
        target = root / previous
        if os.path.normpath(target) == os.path.normpath(root / current):
            return f"{root / 'previous'} names the current installation itself"
        if not (target / "bin" / "bundlekit").exists():
            return f"{root / 'previous'}: names {previous}, which holds no bin/bundlekit any more"
        check_from_its_folder(zone, root, previous, target)
        _check_reads_state(zone, root, previous, target)
    except BundleError as err:
        return err.message
    return None


def _check_reads_state(zone: Zone, root: Path, previous: str, target: Path) -> None:
    """Refuse (``StateError`` ``rollback_state_too_new``) going back to ``target`` when it cannot read
    the zone's state: a newer release migrated it to a schema the older one does not know, and
    every command of it would then refuse ``state_too_new`` (decision 951). The state's schema is
    read without migrating it, and the installation is asked which schema it reads (its own
    interpreter, isolated); ``rollback_missing`` when it does not answer, its command modules do not
    load, or its ``bundlekit --version`` does not name its version (decision 952's checks)."""
    if is_running(target):
        reads, version = SCHEMA_VERSION, _version_named(root, None)
    else:
        answer = probe(target, full=True)
        if answer.schema is None:
            problem = answer.problem or "it names no state schema"
        else:
            problem = f"its modules do not load ({answer.problem})" if answer.problem else ""
        if not problem:
            shown, why = _installed_version(target, clean_environment())
            if shown != answer.version:
                problem = (f"`bundlekit --version` says {shown}, not {answer.version}" if shown is not None
                           else f"`bundlekit --version` {why}")
        if problem or answer.schema is None:
            raise StateError(f"{root / 'previous'}: names {previous}, which does not run ({terminal_text(problem)}); "
                             "nothing was changed. Install the release wanted with `bundlekit self-update BUNDLE "
                             f"{home_option_of(root)}`", code="rollback_missing")
        reads, version = answer.schema, answer.version
    stored = stored_schema(zone.home)
    if stored <= reads:
        return
    raise StateError(
        f"{root / 'previous'}: names {previous} (bundlekit {version}), which reads state schema {reads} at most, but "
        f"the zone's state is at schema {stored} (the current installation migrated it); after the rollback every "
        "command would refuse `state_too_new`. Nothing was changed. Keep the current installation (send a fixed "
        "release with bundlekit export-self to go forward), or restore a backup of the zone made before that "
        "migration (bundlekit zone restore) and then roll back",
        code="rollback_state_too_new",
        details={"previous": previous, "previous_version": version, "reads_schema": reads, "state_schema": stored})


def _audit_switch(zone: Zone, root: Path, before: str, after: str, *, rollback: bool) -> None:
    """The audit entry of a switch of the zone's bundlekit from installation ``before`` to
    ``after`` (as the links name them: relative to ``root``, or absolute), written just before
    the switch, as a backup's entry is written before the copy (decision 676): who and when as
    every entry says, and which installations, with their versions, in the entry's object
    (``from``, ``to``, ``rollback``). A switch the trail cannot record (the state read-only, the
    keys' passphrase not given, or ``state_too_new``: the running bundlekit is older than the
    state, and the refusal names the installation in ``HOME/self`` that reads it, whose own
    ``self-update --rollback`` records the switch; decision 951) is not made."""
    def named(name: str) -> str:
        version = _version_named(root, None if name == sys.prefix else name)  # None: the running one
        return f"{name} (bundlekit {version or 'of unknown version'})"

    audit.naming({"from": named(before), "to": named(after), **({"rollback": True} if rollback else {})})
    audit.note(zone, "self", {"from": before, "to": after, "rollback": rollback})


def _previous_after(links: Links, name: str) -> str:
    """What ``previous`` names once ``current`` names ``name``: what current named before (the first
    time, the running installation); when ``name`` is current already (an environment that stopped
    running, made again in place), previous stays."""
    if links.current == name:
        return links.previous or sys.prefix
    return links.current or sys.prefix


def _ready(venv: Path, version: str, links: Links, root: Path) -> bool:
    """Whether ``venv`` is a finished environment of ``version`` (it holds the marker, or a link
    names it: it ran when it was switched to) that still runs from its own folder."""
    finished = (venv / MARKER).exists() or os.path.realpath(venv) in {os.path.realpath(p) for p in links.named(root)}
    return finished and _runs(venv, version)[0]


def _runs(venv: Path, version: str) -> tuple[bool, str]:
    """Whether the environment ``venv`` is bundlekit ``version`` and runs from its own folder: its
    ``bin/bundlekit`` names ``venv/bin/python`` (a moved or restored copy names another home's,
    decision 952), ``bundlekit --version`` names ``version``, and its own interpreter, isolated,
    imports every command module (they load its dependencies; decision 830 keeps ``--version``
    from loading any). Else False and why, in words for a message."""
    moved = not_from_its_folder(venv)
    if moved is not None:
        return False, f"it {moved}"
    link = through_link(venv)
    if link is not None:  # it runs, but only while that link leads here: made again at the real path (974)
        return False, f"it runs its interpreter through the link {link} (a symlinked home), so it stops when that goes"
    shown, why = _installed_version(venv, clean_environment())
    if shown != version:
        return False, f"`bundlekit --version` says {shown}, not {version}" if shown is not None else \
            f"`bundlekit --version` {why}"
    answer = probe(venv, full=True)
    if answer.problem or answer.version != version:
        return False, f"its modules do not load ({answer.problem or f'it says {answer.version}'})"
    return True, ""


def _downgrade(root: Path, current: str | None, version: str) -> str | None:
    """The current installation's version when ``version`` is lower, else None."""
    before = _version_named(root, current)
    try:
        return before if before is not None and Version(version) < Version(before) else None
    except InvalidVersion:
        return None


def _version_named(root: Path, name: str | None) -> str | None:
    """The version of the installation ``name`` (relative to ``root``, or absolute; None: the
    running one), None when unknown."""
    if name is None:
        try:
            return metadata.version("bundlekit")
        except metadata.PackageNotFoundError:
            return None
    try:
        return (root / name / MARKER).read_text("utf-8").split()[0]
    except (OSError, UnicodeDecodeError, IndexError):
        return _installed_version(root / name)[0]


def _relative(path: Path, root: Path) -> str:
    return str(path.relative_to(root))


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
                      f"ask the source zone for `{full_export(SELF_SLUG, m.destination.name)}`")


def _check_labels(folder: Path, wheels: list[PackageRef], where: str, source: str) -> None:
    """Refuse (``UsageError`` ``invalid_self_bundle``) the release when a wheel in ``folder`` is not
    what its file name says (its METADATA's Name or Version, decision 954), or its file name is not
    its package's (the requirement pip is given): pip would refuse it, after the install began."""
    for p in wheels:
        try:
            wheel = wheel_at(folder / p.file)
            problem = wheel.mislabelled()
            if problem is None and not _names(p, wheel):
                problem = f"it is the package {p.id} {p.version}, which its file name is not"
        except InputError as err:
            problem = err.message.split(": ", 1)[-1]
        if problem is not None:
            raise UsageError(f"{where}: the bundle's wheel {p.file}: {terminal_text(problem)}; pip would refuse to "
                             f"install it. Nothing was changed. Ask zone {source} to fetch that wheel again and send "
                             "bundlekit again with bundlekit export-self", code="invalid_self_bundle",
                             details={"wheel": p.file})


def _names(p: PackageRef, wheel: Wheel) -> bool:
    """Whether the requirement pip is given for package ``p`` names ``wheel`` (its file name)."""
    name, _, version = _requirement(p).partition("==")
    try:
        return canonicalize_name(name) == wheel.name and Version(version) == wheel.version
    except InvalidVersion:
        return True  # pip reads it as it can; nothing here says it differs


def _install(venv: Path, work: Path, wheels: list[PackageRef], version: str, where: str) -> None:
    """A new environment at ``venv`` with exactly ``wheels`` (files in ``work/wheels``) installed,
    offline; it must run."""
    wheels_dir = work / "wheels"
    requirements = work / "requirements.txt"
    requirements.write_text("".join(f"{_requirement(p)} --hash=sha256:{p.sha256}\n" for p in wheels), "utf-8")
    # Isolated from the caller (decision 561: exactly these bytes): no PYTHON* or PIP_* variable of
    # the caller reaches venv, pip or the checks (a PYTHONPATH holding a dependency made pip skip it),
    # and every interpreter runs with -I (no user site, no current folder on the path).
    env = clean_environment(PIP_CONFIG_FILE=os.devnull, PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    _run([sys.executable, "-I", "-m", "venv", str(venv)], env, where, "creating the virtual environment")
    python = venv / "bin" / "python"
    _run([str(python), "-I", "-m", "pip", "install", "--no-index", "--find-links", str(wheels_dir), "--only-binary",
          ":all:", "--require-hashes", "--no-cache-dir", "-r", str(requirements)], env, where,
         "installing the wheels (offline)")
    _run([str(python), "-I", "-m", "pip", "check"], env, where, "checking the new installation's dependencies")
    ok, why = _runs(venv, version)
    if not ok:
        raise _failed(where, f"the new installation: {terminal_text(why)}; it was removed and the current one is kept")


def _requirement(p: PackageRef) -> str:
    """``name==version`` of a wheel package (``wheel.NAME``, version ``VERSION-TAGS``)."""
    return f"{p.id[len(WHEEL_PREFIX):]}=={p.version.split('-', 1)[0]}"


def _installed_version(venv: Path, env: dict[str, str] | None = None) -> tuple[str | None, str]:
    """The version ``venv/bin/bundlekit --version`` reports, or None and why it did not run
    (its exit code and the last line it printed on stderr: a traceback's exception, where its
    first line says only "Traceback (most recent call last):"; newuser35 finding 12)."""
    try:
        done = subprocess.run([str(venv / "bin" / "bundlekit"), "--version"], capture_output=True, text=True,
                              env=env, timeout=PIP_TIMEOUT, check=False, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as err:
        return None, f"did not run ({err})"
    words = done.stdout.split()
    if done.returncode == 0 and words:
        return words[-1], ""
    lines = [line.strip() for line in (done.stderr or done.stdout).splitlines() if line.strip()]
    last = ("... " if len(lines) > 1 else "") + lines[-1] if lines else ""
    return None, f"did not run (exit {done.returncode}" + (f": {last}" if last else ", nothing printed") + ")"


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
