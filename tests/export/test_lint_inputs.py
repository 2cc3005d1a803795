"""A release or targets file lint cannot read is refused as every command refuses it (decision 571).

Lint's own exit statuses are 0 (no errors) and 2 (errors in the release); a file that cannot
be read at all is no release with errors: the same coded refusal, exit status and error object
as export gives for the same file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bundlekit.export.releasefile import MAX_RELEASE_FILE_BYTES
from tests.conftest import Zones, cli_in_process, run_cli
from tests.export.test_lint import RELEASE


def _fifo(tmp_path: Path) -> Path:
    path = tmp_path / "waiting.toml"
    os.mkfifo(path)
    return path


def _too_large(tmp_path: Path) -> Path:
    path = tmp_path / "huge.toml"
    with open(path, "wb") as f:
        f.truncate(MAX_RELEASE_FILE_BYTES + 1)
    return path


@pytest.mark.parametrize("make, code", [
    (lambda t: t / "missing.toml", "file_not_found"),
    (lambda t: t, "file_not_found"),  # a folder
    (_fifo, "not_a_file"),  # refused before a byte is read: it would wait for a writer forever
    (_too_large, "input_too_large"),
], ids=["missing", "folder", "fifo", "too-large"])
def test_a_release_file_lint_cannot_read_exits_1_with_the_code_export_gives(zones: Zones, tmp_path: Path,
                                                                            make: object, code: str) -> None:
    path = make(tmp_path)  # type: ignore[operator]
    r = cli_in_process("lint", path, "--json")
    assert r.returncode == 1
    error = json.loads(r.stdout)["error"]
    assert error["code"] == code and str(path) in error["message"]
    zones.close()
    exported = cli_in_process("export", path, "--to", "prod", "-o", tmp_path / "x.bundle", "--json",
                              home=zones.dev.home)
    assert (exported.returncode, json.loads(exported.stdout)["error"]["code"]) == (1, code)


def test_without_json_the_refusal_is_one_line_on_stderr_and_nothing_on_stdout(tmp_path: Path) -> None:
    r = run_cli("lint", tmp_path / "missing.toml")
    assert (r.returncode, r.stdout) == (1, "")
    assert r.stderr == f"error [file_not_found]: release file {tmp_path / 'missing.toml'} does not exist; check the path\n"


def test_a_targets_file_that_is_missing_exits_1_and_one_that_is_no_inventory_exits_2(release_dir: Path,
                                                                                    tmp_path: Path) -> None:
    missing = cli_in_process("lint", release_dir / RELEASE, "--targets", tmp_path / "none.json", "--json")
    assert (missing.returncode, json.loads(missing.stdout)["error"]["code"]) == (1, "file_not_found")
    bad = tmp_path / "t.json"
    bad.write_text("[]")
    wrong = cli_in_process("lint", release_dir / RELEASE, "--targets", bad, "--json")
    assert (wrong.returncode, json.loads(wrong.stdout)["error"]["code"]) == (2, "invalid_inventory")


def test_a_file_that_is_read_but_is_not_toml_is_the_releases_own_error_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "release.toml"
    path.write_bytes(b"[project\n")
    r = cli_in_process("lint", path, "--json")
    assert r.returncode == 2
    assert [f["code"] for f in json.loads(r.stdout)["findings"]] == ["invalid_toml"]
