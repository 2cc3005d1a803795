"""Member patterns (``member_matches``): pathlib-like ``**`` semantics, and work that does not
grow exponentially with the number of ``**`` in a hostile pattern."""

from __future__ import annotations

import fnmatch

import pytest

from bundlekit.package import archive
from bundlekit.package.archive import member_matches


@pytest.mark.parametrize(("pattern", "name", "expected"), [
    ("**/*.json", "a.json", True),
    ("**/*.json", "x/y/a.json", True),
    ("x/**/a.json", "x/a.json", True),
    ("x/**/a.json", "x/p/q/a.json", True),
    ("x/**/a.json", "y/p/a.json", False),
    ("**/**/a.json", "a.json", True),
    ("**/**/a.json", "p/q/a.json", True),
    ("**", "a.json", False),  # ** stands for folders, never for the file itself
    ("x/**", "x/a.json", False),
    ("*.JSON", "a.json", False),  # case-sensitive
    ("*/a.json", "p/q/a.json", False),  # one * never crosses a folder
    ("**/p/**/q/*.json", "r/p/s/q/a.json", True),
    ("**/p/**/q/*.json", "r/q/s/p/a.json", False),
])
def test_double_star_patterns_match_as_path_glob_does(pattern: str, name: str, expected: bool) -> None:
    assert member_matches(name, [pattern]) is expected


def _name_tests(monkeypatch: pytest.MonkeyPatch, pattern: str, name: str) -> tuple[bool, int]:
    calls = 0
    real = fnmatch.fnmatchcase

    def counting(text: str, part: str) -> bool:
        nonlocal calls
        calls += 1
        return real(text, part)

    monkeypatch.setattr(archive.fnmatch, "fnmatchcase", counting)
    return member_matches(name, [pattern]), calls


def test_name_tests_grow_at_most_with_pattern_parts_times_path_depth_not_exponentially(
        monkeypatch: pytest.MonkeyPatch) -> None:
    deep = "/".join(["d"] * 23 + ["file.txt"])
    counts = {}
    for stars in (4, 8, 16):
        matched, counts[stars] = _name_tests(monkeypatch, "**/" * stars + "nomatch", deep)
        assert matched is False
        # every (pattern part, path position) pair is tested at most once
        assert counts[stars] <= (stars + 1) * 24
    # the same kind of pattern interleaved with names that match every folder
    matched, calls = _name_tests(monkeypatch, "**/d/" * 10 + "nomatch", deep)
    assert matched is False and calls <= 21 * 24
    matched, calls = _name_tests(monkeypatch, "**/d/" * 10 + "file.txt", deep)
    assert matched is True and calls <= 21 * 24
