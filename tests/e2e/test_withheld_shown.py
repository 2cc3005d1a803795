"""An output the deploying zone withheld is shown as withheld, never as absent, and never with a value.

Issue 12: the egress policy keeps sensitive outputs in the secure zone and names them in the
receipt only (``withheld``). `outputs` showed them so, but the source zone's dashboard (its
page, its JSON, and so `serve`) left them out as if the step had never set them, and `deployments
receipt` dropped a deployment's sensitive outputs without a word. Through the real CLI in
subprocesses; the canary (the prod-only value the output was composed of) is in no output.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import run_cli
from tests.dashboard.dom import parse
from tests.e2e.promotion_world import LIFECYCLE_RELEASE, make_promo, ok
from tests.e2e.world import json_of, make_world

CANARY = "withheld-canary-93c0a1"


def _step_outputs(view: dict[str, Any], zone: str) -> dict[str, dict[str, Any]]:
    return {o["name"]: o for d in view["deployments"] if d["zone"] == zone for s in d["steps"] for o in s["outputs"]}


def test_the_source_dashboard_names_each_output_prod_withheld_as_withheld(tmp_path: Path) -> None:
    w = make_world(tmp_path)
    release = w.release_dir / "release.toml"
    release.write_text(release.read_text().replace(
        'set_octopusvariable "SchemaVersion" "42"',
        'set_octopusvariable "SchemaVersion" "42"\nset_octopusvariable "ApiToken" "at-#{Acme.ApiKey}" -sensitive', 1))
    w.cli("import", w.export("1.4.0.bundle"), home=w.prod)
    entered = run_cli("variables", "set", "acme-web", "Acme.ApiKey", "--sensitive", home=w.prod,
                      input=CANARY.encode())
    assert entered.returncode == 0, entered.stderr
    w.cli("deploy", "acme-web", "1.4.0", "--environment", "Production", home=w.prod)
    receipt = tmp_path / "media" / "receipt.bundle"
    w.cli("outbox", "pack", "-o", receipt, home=w.prod)  # the default policy: sensitive outputs withheld
    w.cli("import", receipt, home=w.dev)

    view = run_cli("dashboard", "--json", home=w.dev)
    assert view.returncode == 0, view.stderr
    outputs = _step_outputs(json_of(view.stdout), "prod")
    for name in ("ApiToken", "MigrationToken"):
        assert outputs[name] == {"name": name, "value": None, "sensitive": False, "withheld": True}
    assert outputs["SchemaVersion"] == {"name": "SchemaVersion", "value": "42", "sensitive": False, "withheld": False}
    # `outputs --json` gives a withheld output the same shape (review r12u R12U-11)
    listed = json_of(w.cli("outputs", "acme-web", "--zone", "prod", "--json", home=w.dev))["outputs"]
    for name in ("ApiToken", "MigrationToken"):
        [item] = [o for o in listed if o["name"] == name]
        assert (item["value"], item["sensitive"], item["withheld"]) == (None, False, True), item

    page_file = tmp_path / "dashboard.html"
    assert run_cli("dashboard", "--html", page_file, home=w.dev).returncode == 0
    page = page_file.read_text()
    shown = {li.text().split(" ", 1)[0]: li.text() for ul in parse(page).by_class("outputs") for li in ul.by_tag("li")}
    assert shown["ApiToken"] == "ApiToken withheld by zone prod"
    assert shown["MigrationToken"] == "MigrationToken withheld by zone prod"
    assert shown["SchemaVersion"] == "SchemaVersion = 42"
    assert CANARY not in page and CANARY not in view.stdout and "at-" not in page


def test_deployments_receipt_names_each_sensitive_output_as_withheld(tmp_path: Path) -> None:
    """dev deployed its own release, whose step set the sensitive MigrationToken; the proof it
    signs for staging names that output withheld (its record keeps no value to send)."""
    w = make_promo(tmp_path / "w")
    release = w.release_dir / LIFECYCLE_RELEASE
    ok("import", w.export(release, "staging", "early.bundle"), home=w.staging)
    ok("variables", "set", "acme-web", "Acme.ApiKey", "k-zone", "--sensitive", home=w.dev)
    w.targets(w.dev, "Development")
    dep = json.loads(ok("deploy", "acme-web", "1.5.0", "--environment", "Development", "--json",
                        home=w.dev))["deployment_id"]
    proof = w.root / "media" / "proof.bundle"
    made = run_cli("deployments", "receipt", dep, "--to", "staging", "-o", proof, "--json", home=w.dev)
    assert made.returncode == 0, made.stderr
    withheld = json.loads(made.stdout)["withheld"]
    assert [(o["deployment_id"], o["name"]) for o in withheld] == [(dep, "MigrationToken")]
    assert set(withheld[0]) == {"deployment_id", "step", "target", "name"}

    text = run_cli("deployments", "receipt", dep, "--to", "staging", "-o", w.root / "media" / "again.bundle",
                   home=w.dev)
    assert text.returncode == 0, text.stderr
    assert f"output MigrationToken of step {withheld[0]['step']}" in text.stdout and ": withheld" in text.stdout

    listing = json_of(run_cli("inspect", proof, "--contents", "--json").stdout)
    statuses = {o["name"]: o["status"] for d in listing["deployments"] for r in d["runs"] for o in r["outputs"]}
    assert statuses["MigrationToken"] == "withheld" and "tok-" not in made.stdout + text.stdout
    # staging verifies the proof as third-party evidence and deploys on it
    ok("variables", "set", "acme-web", "Acme.ApiKey", "k-zone", "--sensitive", home=w.staging)
    w.targets(w.staging, "Staging")
    ok("deploy", "acme-web", "1.5.0", "--environment", "Staging", "--evidence", proof, home=w.staging)
