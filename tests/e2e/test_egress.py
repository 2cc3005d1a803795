"""Egress from the secure zone (issue 12), through the real CLI in subprocesses.

A canary secret set in prod through standard input is composed by a step into a sensitive
output (``ApiToken = at-#{Acme.ApiKey}``). By default the receipt withholds it: the dry run and
the packed receipt's listing name it ``withheld``, its value (in any form) is in neither, nor in
the receipt's bytes, and the source zone cannot reveal it. Once prod's egress policy allows it,
it comes back sealed and only the source can open it. ``outbox pack --dry-run`` lists exactly
what ``inspect RECEIPT --contents`` then finds in the receipt, and writes nothing.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from tests.conftest import run_cli, snapshot
from tests.e2e.test_derived_secrets import _inflated
from tests.e2e.world import World, json_of, make_world

CANARY = "egress-canary-5eb1d2"
TOKEN = f"at-{CANARY}"
FORMS = (CANARY, base64.b64encode(TOKEN.encode()).decode()[:12], CANARY.encode().hex(), CANARY.encode().hex().upper())
LISTED = ("destination", "deployments", "refusals", "inventory", "features", "totals")


def _outputs(listing: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {o["name"]: o for d in listing["deployments"] for r in d["runs"] for o in r["outputs"]}


def _clean(*texts: str | bytes) -> bool:
    return not [f for t in texts for f in FORMS if (f.encode() if isinstance(t, bytes) else f) in t]


def _deploy(w: World) -> str:
    done = json_of(w.cli("deploy", "acme-web", "1.4.0", "--environment", "Production", "--json", home=w.prod))
    assert done["state"] == "Success", done
    return str(done["deployment_id"])


def _pack(w: World, name: str) -> tuple[dict[str, Any], Path]:
    """The dry run's listing (checked to write nothing) and the receipt then packed, its listing equal."""
    before = snapshot(w.prod)
    dry = run_cli("outbox", "pack", "--dry-run", "--json", home=w.prod)
    text = run_cli("outbox", "pack", "--dry-run", home=w.prod)
    assert dry.returncode == 0 and text.returncode == 0, dry.stderr + text.stderr
    assert snapshot(w.prod) == before  # a dry run writes nothing
    listing = json_of(dry.stdout)
    receipt = w.root / "media" / name
    packed = json_of(w.cli("outbox", "pack", "-o", receipt, "--json", home=w.prod))
    assert packed["withheld"] == listing["totals"]["withheld"]
    inspected = run_cli("inspect", receipt, "--contents", "--json")
    assert inspected.returncode == 0, inspected.stderr
    carried = json_of(inspected.stdout)
    assert {k: carried[k] for k in LISTED} == {k: listing[k] for k in LISTED}  # exactly what was listed
    shown = run_cli("inspect", receipt, "--contents").stdout
    assert _clean(dry.stdout, text.stdout, inspected.stdout, shown, _inflated(receipt.read_bytes()))
    return listing, receipt


def test_a_prod_secret_in_a_sensitive_output_is_withheld_by_default_and_comes_back_sealed_when_allowed(
        tmp_path: Path) -> None:
    w = make_world(tmp_path)
    release = w.release_dir / "release.toml"
    release.write_text(release.read_text().replace(
        'set_octopusvariable "SchemaVersion" "42"',
        'set_octopusvariable "SchemaVersion" "42"\nset_octopusvariable "ApiToken" "at-#{Acme.ApiKey}" -sensitive', 1))
    w.cli("import", w.export("1.4.0.bundle"), home=w.prod)
    entered = run_cli("variables", "set", "acme-web", "Acme.ApiKey", "-", "--sensitive", home=w.prod,
                      input=CANARY.encode() + b"\n")  # '-': from standard input, never the command line
    assert entered.returncode == 0, entered.stderr

    # -- by default: withheld, named only ---------------------------------------------------------
    first = _deploy(w)
    listing, receipt = _pack(w, "receipt-1.bundle")
    outputs = _outputs(listing)
    assert outputs["ApiToken"] == {"name": "ApiToken", "status": "withheld"}
    assert outputs["MigrationToken"] == {"name": "MigrationToken", "status": "withheld"}
    assert outputs["SchemaVersion"] == {"name": "SchemaVersion", "status": "leaving", "value": "42"}
    run = next(r for d in listing["deployments"] for r in d["runs"] if r["step"] == "Run migrations")
    assert run["log"]["status"] == "leaving" and run["log"]["bytes"] > 0
    assert listing["deployments"][0]["deployment_id"] == first and listing["destination"]["name"] == "dev"
    assert [(p["id"], p["version"]) for p in listing["inventory"]] == [("Acme.Web", "1.4.0")]
    assert listing["totals"]["withheld"] == 2 and listing["totals"]["sealed"] == 0
    assert json_of(run_cli("inspect", receipt, "--json").stdout)["format_version"] == "1.4"
    w.cli("import", receipt, home=w.dev)
    revealed = run_cli("outputs", "acme-web", "--zone", "prod", "--reveal", "--json", home=w.dev)
    assert revealed.returncode == 0, revealed.stderr
    token = next(o for o in json_of(revealed.stdout)["outputs"] if o["name"] == "ApiToken")
    assert token["withheld"] is True and token["value"] is None
    shown = run_cli("outputs", "acme-web", "--zone", "prod", "--reveal", home=w.dev).stdout
    assert "ApiToken (withheld by zone prod)" in shown
    assert _clean(revealed.stdout, shown)

    # -- allowed by prod's policy: it comes back sealed, and only the source opens it ---------------
    policy = tmp_path / "egress.toml"
    policy.write_text('[[rule]]\nprojects = ["acme-*"]\nallow_sensitive = ["ApiToken"]\nwithhold = ["SmokeResult"]\n')
    w.cli("egress", "set", policy, home=w.prod)
    assert json_of(w.cli("egress", "show", "--json", home=w.prod))["rules"][0]["allow_sensitive"] == ["ApiToken"]
    _deploy(w)
    listing, receipt = _pack(w, "receipt-2.bundle")
    outputs = _outputs(listing)
    assert outputs["ApiToken"] == {"name": "ApiToken", "status": "sealed"}
    assert outputs["MigrationToken"]["status"] == "withheld" and outputs["SmokeResult"]["status"] == "withheld"
    w.cli("import", receipt, home=w.dev)
    assert _clean(*w.outputs)  # no command printed it, in any form
    revealed = json_of(run_cli("outputs", "acme-web", "--zone", "prod", "--reveal", "--json", home=w.dev).stdout)
    values = {o["name"]: o["value"] for o in revealed["outputs"]}
    assert values["ApiToken"] == TOKEN and values["MigrationToken"] is None and values["SmokeResult"] is None
    masked = json_of(w.cli("outputs", "acme-web", "--zone", "prod", "--json", home=w.dev))
    assert {o["name"]: o["value"] for o in masked["outputs"]}["ApiToken"] == "********"
    assert _clean(json.dumps(masked))
    for home in (w.prod, w.dev):  # at rest, sealed only
        assert [p for p in home.rglob("*") if p.is_file() and not _clean(_inflated(p.read_bytes()))] == []


def test_a_withhold_glob_keeps_the_outputs_it_matches_in_the_zone_and_an_allow_glob_is_refused(
        tmp_path: Path) -> None:
    """Review r12u R12U-6: `withhold = ["Internal*"]` was taken as a literal name and the output
    left in clear (fail-open); `allow_sensitive = ["Migration*"]` silently allowed nothing."""
    w = make_world(tmp_path)
    release = w.release_dir / "release.toml"
    release.write_text(release.read_text().replace(
        'set_octopusvariable "SchemaVersion" "42"',
        'set_octopusvariable "SchemaVersion" "42"\nset_octopusvariable "InternalHost" "db-internal.prod.local"', 1))
    w.cli("import", w.export("1.4.0.bundle"), home=w.prod)
    assert run_cli("variables", "set", "acme-web", "Acme.ApiKey", "-", "--sensitive", home=w.prod,
                   input=CANARY.encode()).returncode == 0
    glob = tmp_path / "glob.toml"
    glob.write_text('[[rule]]\nprojects = ["acme-*"]\nallow_sensitive = ["Migration*"]\n')
    before = snapshot(w.prod)
    refused = run_cli("egress", "set", glob, "--json", home=w.prod)
    assert refused.returncode == 2 and json_of(refused.stdout)["error"]["code"] == "invalid_policy"
    assert f"{glob}: rule[0].allow_sensitive[0]: 'Migration*' looks like a glob" in json_of(refused.stdout)["error"][
        "message"]
    assert snapshot(w.prod) == before
    wglob = tmp_path / "wglob.toml"
    wglob.write_text('[[rule]]\nprojects = ["acme-*"]\nwithhold = ["Internal*"]\n')
    w.cli("egress", "set", wglob, home=w.prod)
    _deploy(w)
    text = run_cli("outbox", "pack", "--dry-run", home=w.prod).stdout
    assert "InternalHost" in text and "db-internal.prod.local" not in text
    listing, _ = _pack(w, "receipt-glob.bundle")
    outputs = _outputs(listing)
    assert outputs["InternalHost"] == {"name": "InternalHost", "status": "withheld"}
    assert outputs["SchemaVersion"] == {"name": "SchemaVersion", "status": "leaving", "value": "42"}
