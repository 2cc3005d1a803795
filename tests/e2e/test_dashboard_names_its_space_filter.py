"""`dashboard --space` (and `serve --space`) says it shows one space, and an empty space says where the
rest of the zone is instead of "no release has been exported or deployed" (review newuser finding 4).
Through the real CLI, with the finding's own steps: dev exported one release (space Default) and has
an empty space Other. Without --space the output is as before (the goldens of
tests/dashboard/test_same_output.py hold it byte for byte); the JSON has no header to name the filter
and stays as it was.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.e2e.test_spaces import ok, zones
from tests.e2e.test_trust_set_keeps_the_rule import script_release

ELSEWHERE = ("Nothing exported or deployed in space Other yet; zone dev shows 1 project(s) in space Default: drop "
             "--space to see every space.")


@pytest.fixture
def dev(tmp_path: Path) -> Path:
    w = zones(tmp_path, "dev", "prod")
    ok("trust", "add", tmp_path / "prod.card", home=w["dev"])
    ok("trust", "add", tmp_path / "dev.card", home=w["prod"])
    ok("export", script_release(tmp_path, "widget"), "--to", "prod", "-o", tmp_path / "w.bundle", home=w["dev"])
    ok("spaces", "add", "Other", home=w["dev"])
    return w["dev"]


def _shown(*args: str, home: Path, width: int = 200) -> list[str]:
    done = run_cli("dashboard", *args, home=home, env={"NO_COLOR": "1", "COLUMNS": str(width)})
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_an_empty_space_says_what_the_other_spaces_show_and_the_title_names_the_space(dev: Path) -> None:
    lines = _shown("--space", "Other", home=dev)
    assert lines[0].startswith("Zone dev (") and ", space Other only, generated " in lines[0], lines
    assert lines[2:] == [ELSEWHERE]
    narrow = _shown("--space", "Other", home=dev, width=60)  # wrapped on a narrow terminal, never cut
    assert all(len(line) <= 60 for line in narrow[2:]) and " ".join(narrow[2:]) == ELSEWHERE


def test_a_space_with_rows_is_named_in_the_title_and_no_filter_names_none(dev: Path) -> None:
    one = _shown("--space", "default", home=dev)  # the zone's spelling, whatever was typed
    assert ", space Default only, generated " in one[0] and any("Widget API" in line for line in one)
    every = _shown(home=dev)
    assert " space " not in every[0] and every[1:] == one[1:]


def test_the_page_names_the_space_in_its_title_and_heading_and_says_where_the_rest_is(
        dev: Path, tmp_path: Path) -> None:
    page = tmp_path / "o.html"
    ok("dashboard", "--space", "Other", "--html", page, home=dev)
    html = page.read_text(encoding="utf-8")
    assert "<title>Deployments \u00b7 zone dev, space Other only</title>" in html
    assert '<h1>Deployments <span class="zone">zone dev, space Other only</span></h1>' in html
    assert f'<p class="empty">{ELSEWHERE}</p>' in html
    ok("dashboard", "--html", page, "--overwrite", home=dev)
    assert "space Other" not in page.read_text(encoding="utf-8")


def test_the_json_of_a_filtered_view_has_the_keys_of_the_whole_view(dev: Path) -> None:
    filtered = json.loads(ok("dashboard", "--space", "Other", "--json", home=dev))
    whole = json.loads(ok("dashboard", "--json", home=dev))
    assert filtered.keys() == whole.keys() and filtered["projects"] == [] and whole["projects"]


def test_serve_space_names_the_space_and_says_where_the_rest_is(dev: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "bundlekit", "serve", "--home", str(dev), "--port", "0", "--json",
                             "--space", "Other"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = json.loads(proc.stdout.readline())["url"]
        with urllib.request.urlopen(url, timeout=60) as answer:
            html = answer.read().decode()
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    assert "zone dev, space Other only</span></h1>" in html and ELSEWHERE in html
