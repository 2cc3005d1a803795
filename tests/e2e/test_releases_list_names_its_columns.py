"""`releases list` prints a header row naming its columns (review newuser finding 14): the space and
the channel of the usual release both read "Default", and with --space the space column goes. Through
the real CLI, with finding 3's zone (Pay Web in space Payments, Widget API in Default). `--json` is
unchanged: its keys name the fields.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.e2e.test_another_space_s_name_is_named_with_its_space import two_space_prod
from tests.e2e.test_spaces import ok

KEYS = {"project", "slug", "version", "channel", "in_space", "source", "sequence", "local", "imported_at",
        "lifecycle", "pruned"}


@pytest.fixture
def prod(tmp_path: Path) -> Path:
    return two_space_prod(tmp_path)


def _listed(prod: Path, *args: str) -> list[str]:
    done = run_cli("releases", "list", *args, home=prod)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_every_column_has_a_header_over_it_with_every_space(prod: Path) -> None:
    header, *rows = _listed(prod)
    assert header.split() == ["Space", "Project", "Version", "Channel", "Source", "Added"]
    assert [row.split()[0] for row in rows] == ["Payments", "Default"]
    for row in rows:  # each value starts under its header
        assert row[header.index("Channel"):].startswith("Default ")
        assert row[header.index("Version"):].startswith("1.0.0 ")
        assert row[header.index("Source"):].startswith("from ")
        assert row[header.index("Added"):][:4].isdigit()


def test_one_space_s_listing_has_no_space_column_and_its_header_says_so(prod: Path) -> None:
    header, row = _listed(prod, "--space", "Payments")
    assert header.split() == ["Project", "Version", "Channel", "Source", "Added"]
    assert row.startswith("Pay Web ") and row[header.index("Channel"):].startswith("Default ")


def test_the_json_is_unchanged_and_an_empty_zone_prints_no_header(prod: Path, tmp_path: Path) -> None:
    rows = json.loads(ok("releases", "list", "--json", home=prod))["releases"]
    assert {r["project"] for r in rows} == {"Pay Web", "Widget API"}
    assert all(KEYS <= r.keys() for r in rows), rows
    ok("init", "--zone", "empty", home=tmp_path / "empty")
    at = f"--home {shlex.quote(str(tmp_path / 'empty'))}"  # the home given, so that the pasted command works on it (decision 964)
    assert _listed(tmp_path / "empty") == [
        f"no releases yet; import a bundle (`bundlekit import BUNDLE {at}`) or create one (`bundlekit releases create "
        f"RELEASE_FILE {at}`)"]
