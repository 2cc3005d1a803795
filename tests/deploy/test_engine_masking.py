"""The secret canary: a sensitive value, values built from it and sensitive outputs never leak.

Searched in every log, reason, record dict, repr, event and error the deploy engine makes.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from bundlekit.deploy.engine import execute
from bundlekit.deploy.plan import build_plan
from bundlekit.deploy.targets import Isolation, LocalFolderTarget
from tests.conftest import CANARY
from tests.deploy.test_engine import API_KEY, acme_request
from tests.deploy.test_plan import refusal, request_for, script, var, web_db

SECRET = "canary-s3cr3t-9f8e7d"
OUTPUT_SECRET = "out-secret-4242-zz"
MAKE_OUTPUT_SECRET = "$(printf 'out-secret-%s-zz' 4242)"  # made at run time: not in any script text


def leaky_target(name: str, root: Path) -> LocalFolderTarget:
    """A target whose runner fails with an error that quotes a secret, as a remote one's might."""
    root.mkdir(parents=True)
    (root / "secret.txt").write_text(SECRET)
    fake = root / "python3"
    fake.write_text(f"#!/bin/sh\necho \"Permission denied for password $(cat {root}/secret.txt)\" >&2\nexit 1\n")
    fake.chmod(0o755)
    return LocalFolderTarget(name, "Production", frozenset({"leaky"}), root, Isolation("unconfined", python=str(fake)))


def forms(secret: str) -> list[str]:
    return [secret, base64.b64encode(secret.encode()).decode(), secret.upper(), secret.encode().hex()]


def test_a_sensitive_value_and_everything_built_from_it_is_masked_everywhere(tmp_path: Path) -> None:
    web, db = web_db(tmp_path)
    leaky = leaky_target("web-02", tmp_path / "web-02")
    steps = [
        # Prints the output secret before any step declared it sensitive: hidden by the final pass.
        script("Early", f'echo "early: {MAKE_OUTPUT_SECRET}"', roles=("db",)),
        script("Use", "set -x\n"
                      "echo \"raw #{Db.Password} b64 #{Db.Password | ToBase64} up #{Db.Password | ToUpper}\"\n"
                      "echo \"conn #{Conn}\"\n"
                      "echo \"helper $(get_octopusvariable Db.Password) $(get_octopusvariable Conn)\"\n"
                      "echo \"only via the helper: $(get_octopusvariable Encoded)\"\n"
                      f'set_octopusvariable Token "{MAKE_OUTPUT_SECRET}" -sensitive\n'
                      f'echo "after: {MAKE_OUTPUT_SECRET}"\n'
                      f"echo {SECRET.encode().hex()}\n"),
        script("Read", "print('token', '#{Octopus.Action[Use].Output[web-01].Token}')\n"
                       "print('derived', '#{Token.Url}')\n"
                       "print('helper', get_octopusvariable('Octopus.Action[Use].Output.Token'))\n"
                       "raise SystemExit('failing with #{Db.Password}')", syntax="python"),
        script("Leaky", "true", condition="always", roles=("leaky",)),
    ]
    variables = [var("Db.Password", SECRET, True), var("Conn", "Server=db;Password=#{Db.Password};Pool=1"),
                 var("Encoded", "enc:#{Db.Password | ToBase64}"),
                 var("Token.Url", "https://api/?t=#{Octopus.Action[Use].Output.Token}")]
    request = request_for(steps, variables, targets=(web, db, leaky))
    events: list[dict[str, Any]] = []
    plan = build_plan(request)
    record = execute(plan, request, on_event=events.append)

    use = [r for r in record.runs if r.step == "Use" and r.target == "web-01"][0]
    assert "raw ******** b64 ******** up ********" in use.log
    assert "conn ********" in use.log and "helper ******** ********" in use.log
    assert "only via the helper: ********" in use.log
    assert "after: ********" in use.log and "[sensitive output variable 'Token' set]" in use.log
    read = [r for r in record.runs if r.step == "Read" and r.target == "web-01"][0]
    assert "token ********" in read.log and "derived ********" in read.log and "helper ********" in read.log
    assert read.state == "Failed" and "failing with ********" in read.log
    leaky_run = [r for r in record.runs if r.step == "Leaky" and r.target == "web-02"][0]
    assert leaky_run.state == "Failed" and "Permission denied for password ********" in (leaky_run.reason or "")
    assert "early: ********" in record.runs[0].log

    shown = [json.dumps(record.to_dict()), repr(record), json.dumps(plan.to_dict()),
             repr(plan), repr(request)] + [r.log + (r.reason or "") for r in record.runs] + [repr(r) for r in
                                                                                          record.runs]
    for text in shown:
        for form in forms(SECRET)[:3] + [OUTPUT_SECRET]:
            assert form not in text
    # Live log lines are masked with what is known when they arrive: every secret of the release and
    # every value derived from one. A value a script prints before it declares it sensitive (here the
    # output token, printed by an earlier step and by `set -x`) can only be hidden in the stored record
    # (decision 145).
    live = json.dumps(events)
    assert "early: out-secret-4242-zz" in live
    for form in forms(SECRET)[:3]:
        assert form not in live
    # The hex form was printed by the script itself, not rendered by bundlekit: masked all the same,
    # like every encoding a script most often makes of a secret (decision 550).
    assert SECRET.encode().hex() not in use.log and "\n********" in use.log
    # The record keeps the sensitive output for the caller to seal, but only when asked.
    unmasked = json.dumps(record.to_dict(mask=False))
    assert OUTPUT_SECRET in unmasked and SECRET not in unmasked
    assert [o.value for _, _, o in record.outputs() if o.name == "Token"] == [OUTPUT_SECRET]
    for target in (web, db):
        for path in (target.root / ".bundlekit-work").rglob("*"):
            assert not path.is_file() or SECRET.encode() not in path.read_bytes()


def test_the_fixture_release_leaks_neither_its_password_nor_the_bound_api_key(tmp_path: Path) -> None:
    request = acme_request(tmp_path)
    events: list[dict[str, Any]] = []
    record = execute(build_plan(request), request, on_event=events.append)
    assert record.state == "Success"
    token = [o for _, _, o in record.outputs() if o.name == "MigrationToken"][0]
    assert token.value == f"tok-{CANARY}" and token.sensitive
    for text in (json.dumps(record.to_dict()), repr(record), json.dumps(events)):
        assert CANARY not in text and API_KEY not in text and "tok-" not in text


def test_preflight_errors_name_variables_never_values(tmp_path: Path) -> None:
    request = request_for([script("A", "echo #{Conn} #{Missing.Thing}")],
                          [var("Conn", "pw=#{Db.Password};#{Also.Missing}"), var("Db.Password", SECRET, True)],
                          targets=web_db(tmp_path))
    error = refusal(request, "preflight_unresolved_variables")
    text = error.message + json.dumps(error.to_dict())
    assert "Missing.Thing" in text and "Also.Missing" in text and SECRET not in text


@pytest.mark.parametrize("short", ["abc", "x"])
def test_values_shorter_than_four_characters_are_not_masked_like_octopus(tmp_path: Path, short: str) -> None:
    request = request_for([script("A", "echo value=#{Pin}")], [var("Pin", short, True)], targets=web_db(tmp_path))
    record = execute(build_plan(request), request)
    assert f"value={short}" in record.runs[0].log


def test_plain_outputs_carrying_a_secret_or_an_encoding_of_it_become_sensitive(tmp_path: Path) -> None:
    """Finding 12 (taint through plain outputs): a plain output whose value contains a sensitive value
    of the run, as it is or encoded by the script, is a sensitive output in the record; one set by an
    earlier run, before the value it contains became secret, is too."""
    steps = [
        script("Early", f'set_octopusvariable Early "id={MAKE_OUTPUT_SECRET}"', roles=("db",)),
        script("Compose", "import base64, json, urllib.parse\n"
                          "s = get_octopusvariable('Db.Password')\n"
                          "set_octopusvariable('CallbackUrl', 'https://svc:' + s + '@host')\n"
                          "set_octopusvariable('B64', 'Basic ' + base64.b64encode(b'u:' + s.encode()).decode())\n"
                          "set_octopusvariable('Hex', s.encode().hex().upper())\n"
                          "set_octopusvariable('Query', urllib.parse.urlencode({'k': s + '/+'}))\n"
                          "set_octopusvariable('Json', json.dumps({'pw': s + '\"'}))\n"
                          "set_octopusvariable('Plain', 'nothing secret')\n", syntax="python"),
        script("Late", f'set_octopusvariable Token "{MAKE_OUTPUT_SECRET}" -sensitive', roles=("db",)),
    ]
    request = request_for(steps, [var("Db.Password", SECRET, True)], targets=web_db(tmp_path))
    record = execute(build_plan(request), request)
    assert record.state == "Success", [r.log for r in record.runs]
    outputs = {o.name: o for _, _, o in record.outputs()}
    assert {name for name, o in outputs.items() if o.sensitive} == {
        "Early", "CallbackUrl", "B64", "Hex", "Query", "Json", "Token"}
    assert outputs["Plain"].value == "nothing secret" and not outputs["Plain"].sensitive
    shown = json.dumps(record.to_dict())
    for form in (SECRET, base64.b64encode(f"u:{SECRET}".encode()).decode()[4:], SECRET.encode().hex().upper(),
                 OUTPUT_SECRET):
        assert form not in shown
