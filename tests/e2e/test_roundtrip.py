"""The whole round trip through the real CLI: export, import, deploy on two targets, receipt, dashboard."""

from __future__ import annotations

import base64
import sqlite3
import json
import shutil
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import pytest

from tests.conftest import CANARY, FIXTURES, run_cli, snapshot
from tests.e2e.world import API_KEY, World, json_of, make_world


@pytest.fixture(scope="module")
def trip(tmp_path_factory: pytest.TempPathFactory) -> World:
    w = make_world(tmp_path_factory.mktemp("trip"))
    bundle = w.export("acme-1.4.0.bundle")
    w.cli("import", bundle, home=w.prod)
    w.cli("variables", "set", "acme-web", "Acme.ApiKey", API_KEY, "--sensitive", home=w.prod)
    w.cli("egress", "set", FIXTURES / "acme" / "egress.toml", home=w.prod)  # MigrationToken may go back, sealed
    out = w.cli("deploy", "acme-web", "1.4.0", "--environment", "Production", "--json", "--receipt-out",
                w.root / "media" / "receipt-1.bundle", home=w.prod)
    w.deploy_json = json_of(out)  # type: ignore[attr-defined]
    w.cli("import", w.root / "media" / "receipt-1.bundle", home=w.dev)
    return w


def test_deploy_succeeds_on_both_targets(trip: World) -> None:
    rec = trip.deploy_json  # type: ignore[attr-defined]
    assert rec["state"] == "Success"
    assert {(r["step"], r["target"]) for r in rec["runs"]} == {
        ("Run migrations", "db-01"), ("Deploy web", "web-01"), ("Smoke test", "web-01")}


def test_output_variable_from_bash_on_one_target_reaches_python_and_config_on_another(trip: World) -> None:
    rec = trip.deploy_json  # type: ignore[attr-defined]
    smoke = next(r for r in rec["runs"] if r["step"] == "Smoke test")
    assert "schema 42" in smoke["log"]
    config = json.loads((trip.root / "targets" / "web-01" / "Acme.Web" / "1.4.0" / "appsettings.json").read_text())
    assert config["Acme"]["SchemaVersion"] == "42"
    assert config["Acme"]["Machine"] == "web-01" and config["Acme"]["Environment"] == "Production"
    assert config["ConnectionStrings"]["Default"].startswith("Server=db.prod;Database=acme_prod;")
    deploy = next(r for r in rec["runs"] if r["step"] == "Deploy web")
    install = {o["name"]: o["value"] for o in deploy["outputs"]}["Package.InstallationDirectoryPath"]
    assert Path(install) == trip.root / "targets" / "web-01" / "Acme.Web" / "1.4.0"


def test_receipt_updates_source_dashboard(trip: World) -> None:
    view = json_of(run_cli("dashboard", "--json", home=trip.dev).stdout)
    row = next(p for p in view["projects"] if p["slug"] == "acme-web")
    cell = row["cells"][view["columns"].index(["prod", "Production"])]
    assert cell["latest"]["state"] == "succeeded" and cell["latest"]["release"] == "1.4.0"
    dep = next(d for d in view["deployments"] if d["deployment_id"] == "Deployments-1")
    assert {s["step"] for s in dep["steps"]} == {"Run migrations", "Deploy web", "Smoke test"}
    assert any("migrating database acme_prod" in s["log"] for s in dep["steps"])


def test_sensitive_output_sealed_on_media_and_revealed_at_source(trip: World) -> None:
    receipt = (trip.root / "media" / "receipt-1.bundle").read_bytes()
    token = f"tok-{CANARY}"
    assert token.encode() not in receipt and base64.b64encode(token.encode()) not in receipt
    masked = json_of(run_cli("outputs", "acme-web", "--zone", "prod", "--json", home=trip.dev).stdout)
    values = {o["name"]: o["value"] for o in masked["outputs"]}
    assert values["SchemaVersion"] == "42" and values["MigrationToken"] == "********"
    revealed = json_of(run_cli("outputs", "acme-web", "--zone", "prod", "--reveal", "--json", home=trip.dev).stdout)
    assert {o["name"]: o["value"] for o in revealed["outputs"]}["MigrationToken"] == token


def test_a_sensitive_output_this_zone_cannot_open_names_its_deployment_and_what_to_do(trip: World,
                                                                                       tmp_path: Path) -> None:
    """outputs --reveal's invalid_seal said only "cannot be opened with this zone's sealing key"."""
    dev = tmp_path / "dev"
    shutil.copytree(trip.dev, dev)
    with sqlite3.connect(dev / "state.db") as db:
        [(rowid, text)] = db.execute("SELECT rowid, entry FROM remote_deployments").fetchall()
        entry = json.loads(text)
        for run in entry["runs"]:
            for o in run["outputs"]:
                if o["sensitive"]:  # another value sealed the same way, to another key
                    o["sealed"] = base64.b64encode(bytes(range(1, 81))).decode()
        db.execute("UPDATE remote_deployments SET entry = ? WHERE rowid = ?", (json.dumps(entry), rowid))
    before = snapshot(dev)
    done = run_cli("outputs", "acme-web", "--zone", "prod", "--reveal", "--json", home=dev)
    err = json_of(done.stdout)["error"]
    assert done.returncode == 3 and err["code"] == "invalid_seal", done.stdout
    assert "output MigrationToken: cannot be opened" in err["message"]
    assert "deployment Deployments-1 of release 1.4.0 to Production in zone prod" in err["message"]
    assert "without --reveal" in err["message"] and CANARY not in done.stdout + done.stderr
    assert snapshot(dev) == before
    assert run_cli("outputs", "acme-web", "--zone", "prod", home=dev).returncode == 0


def test_secret_canaries_absent_everywhere_but_the_deployed_config(trip: World) -> None:
    secrets = [CANARY, API_KEY]
    texts = list(trip.outputs)
    for args, home in ((("deployments", "show", "Deployments-1", "--json"), trip.prod),
                       (("deployments", "list", "--json"), trip.prod), (("dashboard", "--json"), trip.dev),
                       (("dashboard", "--json"), trip.prod), (("variables", "list", "acme-web", "--json"), trip.prod),
                       (("outbox", "list", "--json"), trip.prod), (("show", "acme-web", "--json"), trip.prod)):
        r = run_cli(*args, home=home)
        assert r.returncode == 0, r.stderr
        texts += [r.stdout, r.stderr]
    html = trip.root / "dash.html"
    assert run_cli("dashboard", "--html", html, home=trip.dev).returncode == 0
    texts.append(html.read_text())
    allowed = trip.root / "targets" / "web-01" / "Acme.Web" / "1.4.0" / "appsettings.json"
    for path in trip.root.rglob("*"):
        # The release file is the input that holds the secret; the deployed config is the output that must.
        if path.is_file() and path != allowed and trip.release_dir not in path.parents:
            texts.append(path.read_bytes().decode("latin-1"))
    for secret in secrets:
        forms = [secret, secret.encode().hex(), base64.b64encode(secret.encode()).decode()]
        for text in texts:
            for form in forms:
                assert form not in text, f"{secret!r} leaked as {form!r}"


def test_late_receipt_recorded_once_and_reimported_receipts_change_nothing(trip: World, tmp_path: Path) -> None:
    dev = tmp_path / "dev"
    shutil.copytree(trip.dev, dev)
    prod = tmp_path / "prod"
    shutil.copytree(trip.prod, prod)
    for n in (2, 3):
        r = run_cli("deploy", "acme-web", "1.4.0", "--environment", "Production", "--receipt-out",
                    tmp_path / f"receipt-{n}.bundle", home=prod)
        assert r.returncode == 0, r.stderr
    assert run_cli("import", tmp_path / "receipt-3.bundle", home=dev).returncode == 0
    before = snapshot(dev)
    again = run_cli("import", tmp_path / "receipt-3.bundle", "--json", home=dev)
    assert again.returncode == 0 and json_of(again.stdout)["noop"] is True
    # receipt-2 carried after receipt-3: late, not replayed; its deployment is recorded (decision 153)
    late = run_cli("import", tmp_path / "receipt-2.bundle", "--json", home=dev)
    assert late.returncode == 0, late.stdout + late.stderr
    assert json_of(late.stdout)["late"] is True and len(json_of(late.stdout)["recorded"]) == 1
    before = snapshot(dev)
    again = run_cli("import", tmp_path / "receipt-2.bundle", "--json", home=dev)
    assert again.returncode == 0 and json_of(again.stdout)["noop"] is True
    assert snapshot(dev) == before


def test_forged_receipt_signed_by_untrusted_key_refused(trip: World, tmp_path: Path) -> None:
    dev = tmp_path / "dev"
    shutil.copytree(trip.dev, dev)
    evil = tmp_path / "evil"
    shutil.copytree(trip.prod, evil)
    (evil / "keys" / "signing.key").write_bytes(bytes(range(32)))  # same zone id, another key
    # the forger owns that home: it records the new key as the zone's own (else bundlekit refuses it)
    public = Ed25519PrivateKey.from_private_bytes(bytes(range(32))).public_key().public_bytes_raw()
    with sqlite3.connect(evil / "state.db") as db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'zone_signing_public'", (base64.b64encode(public).decode(),))
    assert run_cli("deploy", "acme-web", "1.4.0", "--environment", "Production", "--receipt-out",
                   tmp_path / "forged.bundle", home=evil).returncode == 0
    before = snapshot(dev)
    r = run_cli("import", tmp_path / "forged.bundle", "--json", home=dev)
    assert r.returncode == 3 and json_of(r.stdout)["error"]["code"] in {"untrusted", "source_mismatch"}
    assert snapshot(dev) == before


def test_receipt_for_a_bundle_never_exported_refused(trip: World, tmp_path: Path) -> None:
    # A zone with the same identity as dev that never exported this release.
    w = make_world(tmp_path / "w")
    clone = tmp_path / "dev-clone"
    shutil.copytree(w.dev, clone)
    bundle = w.export("a.bundle")
    w.cli("import", bundle, home=w.prod)
    w.cli("variables", "set", "acme-web", "Acme.ApiKey", "x-key-123", home=w.prod)
    w.cli("deploy", "acme-web", "1.4.0", "--environment", "Production", "--receipt-out", tmp_path / "r.bundle",
          home=w.prod)
    before = snapshot(clone)
    r = run_cli("import", tmp_path / "r.bundle", "--json", home=clone)
    assert r.returncode == 3 and json_of(r.stdout)["error"]["code"] == "unknown_bundle"
    assert snapshot(clone) == before


def test_receipt_addressed_to_another_zone_refused(trip: World, tmp_path: Path) -> None:
    other = tmp_path / "other"
    assert run_cli("init", "--zone", "other", home=other).returncode == 0
    assert run_cli("trust", "add", trip.root / "prod.card", home=other).returncode == 0
    before = snapshot(other)
    r = run_cli("import", trip.root / "media" / "receipt-1.bundle", "--json", home=other)
    assert r.returncode == 3 and json_of(r.stdout)["error"]["code"] == "wrong_destination"
    assert snapshot(other) == before


def test_receipt_signature_never_passes_as_a_release(trip: World, tmp_path: Path) -> None:
    data = bytearray((trip.root / "media" / "receipt-1.bundle").read_bytes())
    data[12] = 1  # claim kind "release" in the header
    fake = tmp_path / "fake.bundle"
    fake.write_bytes(bytes(data))
    r = run_cli("verify", fake, "--json", home=trip.dev)
    assert r.returncode == 3 and json_of(r.stdout)["error"]["code"] == "invalid_signature"


def test_serve_cli_serves_the_dashboard_on_loopback(trip: World) -> None:
    import os
    import re
    import signal
    import subprocess
    import sys
    import urllib.request

    proc = subprocess.Popen([sys.executable, "-m", "bundlekit", "serve", "--home", str(trip.dev), "--port", "0"],
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        port = int(re.search(r"127\.0\.0\.1:(\d+)", line).group(1))  # type: ignore[union-attr]
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30).read().decode()
        assert 'data-project="acme-web"' in page and CANARY not in page
        data = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/api/dashboard.json", timeout=30).read())
        assert data["zone_name"] == "dev"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
