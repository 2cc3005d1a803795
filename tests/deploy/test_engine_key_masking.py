"""Defence in depth: the zone's key material, if a step got hold of it, never leaves in a log or output.

A step that printed a key file in the encodings scripts most often make, and set it (encoded)
as a plain and as a sensitive output, leaves none of those forms in the record, its dict, its
events or its outputs (decision 380).
"""

from __future__ import annotations

import base64
import json
import os
import urllib.parse
from dataclasses import replace
from pathlib import Path
from typing import Any

from bundlekit.deploy.engine import execute
from bundlekit.deploy.plan import build_plan
from tests.deploy.test_plan import request_for, script, web_db

PEM = ("-----BEGIN OPENSSH PRIVATE KEY-----\n" + "\n".join(
    base64.b64encode(os.urandom(54)).decode() for _ in range(5)) + "\n-----END OPENSSH PRIVATE KEY-----\n")


def forms_of(value: bytes) -> list[str]:
    """What an attacker would search the output for."""
    b64 = base64.b64encode(value).decode()
    out = [b64, b64.rstrip("="), base64.urlsafe_b64encode(value).decode().rstrip("="), value.hex(),
           value.hex().upper()]
    try:
        text = value.decode()
    except UnicodeDecodeError:
        return out
    return out + [text.strip(), urllib.parse.quote(text, safe=""), json.dumps(text)[1:-1]]


PRINT = r'''
import base64, json, sys, urllib.parse
raw = open(sys.argv[1] if len(sys.argv) > 1 else "#{KeyPath}", "rb").read()
print("b64", base64.b64encode(raw).decode())
print("b64-shifted", base64.b64encode(b"x" + raw).decode())
print("url", base64.urlsafe_b64encode(raw).decode().rstrip("="))
print("hex", raw.hex(), raw.hex().upper())
try:
    text = raw.decode()
except UnicodeDecodeError:
    text = None
if text is not None:
    print("json", json.dumps({"key": text}))
    print("pct", urllib.parse.quote(text, safe=""))
    sys.stdout.write(text)
sys.stdout.flush()
sys.stdout.buffer.write(b"raw " + raw + b"\n")
'''


def _steps(key: Path) -> list[Any]:
    printer = script("Print", PRINT.replace("#{KeyPath}", str(key)), syntax="python")
    setter = script("Set", f'k=$(base64 -w0 < {key}); set_octopusvariable Plain "k=$k"\n'
                           f'set_octopusvariable Secret "$(xxd -p < {key} | tr -d "\\n")" -sensitive\n'
                           f'echo "wrapped:"; base64 < {key}')
    return [printer, setter]


def _leaked(root: Path, material: bytes) -> Path:
    """A copy of key material where the step can read it: its own target folder (steps on local
    targets run in a sandbox that shows them nothing else)."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / "leaked.key"
    path.write_bytes(material)
    return path


def test_key_material_a_step_prints_or_outputs_is_masked_in_every_encoding(tmp_path: Path) -> None:
    raw_key = os.urandom(32)
    for name, material in (("signing.key", raw_key), ("ssh_client.key", PEM.encode())):
        root = tmp_path / name.replace(".", "-")
        targets = web_db(root)
        leaked = _leaked(targets[0].root, material)
        request = replace(request_for(_steps(leaked), targets=targets), protected=(raw_key, PEM.encode()))
        events: list[dict[str, Any]] = []
        record = execute(build_plan(request), request, on_event=events.append)
        assert record.state == "Success", [r.log for r in record.runs]
        outputs = {o.name: o for _, _, o in record.outputs()}
        assert set(outputs) == {"Plain", "Secret"} and outputs["Plain"].value.startswith("k=")
        shown = [json.dumps(record.to_dict()), json.dumps(record.to_dict(mask=False)), json.dumps(events),
                 repr(record), repr(request)] + [o.value for o in outputs.values()]
        assert "b64 ********" in record.runs[0].log and "hex ******** ********" in record.runs[0].log
        for text in shown:
            for form in forms_of(material):
                assert form not in text, (name, form)
            for line in base64.encodebytes(material).decode().splitlines():
                assert len(line) < 16 or line not in text, (name, line)


def test_a_deployment_without_key_material_masks_nothing_extra(tmp_path: Path) -> None:
    targets = web_db(tmp_path)
    leaked = _leaked(targets[0].root, b"just some ordinary text")
    request = request_for(_steps(leaked), targets=targets)
    record = execute(build_plan(request), request)
    assert "just some ordinary text" in record.runs[0].log
    assert {o.name: o.value for _, _, o in record.outputs()}["Plain"] == "k=" + base64.b64encode(
        b"just some ordinary text").decode()


NAMED = r'''
raw = open("#{KeyPath}", "rb").read()
set_octopusvariable("Kept", "plain")
set_octopusvariable("N" + raw.hex(), "value-in-name")
set_octopusvariable("Token", "opaque-sibling-value", True)
set_octopusvariable("Copy of opaque-sibling-value", "x")
'''


def test_an_output_whose_name_carries_key_material_or_a_secret_is_refused_and_the_name_shown_masked(
        tmp_path: Path) -> None:
    raw_key = os.urandom(32)
    targets = web_db(tmp_path)
    leaked = _leaked(targets[0].root, raw_key)
    request = replace(request_for([script("Name", NAMED.replace("#{KeyPath}", str(leaked)), ("web",),
                                          syntax="python")], targets=targets[:1]), protected=(raw_key,))
    events: list[dict[str, Any]] = []
    record = execute(build_plan(request), request, on_event=events.append)
    run = record.runs[0]
    assert record.state == "Failed" and run.state == "Failed" and run.exit_code == 0
    assert run.reason is not None and run.reason.endswith("[invalid_output_variable]")
    assert "'N********'" in run.reason and "may not carry" in run.reason
    assert [o.name for o in run.outputs] == ["Kept", "Token"]  # both names that carried a secret are dropped
    shown = [json.dumps(record.to_dict()), json.dumps(record.to_dict(mask=False)), json.dumps(events), repr(record)]
    for text in shown:
        for form in forms_of(raw_key):
            assert form not in text, form
    for text in shown[:1] + shown[2:]:  # the unmasked dict holds the sensitive value itself, as designed
        assert "opaque-sibling-value" not in text
