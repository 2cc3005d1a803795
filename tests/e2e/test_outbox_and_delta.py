"""The outbox packs many receipts into one trip; the reported inventory makes later exports deltas."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_cli, snapshot
from tests.e2e.world import World, json_of, make_world


def _deployed_world(root: Path) -> World:
    w = make_world(root)
    w.cli("import", w.export("acme-1.4.0.bundle"), home=w.prod)
    w.cli("variables", "set", "acme-web", "Acme.ApiKey", "k-outbox-1", "--sensitive", home=w.prod)
    return w


def test_outbox_packs_every_pending_receipt_into_one_bundle(tmp_path: Path) -> None:
    w = _deployed_world(tmp_path / "w")
    for _ in range(2):
        w.cli("deploy", "acme-web", "1.4.0", "--environment", "Production", home=w.prod)
    listed = json_of(run_cli("outbox", "list", "--json", home=w.prod).stdout)
    assert [e["deployment_id"] for e in listed["pending"]] == ["Deployments-1", "Deployments-2"]
    out = tmp_path / "receipts.bundle"
    packed = json_of(w.cli("outbox", "pack", "-o", out, "--json", home=w.prod))
    assert packed["deployments"] == ["Deployments-1", "Deployments-2"]
    assert json_of(run_cli("outbox", "list", "--json", home=w.prod).stdout)["pending"] == []
    again = run_cli("outbox", "pack", "-o", tmp_path / "again.bundle", "--json", home=w.prod)
    assert again.returncode == 1 and json.loads(again.stdout)["error"]["code"] == "outbox_empty"
    rec = json_of(w.cli("import", out, "--json", home=w.dev))
    assert rec["recorded"] == ["Deployments-1", "Deployments-2"]


def test_later_export_sends_packages_production_reported_by_reference(tmp_path: Path) -> None:
    w = _deployed_world(tmp_path / "w")
    receipt = tmp_path / "r.bundle"
    w.cli("deploy", "acme-web", "1.4.0", "--environment", "Production", "--receipt-out", receipt, home=w.prod)
    w.cli("import", receipt, home=w.dev)
    w.set_version("1.4.0", "1.4.1")  # a new release reusing the same package version
    out = tmp_path / "delta.bundle"
    info = json_of(w.cli("export", w.release_dir / "release.toml", "--to", "prod", "-o", out, "--json", home=w.dev))
    assert info["by_reference"] == ["Acme.Web 1.4.0"]
    inspected = json_of(run_cli("inspect", out, "--json").stdout)
    assert inspected["packages"][0]["included"] is False
    w.cli("import", out, home=w.prod)  # production has it: the reference resolves
    full = tmp_path / "full.bundle"
    info = json_of(w.cli("export", w.release_dir / "release.toml", "--to", "prod", "-o", full, "--full", "--json",
                         home=w.dev))
    assert info["by_reference"] == []


def test_a_dry_run_of_an_empty_outbox_lists_nothing_and_exits_0_and_an_unknown_zone_is_named(tmp_path: Path) -> None:
    w = make_world(tmp_path / "w")  # prod trusts dev; nothing deployed, so nothing waits
    before = snapshot(w.prod)
    dry = run_cli("outbox", "pack", "--dry-run", "--json", home=w.prod)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    listing = json.loads(dry.stdout)
    assert listing["destination"] is None and listing["deployments"] == listing["refusals"] == []
    assert listing["inventory"] == [] and set(listing["totals"].values()) == {0}
    to_dev = run_cli("outbox", "pack", "--dry-run", "--to", "DEV", "--json", home=w.prod)
    assert to_dev.returncode == 0 and json.loads(to_dev.stdout)["destination"]["name"] == "dev"
    text = run_cli("outbox", "pack", "--dry-run", "--to", "dev", home=w.prod)
    assert (text.returncode, text.stdout) == (0, "nothing would leave: no receipt waits to be packed for zone dev\n")
    for args in (["--dry-run"], ["-o", str(tmp_path / "r.bundle")]):
        r = run_cli("outbox", "pack", *args, "--to", "nosuch", "--json", home=w.prod)
        err = json.loads(r.stdout)["error"]
        assert (r.returncode, err["code"]) == (1, "unknown_zone"), err
        assert "--to 'nosuch'" in err["message"] and "it trusts dev" in err["message"], err
    assert not (tmp_path / "r.bundle").exists() and snapshot(w.prod) == before
    # Nothing waiting is still a refusal when a receipt is to be written.
    r = run_cli("outbox", "pack", "-o", tmp_path / "r.bundle", "--json", home=w.prod)
    assert (r.returncode, json.loads(r.stdout)["error"]["code"]) == (1, "outbox_empty")
