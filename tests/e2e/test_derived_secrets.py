"""A value derived from a sensitive value is sensitive (decision 410), through the real CLI.

A release copies a production-only sensitive value into an output variable that is not
marked sensitive (``set_octopusvariable "Endpoint" "https://pay.example/?key=#{Acme.ApiKey}"``).
The zone must treat that output as sensitive: masked in ``deploy --json``, ``deployments
show``, ``outputs`` and both dashboards, sealed in the state and in the receipt, and
sensitive for the later step that reads it. The secret may appear nowhere in clear: not in
any file of either zone (SQLite included), not in the receipt (its compressed blobs opened),
not in any command's output.
"""

from __future__ import annotations

from pathlib import Path

import zstandard

from tests.conftest import run_cli
from tests.e2e.world import World, json_of, make_world

PROD_KEY = "PRODONLY-KEY-31337"
ENDPOINT = "https://pay.example/?key="


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
    return [p for p in root.rglob("*") if p.is_file() and PROD_KEY.encode() in _inflated(p.read_bytes())]


def test_an_output_copying_a_sensitive_value_is_sensitive_everywhere(tmp_path: Path) -> None:
    w = make_world(tmp_path)
    _edit(w, 'set_octopusvariable "SchemaVersion" "42"',
          f'set_octopusvariable "SchemaVersion" "42"\nset_octopusvariable "Endpoint" "{ENDPOINT}#{{Acme.ApiKey}}"')
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
    seen = json_of(run_cli("outputs", "acme-web", "--zone", "prod", "--json", home=w.dev).stdout)
    assert "Endpoint" in str(seen) and "********" in str(seen), seen
    html = tmp_path / "dash.html"
    assert run_cli("dashboard", "--html", html, home=w.dev).returncode == 0
    texts.append(html.read_text())

    assert [t for t in texts if PROD_KEY in t] == []
    assert _clear_in_files(w.prod) == [] and _clear_in_files(w.dev) == []
    assert PROD_KEY.encode() not in _inflated(receipt.read_bytes())
    # the control: the plain output travelled in clear, so the search above could find a value
    assert b"SchemaVersion" in _inflated(receipt.read_bytes())
