"""The dashboard names a relay by what this zone knows of it, never by the name the relay wrote
into its own hop record (review atk35 F11, decision 958), through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import FIXTURES, cli_in_process, run_cli
from tests.e2e.test_relay import build
from tests.relayforge import edit_last_hop


def dashboard(home: Path, *args: object) -> str:
    r = run_cli("dashboard", *args, home=home, env={"COLUMNS": "400", "NO_COLOR": "1"})
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_a_relay_no_longer_trusted_is_shown_by_the_name_this_zone_knew_never_its_records(tmp_path: Path) -> None:
    """staging countersigns its hop naming itself "security-review"; once dev stops trusting
    staging, dev's dashboard said "via security-review" (terminal, --html, --json)."""
    c = build(tmp_path)
    to_staging = c.export("staging", "acme.bundle")
    c.cli("import", to_staging, home="staging")
    c.relay(to_staging, "staging", "prod", "acme.prod.bundle")
    forged = edit_last_hop(c.media / "acme.prod.bundle", c.media / "acme.forged.bundle", c.home("staging"),
                           lambda r: r["zone"].__setitem__("name", "security-review"))
    c.cli("import", forged, home="prod")
    c.cli("variables", "set", "acme-web", "Acme.ApiKey", "k", "--sensitive", home="prod")
    c.cli("egress", "set", FIXTURES / "acme" / "egress.toml", home="prod")
    c.cli("deploy", "acme-web", "1.4.0", "--environment", "Production", "--receipt-out", c.media / "r.bundle",
          home="prod")
    c.relay(c.media / "r.bundle", "staging", "dev", "r.dev.bundle")
    c.cli("import", c.media / "r.dev.bundle", home="dev")
    trusted = dashboard(c.home("dev"))
    assert "staging relayed" in trusted and "security-review" not in trusted, trusted
    assert cli_in_process("trust", "remove", "staging", home=c.home("dev")).returncode == 0
    text = dashboard(c.home("dev"))
    html = tmp_path / "d.html"
    dashboard(c.home("dev"), "--html", html)
    shown = dashboard(c.home("dev"), "--json")
    for out in (text, html.read_text("utf-8"), shown):
        assert "security-review" not in out, out
    assert "staging (no longer trusted here) relayed" in text, text
    assert "staging (no longer trusted here)" in html.read_text("utf-8")
    assert "staging (no longer trusted here)" in json.dumps(json.loads(shown)), shown


def test_an_old_import_record_of_a_relay_no_longer_trusted_is_named_by_a_rule_export_or_zone_id() -> None:
    """Records kept before decision 958 hold the hop record's own name (no ``known``): it is never
    shown for a relay no longer trusted."""
    from bundlekit.dashboard.relaynames import RelayNames

    names = RelayNames({"a" * 32: "staging"}, [("b" * 32, "dmz"), ("b" * 32, "older-dmz")])
    assert names.shown({"zone_id": "a" * 32, "name": "liar"}) == "staging"
    assert names.shown({"zone_id": "b" * 32, "name": "liar"}) == "dmz (no longer trusted here)"
    assert names.shown({"zone_id": "c" * 32, "name": "liar"}) == f"zone {'c' * 32} (no longer trusted here)"
    assert names.shown({"zone_id": "c" * 32, "name": "edge", "known": True}) == "edge (no longer trusted here)"
    assert names.known({"zone_id": "c" * 32, "name": "liar"}) == "c" * 32
