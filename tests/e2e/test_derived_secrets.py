"""A value derived from a sensitive value is sensitive (decision 410), through the real CLI.

A release copies a production-only sensitive value into an output variable that is not
marked sensitive (``set_octopusvariable "Endpoint" "https://pay.example/?key=#{Acme.ApiKey}"``).
Finding 12 adds the same attack with the secret in a URL's password (``CallbackUrl =
https://svc:#{Secret}@host``) and encoded by the script (base64, hex) before it goes into a
plain output or the log. The zone must treat each such output as sensitive: masked in
``deploy --json``, ``deployments show``, ``outputs``, both dashboards and ``serve``, sealed in
the state, withheld from the receipt (the egress default: named only), and sensitive for the
later step that reads it. The secret, and
the encodings the scripts made of it, may appear nowhere in clear: not in any file of either
zone (SQLite included), not in the receipt (its compressed blobs opened), not in any command's
output or served page.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import zstandard

from tests.conftest import run_cli
from tests.e2e.world import World, json_of, make_world

PROD_KEY = "PRODONLY-KEY-31337"
ENDPOINT = "https://pay.example/?key="
#: The key as the scripts below encode it (finding 12: taint through plain outputs, in any encoding).
KEY_FORMS = (PROD_KEY, base64.b64encode(PROD_KEY.encode()).decode(), PROD_KEY.encode().hex(),
             PROD_KEY.encode().hex().upper())


def _edit(w: World, old: str, new: str) -> None:
    path = w.release_dir / "release.toml"
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def _inflated(data: bytes) -> bytes:
    """``data`` followed by every zstd frame found in it, decompressed (a bundle's blobs)."""
    found, start = [data], 0
    while (at := data.find(b"\x28\xb5\x2f\xfd", start)) >= 0:
        try:
            found.append(zstandard.ZstdDecompressor().decompressobj().decompress(data[at:]))
        except zstandard.ZstdError:
            pass
        start = at + 1
    return b"".join(found)


def _clear_in_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and any(
        form.encode() in _inflated(p.read_bytes()) for form in KEY_FORMS)]


def _served(home: Path) -> list[str]:
    """The page and the JSON view `bundlekit serve` gives for ``home``."""
    proc = subprocess.Popen([sys.executable, "-m", "bundlekit", "serve", "--home", str(home), "--port", "0", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert proc.stdout is not None
        url = json.loads(proc.stdout.readline())["url"]
        return [urllib.request.urlopen(url + path, timeout=60).read().decode() for path in ("", "api/dashboard.json")]
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def test_an_output_copying_a_sensitive_value_is_sensitive_everywhere(tmp_path: Path) -> None:
    w = make_world(tmp_path)
    _edit(w, 'set_octopusvariable "SchemaVersion" "42"',
          f'set_octopusvariable "SchemaVersion" "42"\nset_octopusvariable "Endpoint" "{ENDPOINT}#{{Acme.ApiKey}}"')
    # the finding's attack: a plain output composing the secret into a URL, and the encodings a
    # script makes of it (base64, hex) in plain outputs too
    _edit(w, 'set_octopusvariable "SchemaVersion" "42"',
          'set_octopusvariable "SchemaVersion" "42"\nset_octopusvariable "CallbackUrl" "https://svc:#{Acme.ApiKey}@host"\n'
          'key="$(get_octopusvariable Acme.ApiKey)"\n'
          'set_octopusvariable "Basic" "Basic $(printf \'svc:%s\' "$key" | base64 -w0)"\n'
          'set_octopusvariable "KeyHex" "$(printf %s "$key" | od -An -tx1 | tr -d \' \\n\')"\n'
          'echo "hex $(printf %s "$key" | od -An -tx1 | tr -d \' \\n\' | tr a-f A-F) b64 $(printf %s "$key" | base64)"')
    # the later step, on another target, reads it and passes it on (still derived, still sensitive)
    _edit(w, 'set_octopusvariable("SmokeResult", "passed")',
          'set_octopusvariable("SmokeResult", "passed")\n'
          'endpoint = "#{Octopus.Action[Run migrations].Output.Endpoint}"\n'
          'assert endpoint.startswith("' + ENDPOINT + '") and endpoint.endswith("31337"), "not received"\n'
          'set_octopusvariable("EndpointSeen", "seen " + endpoint)')
    w.cli("import", w.export("1.4.0.bundle"), home=w.prod)
    set_key = run_cli("variables", "set", "acme-web", "Acme.ApiKey", "-", "--sensitive", home=w.prod,
                      input=PROD_KEY.encode())
    assert set_key.returncode == 0, set_key.stderr

    receipt = tmp_path / "media" / "receipt.bundle"
    deployed = json_of(w.cli("deploy", "acme-web", "1.4.0", "--environment", "Production", "--json",
                             "--receipt-out", receipt, home=w.prod))
    assert deployed["state"] == "Success", deployed
    outputs = {o["name"]: o for r in deployed["runs"] for o in r["outputs"]}
    assert outputs["Endpoint"] == {"name": "Endpoint", "value": "********", "sensitive": True}
    assert outputs["EndpointSeen"] == {"name": "EndpointSeen", "value": "********", "sensitive": True}
    assert outputs["SchemaVersion"] == {"name": "SchemaVersion", "value": "42", "sensitive": False}
    for name in ("CallbackUrl", "Basic", "KeyHex"):
        assert outputs[name] == {"name": name, "value": "********", "sensitive": True}
    w.cli("import", receipt, home=w.dev)

    texts = list(w.outputs)
    for args, home in ((("deployments", "show", deployed["deployment_id"], "--json"), w.prod),
                       (("deployments", "show", deployed["deployment_id"]), w.prod),
                       (("outputs", "acme-web", "--zone", "prod", "--json"), w.dev),
                       (("outputs", "acme-web", "--zone", "prod"), w.dev),
                       (("outbox", "list", "--json"), w.prod),
                       (("dashboard", "--json"), w.prod), (("dashboard", "--json"), w.dev)):
        r = run_cli(*args, home=home)
        assert r.returncode == 0, (args, r.stderr)
        texts += [r.stdout, r.stderr]
    seen = json_of(run_cli("outputs", "acme-web", "--zone", "prod", "--reveal", "--json", home=w.dev).stdout)
    withheld = {o["name"] for o in seen["outputs"] if o["withheld"]}  # sensitive: withheld by default (issue 12)
    assert {"Endpoint", "EndpointSeen", "CallbackUrl", "Basic", "KeyHex", "MigrationToken"} <= withheld, seen
    html = tmp_path / "dash.html"
    assert run_cli("dashboard", "--html", html, home=w.dev).returncode == 0
    texts.append(html.read_text())
    texts += _served(w.prod) + _served(w.dev)

    assert [t for t in texts if any(form in t for form in KEY_FORMS)] == []
    assert _clear_in_files(w.prod) == [] and _clear_in_files(w.dev) == []
    assert not [form for form in KEY_FORMS if form.encode() in _inflated(receipt.read_bytes())]
    # the control: the plain output travelled in clear, so the search above could find a value
    assert b"SchemaVersion" in _inflated(receipt.read_bytes())


#: The review's canary (r12a F1), inside a config blob whose base64 `base64` wraps at 76 columns
#: right through the canary's encoding.
CANARY = 'Can"ary é/Xy+Z=9876'
CONFIG = '{"user":"app","host":"db.internal.example1","pw":"%s","sslmode":"require"}' % CANARY


def test_a_secret_in_a_config_blob_that_base64_wraps_is_masked_in_the_log_and_its_output_withheld(
        tmp_path: Path) -> None:
    w = make_world(tmp_path)
    _edit(w, 'set_octopusvariable "SchemaVersion" "42"',
          'set_octopusvariable "SchemaVersion" "42"\n'
          'cfg=$(printf \'{"user":"app","host":"db.internal.example1","pw":"%s","sslmode":"require"}\' '
          '\'#{Pay.Secret}\')\n'
          'printf \'%s\' "$cfg" | base64\n'
          'set_octopusvariable "ConfigB64" "$(printf \'%s\' "$cfg" | base64)"')
    with (w.release_dir / "release.toml").open("a") as release:
        release.write('\n[[variables]]\nname = "Pay.Secret"\nsensitive = true\nplaceholder = true\n')
    w.cli("import", w.export("1.4.0.bundle"), home=w.prod)
    for name, value in (("Pay.Secret", CANARY), ("Acme.ApiKey", PROD_KEY)):
        assert run_cli("variables", "set", "acme-web", name, "--sensitive", home=w.prod,
                       input=value.encode()).returncode == 0
    wrapped = base64.encodebytes(CONFIG.encode()).decode().rstrip("\n")
    first, second = wrapped.split("\n")  # each holds a part of the canary's encoding
    shown = run_cli("deploy", "acme-web", "1.4.0", "--environment", "Production", home=w.prod)
    assert shown.returncode == 0, shown.stderr
    assert "eyJ1c2VyIjoiYXBwIiwiaG9zdCI6ImRiLmludGVybmFsLmV4YW1wbGUxIiwicHciOiJ********" in shown.stderr
    record = json_of(w.cli("deployments", "show", "Deployments-1", "--json", home=w.prod))
    outputs = {o["name"]: o for r in record["record"]["runs"] for o in r["outputs"]}
    assert outputs["ConfigB64"] == {"name": "ConfigB64", "value": "********", "sensitive": True}
    dry = w.cli("outbox", "pack", "--dry-run", "--json", home=w.prod)
    assert '"ConfigB64"' in dry and CANARY not in dry
    receipt = tmp_path / "media" / "r1.bundle"
    w.cli("outbox", "pack", "-o", receipt, home=w.prod)
    w.cli("import", receipt, home=w.dev)
    seen = json_of(w.cli("outputs", "acme-web", "--zone", "prod", "--json", home=w.dev))
    assert [o["withheld"] for o in seen["outputs"] if o["name"] == "ConfigB64"] == [True]
    texts = [shown.stdout, shown.stderr, *w.outputs, w.cli("deployments", "show", "Deployments-1", home=w.prod)]
    assert [t for t in texts if first in t or second in t] == []
    for home in (w.prod, w.dev):
        assert [p for p in home.rglob("*") if p.is_file() and (
            first.encode() in _inflated(p.read_bytes()) or second.encode() in _inflated(p.read_bytes()))] == []
    assert first.encode() not in _inflated(receipt.read_bytes())
