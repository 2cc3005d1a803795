"""A reference with several problems gets a finding for each, not only the first found."""

from __future__ import annotations

from pathlib import Path

from tests.export.test_lint import edit, line_of, lint


def test_a_reference_to_a_later_step_that_is_disabled_is_reported_as_both(release_dir: Path) -> None:
    # Step 0 reads an output of step 2 ("Smoke test"), which runs later and is disabled: moving the
    # reference after it still leaves it unset, and enabling the step still leaves it too late.
    path = edit(release_dir, 'set_octopusvariable "SchemaVersion" "42"',
                'set_octopusvariable "SchemaVersion" "42"\necho "#{Octopus.Action[Smoke test].Output.SmokeResult}"')
    edit(release_dir, 'name = "Smoke test"', 'name = "Smoke test"\nenabled = false')
    code, report = lint(path)
    assert code == 2
    found = [(f["code"], f["path"], f["line"], f["column"]) for f in report["findings"]]
    at = line_of(path, "Octopus.Action[Smoke test]")
    assert sorted(found) == sorted([("output_not_yet_set", "steps[0].script", *at),
                                    ("output_of_disabled_step", "steps[0].script", *at)])


def test_an_unterminated_closing_tag_is_called_unterminated_once_at_the_tag(release_dir: Path) -> None:
    path = edit(release_dir, 'echo "migrating database #{Acme.Db.Name}',
                'echo "migrating database #{if Acme.Db.Name}#{Acme.Db.Name}#{/if')
    _, report = lint(path)
    found = [f for f in report["findings"] if f["code"] == "template_syntax"]
    assert [(f["path"], f["line"], f["column"]) for f in found] == [("steps[0].script", *line_of(path, "#{/if"))]
    assert found[0]["message"] == ("template does not parse: unterminated closing tag '#{/if' (expected '}' right "
                                   "after it)")


def test_a_block_never_closed_with_a_broken_token_inside_gets_both_findings_in_one_run(release_dir: Path) -> None:
    # The token broke the block, so the block was reported at its start with the token's reason;
    # fixing the token then showed that the block was never closed: two runs for two problems.
    path = edit(release_dir, 'set_octopusvariable "SchemaVersion" "42"',
                'set_octopusvariable "SchemaVersion" "42"\n#{if Acme.Db.Name}open\n#{Acme.Db.Name | }')
    code, report = lint(path)
    assert code == 2
    block, token = line_of(path, "#{if Acme.Db.Name}"), line_of(path, "#{Acme.Db.Name | }")
    assert [(f["line"], f["column"], f["message"]) for f in report["findings"]] == [
        (*block, "template does not parse: block is never closed (expected #{/if} or #{elseif})"),
        (*token, "template does not parse: expected a filter name after '|'")]


def test_an_each_item_stays_local_when_a_token_inside_the_each_does_not_parse(release_dir: Path) -> None:
    path = edit(release_dir, 'set_octopusvariable "SchemaVersion" "42"',
                'set_octopusvariable "SchemaVersion" "42"\n#{each x in Acme.Db.Name}#{x} #{x | }#{/each}')
    code, report = lint(path)
    assert code == 2
    assert [(f["code"], f["message"]) for f in report["findings"]] == [
        ("template_syntax", "template does not parse: expected a filter name after '|'")]
