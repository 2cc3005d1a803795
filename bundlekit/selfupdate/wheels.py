"""Which wheels of a wheelhouse install bundlekit on a destination (``export-self``, decision 560).

A wheelhouse is a folder of ``.whl`` files (built with ``pip wheel`` and ``pip download``). The
destination is described by its Python version and platform tags (:class:`Target`, by default
this machine's). :func:`resolve` starts from the newest bundlekit wheel that installs there,
follows every wheel's ``Requires-Dist`` (markers evaluated for the destination, extras followed)
and picks, per distribution, the newest wheel that installs there and satisfies every requirement
on it. A wheel installs there when one of its tags is the destination's and its
``Requires-Python`` (its METADATA) admits the destination's Python, as pip decides on the far
side. Nothing is fetched: the requirements no wheel satisfies are refused together (``InputError``
``wheel_missing``), each named with who needs it and why no wheel of the wheelhouse does, and one
``pip download`` command that fetches them all; a bundlekit whose every wheel's
``Requires-Python`` excludes the destination's Python is refused ``unsupported_python``. So the
destination, which has no index, never finds a dependency missing at install time. A chosen wheel
whose METADATA names another distribution or version than its file name (renamed, or another
distribution's) is refused ``invalid_wheel``, as pip would refuse it there (decision 954).
"""

from __future__ import annotations

import email.message
import email.parser
import re
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import Tag, compatible_tags, cpython_tags, sys_tags
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from bundlekit.core.text import shell_word
from bundlekit.errors import InputError

__all__ = ["Target", "Wheel", "wheel_at", "resolve", "SELF_DIST"]

#: The distribution name of bundlekit itself.
SELF_DIST = "bundlekit"
#: Largest METADATA file read from a wheel, in bytes.
MAX_METADATA = 1 << 20
# Old names of manylinux platforms (PEP 600): manylinux2014 is manylinux_2_17, and so on.
_LEGACY = {"manylinux2014": (2, 17), "manylinux2010": (2, 12), "manylinux1": (2, 5)}
_MANYLINUX = re.compile(r"manylinux_(\d+)_(\d+)_(\w+)")
_LINUX = re.compile(r"(?:manylinux_\d+_\d+|manylinux\d+|musllinux_\d+_\d+|linux)_(\w+)")


@dataclass(frozen=True, slots=True)
class Target:
    """The destination's Python: ``python_version`` as ``(3, 11)`` and its platform tags (pip's
    ``--platform`` values); both None mean this machine's interpreter."""

    python_version: tuple[int, int] | None = None
    platforms: tuple[str, ...] = ()

    def tags(self) -> list[Tag]:
        """Tags a wheel may have to install there, most preferred first."""
        if self.python_version is None and not self.platforms:
            return list(sys_tags())
        version = self.python_version or sys.version_info[:2]
        platforms = _expand(self.platforms) if self.platforms else None
        return (list(cpython_tags(version, platforms=platforms))
                + list(compatible_tags(version, f"cp{version[0]}{version[1]}", platforms=platforms)))

    def environment(self) -> dict[str, str]:
        """The values of environment markers (PEP 508) there."""
        env = dict(default_environment())
        if self.python_version is not None:
            env["python_version"] = "%d.%d" % self.python_version
            env["python_full_version"] = "%d.%d.0" % self.python_version
        for plat in self.platforms[:1]:
            system, machine = _system_of(plat)
            if system:
                env.update(sys_platform=system[0], platform_system=system[1], os_name=system[2])
            if machine:
                env["platform_machine"] = machine
        return env

    def python(self) -> str:
        """The destination's Python version as a wheel's ``Requires-Python`` is compared with it:
        ``3.10.0`` for ``--python-version 3.10`` (pip's reading), else this interpreter's."""
        if self.python_version is not None:
            return "%d.%d.0" % self.python_version
        return "%d.%d.%d" % sys.version_info[:3]

    def pip_options(self) -> str:
        """The same destination in ``pip download``'s words."""
        out = []
        if self.python_version is not None:
            out.append("--python-version %d.%d" % self.python_version)
        out.extend(f"--platform {shell_word(p)}" for p in self.platforms)
        return " ".join(out)

    def describe(self) -> str:
        """One line for messages and release notes."""
        if self.python_version is None and not self.platforms:
            return f"this machine's Python {sys.version_info[0]}.{sys.version_info[1]} ({next(iter(sys_tags()))})"
        version = self.python_version or sys.version_info[:2]
        return "Python %d.%d on %s" % (version[0], version[1], ", ".join(self.platforms) or "this platform")


def _expand(platforms: tuple[str, ...]) -> list[str]:
    """pip's reading of ``--platform``: a manylinux platform also accepts the older glibc ones."""
    out: list[str] = []
    for plat in platforms:
        out.append(plat)
        legacy = next(((name, v) for name, v in _LEGACY.items() if plat.startswith(name + "_")), None)
        m = _MANYLINUX.fullmatch(plat)
        if legacy is not None:
            major, minor, arch = legacy[1][0], legacy[1][1], plat[len(legacy[0]) + 1:]
        elif m is not None:
            major, minor, arch = int(m.group(1)), int(m.group(2)), m.group(3)
        else:
            continue
        for lower in range(minor, -1, -1):
            out.append(f"manylinux_{major}_{lower}_{arch}")
        out.extend(f"{name}_{arch}" for name, v in _LEGACY.items() if v <= (major, minor))
    return list(dict.fromkeys(out))


def _system_of(platform: str) -> tuple[tuple[str, str, str] | None, str | None]:
    """(sys_platform, platform_system, os_name) and the machine a platform tag names."""
    linux = _LINUX.fullmatch(platform)
    if linux is not None:
        return ("linux", "Linux", "posix"), linux.group(1)
    if platform.startswith("macosx"):
        return ("darwin", "Darwin", "posix"), platform.split("_")[-1]
    if platform.startswith("win"):
        return ("win32", "Windows", "nt"), {"win_amd64": "AMD64", "win32": "x86", "win_arm64": "ARM64"}.get(platform)
    return None, None


@dataclass(frozen=True, slots=True)
class Wheel:
    """One wheel file of the wheelhouse."""

    path: Path
    name: str  # canonical distribution name
    version: Version
    tags: frozenset[Tag]

    @property
    def stem(self) -> str:
        """The file name after the distribution name: ``42.0.5-cp311-abi3-manylinux_2_28_x86_64``."""
        return self.path.name[:-len(".whl")].split("-", 1)[1]

    def requires(self) -> list[str]:
        """The wheel's ``Requires-Dist`` lines (its METADATA; ``InputError`` ``invalid_wheel``)."""
        return self.metadata().get_all("Requires-Dist") or []

    def requires_python(self) -> SpecifierSet:
        """The wheel's ``Requires-Python`` (empty: any Python); ``InputError`` ``invalid_wheel``
        when it cannot be read."""
        text = self.metadata().get("Requires-Python")
        try:
            return SpecifierSet(str(text or "").strip())
        except InvalidSpecifier as err:
            raise InputError(f"{self.path}: Requires-Python {text!r} cannot be read ({err}); rebuild or fetch the "
                             "wheel again", code="invalid_wheel") from None

    def mislabelled(self) -> str | None:
        """How the wheel's ``*.dist-info/METADATA`` contradicts its file name, in words for a
        message (``its click-8.5.1.dist-info/METADATA says click 8.5.1, not click 9.9.9 as its
        file name does``), or None when its ``Name`` (PEP 503 normalised) and ``Version`` (PEP 440)
        are the file name's. pip refuses to install such a wheel under its file name's
        requirement. ``InputError`` ``invalid_wheel`` when the METADATA cannot be read."""
        info = self.metadata()
        name, text = str(info.get("Name") or "").strip(), str(info.get("Version") or "").strip()
        try:
            same = canonicalize_name(name) == self.name and Version(text) == self.version
        except InvalidVersion:
            same = False
        if same and name:
            return None
        said = f"{name or 'no Name'} {text or 'no Version'}"
        return f"its {self.metadata_name()} says {said}, not {self.name} {self.version} as its file name does"

    def metadata_name(self) -> str:
        """The path of the wheel's METADATA inside it (``InputError`` ``invalid_wheel``)."""
        return self._metadata_info()[0]

    def metadata(self) -> email.message.Message:
        """The headers of the wheel's ``*.dist-info/METADATA`` (``InputError`` ``invalid_wheel``)."""
        return email.parser.Parser().parsestr(self._metadata_info()[1], headersonly=True)

    def _metadata_info(self) -> tuple[str, str]:
        """The METADATA's path in the wheel and its text (``InputError`` ``invalid_wheel``)."""
        try:
            with zipfile.ZipFile(self.path) as zf:
                names = [n for n in zf.namelist()
                         if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
                if len(names) != 1:
                    raise InputError(f"{self.path}: a wheel holds one *.dist-info/METADATA; this one has "
                                     f"{len(names)}; rebuild it with pip wheel", code="invalid_wheel")
                info = zf.getinfo(names[0])
                if info.file_size > MAX_METADATA:
                    raise InputError(f"{self.path}: {names[0]} is {info.file_size} bytes, more than "
                                     f"{MAX_METADATA}; rebuild the wheel", code="invalid_wheel")
                text = zf.read(info).decode("utf-8", "replace")
        except (zipfile.BadZipFile, OSError) as err:
            raise InputError(f"{self.path}: not a readable wheel ({err}); fetch it again", code="invalid_wheel") from None
        return names[0], text


def wheel_at(path: Path) -> Wheel:
    """The wheel at ``path``, as its file name describes it. ``InputError`` ``invalid_wheel`` when
    the name does not follow the wheel naming rules (PEP 427)."""
    try:
        name, version, _, tags = parse_wheel_filename(path.name)
    except InvalidWheelFilename as err:
        raise InputError(f"{path}: not a wheel's file name ({err}); remove it or fetch it again with pip",
                         code="invalid_wheel") from None
    return Wheel(path, str(name), version, frozenset(tags))


def read_wheelhouse(folder: Path) -> dict[str, list[Wheel]]:
    """Every wheel in ``folder`` by canonical name (other files are ignored). ``InputError``
    ``invalid_wheelhouse`` when ``folder`` is not a folder, ``invalid_wheel`` for a ``.whl``
    whose name does not follow the wheel naming rules."""
    if not folder.is_dir():
        where = shell_word(str(folder))
        raise InputError(f"{folder}: the wheelhouse is not a folder. Make it and put bundlekit's wheel in it: "
                         f"`mkdir -p {where} && pip wheel --no-deps -w {where} PATH-TO-BUNDLEKIT-SOURCE` (a checkout "
                         "or sdist of the release to send); export-self then names the one `pip download` command "
                         "that fetches its dependencies", code="invalid_wheelhouse")
    out: dict[str, list[Wheel]] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix != ".whl" or not path.is_file():
            continue
        wheel = wheel_at(path)
        out.setdefault(wheel.name, []).append(wheel)
    return out


@dataclass
class _Need:
    spec: SpecifierSet = field(default_factory=SpecifierSet)
    extras: set[str] = field(default_factory=set)
    by: list[str] = field(default_factory=list)
    text: list[str] = field(default_factory=list)


def resolve(folder: Path, target: Target) -> list[Wheel]:
    """The wheels that install bundlekit on ``target``: bundlekit's first, then its dependencies
    (one wheel per distribution, by name). Raises ``InputError`` ``wheel_missing`` naming every
    requirement that no wheel of ``folder`` satisfies for ``target`` (why, for each) and one pip
    command fetching them all, ``unsupported_python`` when no bundlekit wheel's Requires-Python
    admits ``target``'s Python, and ``invalid_wheel``."""
    house = read_wheelhouse(folder)
    rank = {tag: i for i, tag in enumerate(target.tags())}
    env = target.environment()
    needs: dict[str, _Need] = {SELF_DIST: _Need(by=["export-self"], text=[SELF_DIST])}
    for _ in range(100):  # each round only narrows a choice; a wheelhouse settles in a few
        chosen = _round(house, rank, env, needs, folder, target)
        if chosen is not None:
            return chosen
    raise InputError(f"{folder}: the wheels' requirements do not settle on one wheel per distribution; keep one "
                     "version of each distribution in the wheelhouse", code="wheel_missing")


def _round(house: dict[str, list[Wheel]], rank: dict[Tag, int], env: dict[str, str], needs: dict[str, _Need],
           folder: Path, target: Target) -> list[Wheel] | None:
    """One pass from bundlekit down; None when it found a requirement that changes an earlier choice.
    A distribution with no wheel is set aside, and the pass goes on, so that one refusal names
    every one (newuser finding 10)."""
    chosen: dict[str, Wheel] = {}
    missing: dict[str, _Need] = {}
    queue = [SELF_DIST]
    python = target.python()
    while queue:
        name = queue.pop(0)
        need = needs[name]
        wheel = _pick(house.get(name, []), need, rank, python)
        if wheel is None:
            if name == SELF_DIST:
                raise _no_bundlekit(house.get(name, []), rank, folder, target)
            missing[name] = need
            continue
        if name in chosen:
            continue
        _check_label(wheel, target)
        chosen[name] = wheel
        for line in wheel.requires():
            try:
                req = Requirement(line)
            except InvalidRequirement as err:
                raise InputError(f"{wheel.path}: Requires-Dist {line!r} cannot be read ({err})",
                                 code="invalid_wheel") from None
            if req.marker is not None and not any(req.marker.evaluate({**env, "extra": e})
                                                  for e in sorted(need.extras) or [""]):
                continue
            dep = canonicalize_name(req.name)
            other = needs.setdefault(dep, _Need())
            before = (str(other.spec), set(other.extras))
            other.spec &= req.specifier
            other.extras |= set(req.extras)
            other.by.append(f"{wheel.name} {wheel.version}")
            other.text.append(str(req).split(";")[0].strip())
            if dep in chosen and before != (str(other.spec), other.extras):
                return None  # a later requirement narrows or extends a distribution already chosen: again
            queue.append(dep)
    if missing:
        raise _missing(missing, house, rank, folder, target)
    return [chosen[SELF_DIST]] + [chosen[n] for n in sorted(chosen) if n != SELF_DIST]


def _check_label(wheel: Wheel, target: Target) -> None:
    """Refuse (``InputError`` ``invalid_wheel``) a chosen wheel whose METADATA names another
    distribution or version than its file name (decision 954): pip on the far side would refuse
    it, after the bundle crossed the gap."""
    problem = wheel.mislabelled()
    if problem is None:
        return
    opts = target.pip_options()
    fetch = (f"pip download --only-binary=:all: --no-deps --dest {shell_word(str(wheel.path.parent))}"
             f"{' ' + opts if opts else ''} {shell_word(f'{wheel.name}=={wheel.version}')}")
    raise InputError(f"{wheel.path}: {problem}: a renamed wheel, or another distribution's, which pip would refuse to "
                     f"install on the far side. Nothing was exported. Remove it and fetch it again (`{fetch}`), then "
                     "run export-self again", code="invalid_wheel",
                     details={"wheel": wheel.path.name, "pip": fetch})


def _runs_on(wheel: Wheel, python: str) -> bool:
    """Whether ``wheel``'s Requires-Python admits Python ``python`` (pip refuses it otherwise)."""
    return wheel.requires_python().contains(python, prereleases=True)


def _pick(wheels: list[Wheel], need: _Need, rank: dict[Tag, int], python: str) -> Wheel | None:
    fits = [w for w in wheels if w.tags & rank.keys() and need.spec.contains(w.version, prereleases=True)
            and _runs_on(w, python)]
    if not fits:
        return None
    return max(fits, key=lambda w: (w.version, -min(rank[t] for t in w.tags if t in rank)))


def _no_bundlekit(wheels: list[Wheel], rank: dict[Tag, int], folder: Path, target: Target) -> InputError:
    """Why no bundlekit wheel of the wheelhouse installs on ``target``: none there, or each one's
    Requires-Python excludes its Python (newuser finding 9)."""
    python = target.python()
    tagged = sorted((w for w in wheels if w.tags & rank.keys()), key=lambda w: w.version, reverse=True)
    if tagged and not any(_runs_on(w, python) for w in tagged):
        newest = tagged[0]
        shown = "%d.%d" % tuple(int(p) for p in python.split(".")[:2])
        platforms = ", ".join(target.platforms) or "this platform"
        return InputError(
            f"{newest.path}: bundlekit {newest.version} requires Python {newest.requires_python()} (the wheel's "
            f"Requires-Python), and the destination runs Python {shown} ({platforms}): installed there, it "
            "would not run, and self-update would fail on the far side. Nothing was exported. Upgrade the "
            "destination's Python to one bundlekit supports and export for it (--python-version), or send a "
            "bundlekit release that supports this one", code="unsupported_python",
            details={"wheel": newest.path.name, "requires_python": str(newest.requires_python()),
                     "python": shown})
    where = shell_word(str(folder))
    return InputError(f"{folder}: no wheel of bundlekit itself installs on {target.describe()}; build it with "
                      f"`pip wheel --no-deps -w {where} PATH-TO-BUNDLEKIT-SOURCE` (a checkout or sdist of the release "
                      "to send), then run export-self again", code="wheel_missing")


def _why(wheels: list[Wheel], need: _Need, rank: dict[Tag, int], python: str) -> str:
    """Why none of ``wheels`` (one distribution's) serves ``need`` on the destination."""
    tagged = [w for w in wheels if w.tags & rank.keys()]
    versioned = [w for w in tagged if need.spec.contains(w.version, prereleases=True)]
    if versioned:  # right platform and version: excluded by Requires-Python
        w = max(versioned, key=lambda w: w.version)
        return f"{w.path.name} requires Python {w.requires_python()}"
    if tagged:
        return f"its wheels here are version {', '.join(sorted({str(w.version) for w in tagged}))}"
    if wheels:
        return "; ".join(f"{w.path.name} is for {_other(w, rank, python)}" for w in wheels)
    return "no wheel of it"


def _other(wheel: Wheel, rank: dict[Tag, int], python: str) -> str:
    """What in ``wheel``'s tags excludes it on the destination (whose tags are ``rank``'s keys, its
    Python ``python``): its Python (``cp311``, the destination runs 3.12), its ABI, its platform,
    or both Python and platform; a release engineer then fixes the right option (newuser35
    finding 5: a cp311 wheel of the asked-for platform was said to be "for another platform")."""
    def words(values: set[str]) -> str:
        return ", ".join(sorted(values))

    major, minor = python.split(".")[:2]
    runs = f"{major}.{minor}"
    interpreter_abi = {(t.interpreter, t.abi) for t in rank}
    own_pythons, own_platforms = {t.interpreter for t in wheel.tags}, {t.platform for t in wheel.tags}
    platform_ok = bool(own_platforms & {t.platform for t in rank})
    where = _first(rank)
    if any((t.interpreter, t.abi) in interpreter_abi for t in wheel.tags):  # its Python and ABI install there
        return f"another platform ({words(own_platforms)}; the destination is {where})"
    if f"cp{major}{minor}" in own_pythons and platform_ok:  # the destination's Python, built for another ABI
        abis = {abi for interpreter, abi in interpreter_abi if interpreter == f"cp{major}{minor}"}
        return (f"another ABI ({words({t.abi for t in wheel.tags})}; the destination's Python {runs} takes "
                f"{words(abis)})")
    if f"cp{major}{minor}" in own_pythons:
        return (f"another ABI and platform ({words({t.abi for t in wheel.tags})} on {words(own_platforms)}; the "
                f"destination is {where})")
    if platform_ok:
        return f"another Python ({words(own_pythons)}; the destination runs {runs})"
    return (f"another Python and platform ({words(own_pythons)} on {words(own_platforms)}; the destination runs "
            f"{runs} on {where})")


def _first(rank: dict[Tag, int]) -> str:
    """The destination's most preferred platform (not ``any``), as messages name it."""
    best = sorted((i, t.platform) for t, i in rank.items() if t.platform != "any")
    return best[0][1] if best else "this platform"


def _missing(missing: dict[str, _Need], house: dict[str, list[Wheel]], rank: dict[Tag, int], folder: Path,
             target: Target) -> InputError:
    """One refusal naming every requirement in ``missing`` (by distribution name), who needs it and
    why no wheel serves it, with one ``pip download`` command that fetches them all (and what they
    need in turn: pip follows their requirements for the destination)."""
    python = target.python()
    opts = target.pip_options()
    reqs, lines, listed = [], [], []
    for name in sorted(missing):
        need = missing[name]
        req = name + ("[" + ",".join(sorted(need.extras)) + "]" if need.extras else "") + str(need.spec)
        why = _why(house.get(name, []), need, rank, python)
        reqs.append(shell_word(req))
        lines.append(f"{req!r} (needed by {', '.join(dict.fromkeys(need.by))}): {why}")
        listed.append({"requirement": req, "needed_by": list(dict.fromkeys(need.by)), "why": why})
    command = (f"pip download --only-binary=:all: --dest {shell_word(str(folder))}{' ' + opts if opts else ''} "
               + " ".join(reqs))
    return InputError(f"{folder}: {len(missing)} wheel(s) the destination needs are missing for "
                      f"{target.describe()}: {'; '.join(lines)}. Fetch them all with `{command}`, then run "
                      "export-self again", code="wheel_missing", details={"missing": listed, "pip": command})
