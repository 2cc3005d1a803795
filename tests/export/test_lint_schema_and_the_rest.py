"""A schema error in a step (or variable) is reported, and the rest of that element is still checked.

One misspelt key or one value of the wrong type used to turn the whole step into a stand-in with
only its name, so the package it deploys (hostile members included), its patterns, its roles and
its script went unchecked until the next lint after the fix. Each schema finding also says what to
write, as TOML, instead of pointing at the spec.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bundlekit.export.inventory import inventory_document, load_inventory
from tests.export.test_lint import _hostile_zip, edit, line_of, lint

DEPLOY_WEB = 'roles = ["web"]\nsubstitute = ["appsettings.json", "index.html"]'


def _codes(report: dict) -> list[tuple[str, str | None]]:
    return [(f["code"], f["path"]) for f in report["findings"]]


def test_a_misspelt_key_and_a_text_role_in_a_step_still_let_its_hostile_package_members_be_found(
        release_dir: Path) -> None:
    _hostile_zip(release_dir / "packages" / "Acme.Web.1.4.0.zip")
    path = edit(release_dir, DEPLOY_WEB, 'enviroments = ["Production"]\nroles = "web"\n'
                'substitute = ["appsettings.json", "index.html", "missing.conf"]')
    code, report = lint(path)
    assert code == 2
    codes = _codes(report)
    assert ("unknown_key", "steps[1].enviroments") in codes
    assert ("invalid_value", "steps[1].roles") in codes
    # the step's package and patterns were checked too
    assert [c for c, _ in codes].count("unsafe_package") == 4
    assert ("pattern_matches_nothing", "steps[1].substitute[2]") in codes


def test_a_text_role_gets_the_list_to_write_as_its_fix(release_dir: Path) -> None:
    path = edit(release_dir, DEPLOY_WEB, 'roles = "web"\nsubstitute = ["appsettings.json", "index.html"]')
    code, report = lint(path)
    [finding] = report["findings"]
    assert (finding["code"], finding["path"], finding["suggestion"]) == (
        "invalid_value", "steps[1].roles", 'write a list, in square brackets: roles = ["web"]')
    assert (finding["line"], finding["column"]) == line_of(path, 'roles = "web"')


def test_a_step_with_a_schema_error_is_still_checked_against_the_target_inventory(release_dir: Path,
                                                                                   tmp_path: Path) -> None:
    inventory = tmp_path / "targets.json"
    inventory.write_text(json.dumps(inventory_document("prod", [("db1", "Production", ["db"])], ["Production"])))
    load_inventory(inventory)  # the test's inventory is one lint reads
    path = edit(release_dir, DEPLOY_WEB, 'enviroments = ["Production"]\nroles = ["wbe"]\n'
                'substitute = ["appsettings.json", "index.html"]')
    _, report = lint(path, "--targets", str(inventory))
    codes = _codes(report)
    assert ("unknown_key", "steps[1].enviroments") in codes
    assert ("role_without_targets", "steps[1].roles[0]") in codes


def test_a_variable_with_a_misspelt_key_still_has_its_value_checked(release_dir: Path) -> None:
    path = edit(release_dir, 'value = "acme_dev"', 'value = "acme_dev #{Acme.Db.Nmae}"\nsensitiv = false')
    _, report = lint(path)
    assert _codes(report) == [("undefined_variable", "variables[1].value"), ("unknown_key", "variables[1].sensitiv")]


def test_a_step_missing_a_required_key_still_has_its_package_members_checked(release_dir: Path) -> None:
    _hostile_zip(release_dir / "packages" / "Acme.Web.1.4.0.zip")
    path = edit(release_dir, 'type = "package"\npackage = "Acme.Web"', 'type = "package"\npackage = "Acme.Web"\n'
                'script = "echo"')
    _, report = lint(path)
    codes = _codes(report)
    assert ("invalid_value", "steps[1]") in codes
    assert [c for c, _ in codes].count("unsafe_package") == 4


@pytest.mark.parametrize(("old", "new", "path", "fix"), [
    ('roles = ["db"]', 'roles = "db"', "steps[0].roles", 'write a list, in square brackets: roles = ["db"]'),
    ('roles = ["db"]', "roles = 5", "steps[0].roles", 'write a list, in square brackets: roles = ["5"]'),
    ('roles = ["db"]', 'roles = ["db"]\ntimeout = "600"', "steps[0].timeout",
     "write a whole number from 1 to 604800 without quotes: timeout = 600"),
    ('roles = ["db"]', 'roles = ["db"]\ntimeout = 0', "steps[0].timeout", "use a whole number from 1 to 604800: "
     "timeout = 1"),
    ('roles = ["db"]', 'roles = ["db"]\nenabled = "false"', "steps[0].enabled",
     "write true or false without quotes: enabled = false"),
    ('syntax = "bash"\n', "", "steps[0]", 'add syntax = "bash" (or "python") to [[steps]] 1'),
    ('type = "package"\npackage = "Acme.Web"', 'type = "package"\npackage = "Acme.Web"\nscript = "x"', "steps[1]",
     'remove script from [[steps]] 2, or make it type = "script"'),
    ('value = "acme_dev"', "value = 5", "variables[1].value", 'write text in quotes: value = "5"'),
    ('scope = { environment = ["Production"] }', "scope = { environment = [] }", "variables[0].scope.environment",
     'environment = "Production" or environment = ["Production", "Staging"] (each label as spec/names.md, '
     "section 5, allows)"),
    ('file = "packages/Acme.Web.1.4.0.zip"', 'file = "packages/Acme.Web.1.4.0.zip"\nsha256 = "' + "0" * 64 + '"',
     "packages[0]", 'give [[packages]] 1 file = "packages/NAME.zip", or sha256 = "..." and size = N (not both)'),
    ('substitute = ["appsettings.json", "index.html"]', 'substitute = ["appsettings.json", ""]',
     "steps[1].substitute[1]", "give substitute a value of at least 1 character(s), or remove it"),
])
def test_every_schema_finding_says_what_to_write_instead(release_dir: Path, old: str, new: str, path: str,
                                                         fix: str) -> None:
    release = edit(release_dir, old, new)
    _, report = lint(release)
    schema = [f for f in report["findings"] if f["code"] == "invalid_value"]
    assert [(f["path"], f["suggestion"]) for f in schema] == [(path, fix)]
    assert "see spec" not in fix


def test_a_lifecycle_the_format_refuses_gets_the_change_to_make(release_dir: Path) -> None:
    path = release_dir / "release.toml"
    path.write_text(path.read_text() + '\n[lifecycle]\n[[lifecycle.phases]]\nname = "Prod"\n'
                    'environments = ["Production", "production"]\n')
    _, report = lint(path)
    assert [(f["code"], f["path"], f["suggestion"]) for f in report["findings"]] == [
        ("invalid_release", "lifecycle", "list each environment once, in one [[lifecycle.phases]] only")]


@pytest.mark.parametrize("name", ["Sta\x1bging", "a: b\x07"])
def test_a_name_rule_finding_gives_the_problem_then_the_rule_once(release_dir: Path, name: str) -> None:
    # Review v32-11 N7: the rule was in the message and again as the fix. A quoted value holding
    # ': ' must not split the problem.
    release = edit(release_dir, 'name = "Run migrations"', f'name = "{json.dumps(name)[1:-1]}"')
    _, report = lint(release)
    schema = [f for f in report["findings"] if f["code"] == "invalid_value"]
    assert len(schema) == 1
    finding = schema[0]
    assert finding["suggestion"].startswith("use 1-200 characters of text without control characters")
    assert "use 1-200" not in finding["message"]
    assert finding["message"].startswith(repr(name)) and "control character U+" in finding["message"]
