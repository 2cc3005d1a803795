"""Which format versions this bundlekit reads, and which bundlekit to install for one it does not
(spec/bundle-format.md §10; decisions 562 and 949; pure).

bundlekit's own version follows the format (decision 949): while the format's major version is 1,
bundlekit ``0.M.P`` reads and writes formats 1.0 to 1.M, and the first release that reads format
1.N is ``0.N.0``. So a reader refusing a bundle of a newer minor can name the release to install
without reading anything of the bundle it does not understand, and it never names a version that
is not newer than itself.
"""

from __future__ import annotations

import re
from typing import Any

from packaging.version import InvalidVersion, Version

from bundlekit import __version__
from bundlekit.core.text import terminal_text
from bundlekit.errors import FormatError

__all__ = ["READ_MAJOR", "READ_MINOR", "first_reader", "newer_than_running", "stated_writer", "unsupported_format",
           "unsupported_kind", "unsupported_manifest_format"]

#: The format major version this bundlekit reads.
READ_MAJOR = 1
#: The highest format minor version this bundlekit reads and writes (1.8: a receipt entry's relay
#: hops). A release that adds a minor raises it, and bundlekit's version to ``0.<minor>.0``.
READ_MINOR = 8

_TO_GET_IT = "(bundlekit self-update carries it across the gap)"

#: What a manifest's ``writer.version`` must look like to be repeated in a message (spec §10).
_WRITER_VERSION = re.compile(r"[0-9][0-9A-Za-z.+!_-]{0,63}")
#: A manifest ``format`` of some major version: ``bundlekit/<major>``.
_FORMAT_ID = re.compile(r"bundlekit/([0-9]{1,9})")


def first_reader(minor: int) -> str:
    """The first bundlekit release that reads format ``1.<minor>``: ``0.<minor>.0`` (decision 949)."""
    return f"0.{minor}.0"


def newer_than_running(version: str) -> bool:
    """Whether ``version`` (a PEP 440 version; anything else is not) is newer than this bundlekit."""
    try:
        return Version(version) > Version(__version__)
    except InvalidVersion:
        return False


def stated_writer(manifest: Any) -> str | None:
    """The ``writer.version`` a decoded manifest states, when it looks like a version (spec §10:
    read only to name the release to install, never trusted for anything else), else None."""
    writer = manifest.get("writer") if isinstance(manifest, dict) else None
    version = writer.get("version") if isinstance(writer, dict) else None
    return version if isinstance(version, str) and _WRITER_VERSION.fullmatch(version) else None


def _todo(major: int, writer: str | None) -> str:
    """What to do with a bundle of the format major version ``major`` this bundlekit does not read."""
    if major < READ_MAJOR:
        return f"it predates format {READ_MAJOR}; read it with the bundlekit release that wrote it"
    if writer is not None and newer_than_running(writer):
        return f"it was written by bundlekit {writer}: install bundlekit {writer} or later {_TO_GET_IT}"
    return f"install a bundlekit release newer than {__version__} that reads format {major} {_TO_GET_IT}"


def unsupported_manifest_format(where: str, fmt: object, writer: str | None) -> FormatError:
    """The refusal of a manifest whose ``format`` is not ``bundlekit/<READ_MAJOR>``
    (``unsupported_version``), naming the release to install as :func:`unsupported_format` does
    (``writer``: :func:`stated_writer` of the manifest) when ``format`` names a newer major
    version; a ``format`` that names none is a bundle bundlekit did not write, or a damaged one."""
    if fmt is None:
        shown = "missing"
    else:
        shown = repr(fmt) if isinstance(fmt, str) and len(fmt) <= 64 else "not a format name"
    found = _FORMAT_ID.fullmatch(fmt) if isinstance(fmt, str) else None
    if found is None or int(found.group(1)) == READ_MAJOR:  # no format id, or "bundlekit/01"
        todo = "a bundle bundlekit did not write, or a damaged one: ask its source to send it again"
    else:
        todo = _todo(int(found.group(1)), writer)
    return FormatError(f"{where}: format {terminal_text(shown)}; this bundlekit ({__version__}) reads "
                       f"'bundlekit/{READ_MAJOR}'; {todo}", code="unsupported_version")


def unsupported_format(where: str, major: int, minor: int, writer: str | None) -> FormatError:
    """The refusal of a bundle of another major format version (``unsupported_version``), naming the
    bundlekit release to install: the one that wrote it (``writer``, its manifest's ``writer.version``,
    read unverified and only for this message) when that is newer than this one, else any release
    newer than this one that reads format ``major``."""
    return FormatError(f"{where}: bundle format version {major}.{minor}; this bundlekit ({__version__}) reads "
                       f"format {READ_MAJOR}.x; {_todo(major, writer)}", code="unsupported_version")


def unsupported_kind(where: str, major: int, minor: int, kind: int) -> FormatError:
    """The refusal of a header kind byte ``kind`` this bundlekit does not know: ``unsupported_version``
    naming the release to install when the bundle's ``minor`` is newer than :data:`READ_MINOR` (a
    later minor may add a kind, as 1.6 added relayed bundles), else ``malformed`` (every kind of the
    minors this bundlekit reads is known to it)."""
    if minor <= READ_MINOR:
        return FormatError(f"{where}: unknown bundle kind byte {kind} (format {major}.{minor}, whose kinds this "
                           f"bundlekit knows: the header is damaged or forged)", code="malformed")
    need = first_reader(minor)
    todo = (f"install bundlekit {need} or later" if newer_than_running(need)
            else f"install a bundlekit release newer than {__version__} that reads it")
    return FormatError(f"{where}: bundle format version {major}.{minor}, a kind of bundle (header kind byte {kind}) "
                       f"that format {READ_MAJOR}.{READ_MINOR} does not have; this bundlekit ({__version__}) reads "
                       f"formats {READ_MAJOR}.0 to {READ_MAJOR}.{READ_MINOR}: {todo} {_TO_GET_IT}",
                       code="unsupported_version")
