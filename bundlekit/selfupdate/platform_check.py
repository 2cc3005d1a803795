"""Whether a bundlekit release installs on the interpreter of this zone's self-update (newuser35
finding 11).

``self-update`` makes the new environment with the interpreter running it, and pip installs a
wheel only when one of its tags (its file name: ``cffi-2.1.1-cp312-cp312-manylinux_2_17_x86_64``)
is one of that interpreter's. A bundle exported for another Python or platform (export-self's
``--python-version``/``--platform``) would pass every check of an import and then fail inside pip
("No matching distribution found"); :func:`check_installs_here` refuses it first, naming what the
bundle was made for (its release notes say it: ``bundlekit 0.8.1 for Python 3.12 on
manylinux_2_17_x86_64: 26 wheels``), this interpreter, and the export that fits. Reads only.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Sequence

from packaging.tags import Tag, sys_tags
from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from bundlekit.core.selfproject import SELF_SLUG, export_command
from bundlekit.core.text import shell_word, terminal_text
from bundlekit.errors import UsageError
from bundlekit.format.manifest import Manifest, PackageRef

__all__ = ["check_installs_here", "here_platform"]

#: How export-self's notes name the target: ``for Python 3.12 on manylinux_2_17_x86_64:`` or
#: ``for this machine's Python 3.11 (cp311-cp311-linux_x86_64):``.
_NOTES = re.compile(r" for ((?:this machine's )?Python \d+\.\d+(?: on [^:]+| \([^)]*\))): \d+ wheels")
#: Wheels named in a refusal; the rest are counted.
_SHOWN = 3


def here_platform(tags: Sequence[Tag]) -> str:
    """The platform to export for this interpreter (``--platform``): its newest ``manylinux``
    platform when it has one (export-self accepts the older glibc ones with it), else its first
    tag's."""
    return next((t.platform for t in tags if t.platform.startswith("manylinux_")), tags[0].platform)


def _tags(file: str) -> frozenset[Tag]:
    try:
        return frozenset(parse_wheel_filename(file)[3])
    except InvalidWheelFilename:
        return frozenset()


def check_installs_here(bundle: Path, m: Manifest, wheels: Sequence[PackageRef]) -> None:
    """Refuse (``UsageError`` ``self_platform_mismatch``) the bundlekit release ``m`` (its wheel
    packages ``wheels``) when a wheel has no tag of this interpreter, so pip would not install it:
    the message names the bundle's target (its notes, else the wheels), this interpreter's Python
    and platform, and the ``export-self --python-version X.Y --platform TAG`` the source zone runs.
    Returns when every wheel installs here."""
    tags = list(sys_tags())
    here = set(tags)
    misfits = [p.file for p in wheels if not (_tags(p.file) & here)]
    if not misfits:
        return
    found = _NOTES.search(str(m.release.get("notes", "")))
    made_for = terminal_text(found.group(1)) if found else "another Python or platform"
    python = "%d.%d" % sys.version_info[:2]
    platform = here_platform(tags)
    shown = ", ".join(terminal_text(f) for f in misfits[:_SHOWN]) + (
        f" and {len(misfits) - _SHOWN} more" if len(misfits) > _SHOWN else "")
    command = (f"{export_command(SELF_SLUG, shell_word(m.destination.name))} --python-version {python} "
               f"--platform {shell_word(platform)}")
    raise UsageError(
        f"{bundle}: bundlekit {m.release.get('version')} was exported for {made_for}, and this zone's self-update "
        f"installs with Python {python} on {platform} ({sys.executable}): {len(misfits)} of its {len(wheels)} "
        f"wheels would not install here ({shown}). Nothing was changed. In zone {m.source.name}, export it for this "
        f"zone with `{command}` (a wheelhouse holding wheels for Python {python} on {platform}: `pip download "
        f"--only-binary=:all: -d DIR --python-version {python} --platform {shell_word(platform)} BUNDLEKIT_WHEEL`), "
        "then run self-update with that bundle",
        code="self_platform_mismatch",
        details={"made_for": made_for, "python": python, "platform": platform, "wheels": misfits})
