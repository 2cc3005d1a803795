"""Lint reads each configuration file with the release's variables applied, as a deployment applies
them (decision 730): what the deployment would warn about in the run's log is a warning in the
development zone, and what it would refuse only because of the variables (decision 646) an error.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

from bundlekit.export.lint import lint_release
from tests.conftest import Zones, cli_in_process
from tests.export.test_lint import edit, line_of

ZIP = "packages/Acme.Web.1.4.0.zip"
NS_CONFIG = '<?xml version="1.0"?>\n<configuration xmlns="urn:c">\n  <appSettings>old</appSettings>\n</configuration>\n'
PLAIN_CONFIG = "<settings>\n  <mode>old</mode>\n</settings>\n"


def _configured(release_dir: Path, files: dict[str, str], variables: str) -> Path:
    with zipfile.ZipFile(release_dir / ZIP, "a") as z:
        for name, text in files.items():
            z.writestr(name, text)
    listed = ", ".join(json.dumps(n) for n in files)
    path = edit(release_dir, 'substitute = ["appsettings.json", "index.html"]',
                f'substitute = ["appsettings.json", "index.html"]\nstructured_config = [{listed}]')
    path.write_text(path.read_text() + variables)
    return path


def _lint(path: Path) -> tuple[int, list[dict[str, Any]]]:
    r = cli_in_process("lint", path, "--json")
    return r.returncode, json.loads(r.stdout)["findings"]


def test_an_xpath_without_prefixes_into_a_default_namespace_is_a_warning_at_the_variable(release_dir: Path) -> None:
    path = _configured(release_dir, {"web.config": NS_CONFIG},
                       '\n[[variables]]\nname = "/configuration/appSettings"\nvalue = "new"\n')
    code, findings = _lint(path)
    assert code == 0
    line, column = line_of(path, '/configuration/appSettings"')  # at the string, as other findings are
    [finding] = findings
    assert finding == {
        "severity": "warning", "code": "structured_config_warning", "file": str(path),
        "path": "variables[5].name", "line": line, "column": column,
        "message": "web.config in Acme.Web.1.4.0.zip: /configuration/appSettings: selects nothing; this document's "
                   "elements are in the default namespace urn:c, where an unprefixed XPath name matches nothing (as in "
                   "Octopus): write each step as *[local-name()='name'] (a deployment writes this warning to the "
                   "run's log)",
        "suggestion": "write the XPath as /*[local-name()='configuration']/*[local-name()='appSettings'], or give the "
                      "namespace a prefix in the file and use it"}
    # the warning travels in an exported bundle's lint_notes: no path of the authoring machine in it
    assert str(release_dir) not in finding["message"] + finding["suggestion"]


def test_the_suggested_xpath_selects_what_was_meant_and_lint_is_then_clean(release_dir: Path) -> None:
    fixed = "/*[local-name()='configuration']/*[local-name()='appSettings']"
    path = _configured(release_dir, {"web.config": NS_CONFIG}, f'\n[[variables]]\nname = "{fixed}"\nvalue = "new"\n')
    assert _lint(path) == (0, [])


def test_a_value_with_a_control_character_for_an_xml_file_is_a_warning_at_the_value(release_dir: Path) -> None:
    path = _configured(release_dir, {"settings.xml": PLAIN_CONFIG},
                       '\n[[variables]]\nname = "/settings/mode"\nvalue = "on"\n'
                       '\n[[variables]]\nname = "/settings/mode"\nvalue = "o\\u0001n"\n'
                       'scope = { environment = ["Production"] }\n')
    code, findings = _lint(path)
    assert code == 0
    line, column = line_of(path, 'o\\u0001n"')  # at the string
    [finding] = findings
    assert (finding["code"], finding["path"], finding["line"], finding["column"]) == (
        "structured_config_warning", "variables[6].value", line, column)
    assert "/settings/mode: the value holds the character U+0001, which XML cannot hold" in finding["message"]
    assert finding["suggestion"] == "remove the control character from the variable's value"


def test_a_control_character_read_through_a_reference_names_the_variable_that_holds_it(release_dir: Path) -> None:
    path = _configured(release_dir, {"settings.xml": PLAIN_CONFIG},
                       '\n[[variables]]\nname = "/settings/mode"\nvalue = "on-#{Lvl}"\n'
                       '\n[[variables]]\nname = "Lvl"\nvalue = "x\\u0002y"\n')
    code, findings = _lint(path)
    assert code == 0
    line, column = line_of(path, 'on-#{Lvl}"')
    [finding] = findings
    assert (finding["code"], finding["path"], finding["line"], finding["column"]) == (
        "structured_config_warning", "variables[5].value", line, column)
    assert "/settings/mode: the value holds the character U+0002" in finding["message"]
    assert finding["suggestion"] == ("remove the control character from the value of Lvl, which this variable's "
                                     "value reads as #{Lvl}")


def test_a_sensitive_value_is_never_applied_so_no_warning_tells_of_its_characters(release_dir: Path) -> None:
    path = _configured(release_dir, {"settings.xml": PLAIN_CONFIG},
                       '\n[[variables]]\nname = "/settings/mode"\nvalue = "o\\u0001n"\nsensitive = true\n')
    assert _lint(path) == (0, [])


def test_a_file_refused_only_because_a_variable_is_named_like_an_xpath_is_an_error(release_dir: Path) -> None:
    comments = "<r>\n" + "<!--c-->\n" * 12000 + "<a>1</a>\n</r>\n"
    path = _configured(release_dir, {"many.config": comments}, "")
    edit(release_dir, 'name = "ConnectionStrings:Default"', 'name = "ConnectionStringsDefault"')
    assert _lint(path) == (0, [])  # no variable is a path into it: a deployment leaves it alone
    path.write_text(path.read_text() + '\n[[variables]]\nname = "Logging:Level"\nvalue = "x"\n')
    code, findings = _lint(path)
    assert code == 2
    [finding] = [f for f in findings if f["code"] == "invalid_structured_config"]
    assert (finding["severity"], finding["file"], finding["path"]) == ("error", str(release_dir / ZIP), "many.config")
    assert "follow each other with no element between them" in finding["message"]
    assert "the file itself parses: a deployment refuses it because the release has variables named like a path" \
        in finding["message"]
    assert finding["suggestion"] == "fix the file in the package, or remove it from the step's structured_config"
    # the module gives the same finding export refuses on
    report = lint_release(path)
    assert [f.code for f in report.errors] == ["invalid_structured_config"]


def test_export_carries_the_warning_to_the_secure_zone_without_a_path_of_this_machine(
        zones: Zones, release_dir: Path, tmp_path: Path) -> None:
    path = _configured(release_dir, {"web.config": NS_CONFIG},
                       '\n[[variables]]\nname = "/configuration/appSettings"\nvalue = "new"\n')
    out = tmp_path / "a.bundle"
    zones.close()
    r = cli_in_process("export", path, "--to", "prod", "-o", out, home=zones.dev.home)
    assert r.returncode == 0, r.stderr
    assert "warning [structured_config_warning] variables[5].name: web.config in Acme.Web.1.4.0.zip" in r.stderr
    notes = json.loads(cli_in_process("inspect", out, "--json").stdout)["lint_notes"]
    assert [(n["code"], n["file"], n["path"]) for n in notes] == [
        ("structured_config_warning", "release.toml", "variables[5].name")]
    assert str(tmp_path) not in json.dumps(notes)
