"""Lint finds what a deploy's strict rendering refuses in filter calls and self-references: a
filter that fails on the release's unscoped values (decision 640) and a value that reads a path
back into itself, without quoting sensitive values."""

from __future__ import annotations

from pathlib import Path

from bundlekit.substitution import VariableDictionary, SubstitutionError, render_strict
from tests.conftest import CANARY, Zones, cli_in_process, snapshot
from tests.export.test_lint import edit, lint, line_of, only

SCRIPT = 'echo "migrating database #{Acme.Db.Name} on'


def _script(release_dir: Path, tokens: str) -> Path:
    return edit(release_dir, SCRIPT, f'echo "{tokens}"\n{SCRIPT}')


def _append(where: Path, toml: str) -> Path:
    path = where if where.is_file() else where / "release.toml"
    path.write_text(path.read_text() + toml)
    return path


def test_filter_calls_strict_render_refuses_are_lint_errors_at_each_filter(release_dir: Path) -> None:
    path = _append(_script(release_dir, '#{V | Replace \\"(\\" x} #{V | Substring 99 1} #{N | VersionMajor}'),
                   '\n[[variables]]\nname = "V"\nvalue = "abc"\n\n[[variables]]\nname = "N"\nvalue = "not-a-ver#"\n')
    code, report = lint(path)
    assert code == 2
    found = only(report, "filter_failed")
    assert [(f["path"], f["line"], f["column"]) for f in found] == [
        ("steps[0].script", *line_of(path, "| Replace")), ("steps[0].script", *line_of(path, "| Substring")),
        ("steps[0].script", *line_of(path, "| VersionMajor"))]
    assert "invalid regular expression '('" in found[0]["message"]
    assert "start 99 is past the end of a 3-character value" in found[1]["message"]
    assert "'not-a-ver#' is not a version" in found[2]["message"]
    assert all(f["suggestion"] for f in found)
    # the same calls, as the strict rendering a deploy does, are refused too
    values = VariableDictionary({"V": "abc", "N": "not-a-ver#"})
    for call in ('#{V | Replace "(" x}', "#{V | Substring 99 1}", "#{N | VersionMajor}"):
        try:
            render_strict(call, values)
        except SubstitutionError as err:
            assert err.code == "filter_failed"
        else:
            raise AssertionError(call)


def test_a_filter_on_a_value_lint_cannot_know_is_not_judged(release_dir: Path) -> None:
    # Placeholders, system variables and scoped values are decided in the deploying zone.
    path = _script(release_dir, "#{Octopus.Release.Number | VersionMajor} #{Acme.ApiKey | Substring 99 1}")
    code, report = lint(path)
    assert only(report, "filter_failed") == []


def test_a_failing_filter_in_a_variable_value_is_found_in_that_value(release_dir: Path) -> None:
    path = _append(release_dir, '\n[[variables]]\nname = "Short"\nvalue = "#{Acme.Db.Name | Truncate many}"\n')
    code, report = lint(path)
    [finding] = only(report, "filter_failed")
    assert (finding["path"], finding["line"], finding["column"]) == ("variables[5].value", *line_of(path, "| Truncate"))
    assert "length must be a whole number, got 'many'" in finding["message"]


def test_lint_quotes_no_sensitive_value_in_filter_findings(release_dir: Path) -> None:
    path = _script(release_dir, "#{Acme.Db.Password | VersionMajor} #{Acme.Db.Name | Replace #{Acme.Db.Password}}"
                   " #{Acme.Db.Password | Substring 99 1}")
    edit(release_dir, 'value = "s3cret-value"', 'value = "s3cret-value(pw"')
    path = _append(path, '\n[[variables]]\nname = "Hidden"\nsensitive = true\nvalue = "#{Acme.Db.Name | Replace (pw}"\n')
    code, report = lint(path)
    found = only(report, "filter_failed")
    assert len(found) == 4
    text = str(report)
    assert CANARY not in text and "(pw" not in text and "14-character" not in text
    assert "the sensitive value of 'Hidden' applies a filter that fails" in found[-1]["message"]


def test_a_value_that_reads_a_path_into_itself_is_an_unresolved_variables_error(release_dir: Path) -> None:
    path = _append(_script(release_dir, "#{Self}"), '\n[[variables]]\nname = "Self"\nvalue = "#{Self.Y}"\n')
    code, report = lint(path)
    assert code == 2
    [finding] = only(report, "unresolved_variables")
    assert (finding["path"], finding["line"]) == ("variables[5].value", line_of(path, 'value = "#{Self.Y}"')[0])
    assert "Self.Y refer(s) back into the value it is read from" in finding["message"]
    try:
        render_strict("#{Self}", VariableDictionary({"Self": "#{Self.Y}"}))
    except SubstitutionError as err:
        assert err.code == "unresolved_variables"
    else:
        raise AssertionError("strict rendering accepted it")


def test_a_sensitive_value_reading_into_itself_is_reported_without_its_text(release_dir: Path) -> None:
    path = _append(release_dir, '\n[[variables]]\nname = "Self"\nsensitive = true\nvalue = "#{Self.Hunter2}"\n')
    code, report = lint(path)
    [finding] = only(report, "unresolved_variables")
    assert "Hunter2" not in str(report) and "a path into a sensitive value" in finding["message"]


def test_export_refuses_a_filter_that_fails_on_a_secret_without_showing_it(zones: Zones, release_dir: Path,
                                                                           tmp_path: Path) -> None:
    edit(release_dir, 'value = "s3cret-value"', 'value = "s3cret-value(pw"')
    path = _script(release_dir, "#{Acme.Db.Name | Replace #{Acme.Db.Password}} #{Acme.Db.Password | VersionMajor}")
    out = tmp_path / "a.bundle"
    zones.close()
    before = snapshot(zones.dev.home, out)
    r = cli_in_process("export", path, "--to", "prod", "-o", out, home=zones.dev.home)
    assert r.returncode == 2
    assert "release_lint_failed" in r.stderr and r.stderr.count("filter_failed") >= 2
    assert CANARY not in r.stdout + r.stderr and "(pw" not in r.stdout + r.stderr
    assert snapshot(zones.dev.home, out) == before


def test_options_that_fail_whatever_the_input_are_found_on_values_only_a_deploy_knows(release_dir: Path) -> None:
    path = _script(release_dir, '#{Octopus.Release.Number | Replace \\"(\\" x} #{Acme.ApiKey | Substring one}'
                   ' #{Octopus.Machine.Name | Truncate 5} #{Octopus.Machine.Name | Match \\"[a-z]+\\"}')
    code, report = lint(path)
    found = only(report, "filter_failed")
    assert [(f["line"], f["column"]) for f in found] == [line_of(path, "| Replace"), line_of(path, "| Substring")]
    assert "invalid regular expression '('" in found[0]["message"]
    assert "length must be a whole number, got 'one'" in found[1]["message"]
