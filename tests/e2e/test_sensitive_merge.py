"""A sensitive value stays sealed through a three-way merge at import (decision 250), through
the real CLI: the source marks a variable sensitive that the zone had edited in plain text
(kept: the zone's value is sealed), and the zone marks one sensitive that the source then
sends plain (taken: the source's new value is sealed). Neither value may then appear in clear
in the home, in a receipt, on the dashboard or in any output."""

from __future__ import annotations

import base64
from pathlib import Path

from tests.conftest import run_cli
from tests.e2e.world import World, json_of, make_world

ZONE_TOKEN = "zone-token-canary-4711"  # plain in the zone, then the source marks Acme.Token sensitive
ZONE_SALT = "zone-salt-canary-0815"  # set sensitive in the zone
SOURCE_SALT = "source-salt-sent-plain-2342"  # the source's next value of Acme.Salt, sent plain
ECHO = 'echo "migrating database #{Acme.Db.Name}'
VARIABLES = '''
[[variables]]
name = "Acme.Token"
value = "token-v1"

[[variables]]
name = "Acme.Salt"
value = "salt-v1"
'''


def _edit(w: World, old: str, new: str) -> None:
    path = w.release_dir / "release.toml"
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def _forms(secret: str) -> list[str]:
    return [secret, secret.encode().hex(), base64.b64encode(secret.encode()).decode()]


def _files(*roots: Path) -> list[tuple[Path, str]]:
    return [(p, p.read_bytes().decode("latin-1")) for root in roots for p in root.rglob("*") if p.is_file()]


def test_merged_sensitive_values_are_sealed_in_the_home_receipts_and_every_output(tmp_path: Path) -> None:
    w = make_world(tmp_path)
    _edit(w, ECHO, 'echo "token #{Acme.Token} salt #{Acme.Salt}"\n' + ECHO)
    (w.release_dir / "release.toml").write_text((w.release_dir / "release.toml").read_text() + VARIABLES)
    w.cli("import", w.export("1.4.0.bundle"), home=w.prod)
    w.cli("variables", "set", "acme-web", "Acme.ApiKey", "api-key-for-prod", "--sensitive", home=w.prod)
    w.cli("variables", "set", "acme-web", "Acme.Token", ZONE_TOKEN, home=w.prod)  # plain, as it was then
    w.cli("variables", "set", "acme-web", "Acme.Salt", ZONE_SALT, "--sensitive", home=w.prod)

    w.set_version("1.4.0", "1.5.0")
    _edit(w, 'name = "Acme.Token"\nvalue = "token-v1"', 'name = "Acme.Token"\nvalue = "token-v2"\nsensitive = true')
    _edit(w, 'value = "salt-v1"', f'value = "{SOURCE_SALT}"')
    policy = tmp_path / "policy.toml"
    policy.write_text('[[rule]]\nkind = "variable"\nname = "Acme.Token"\nresolution = "keep-local"\n\n'
                      '[[rule]]\nkind = "variable"\nname = "Acme.Salt"\nresolution = "take-incoming"\n')
    bundle = w.export("1.5.0.bundle")
    shown = w.cli("import", bundle, "--policy", policy, home=w.prod)
    assert "'Acme.Token'  (resolved:keep-local; kept sensitive, sealed)" in shown, shown
    # the zone holds Acme.Salt sensitive, so the release's plain value arrives as a sensitive one
    assert "'Acme.Salt'  (resolved:take-incoming)" in shown, shown
    assert "'Acme.Salt': changed differently on both sides (sensitive: base false, local true, incoming true" in shown

    rows = {v["name"]: v for v in json_of(w.cli("variables", "list", "acme-web", "--json", home=w.prod))["variables"]}
    assert rows["Acme.Token"]["sensitive"] is True and rows["Acme.Token"]["value"] == "********"
    assert rows["Acme.Salt"]["sensitive"] is True and rows["Acme.Salt"]["value"] == "********"

    receipt = tmp_path / "media" / "receipt.bundle"
    deployed = json_of(w.cli("deploy", "acme-web", "1.5.0", "--environment", "Production", "--json",
                             "--receipt-out", receipt, home=w.prod))
    assert deployed["state"] == "Success"
    log = next(r["log"] for r in deployed["runs"] if r["step"] == "Run migrations")
    # the sealed values were revealed for the step (masked in its log), not used as references
    assert "token ******** salt ********" in log and "secret:" not in log
    w.cli("import", receipt, home=w.dev)

    texts = list(w.outputs)
    for args, home in ((("deployments", "show", "Deployments-1", "--json"), w.prod),
                       (("show", "acme-web", "--json"), w.prod), (("outbox", "list", "--json"), w.prod),
                       (("dashboard", "--json"), w.prod), (("dashboard", "--json"), w.dev),
                       (("dashboard",), w.dev)):
        r = run_cli(*args, home=home)
        assert r.returncode == 0, r.stderr
        texts += [r.stdout, r.stderr]
    html = tmp_path / "dash.html"
    assert run_cli("dashboard", "--html", html, home=w.dev).returncode == 0
    files = _files(w.prod) + [(receipt, receipt.read_bytes().decode("latin-1")), (html, html.read_text())]
    assert any(p.name == "state.db" for p, _ in files)
    # the development zone authored Acme.Salt in plain text and holds it so; the others never reach it
    for secret, where in ((ZONE_TOKEN, files + _files(w.dev)), (ZONE_SALT, files + _files(w.dev)),
                          (SOURCE_SALT, files)):
        for form in _forms(secret):
            assert not [n for n, t in enumerate(texts) if form in t], f"{secret!r} shown as {form!r}"
            assert not [p for p, t in where if form in t], f"{secret!r} stored as {form!r}"
