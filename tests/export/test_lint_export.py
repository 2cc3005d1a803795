"""Export runs lint: errors refuse it with nothing changed, warnings travel in the bundle (``lint_notes``)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Zones, cli_in_process, snapshot
from tests.export.test_lint import RELEASE, edit


def test_export_refuses_a_release_with_lint_errors_and_changes_nothing(zones: Zones, release_dir: Path,
                                                                        tmp_path: Path) -> None:
    path = edit(release_dir, "#{Acme.Db.Name} on", "#{Acme.Db.Nmae} on")
    out = tmp_path / "a.bundle"
    zones.close()
    before = snapshot(zones.dev.home, out)
    r = cli_in_process("export", path, "--to", "prod", "-o", out, "--json", home=zones.dev.home)
    assert r.returncode == 2
    error = json.loads(r.stdout)["error"]
    assert error["code"] == "release_lint_failed"
    assert "steps[0].script: #{Acme.Db.Nmae} is not defined" in error["message"]
    assert "did you mean 'Acme.Db.Name'?" in error["message"] and f"bundlekit lint {path}" in error["message"]
    assert [d["code"] for d in error["details"]] == ["undefined_variable"]
    assert snapshot(zones.dev.home, out) == before


def test_export_prints_warnings_and_the_bundle_carries_them_to_the_secure_zone(zones: Zones, release_dir: Path,
                                                                              tmp_path: Path) -> None:
    path = release_dir / RELEASE
    path.write_text(path.read_text() + '\n[[variables]]\nname = "Acme.Unused"\nplaceholder = true\n')
    out = tmp_path / "a.bundle"
    zones.close()
    r = cli_in_process("export", path, "--to", "prod", "-o", out, home=zones.dev.home)
    assert r.returncode == 0, r.stderr
    assert "warning [unused_placeholder] variables[5].name: placeholder 'Acme.Unused'" in r.stderr
    shown = cli_in_process("inspect", out, "--json")
    notes = json.loads(shown.stdout)["lint_notes"]
    line = len(path.read_text().splitlines()) - 1
    assert notes == [{"severity": "warning", "code": "unused_placeholder", "file": RELEASE,
                      "path": "variables[5].name", "line": line, "column": 1,
                      "message": "placeholder 'Acme.Unused' is used by no step's script, variable value or "
                                 "substituted file", "suggestion": "use it as #{Acme.Unused} or remove it"}]
    text = cli_in_process("inspect", out).stdout
    assert f"  lint    {RELEASE}:{line}:1: warning [unused_placeholder] variables[5].name:" in text
    # the destination verifies and imports it as any other bundle (the field is informational)
    imported = cli_in_process("import", out, home=zones.prod.home)
    assert imported.returncode == 0, imported.stderr
    assert "  lint: 1 warning(s) when zone dev exported it; `bundlekit inspect BUNDLE` lists them" in imported.stdout
    assert str(tmp_path) not in json.dumps(notes)  # no path of the authoring machine travels


def test_a_manifest_carries_at_most_200_notes_and_says_how_many_were_left_out(zones: Zones, release_dir: Path,
                                                                               tmp_path: Path) -> None:
    path = release_dir / RELEASE
    path.write_text(path.read_text() + "".join(f'\n[[variables]]\nname = "Unused.{i:03d}"\nplaceholder = true\n'
                                               for i in range(250)))
    out = tmp_path / "a.bundle"
    zones.close()
    r = cli_in_process("export", path, "--to", "prod", "-o", out, "--json", home=zones.dev.home)
    assert r.returncode == 0, r.stdout
    assert len(json.loads(r.stdout)["warnings"]) == 250  # the exporting operator sees every one
    notes = json.loads(cli_in_process("inspect", out, "--json").stdout)["lint_notes"]
    assert len(notes) == 200
    assert [n["path"] for n in notes[:199]] == [f"variables[{5 + i}].name" for i in range(199)]
    assert notes[199] == {"severity": "warning", "code": "more_notes", "file": RELEASE,
                          "message": "51 more warnings: run `bundlekit lint RELEASE_FILE`"}
