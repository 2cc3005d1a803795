"""Lint parses every file structured configuration applies to, as the deployment will, and warns
about variables named like a configuration path that no such file has."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from tests.conftest import Zones, cli_in_process, snapshot
from tests.export.test_lint import RELEASE, edit, lint, only

COMMENTED = """{
  // the database this site uses
  "ConnectionStrings": {
    "Default": "Server=localhost;Database=dev" /* replaced per environment */
  },
  "Logging": { "LogLevel": { "Default": "Debug", }, },
  'ApiKey': '#{Acme.ApiKey}',
}
"""


def repack(release_dir: Path, files: dict[str, str]) -> Path:
    """The fixture's web package with ``files`` written over or added to its members."""
    package = release_dir / "packages" / "Acme.Web.1.4.0.zip"
    with zipfile.ZipFile(package) as z:
        members = {n: z.read(n) for n in z.namelist()}
    members.update((n, t.encode()) for n, t in files.items())
    with zipfile.ZipFile(package, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return package


def test_appsettings_with_json_net_comments_is_clean(release_dir: Path) -> None:
    repack(release_dir, {"appsettings.json": COMMENTED})
    code, report = lint(release_dir / RELEASE)
    assert (code, report["findings"]) == (0, [])


def test_an_automatic_appsettings_that_does_not_parse_is_an_error_with_member_line_column_and_the_right_fix(
        release_dir: Path) -> None:
    package = repack(release_dir, {"appsettings.json": COMMENTED.replace('"Debug",', '"Debug" "Trace",'),
                                   "appsettings.Production.json": '{"A": 1,,}'})
    path = edit(release_dir, 'substitute = ["appsettings.json", "index.html"]', 'substitute = ["index.html"]')
    path.write_text(path.read_text().replace('scope = { environment = ["Production"] }',
                                             'scope = { environment = ["production"] }'))
    code, report = lint(path)
    assert code == 2
    found = only(report, "invalid_structured_config")
    assert [(f["severity"], f["file"], f["path"], f["line"], f["column"]) for f in found] == [
        ("error", str(package), "appsettings.Production.json", 1, 9),
        ("error", str(package), "appsettings.json", 6, 49)]
    assert found[1]["message"].startswith("appsettings.json is not valid JSON at line 6, column 49: expected ','")
    assert "step 'Deploy web' would refuse it" in found[1]["message"]
    assert found[1]["suggestion"] == ("fix the file in the package, or rename it: appsettings.json and "
                                      "appsettings.<environment>.json are always configured")
    assert "structured_config" not in json.dumps([(f["message"], f["suggestion"]) for f in found])


def test_a_listed_yaml_file_and_an_environment_file_no_environment_uses(release_dir: Path) -> None:
    package = repack(release_dir, {"config/values.yaml": "image:\n  tag: [1.0\n", "appsettings.Staging.json": "{,}"})
    path = edit(release_dir, 'substitute = ["appsettings.json", "index.html"]',
                'substitute = ["appsettings.json", "index.html"]\nstructured_config = ["config/*.yaml"]')
    code, report = lint(path)
    assert code == 2
    found = [(f["severity"], f["path"], f["line"], f["column"], f["suggestion"])
             for f in only(report, "invalid_structured_config")]
    assert found == [
        ("warning", "appsettings.Staging.json", 1, 2, "fix the file in the package, or rename it: appsettings.json "
         "and appsettings.<environment>.json are always configured, or leave the file out of the package if no "
         "environment named 'Staging' is deployed to"),
        ("error", "config/values.yaml", 3, 1, "fix the file in the package, or remove it from the step's "
         "structured_config")]
    assert ("a deployment to an environment named 'Staging' (not one this release names)"
            in only(report, "invalid_structured_config")[0]["message"])
    assert str(package) in {f["file"] for f in report["findings"]}


def test_a_substituted_file_that_parses_only_once_its_tokens_are_substituted_is_clean(release_dir: Path) -> None:
    repack(release_dir, {"appsettings.json": '{"Port": #{Acme.Port}, "ConnectionStrings": '
                                             '{"Default": "#{Acme.Db.Name}"}, "ApiKey": "#{Acme.ApiKey}"}'})
    path = release_dir / RELEASE
    path.write_text(path.read_text() + '\n[[variables]]\nname = "Acme.Port"\nvalue = "8080"\n')
    code, report = lint(path)
    assert (code, report["findings"]) == (0, [])


def test_a_misspelt_configuration_path_is_a_warning_with_the_files_closest_paths(release_dir: Path) -> None:
    repack(release_dir, {"appsettings.json": COMMENTED})
    path = release_dir / RELEASE
    path.write_text(path.read_text() + '\n[[variables]]\nname = "Logging:LogLevel:Defualt"\nvalue = "Warning"\n'
                    '\n[[variables]]\nname = "ConnectionStrings:Default"\nvalue = "x"\nscope = { environment = '
                    '["Production"] }\n\n[[variables]]\nname = "//add[@key=\'Port\']/@value"\nvalue = "1"\n')
    code, report = lint(path)
    assert code == 0
    [finding] = report["findings"]
    assert (finding["severity"], finding["code"], finding["path"]) == ("warning", "config_path_matches_nothing",
                                                                       "variables[5].name")
    lines = path.read_text().splitlines()
    assert (finding["line"], finding["column"]) == (lines.index('name = "Logging:LogLevel:Defualt"') + 1, 1)
    assert finding["suggestion"].startswith("did you mean 'Logging:LogLevel:Default' (appsettings.json)")


def test_export_refuses_a_package_whose_configuration_a_deployment_would_refuse(zones: Zones, release_dir: Path,
                                                                               tmp_path: Path) -> None:
    repack(release_dir, {"appsettings.json": '{\n  "Logging": {"Level": "Debug" "x"}, "Key": "#{Acme.ApiKey}"\n}\n'})
    out = tmp_path / "a.bundle"
    zones.close()
    before = snapshot(zones.dev.home, out)
    r = cli_in_process("export", release_dir / RELEASE, "--to", "prod", "-o", out, "--json", home=zones.dev.home)
    assert r.returncode == 2
    error = json.loads(r.stdout)["error"]
    assert error["code"] == "release_lint_failed"
    assert [(d["code"], d["path"], d["line"], d["column"]) for d in error["details"]] == [
        ("invalid_structured_config", "appsettings.json", 2, 32)]
    assert "leave it out of the step's substitute patterns" in error["details"][0]["suggestion"]
    assert snapshot(zones.dev.home, out) == before


def test_a_misspelt_member_of_a_json_value_is_a_warning_with_the_members_it_has(release_dir: Path) -> None:
    path = release_dir / RELEASE
    path.write_text(path.read_text() + """
[[variables]]
name = "Cfg"
value = '{"Db": {"Port": 5432, "Host": "db"}, "Tags": ["a"]}'

[[steps]]
name = "Use cfg"
type = "script"
syntax = "bash"
roles = ["db"]
script = 'echo #{Cfg.Db.Prot} #{Cfg.Db.Host} #{cfg[Db][hots]} #{Cfg.Tags[0]}'
""")
    code, report = lint(path)
    assert code == 0
    found = [(f["severity"], f["path"], f["column"], f["suggestion"]) for f in only(report, "json_member_missing")]
    assert found == [("warning", "steps[3].script", 18, "did you mean 'Port'?"),
                     ("warning", "steps[3].script", 48, "did you mean 'Host'?")]
    assert only(report, "json_member_missing")[0]["message"] == (
        "#{Cfg.Db.Prot} names member 'Prot', which the JSON value Cfg.Db does not have, so it renders empty")
    assert len(report["findings"]) == 2


def test_a_sensitive_json_value_is_never_rendered_so_no_finding_quotes_its_members(release_dir: Path) -> None:
    path = release_dir / RELEASE
    path.write_text(path.read_text() + """
[[variables]]
name = "Vault"
value = '{"SuperSecretKeyName": "hunter22"}'
sensitive = true

[[steps]]
name = "Use vault"
type = "script"
syntax = "bash"
roles = ["db"]
script = 'echo #{Vault.SuperSecretKeyNam}'
""")
    code, report = lint(path)
    assert "SuperSecretKeyName" not in json.dumps(report) and "hunter22" not in json.dumps(report)
    assert only(report, "json_member_missing") == []


def _broken_environment_files(release_dir: Path) -> Path:
    repack(release_dir, {"appsettings.Production.json": '{"A": 1,,}', "appsettings.Test.json": "{,}"})
    return release_dir / RELEASE


def test_an_environment_file_for_an_environment_outside_the_lifecycle_is_not_reported(release_dir: Path) -> None:
    # The release can only be deployed to its lifecycle's environments: appsettings.Test.json never applies.
    path = _broken_environment_files(release_dir)
    path.write_text(path.read_text() + '\n[lifecycle]\n[[lifecycle.phases]]\nname = "Live"\n'
                    'environments = ["Production"]\n')
    _, report = lint(path)
    assert [(f["severity"], f["path"]) for f in only(report, "invalid_structured_config")] == [
        ("error", "appsettings.Production.json")]


def test_an_environment_file_is_reported_only_for_environments_the_target_inventory_has(release_dir: Path,
                                                                                        tmp_path: Path) -> None:
    # The release names Production (a variable scope), not Test: appsettings.Test.json matters only
    # if the deploying zone has a Test environment.
    path = _broken_environment_files(release_dir)
    for zone_envs, expected in ((["Production"], [("error", "appsettings.Production.json")]),
                                (["Production", "Test"], [("error", "appsettings.Production.json"),
                                                          ("warning", "appsettings.Test.json")])):
        inventory = tmp_path / "targets.json"
        inventory.write_text(json.dumps({"format": "bundlekit-targets/1", "zone": "prod", "environments": zone_envs,
                                         "targets": []}))
        _, report = lint(path, "--targets", str(inventory))
        assert sorted((f["severity"], f["path"]) for f in only(report, "invalid_structured_config")) == expected


def test_the_characters_xml_cannot_hold_are_exactly_those_outside_its_char_production() -> None:
    """lint's XML check names the characters XML 1.0's Char production leaves out (tab, line feed,
    carriage return, U+0020-U+D7FF, U+E000-U+FFFD, U+10000-U+10FFFF allowed): over every code point."""
    from bundlekit.export.lint_configs import _NOT_XML_CHAR

    def allowed(c: int) -> bool:
        return c in (0x9, 0xA, 0xD) or 0x20 <= c <= 0xD7FF or 0xE000 <= c <= 0xFFFD or 0x10000 <= c <= 0x10FFFF

    wrong = [hex(c) for c in range(0x110000) if (_NOT_XML_CHAR.match(chr(c)) is None) != allowed(c)]
    assert wrong == []
