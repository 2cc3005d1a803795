"""Lint and export report every problem of a release file in one run: schema and rules together.

Before, lint stopped after the schema's findings, then reported the release file's rules
beyond the schema one per run, and export refused the first rule broken alone: a user
needed three attempts to see the whole list. Both now run the rules on every part of the
file the schema accepted, each broken rule under its own code at its own key path.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Zones, cli_in_process, snapshot
from tests.export.test_lint import edit, lint, line_of

#: (code, key path) of every error in the release _broken_everywhere writes, in line order.
EVERY_ERROR = [
    ("package_file_missing", "packages[0].file"),  # a rule beyond the schema
    ("undefined_variable", "steps[0].script"),  # a template check
    ("unsafe_path", "steps[1].substitute[1]"),  # a rule
    ("invalid_release", "steps[2].name"),  # a rule: a second step named "Deploy web"
    ("unknown_key", "variables[0].scope.enviroment"),  # the schema
    ("ambiguous_variable", "variables[6]"),  # a rule: two unscoped values of one name
]


def _broken_everywhere(release_dir: Path) -> Path:
    path = edit(release_dir, 'scope = { environment = ["Production"] }', 'scope = { enviroment = ["Production"] }')
    edit(release_dir, 'file = "packages/Acme.Web.1.4.0.zip"', 'file = "packages/Acme.Web.1.4.1.zip"')
    edit(release_dir, 'name = "Smoke test"', 'name = "Deploy web"')
    edit(release_dir, '"index.html"]', '"../index.html"]')
    edit(release_dir, "#{Acme.Db.Name} on", "#{Acme.Db.Nmae} on")
    path.write_text(path.read_text() + '\n[[variables]]\nname = "Acme.Region"\nvalue = "eu"\n'
                    '\n[[variables]]\nname = "Acme.Region"\nvalue = "us"\n')
    return path


def test_a_schema_error_and_every_broken_rule_are_reported_by_one_lint_run(release_dir: Path) -> None:
    path = _broken_everywhere(release_dir)
    code, report = lint(path)
    assert code == 2
    assert [(f["code"], f["path"]) for f in report["findings"]] == EVERY_ERROR
    by_code = {f["code"]: f for f in report["findings"]}
    assert (by_code["unsafe_path"]["line"], by_code["unsafe_path"]["column"]) == line_of(path, "../index.html")
    assert by_code["ambiguous_variable"]["message"].startswith("'Acme.Region' has two values")
    assert by_code["unknown_key"]["suggestion"] == "did you mean 'environment'?"


def test_export_refuses_with_the_same_whole_list_at_the_first_attempt(zones: Zones, release_dir: Path,
                                                                       tmp_path: Path) -> None:
    path = _broken_everywhere(release_dir)
    out = tmp_path / "a.bundle"
    zones.close()
    before = snapshot(zones.dev.home, out)
    r = cli_in_process("export", path, "--to", "prod", "-o", out, "--json", home=zones.dev.home)
    assert r.returncode == 2
    error = json.loads(r.stdout)["error"]
    assert error["code"] == "release_lint_failed"
    assert [(f["code"], f["path"]) for f in error["details"]] == EVERY_ERROR
    assert error["details"] == lint(path)[1]["findings"]  # lint and export agree, finding for finding
    assert "6 error(s)" in error["message"] and "(and 3 more)" in error["message"]
    assert snapshot(zones.dev.home, out) == before


def test_a_malformed_step_is_skipped_but_its_name_still_counts(release_dir: Path) -> None:
    # Step 0 breaks the schema (a misspelt key); the smoke test still reads its output, and the
    # other steps are still checked: the reference stays resolvable, the new typo is found.
    path = edit(release_dir, 'syntax = "bash"', 'syntax = "bash"\nscirpt_timeout = 5')
    edit(release_dir, 'print(f"smoke test', 'print(f"#{Octopus.Machine.Nmae} smoke test')
    code, report = lint(path)
    assert code == 2
    assert [(f["code"], f["path"]) for f in report["findings"]] == [
        ("unknown_key", "steps[0].scirpt_timeout"), ("undefined_variable", "steps[2].script")]
    assert report["findings"][1]["suggestion"].startswith("did you mean 'Octopus.Machine.Name'")


def test_a_variable_without_a_name_or_a_value_gets_both_findings_and_the_rest_is_still_checked(
        release_dir: Path) -> None:
    path = edit(release_dir, 'name = "Acme.Db.Password"\nvalue = "s3cret-value"\n', 'description = "x"\n')
    code, report = lint(path)
    assert code == 2
    assert [(f["code"], f["path"], f["message"]) for f in report["findings"] if f["path"] == "variables[2]"] == [
        ("invalid_value", "variables[2]", "'name' is a required property"),
        ("invalid_release", "variables[2]", "has no value: give value, value_from = { env = \"NAME\" } or value_from "
                                            "= { file = \"PATH\" } (sensitive values), or placeholder = true for a "
                                            "value the destination zone binds")]
    # the references to the name that is gone are found in the same run
    assert [f["path"] for f in report["findings"] if f["code"] == "undefined_variable"] == [
        "steps[0].script", "variables[3].value"]


def test_lint_and_export_name_a_package_member_a_deploy_refuses_by_the_same_code(zones: Zones, release_dir: Path,
                                                                                 tmp_path: Path) -> None:
    # Export said package_refused (and only for the first member) where lint said unsafe_package.
    from tests.export.test_lint import _hostile_zip

    _hostile_zip(release_dir / "packages" / "Acme.Web.1.4.0.zip")
    path = release_dir / "release.toml"
    _, report = lint(path)
    zones.close()
    r = cli_in_process("export", path, "--to", "prod", "-o", tmp_path / "a.bundle", "--json", home=zones.dev.home)
    error = json.loads(r.stdout)["error"]
    assert error["code"] == "release_lint_failed"
    assert [(f["code"], f["path"]) for f in error["details"]] == [(f["code"], f["path"]) for f in report["findings"]]
    assert [f["code"] for f in report["findings"]] == ["unsafe_package"] * 4
