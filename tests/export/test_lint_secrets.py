"""No lint finding quotes any part of a sensitive value: it names the variable and the position.

A canary sits in every part of a sensitive value that a finding used to quote: a name nothing
defines, a token that does not parse, an unknown filter, an output reference to a step that
does not exist. Lint's text and JSON, and export's refusal, must hold none of it.
"""

from __future__ import annotations

import json
from pathlib import Path

from bundlekit.export.lint import _redacted
from bundlekit.export.lint_model import ERROR, Finding
from tests.conftest import Zones, cli_in_process, run_cli
from tests.export.test_lint import edit, lint

CANARY = "Qz7Canary"
SECRET = (f'value = "pre-#{{{CANARY}Ref}}-#{{Acme.Db.Name | {CANARY}Filter}}-#{{Octopus.Action[{CANARY}Step]'
          f'.Output.X}}-#{{if {CANARY}Cond}}-post"')


def _secret_release(release_dir: Path) -> Path:
    return edit(release_dir, 'value = "s3cret-value"', SECRET)


def test_findings_in_a_sensitive_value_name_the_variable_and_position_never_the_value(release_dir: Path) -> None:
    path = _secret_release(release_dir)
    code, report = lint(path)
    assert code == 2
    assert CANARY not in json.dumps(report)
    found = [(f["code"], f["path"]) for f in report["findings"]]
    assert sorted(found) == sorted([("undefined_variable", "variables[2].value"),
                                    ("unknown_filter", "variables[2].value"),
                                    ("unknown_output_step", "variables[2].value"),
                                    ("template_syntax", "variables[2].value")])
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if CANARY in text)
    for f in report["findings"]:
        assert f["message"].startswith("the sensitive value of 'Acme.Db.Password' ")
        assert f["message"].endswith("(the value is not shown)")
        assert f["line"] == line and f["column"] > 1 and f["suggestion"]
    text = run_cli("lint", path)  # the lines a person reads, from a process of its own
    assert text.returncode == 2 and CANARY not in text.stdout + text.stderr


def test_a_sensitive_value_of_the_wrong_type_is_refused_without_showing_it(release_dir: Path) -> None:
    path = edit(release_dir, 'value = "s3cret-value"', "value = 7310925")
    code, report = lint(path)
    assert code == 2
    assert "7310925" not in json.dumps(report)
    assert [(f["code"], f["path"]) for f in report["findings"]] == [("invalid_value", "variables[2].value")]


def test_exports_refusal_quotes_no_part_of_a_sensitive_value(zones: Zones, release_dir: Path,
                                                            tmp_path: Path) -> None:
    path = _secret_release(release_dir)
    zones.close()
    r = cli_in_process("export", path, "--to", "prod", "-o", tmp_path / "a.bundle", "--json", home=zones.dev.home)
    assert r.returncode == 2
    assert json.loads(r.stdout)["error"]["code"] == "release_lint_failed"
    assert CANARY not in r.stdout + r.stderr


def test_a_finding_of_any_check_that_would_quote_a_sensitive_value_is_replaced_by_name_and_position() -> None:
    # The net under every check, present and future: a finding quoting a piece of a secret
    # (here made up, as a check with that bug would make it) keeps its place and loses its text.
    text = ('[[variables]]\nname = "Db.Password"\nvalue = "Zebra-7731-Horse"\nsensitive = true\n\n'
            '[[variables]]\nname = "Db.Name"\nvalue = "Horse"\n')
    doc = {"variables": [{"name": "Db.Password", "value": "Zebra-7731-Horse", "sensitive": True},
                         {"name": "Db.Name", "value": "Horse"}]}
    leaking = Finding(ERROR, "some_check", "member 'Zebra' is not there", "r.toml", "variables[0].value", 3, 10,
                      "did you mean '7731'?")
    public = Finding(ERROR, "some_check", "value 'Horse' of Db.Name", "r.toml", "variables[1].value", 7, 10, "fix it")
    assert _redacted([leaking, public], doc, text) == [
        Finding(ERROR, "some_check", "a some_check finding that would quote part of the sensitive value of "
                "'Db.Password' (not shown)", "r.toml", "variables[0].value", 3, 10,
                "look at the line and column given, in the file named"),
        public]  # "Horse" is written outside the secret too: no secret of its own
