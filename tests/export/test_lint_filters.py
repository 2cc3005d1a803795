"""Unknown filters: lint finds them with the nearest names, and the engine's refusal suggests
the nearest filter instead of listing all of them."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from bundlekit.substitution.filters import filter_names, nearest_filters
from tests.conftest import cli_in_process
from tests.export.test_lint import edit, lint, line_of, only


def test_an_unknown_filter_in_a_script_is_an_error_with_the_nearest_filter(release_dir: Path) -> None:
    path = edit(release_dir, "#{Acme.Db.Name} on", "#{Acme.Db.Name | ToUper} on")
    code, report = lint(path)
    assert code == 2
    [finding] = report["findings"]
    assert (finding["code"], finding["path"], finding["message"], finding["suggestion"]) == (
        "unknown_filter", "steps[0].script", "unknown filter 'ToUper'", "did you mean ToUpper?")
    assert (finding["line"], finding["column"]) == line_of(path, "| ToUper")


def test_filters_are_found_in_conditions_options_and_indexes_and_compared_case_insensitively(
        release_dir: Path) -> None:
    path = edit(release_dir, 'echo "migrating database', 'echo "#{if Acme.Db.Name | tolowr == \\"a\\"}x#{/if} '
                '#{Acme.Db.Name | Append #{Acme.Db.Name | Trimm}} #{Acme.Db.Name | TOUPPER | sha265}"\n'
                'echo "migrating database')
    code, report = lint(path)
    assert code == 2
    assert [(f["message"], f["suggestion"]) for f in only(report, "unknown_filter")] == [
        ("unknown filter 'tolowr'", "did you mean ToLower?"), ("unknown filter 'Trimm'", "did you mean Trim?"),
        ("unknown filter 'sha265'", "did you mean Sha256?")]
    assert len(report["findings"]) == 3  # TOUPPER is ToUpper


def test_an_unknown_filter_in_a_substituted_file_is_a_warning_since_the_token_stays_text(release_dir: Path) -> None:
    package = release_dir / "packages" / "Acme.Web.1.4.0.zip"
    with zipfile.ZipFile(package, "a") as z:
        z.writestr("deploy.ps1", '$a = "#{Acme.Db.Name | XmlEscpae}"\n')
    path = edit(release_dir, '"index.html"]', '"index.html", "deploy.ps1"]')
    code, report = lint(path)
    assert code == 0
    [finding] = report["findings"]
    assert (finding["severity"], finding["code"], finding["file"], finding["path"], finding["line"]) == (
        "warning", "unknown_filter", str(package), "deploy.ps1", 1)
    assert finding["suggestion"] == "did you mean XmlEscape?"


def test_nothing_near_gives_no_guess_but_where_the_filters_are_listed(release_dir: Path) -> None:
    assert nearest_filters("Frobnicate") == []
    path = edit(release_dir, "#{Acme.Db.Name} on", "#{Acme.Db.Name | Frobnicate} on")
    [finding] = lint(path)[1]["findings"]
    assert finding["suggestion"] == f"bundlekit has {len(filter_names())} filters, listed in spec/substitution.md, " \
                                    "section 6"


def test_the_engines_refusal_suggests_the_nearest_filter_instead_of_listing_every_one(tmp_path: Path) -> None:
    template = tmp_path / "t.txt"
    template.write_text("#{A | ToUper}\n")
    r = cli_in_process("render", template, "--var", "A=x", "--json")
    error = json.loads(r.stdout)["error"]
    assert error["code"] == "filter_failed"
    assert "unknown filter 'ToUper'; did you mean ToUpper?" in error["message"]
    assert "ToBase64" not in error["message"] and "Sha512" not in error["message"]  # once: all 45 names
