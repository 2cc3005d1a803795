"""A name computed from a sensitive value is never quoted: not in ``unresolved_variables``, not
in the deploy preflight's list of names it cannot resolve, not in ``render``'s warning.

``#{Octopus.Action[#{Secret}].Output.X}`` looks up a name whose step part is the secret's
value; when that name is undefined, the messages used to print it, secret and all. Messages now
show the computed part as ``********`` (decision 653); the name itself stays exact inside the
engine's result, where the preflight matches output references.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bundlekit.substitution import VariableDictionary, render
from tests.conftest import cli_in_process, raises_code
from tests.deploy.test_plan import refusal, request_for, script, var, web_db

SECRET = "Canary-Step-7x"


def _values() -> VariableDictionary:
    return VariableDictionary({"Secret": SECRET, "Plain": "open", "List": "a,b"}, sensitive=["Secret"])


@pytest.mark.parametrize(("template", "shown"), [
    ("#{Octopus.Action[#{Secret}].Output.X}", "Octopus.Action[********].Output.X"),
    ("#{Db[#{Secret | ToLower}].Port}", "Db[********].Port"),
    ("#{Secret | Length}#{each i in List}#{Row[#{i}]}#{/each}", "Row[********]"),  # an item may come from it
])
def test_an_unresolved_name_computed_from_a_secret_is_never_quoted(template: str, shown: str) -> None:
    with raises_code("unresolved_variables") as caught:
        render(template, _values(), allow_missing=False)
    said = caught.value.message + json.dumps(caught.value.details)
    assert shown in said
    assert SECRET not in said and SECRET.lower() not in said
    lenient = render(template, _values(), allow_missing=True)
    assert shown in lenient.shown_missing and SECRET.casefold() not in " ".join(lenient.shown_missing).casefold()


def test_a_name_computed_from_a_plain_value_is_still_named() -> None:
    with raises_code("unresolved_variables") as caught:
        render("#{Row[#{Plain}]}", _values(), allow_missing=False)
    assert caught.value.details == ["Row[open]"]


def test_the_engine_keeps_the_exact_name_for_callers_that_match_it() -> None:
    result = render("#{Octopus.Action[#{Secret}].Output.X}", _values(), allow_missing=True)
    assert result.missing == (f"Octopus.Action[{SECRET}].Output.X",)
    assert result.shown_missing == ("Octopus.Action[********].Output.X",)


def test_the_deploy_preflight_lists_the_name_without_the_secret(tmp_path: Path) -> None:
    step = script("Use", 'echo "#{Octopus.Action[#{Secret}].Output.Token}"')
    request = request_for([step], [var("Secret", SECRET, sensitive=True)], targets=web_db(tmp_path))
    error = refusal(request, "preflight_unresolved_variables")
    said = error.message + json.dumps(error.details)
    assert "Octopus.Action[********].Output.Token" in said
    assert SECRET not in said


def test_render_on_the_command_line_warns_without_the_secret(tmp_path: Path) -> None:
    template = tmp_path / "t.txt"
    template.write_text("#{Octopus.Action[#{Secret}].Output.X}\n")
    variables = tmp_path / "vars.json"
    variables.write_text(json.dumps({"Secret": SECRET}))
    done = cli_in_process("render", template, "--variables", variables, "--sensitive", "Secret", "--allow-missing")
    assert done.returncode == 0, done.stderr
    assert "Octopus.Action[********].Output.X" in done.stderr
    assert SECRET not in done.stderr
