"""Octopus version parts for the ``Version*`` filters (``#{Octopus.Release.Number | VersionMajor}``).

Octopus reads a version leniently: an optional ``v``/``V``, up to four dot-separated
numbers (missing ones are 0), then everything up to ``+`` is the pre-release (split into
a prefix and a counter at the first ``.``, ``-``, ``_`` or ``\\``) and everything after the
``+`` is build metadata. ``latest`` is version 0.0.0.0 with pre-release ``latest``. The
rules follow Octopus's version parser (``Octopus.Versioning``); a text it would refuse
(empty, or characters outside the grammar) makes the filter fail.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Callable

from bundlekit.substitution.errors import FilterFailure

__all__ = ["VERSION_FILTERS", "parse_version"]

_VERSION = re.compile(
    r"^\s*(?:\s*(?P<prefix>v|V)?\s*(?P<major>\d+)\s*"
    r"(?:\.\s*(?P<minor>\d+)\s*)?(?:\.\s*(?P<patch>\d+)\s*)?(?:\.\s*(?P<revision>\d+)\s*)?)?"
    r"(?:[.\-_\\])?(?P<prerelease>(?P<prereleaseprefix>[A-Za-z0-9]*?)"
    r"([.\-_\\](?P<prereleasecounter>[A-Za-z0-9.\-_\\]*?)?)?)?"
    r"(?:\+(?P<buildmetadata>[A-Za-z0-9_\-.\\+]*?))?\s*$"
)
_NUMBERS = ("major", "minor", "patch", "revision")


def parse_version(text: str) -> dict[str, str]:
    """The parts of an Octopus version: major, minor, patch, revision (decimal text),
    prerelease, prereleaseprefix, prereleasecounter and buildmetadata (maybe empty)."""
    if not text.strip():
        raise FilterFailure("the value is empty, not a version")
    match = _VERSION.match(text)
    if match is None:
        raise FilterFailure(f"{text!r} is not a version (like 1.2.3 or 1.2.3-beta.1+build)")
    parts = {name: match.group(name) or "" for name in (*_NUMBERS, "prerelease", "prereleaseprefix",
                                                         "prereleasecounter", "buildmetadata")}
    for name in _NUMBERS:
        number = int(parts[name] or "0")
        if number > 2**31 - 1:
            raise FilterFailure(f"the {name} part of {text!r} is too large")
        parts[name] = str(number)
    return parts


def _part(name: str) -> Callable[[str | None, list[str], datetime | None], str]:
    def version_part(value: str | None, options: list[str], _now: datetime | None) -> str:
        if value is None:
            raise FilterFailure("needs a value to work on, as in #{Octopus.Release.Number | VersionMajor}")
        return parse_version(value)[name]

    return version_part


VERSION_FILTERS = (
    ("VersionMajor", _part("major")), ("VersionMinor", _part("minor")), ("VersionPatch", _part("patch")),
    ("VersionRevision", _part("revision")), ("VersionPreRelease", _part("prerelease")),
    ("VersionPreReleasePrefix", _part("prereleaseprefix")),
    ("VersionPreReleaseCounter", _part("prereleasecounter")), ("VersionMetadata", _part("buildmetadata")),
)
