"""The CalculationFixture and VersionFixture rows of the Octostache table (format: octostache_table.py)."""

from __future__ import annotations

from typing import Callable

_CALC_VARS = {"X": "6", "Y": "9", "The/Size": "10", "Other-Size": "13"}

# (expression, result). Octostache formats a double in the current culture; on an invariant or
# English machine that is the shortest round-trip text ("1.5", "0.2222222222222222").
_CALC = (
    ("4+3", "7"), ("4-3", "1"), ("4*3", "12"), ("3/2", "1.5"), ("2*3+4*5", "26"), ("2*(3+4)*5", "70"),
    ("X+3", "9"), ("X+Y", "15"), ("Z+3", "#{Z+3}"), ("{Y}-3", "6"), ("3-Y", "-6"), ("3-4", "-1"),
    ("(Y*2)-3", "15"), ("3-(Y*2)", "-15"), ("{Y}/2", "4.5"), ("2/Y", "0.2222222222222222"),
    ("2/{Y}", "0.2222222222222222"), ("3/4", "0.75"), ("0.3*Y", "2.6999999999999997"), ("Y*0.3", "2.6999999999999997"),
    ("{Y}*0.3", "2.6999999999999997"), ("{Other-Size}-3", "10"), ("{The/Size}-3", "7"),
    # A name written as the left operand takes in "-3" and "/2" (they are name characters): unresolved.
    ("Y-3", "#{Y-3}"), ("Y/2", "#{Y/2}"),
)

# version -> major, minor, patch, revision, prerelease, prefix, counter, metadata
_VERSIONS = (
    ("7", "7", "0", "0", "0", "", "", "", ""),
    ("7.8", "7", "8", "0", "0", "", "", "", ""),
    ("7.8.9", "7", "8", "9", "0", "", "", "", ""),
    ("7.8.9.10", "7", "8", "9", "10", "", "", "", ""),
    ("7.8.9.10-feature.3", "7", "8", "9", "10", "feature.3", "feature", "3", ""),
    ("7.8.9.10-feature.3+sha", "7", "8", "9", "10", "feature.3", "feature", "3", "sha"),
    ("v7.8.9.10-feature.3+sha", "7", "8", "9", "10", "feature.3", "feature", "3", "sha"),
    ("V7.8.9.10-feature.3+sha", "7", "8", "9", "10", "feature.3", "feature", "3", "sha"),
    ("V7.8.9.10-feature.nightly+sha", "7", "8", "9", "10", "feature.nightly", "feature", "nightly", "sha"),
    ("V7.8.9.10-feature-nightly+sha", "7", "8", "9", "10", "feature-nightly", "feature", "nightly", "sha"),
    ("V7.8.9.10-feature_nightly+sha", "7", "8", "9", "10", "feature_nightly", "feature", "nightly", "sha"),
    ("21.0.0.GA", "21", "0", "0", "0", "GA", "GA", "", ""),
    ("310.0.0-ubuntu_split_build", "310", "0", "0", "0", "ubuntu_split_build", "ubuntu", "split_build", ""),
    ("stable", "0", "0", "0", "0", "stable", "stable", "", ""),
    ("v7", "7", "0", "0", "0", "", "", "", ""),
    ("v7.8.9", "7", "8", "9", "0", "", "", "", ""),
)
_PARTS = ("VersionMajor", "VersionMinor", "VersionPatch", "VersionRevision", "VersionPreRelease",
          "VersionPreReleasePrefix", "VersionPreReleaseCounter", "VersionMetadata")


def add_calc_and_version_rows(row: Callable[..., None]) -> None:
    for expression, result in _CALC:
        row("CalculationFixture.ConditionalIsSupported", f"#{{calc {expression}}}", _CALC_VARS, result)
    for version, *parts in _VERSIONS:
        for name, expected in zip(_PARTS, parts):
            row("VersionFixture.TestVersionMajor", f"#{{Ver | {name}}}", {"Ver": version}, expected)
