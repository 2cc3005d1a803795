"""`bundlekit lint` through the CLI: each check with the exact finding.

Every test runs the real command (``cli_in_process``: the CLI's one entry point; one test runs
a separate process too) on a copy of the fixture release, changed to break one rule, and
checks the finding's code, key path, line, column and suggestion.
"""

from __future__ import annotations

import io
import json
import stat
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

from bundlekit.export.lint_model import FINDING_CODES
from bundlekit.package.extract import extract_package
from tests.conftest import cli_in_process, raises_code, run_cli

RELEASE = "release.toml"


def test_every_finding_code_is_in_the_spec() -> None:
    spec = (Path(__file__).resolve().parents[2] / "spec" / "release-file.md").read_text()
    lint_section = spec[spec.index("## Lint"):spec.index("## Lifecycle")]
    assert [c for c in FINDING_CODES if c != "more_notes" and f"`{c}`" not in lint_section] == []


def lint(release: Path, *more: str) -> tuple[int, dict[str, Any]]:
    r = cli_in_process("lint", release, "--json", *more)
    return r.returncode, json.loads(r.stdout)


def only(report: dict[str, Any], code: str) -> list[dict[str, Any]]:
    return [f for f in report["findings"] if f["code"] == code]


def edit(release_dir: Path, old: str, new: str) -> Path:
    path = release_dir / RELEASE
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))
    return path


def line_of(path: Path, needle: str) -> tuple[int, int]:
    """1-based line and column of the first ``needle`` in the file."""
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if needle in line:
            return n, line.index(needle) + 1
    raise AssertionError(needle)


def test_the_fixture_release_is_clean_and_exits_0(release_dir: Path) -> None:
    code, report = lint(release_dir / RELEASE)
    assert code == 0
    assert report == {"file": str(release_dir / RELEASE), "errors": 0, "warnings": 0, "findings": []}


def test_a_misspelt_key_gets_the_key_it_meant(release_dir: Path) -> None:
    path = edit(release_dir, 'scope = { environment = ["Production"] }', 'scope = { enviroment = ["Production"] }')
    code, report = lint(path)
    assert code == 2
    line, column = line_of(path, "enviroment")
    assert report["findings"] == [{
        "severity": "error", "code": "unknown_key", "message": "unknown key 'enviroment' in [variables[0].scope]",
        "file": str(path), "path": "variables[0].scope.enviroment", "line": line, "column": column,
        "suggestion": "did you mean 'environment'?"}]


def test_a_misspelt_value_of_a_fixed_set_gets_the_value_it_meant(release_dir: Path) -> None:
    path = edit(release_dir, 'type = "package"', 'type = "pakage"')
    code, report = lint(path)
    assert code == 2
    [finding] = report["findings"]
    assert (finding["code"], finding["path"], finding["suggestion"]) == ("invalid_value", "steps[1].type",
                                                                         "did you mean 'package'?")


def test_a_template_that_does_not_parse_is_placed_at_its_line_and_column_in_the_release_file(
        release_dir: Path) -> None:
    path = edit(release_dir, 'echo "migrating database', 'echo "migrating #{if Ready}database')
    code, report = lint(path)
    assert code == 2
    [finding] = only(report, "template_syntax")
    assert (finding["line"], finding["column"]) == line_of(path, "#{if Ready}")
    assert finding["path"] == "steps[0].script" and "never closed" in finding["message"]


def test_a_token_that_does_not_parse_in_a_substituted_file_stays_text_with_a_warning(release_dir: Path) -> None:
    package = release_dir / "packages" / "Acme.Web.1.4.0.zip"
    with zipfile.ZipFile(package, "a") as z:
        z.writestr("deploy.ps1", 'Write-Host "#{Octopus.Machine.Name}"\n$h = @{}; "#{*}"\n')
    path = edit(release_dir, '"index.html"]', '"index.html", "deploy.ps1"]')
    code, report = lint(path)
    assert code == 0
    [finding] = report["findings"]
    assert (finding["severity"], finding["code"], finding["file"], finding["path"]) == (
        "warning", "template_syntax", str(package), "deploy.ps1")
    assert (finding["line"], finding["column"]) == (2, 12)  # in the member: where "#{*}" starts
    assert finding["message"].endswith("(kept as text when substituted)")


def test_an_unknown_name_gets_did_you_mean_case_insensitively(release_dir: Path) -> None:
    path = edit(release_dir, "#{Acme.Db.Name} on", "#{acme.db.nmae} on")
    code, report = lint(path)
    assert code == 2
    [finding] = report["findings"]
    assert finding["code"] == "undefined_variable" and finding["path"] == "steps[0].script"
    assert finding["message"].startswith("#{acme.db.nmae} is not defined")
    assert finding["suggestion"] == "did you mean 'Acme.Db.Name'?"
    assert (finding["line"], finding["column"]) == line_of(path, "acme.db.nmae")


def test_system_variables_members_of_variables_and_earlier_outputs_are_known(release_dir: Path) -> None:
    path = edit(release_dir, 'print(f"smoke test on #{Octopus.Machine.Name}',
                'print(f"#{Octopus.Environment.Name} #{Octopus.Action[Deploy web].Output.Package.InstallationDirectory'
                'Path} #{Acme.Db.Name.Extra} #{each x in Acme.Db.Name}#{x}#{/each} smoke test on #{Octopus.Machine.Name}')
    code, report = lint(path)
    assert (code, report["findings"]) == (0, [])


def test_an_output_of_a_step_that_runs_later_is_not_set_yet(release_dir: Path) -> None:
    path = edit(release_dir, 'echo "migrating database', 'echo "#{Octopus.Action[Smoke test].Output.SmokeResult}"\n'
                'echo "migrating database')
    code, report = lint(path)
    assert code == 2
    [finding] = report["findings"]
    assert (finding["code"], finding["path"]) == ("output_not_yet_set", "steps[0].script")
    assert "'Smoke test', which runs after this one" in finding["message"]


def test_a_step_name_with_braces_is_blamed_not_an_unterminated_bracket(release_dir: Path) -> None:
    # Before lint, this surfaced in production as "unterminated '[' (missing ']')".
    path = edit(release_dir, 'name = "Run migrations"', 'name = "Run {db} migrations"')
    edit(release_dir, "Octopus.Action[Run migrations]", "Octopus.Action[Run {db} migrations]")
    code, report = lint(path)
    assert code == 2
    assert "unterminated" not in json.dumps(report)
    found = only(report, "unreferenceable_step_name")
    assert [(f["severity"], f["path"]) for f in found] == [("error", "steps[0].name"), ("error", "steps[2].script")]
    assert found[0]["message"] == ("step name 'Run {db} migrations' contains '{}', so #{Octopus.Action[...]} cannot "
                                   "name it and its output variables cannot be read")
    assert found[0]["suggestion"] == "rename the step without '{' '}'"
    assert (found[1]["line"], found[1]["column"]) == line_of(path, "Octopus.Action[Run {db}")
    # the package's appsettings.json still reads the step by its old name
    assert [(f["path"], f["code"], f["suggestion"]) for f in report["findings"] if f["file"].endswith(".zip")] == [
        ("appsettings.json", "unknown_output_step", "name a step of this release")]
    assert len(report["findings"]) == 3


def test_a_substitute_pattern_matching_no_file_is_an_error_with_the_closest_file(release_dir: Path) -> None:
    path = edit(release_dir, 'substitute = ["appsettings.json", "index.html"]',
                'substitute = ["appsettings.json", "indx.html", "config/*.xml"]')
    code, report = lint(path)
    assert code == 2
    found = only(report, "pattern_matches_nothing")
    assert [(f["path"], f["suggestion"]) for f in found] == [
        ("steps[1].substitute[1]", "did you mean 'index.html'?"),
        ("steps[1].substitute[2]", "patterns are relative to the package root, like 'config/*.json'")]
    assert (found[0]["line"], found[0]["column"]) == line_of(path, "indx.html")
    assert len(report["findings"]) == 2


def test_a_variable_value_that_does_not_parse_and_a_structured_config_pattern_matching_nothing(
        release_dir: Path) -> None:
    path = edit(release_dir, "Database=#{Acme.Db.Name};", "Database=#{Acme.Db.Name | };")
    edit(release_dir, 'substitute = ["appsettings.json", "index.html"]',
         'substitute = ["appsettings.json", "index.html"]\nstructured_config = ["config/*.yaml"]')
    code, report = lint(path)
    assert code == 2
    assert [(f["code"], f["path"], f["line"], f["column"]) for f in report["findings"]] == [
        ("pattern_matches_nothing", "steps[1].structured_config[0]", *line_of(path, "config/*.yaml")),
        ("template_syntax", "variables[3].value", *line_of(path, "#{Acme.Db.Name | }"))]
    assert report["findings"][1]["message"] == "template does not parse: expected a filter name after '|'"


def test_an_environment_no_phase_of_the_lifecycle_has_is_an_error(release_dir: Path) -> None:
    path = edit(release_dir, "[[packages]]", '[lifecycle]\n[[lifecycle.phases]]\nname = "Test"\nenvironments = '
                '["Test"]\n[[lifecycle.phases]]\nname = "Production"\nenvironments = ["Production"]\n\n[[packages]]')
    edit(release_dir, 'scope = { environment = ["Production"] }', 'scope = { environment = ["Prodution"] }')
    code, report = lint(path)
    assert code == 2
    [finding] = report["findings"]
    assert (finding["code"], finding["path"], finding["suggestion"]) == (
        "unknown_environment", "variables[0].scope.environment", "did you mean 'Production'?")
    assert (finding["line"], finding["column"]) == line_of(path, "Prodution")


def test_a_near_miss_environment_without_a_lifecycle_is_a_warning(release_dir: Path) -> None:
    path = edit(release_dir, "[[variables]]\nname = \"Acme.Db.Password\"",
                '[[variables]]\nname = "Acme.Db.Host"\nvalue = "db"\nscope = { environment = ["Production"] }\n\n'
                '[[variables]]\nname = "Acme.Db.Host"\nvalue = "db-x"\nscope = { environment = ["Prodution"] }\n\n'
                '[[variables]]\nname = "Acme.Db.Password"')
    code, report = lint(path)
    assert code == 0
    [finding] = report["findings"]
    assert (finding["severity"], finding["code"], finding["suggestion"]) == ("warning", "unknown_environment",
                                                                             "did you mean 'Production'?")


def test_a_value_scoped_to_a_step_the_release_does_not_have_is_an_error(release_dir: Path) -> None:
    path = edit(release_dir, 'scope = { environment = ["Production"] }',
                'scope = { environment = ["Production"], step = "Run migration" }')
    code, report = lint(path)
    assert code == 2
    [finding] = report["findings"]
    assert (finding["code"], finding["path"], finding["suggestion"]) == (
        "unknown_step", "variables[0].scope.step", "did you mean 'Run migrations'?")
    assert (finding["line"], finding["column"]) == line_of(path, "Run migration\"")


def test_a_placeholder_no_step_uses_is_a_warning_and_lint_still_exits_0(release_dir: Path) -> None:
    path = release_dir / RELEASE
    path.write_text(path.read_text() + '\n[[variables]]\nname = "Acme.Unused"\nplaceholder = true\n')
    r = run_cli("lint", path)  # a process of its own: the exit status and the text a person reads
    assert r.returncode == 0, r.stderr
    line = len(path.read_text().splitlines()) - 1
    assert r.stdout.splitlines() == [
        f"{path}:{line}:1: warning [unused_placeholder] variables[5].name: placeholder 'Acme.Unused' is used by no "
        "step's script, variable value or substituted file (use it as #{Acme.Unused} or remove it)",
        f"{path}: 0 errors, 1 warning"]


def _hostile_zip(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("appsettings.json", '{"ApiKey": "#{Acme.ApiKey}", "ConnectionStrings": {"Default": ""}}')
        z.writestr("index.html", "<p>")
        z.writestr("../escape.sh", "x")
        z.writestr("/etc/cron.d/x", "x")
        link = zipfile.ZipInfo("link")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        z.writestr(link, "../../outside")
        device = zipfile.ZipInfo("dev")
        device.external_attr = (stat.S_IFCHR | 0o600) << 16
        z.writestr(device, "")


def test_every_member_a_deploy_would_refuse_is_reported_at_once_with_extractions_own_codes(
        release_dir: Path, tmp_path: Path) -> None:
    package = release_dir / "packages" / "Acme.Web.1.4.0.zip"
    _hostile_zip(package)
    code, report = lint(release_dir / RELEASE)
    assert code == 2
    members = [(f["path"], f["code"], f["file"]) for f in report["findings"]]
    assert members == [(m, "unsafe_package", str(package)) for m in ("../escape.sh", "/etc/cron.d/x", "link", "dev")]
    # The first of them is what extraction itself refuses the package for: same code, same reason.
    with raises_code("unsafe_package") as refused:
        extract_package(package, tmp_path / "out")
    assert refused.value.details["member"] == "../escape.sh"
    assert report["findings"][0]["message"] == (f"member '../escape.sh' {refused.value.details['reason']}: a deploy "
                                                "refuses the whole package")


def test_a_tar_with_a_device_and_a_link_leaving_the_package_is_refused_in_development(release_dir: Path) -> None:
    package = release_dir / "packages" / "Acme.Web.1.4.0.tar.gz"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for name, data in (("appsettings.json", b'{"ApiKey": "#{Acme.ApiKey}", "ConnectionStrings": {"Default": ""}}'),
                           ("index.html", b"<p>")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("up")
        link.type, link.linkname = tarfile.SYMTYPE, "../../etc"
        t.addfile(link)
        device = tarfile.TarInfo("null")
        device.type = tarfile.CHRTYPE
        t.addfile(device)
    package.write_bytes(buf.getvalue())
    path = edit(release_dir, "Acme.Web.1.4.0.zip", "Acme.Web.1.4.0.tar.gz")
    code, report = lint(path)
    assert code == 2
    assert [(f["path"], f["message"]) for f in report["findings"]] == [
        ("up", "member 'up' is a symbolic link: a deploy refuses the whole package"),
        ("null", "member 'null' is a character device: a deploy refuses the whole package")]


def _inventory(tmp_path: Path, roles: list[str]) -> Path:
    prod = tmp_path / "prod"
    assert cli_in_process("init", "--zone", "prod", home=prod).returncode == 0
    added = cli_in_process("targets", "add", "web-01", "--environment", "Production", *[x for r in roles
                           for x in ("--role", r)], "--root", tmp_path / "t" / "web-01", home=prod)
    assert added.returncode == 0, added.stderr
    out = tmp_path / "prod-targets.json"
    written = cli_in_process("targets", "export-inventory", "-o", out, home=prod)
    assert written.returncode == 0, written.stderr
    return out


def test_a_role_no_target_of_the_deploying_zone_has_is_caught_with_its_inventory(release_dir: Path,
                                                                                    tmp_path: Path) -> None:
    inventory = _inventory(tmp_path, ["web"])
    assert json.loads(inventory.read_text()) == {
        "format": "bundlekit-targets/1", "zone": "prod", "environments": ["Production"],
        "targets": [{"name": "web-01", "environment": "Production", "roles": ["web"]}]}
    code, report = lint(release_dir / RELEASE, "--targets", str(inventory))
    assert code == 2
    [finding] = report["findings"]
    assert (finding["code"], finding["path"]) == ("role_without_targets", "steps[0].roles[0]")
    assert finding["message"] == "step 'Run migrations' runs on role 'db', and zone 'prod' has no target with that role"
    # with a db target too, the same release is clean
    both = _inventory(tmp_path / "again", ["web", "db"])
    assert lint(release_dir / RELEASE, "--targets", str(both)) == (0, {
        "file": str(release_dir / RELEASE), "errors": 0, "warnings": 0, "findings": []})


def test_a_targets_file_that_is_no_inventory_is_a_usage_error(release_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "targets.json"
    bad.write_text('{"targets": []}')
    r = cli_in_process("lint", release_dir / RELEASE, "--targets", bad, "--json")
    assert r.returncode == 2
    assert json.loads(r.stdout)["error"]["code"] == "invalid_inventory"


def test_every_problem_is_reported_in_one_run(release_dir: Path) -> None:
    path = edit(release_dir, "#{Acme.Db.Name} on", "#{Acme.Db.Nmae} on")
    edit(release_dir, '"index.html"]', '"indx.html"]')
    edit(release_dir, 'print(f"smoke test', 'print(f"#{if x}smoke test')
    path.write_text(path.read_text() + '\n[[variables]]\nname = "Acme.Unused"\nplaceholder = true\n')
    code, report = lint(path)
    assert code == 2
    assert [(f["severity"], f["code"]) for f in report["findings"]] == [
        ("error", "undefined_variable"), ("error", "pattern_matches_nothing"), ("error", "template_syntax"),
        ("warning", "unused_placeholder")]
    assert (report["errors"], report["warnings"]) == (3, 1)
    assert all(set(f) == {"severity", "code", "message", "file", "path", "line", "column", "suggestion"}
               for f in report["findings"])


@pytest.mark.parametrize("text", ["a=" + "[" * 5000 + "]" * 5000 + "\n", "x=" + "{a=" * 3000 + "1" + "}" * 3000 + "\n"],
                         ids=["arrays-5000-deep", "inline-tables-3000-deep"])
def test_lint_of_a_release_nested_thousands_deep_is_an_invalid_toml_finding_not_a_traceback(
        tmp_path: Path, text: str) -> None:
    release = tmp_path / "deep.toml"
    release.write_text(text)
    done = cli_in_process("lint", release, "--json")
    assert done.returncode == 2, done.stderr
    [finding] = json.loads(done.stdout)["findings"]
    assert finding["code"] == "invalid_toml" and finding["file"] == str(release)
    assert "nested more than 64 levels deep" in finding["message"] and "Traceback" not in done.stderr
