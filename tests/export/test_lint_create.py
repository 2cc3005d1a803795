"""``releases create`` runs export's lint (decision 731): a release lint refuses is not created,
with nothing changed, and its warnings are printed; a broken rule of the release file keeps its
own code (decision 570)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Zones, cli_in_process, snapshot
from tests.export.test_lint import RELEASE, edit


def test_releases_create_refuses_what_export_refuses_and_changes_nothing(zones: Zones, release_dir: Path) -> None:
    path = edit(release_dir, "#{Acme.Db.Name} on", "#{Acme.Db.Nmae} on")
    zones.close()
    before = snapshot(zones.dev.home, release_dir)
    r = cli_in_process("releases", "create", path, "--json", home=zones.dev.home)
    assert r.returncode == 2
    error = json.loads(r.stdout)["error"]
    assert error["code"] == "release_lint_failed"
    assert "steps[0].script: #{Acme.Db.Nmae} is not defined" in error["message"]
    assert "create the release again" in error["message"] and "export again" not in error["message"]
    assert [d["code"] for d in error["details"]] == ["undefined_variable"]
    assert snapshot(zones.dev.home, release_dir) == before
    listed = cli_in_process("releases", "list", "--json", home=zones.dev.home)
    assert json.loads(listed.stdout)["releases"] == []


def test_releases_create_prints_lint_warnings_and_creates_the_release(zones: Zones, release_dir: Path) -> None:
    path = release_dir / RELEASE
    path.write_text(path.read_text() + '\n[[variables]]\nname = "Acme.Unused"\nplaceholder = true\n')
    zones.close()
    r = cli_in_process("releases", "create", path, home=zones.dev.home)
    assert r.returncode == 0, r.stderr
    assert "warning [unused_placeholder] variables[5].name: placeholder 'Acme.Unused'" in r.stderr
    assert r.stdout.startswith("created Acme Web 1.4.0")
    again = json.loads(cli_in_process("releases", "create", path, "--json", home=zones.dev.home).stdout)
    assert again["status"] == "unchanged"
    assert [(w["code"], w["path"]) for w in again["warnings"]] == [("unused_placeholder", "variables[5].name")]


def test_a_broken_rule_still_refuses_releases_create_under_its_own_code(zones: Zones, release_dir: Path) -> None:
    path = edit(release_dir, "#{Octopus.Action[Run migrations].Output.SchemaVersion}",
                "#{Octopus.Action[Run migratons].Output.SchemaVersion}")
    zones.close()
    r = cli_in_process("releases", "create", path, "--json", home=zones.dev.home)
    assert (r.returncode, json.loads(r.stdout)["error"]["code"]) == (2, "unknown_output_step")
