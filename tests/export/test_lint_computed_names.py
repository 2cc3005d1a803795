"""Names with a computed part (``#{X[#{Y}]}``, ``#{Octopus.Action[#{Step}].Output.N}``) are linted
as a deployment computes them (decision 732): an output reference whose step a variable names is
checked like one written out, and a name is reported as written, not as its prefix. Each case
is also what the deploy preflight does with the same reference, so the development zone finds
what the secure zone would refuse, and only that."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bundlekit.export.lint import lint_release
from bundlekit.export.lint_computed import check_computed_names
from bundlekit.export.lint_templates import Template
from tests.conftest import cli_in_process
from tests.deploy.test_plan import refusal, request_for, script, var, web_db
from tests.export.test_lint import RELEASE, edit, line_of

SECRET = "Canary-Step-7x"
SMOKE = 'print(f"smoke test'


def _release(release_dir: Path, line: str, variables: str = "") -> Path:
    path = edit(release_dir, SMOKE, f"print(\"{line}\")\n{SMOKE}")
    path.write_text(path.read_text() + variables)
    return path


def _lint(path: Path) -> tuple[int, list[dict[str, Any]]]:
    r = cli_in_process("lint", path, "--json")
    return r.returncode, json.loads(r.stdout)["findings"]


def test_a_step_named_by_a_sensitive_value_that_is_no_step_is_refused_with_the_deploys_reason(
        release_dir: Path, tmp_path: Path) -> None:
    reference = "#{Octopus.Action[#{Sec}].Output.Token}"
    path = _release(release_dir, reference, f'\n[[variables]]\nname = "Sec"\nvalue = "{SECRET}"\nsensitive = true\n')
    code, findings = _lint(path)
    assert code == 2
    line, column = line_of(path, "Octopus.Action[#{Sec}]")
    assert findings == [{
        "severity": "error", "code": "unknown_output_step", "file": str(path), "path": "steps[2].script",
        "line": line, "column": column,
        "message": f"{reference} reads Octopus.Action[********].Output.Token: #{{Sec}} names a step computed from a "
                   "sensitive value (not shown), and the release has no such step (a deploy refuses it: there is no "
                   "step named so)",
        "suggestion": "make #{Sec} the name of an earlier step, or write the step's name in the brackets"}]
    # the deploy's preflight refuses the same reference, showing the name the same way
    step = script("Use", f'echo "{reference}"')
    error = refusal(request_for([step], [var("Sec", SECRET, sensitive=True)], targets=web_db(tmp_path)),
                    "preflight_unresolved_variables")
    assert "Octopus.Action[********].Output.Token" in error.message and SECRET not in error.message


def test_a_step_named_by_a_value_that_names_an_earlier_step_is_clean_in_lint_and_in_the_preflight(
        release_dir: Path, tmp_path: Path) -> None:
    path = _release(release_dir, "#{Octopus.Action[#{First}].Output.SchemaVersion}",
                    '\n[[variables]]\nname = "First"\nvalue = "Run migrations"\n')
    assert _lint(path) == (0, [])


def test_a_step_named_by_a_value_gets_the_step_it_meant_and_a_later_step_is_not_yet_set(release_dir: Path) -> None:
    path = _release(release_dir, "#{Octopus.Action[#{Wrong}].Output.X} #{Octopus.Action[#{Me}].Output.X}",
                    '\n[[variables]]\nname = "Wrong"\nvalue = "Run migration"\n'
                    '\n[[variables]]\nname = "Me"\nvalue = "Smoke test"\n')
    code, findings = _lint(path)
    assert code == 2
    assert [(f["code"], f["message"].split(": ", 1)[1], f["suggestion"]) for f in findings] == [
        ("unknown_output_step", "#{Wrong} names step 'Run migration', and the release has no such step (a deploy "
         "refuses it: there is no step named so)", "did you mean 'Run migrations'? Make #{Wrong} name an earlier step"),
        ("output_not_yet_set", "#{Me} names this step itself, whose output is not set yet (a deploy refuses it)",
         "read outputs of earlier steps only")]


def test_a_step_named_by_a_placeholder_is_a_warning_since_only_the_deployment_knows_it(release_dir: Path) -> None:
    path = _release(release_dir, "#{Octopus.Action[#{Target.Step}].Output.X}",
                    '\n[[variables]]\nname = "Target.Step"\nplaceholder = true\n')
    code, findings = _lint(path)
    assert code == 0
    [finding] = findings
    assert (finding["severity"], finding["code"]) == ("warning", "computed_output_step")
    assert finding["message"].startswith("#{Octopus.Action[#{Target.Step}].Output.X} names its step by #{Target.Step}")


def test_a_step_named_by_a_sensitive_placeholder_is_an_error_since_a_secret_is_no_step_name(
        release_dir: Path) -> None:
    # the verification's case: the secret is bound in the deploying zone, which then refused it
    path = _release(release_dir, "#{Octopus.Action[#{Acme.ApiKey}].Output.X}")
    code, findings = _lint(path)
    assert code == 2
    line, column = line_of(path, "Octopus.Action[#{Acme.ApiKey}]")
    [finding] = findings
    assert (finding["severity"], finding["code"], finding["line"], finding["column"]) == (
        "error", "unknown_output_step", line, column)
    assert finding["message"].startswith("#{Octopus.Action[#{Acme.ApiKey}].Output.X} names its step by the sensitive "
                                         "value #{Acme.ApiKey}, which only a deployment knows")
    assert finding["suggestion"] == "write the step's name in the brackets; a sensitive value cannot name a step"


def test_an_undefined_name_with_a_computed_index_is_named_as_written_not_as_its_prefix(release_dir: Path) -> None:
    path = _release(release_dir, "#{Pasword[#{Acme.Db.Password}]}",
                    '\n[[variables]]\nname = "Password[alice]"\nvalue = "x"\n')
    code, findings = _lint(path)
    assert code == 2
    line, column = line_of(path, "Pasword[")
    [finding] = findings
    assert (finding["code"], finding["line"], finding["column"]) == ("undefined_variable", line, column)
    assert finding["message"] == ("#{Pasword[#{Acme.Db.Password}]} is not defined: no variable, placeholder, system "
                                  "variable or output is Pasword or a member of it (Pasword[...]), whatever "
                                  "#{Acme.Db.Password} gives")
    assert finding["suggestion"] == "did you mean 'Password'?"
    assert "s3cret" not in json.dumps(findings)


def test_a_name_computed_from_the_releases_own_values_that_nothing_defines_is_refused_as_strict_rendering_does(
        release_dir: Path) -> None:
    path = _release(release_dir, "#{Plain[#{Who}]} #{Plain[#{Known}]}",
                    '\n[[variables]]\nname = "Plain"\nvalue = "p"\n\n[[variables]]\nname = "Who"\nvalue = "bob"\n'
                    '\n[[variables]]\nname = "Known"\nvalue = "alice"\n'
                    '\n[[variables]]\nname = "Plain[alice]"\nvalue = "a"\n')
    code, findings = _lint(path)
    assert code == 2
    [finding] = findings
    assert finding["message"] == ("#{Plain[#{Who}]} reads Plain[bob], which no variable, placeholder, system variable "
                                  "or output defines: strict rendering, as a deploy does, refuses it")


@pytest.mark.parametrize("scoped", ['scope = { environment = ["Production"] }', "placeholder = true"])
def test_an_index_a_deployment_decides_is_not_judged(release_dir: Path, scoped: str) -> None:
    value = "" if "placeholder" in scoped else 'value = "bob"\n'
    path = _release(release_dir, "#{Plain[#{Who}]}",
                    f'\n[[variables]]\nname = "Plain"\nvalue = "p"\n\n[[variables]]\nname = "Who"\n{value}{scoped}\n')
    assert _lint(path) == (0, [])


def test_the_module_hides_a_sensitive_templates_own_text(release_dir: Path) -> None:
    template = Template("#{Octopus.Action[#{Ghost}].Output.X}", RELEASE, "variables[0].value", secret="Token")
    doc = {"variables": [{"name": "Ghost", "value": "Nowhere"}], "steps": []}
    [finding] = check_computed_names([template], doc, ["Run"], set())
    assert finding.code == "unknown_output_step" and "Nowhere" not in finding.message
    assert finding.message.startswith("the sensitive value of 'Token' reads an output of a step the release does not")
    # and lint_release on the fixture is still clean (no computed name there)
    assert lint_release(release_dir / RELEASE).findings == ()
