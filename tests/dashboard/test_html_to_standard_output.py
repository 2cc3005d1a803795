"""``dashboard --html -`` writes the page on standard output, as ``-`` means for bundlekit's other
file arguments (new-user review 38, F18: it wrote a file named ``-``), through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bundlekit.zone.home import init_zone
from tests.conftest import run_cli, snapshot


def test_html_dash_prints_the_page_and_writes_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "dev"
    init_zone(home, "dev", 1_800_000_000).close()
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    before = snapshot(tmp_path)
    done = run_cli("dashboard", "--html", "-", home=home)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("<!DOCTYPE html>") and done.stdout.rstrip().endswith("</html>"), done.stdout[:200]
    assert snapshot(tmp_path) == before  # no file named '-', nothing else


@pytest.mark.parametrize("flag", ["--json", "--overwrite"])
def test_html_dash_with_a_flag_it_cannot_serve_is_a_usage_error(tmp_path: Path, flag: str) -> None:
    home = tmp_path / "dev"
    init_zone(home, "dev", 1_800_000_000).close()
    before = snapshot(tmp_path)
    done = run_cli("dashboard", "--html", "-", flag, home=home)
    assert done.returncode == 2, done.stderr
    assert snapshot(tmp_path) == before
    said = json.loads(done.stdout)["error"]["message"] if flag == "--json" else done.stderr
    assert f"--html - writes the page on standard output: drop {flag}, or give --html a file" in said
    assert "<html" not in done.stdout
