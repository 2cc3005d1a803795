"""Receipts waiting for several zones (newuser36 finding 3): the hints that say how to carry a
receipt back name the zone it goes to (`outbox pack --to ZONE`, which packing then needs), and
`outbox pack --dry-run` without --to lists what waits for each zone instead of refusing.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

from tests.conftest import run_cli
from tests.e2e.world import make_world, ok

PAY_RELEASE = """[project]
name = "Pay Web"
space = "Default"
[release]
version = "1.0.0"
channel = "Default"
[[steps]]
name = "Hello"
type = "script"
syntax = "bash"
roles = ["web"]
script = "echo hi"
"""


def _two_sources_waiting(tmp_path: Path) -> tuple[Path, Path]:
    """prod with a receipt waiting for dev (a preflight refusal) and one for pay (a success);
    returns prod's home and the output of pay's deployment."""
    w = make_world(tmp_path)
    pay = tmp_path / "pay"
    ok("init", "--zone", "pay", home=pay)
    ok("identity", "-o", tmp_path / "pay.card", home=pay)
    ok("trust", "add", tmp_path / "prod.card", home=pay)
    ok("trust", "add", tmp_path / "pay.card", home=w.prod)
    ok("import", w.export("a.bundle"), home=w.prod)
    refused = run_cli("deploy", "acme-web", "1.4.0", "--environment", "Production", home=w.prod)
    assert "preflight_unresolved_variables" in refused.stderr, refused.stderr  # recorded, queued for dev
    (tmp_path / "pay.toml").write_text(PAY_RELEASE)
    ok("export", tmp_path / "pay.toml", "--to", "prod", "-o", tmp_path / "p.bundle", home=pay)
    ok("import", tmp_path / "p.bundle", home=w.prod)
    done = ok("deploy", "pay-web", "1.0.0", "--environment", "Production", home=w.prod)
    return w.prod, done


def test_the_queued_receipt_hint_names_its_zone_and_works_pasted_while_another_zone_waits(tmp_path: Path) -> None:
    prod, done = _two_sources_waiting(tmp_path)
    [hint] = re.findall(r"`(bundlekit outbox pack[^`]*)`", done)
    assert "--to pay" in hint, done
    # deployments receipt of a release from another zone (not_local) points at the same command
    local = run_cli("deployments", "receipt", "Deployments-2", "--to", "pay", "-o", tmp_path / "x.bundle", home=prod)
    assert "error [not_local]" in local.stderr and f"`{hint}`" in local.stderr, local.stderr
    words = shlex.split(hint.replace("FILE", str(tmp_path / "pay-receipt.bundle")))
    packed = run_cli(*words[1:])
    assert packed.returncode == 0, packed.stderr
    assert json.loads(ok("outbox", "pack", "--dry-run", "--json", home=prod))["destination"]["name"] == "dev"


def test_packing_without_to_names_the_command_for_each_waiting_zone(tmp_path: Path) -> None:
    prod, _ = _two_sources_waiting(tmp_path)
    refused = run_cli("outbox", "pack", "-o", tmp_path / "r.bundle", home=prod)
    assert refused.returncode == 2 and "error [usage]" in refused.stderr, refused.stderr
    commands = re.findall(r"`(bundlekit outbox pack --to [^`]*)`", refused.stderr)
    assert [shlex.split(c)[4] for c in commands] == ["dev", "pay"], refused.stderr
    assert not (tmp_path / "r.bundle").exists()


def test_a_dry_run_without_to_lists_what_waits_for_each_zone(tmp_path: Path) -> None:
    prod, _ = _two_sources_waiting(tmp_path)
    text = ok("outbox", "pack", "--dry-run", home=prod)
    assert "a receipt for zone dev would carry" in text and "a receipt for zone pay would carry" in text, text
    assert "Pay Web 1.0.0 to Production: Success" in text and "Acme Web 1.4.0 to Production: Failed" in text, text
    listed = json.loads(ok("outbox", "pack", "--dry-run", "--json", home=prod))
    assert [r["destination"]["name"] for r in listed["receipts"]] == ["dev", "pay"]
    assert [r["totals"]["deployments"] for r in listed["receipts"]] == [1, 1]
