"""A reference to an output its step never sets passes the deploy's preflight (an output's value
is known only at run time) and fails the run that reads it, in the deploying zone. Lint warns
where the step's script shows every name it sets (``output_never_set``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bundlekit.export.lint_outputs import names_set
from tests.conftest import cli_in_process
from tests.export.test_lint import edit, line_of

REFERENCE = "#{Octopus.Action[Run migrations].Output.SchemaVersion}"


def test_a_misspelt_output_name_is_a_warning_with_the_name_the_step_sets(release_dir: Path) -> None:
    path = edit(release_dir, REFERENCE, "#{Octopus.Action[Run migrations].Output.SchemaVerison}")
    r = cli_in_process("lint", path, "--json")
    assert r.returncode == 0
    line, column = line_of(path, "Octopus.Action[Run migrations].Output.SchemaVerison")
    assert json.loads(r.stdout)["findings"] == [{
        "severity": "warning", "code": "output_never_set", "file": str(path), "path": "steps[2].script",
        "line": line, "column": column,
        "message": "#{Octopus.Action[Run migrations].Output.SchemaVerison} reads output 'SchemaVerison', which step "
                   "'Run migrations' never sets (it sets 'SchemaVersion', 'MigrationToken'): the run that reads it "
                   "fails in the deploying zone",
        "suggestion": "did you mean 'SchemaVersion'?"}]


def test_a_step_that_computes_an_output_name_is_not_judged(release_dir: Path) -> None:
    edit(release_dir, 'set_octopusvariable "SchemaVersion" "42"', 'set_octopusvariable "$KIND" "42"')
    path = edit(release_dir, REFERENCE, "#{Octopus.Action[Run migrations].Output.SchemaVerison}")
    r = cli_in_process("lint", path, "--json")
    assert (r.returncode, json.loads(r.stdout)["findings"]) == (0, [])


@pytest.mark.parametrize(("script", "names"), [
    ('set_octopusvariable "A" 1\nset_octopusvariable B 2 -sensitive', {"a", "b"}),
    ('set_octopusvariable("Done", "yes")\nset_octopusvariable( \'Why\', x)', {"done", "why"}),
    ("echo nothing", set()),
    ('set_octopusvariable "#{Name}" 1', None),
    ("set_octopusvariable(name, 1)", None),
    ("f = set_octopusvariable\nf('A', 1)", None),
    ("print(\"##octopus[setVariable name='QQ==' value='MQ==']\")", None),
])
def test_the_names_a_script_sets_are_read_only_when_every_one_is_written_out(script: str,
                                                                          names: set[str] | None) -> None:
    assert names_set(script) == names
