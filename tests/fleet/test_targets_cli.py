"""SSH targets through the real CLI: adding, pinning, scanning, checking, and deploying the Acme release."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import asyncssh
import pytest

from tests.conftest import run_cli, snapshot
from tests.e2e.world import World, json_of, make_world
from tests.fleet.sshd import SshServer, free_port, require_sshd, start_servers


@pytest.fixture(scope="module")
def fleet_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, list[SshServer]]]:
    require_sshd()
    root = tmp_path_factory.mktemp("cli-fleet")
    world = make_world(root)
    for name in ("db-01", "web-01"):
        world.cli("targets", "remove", name, home=world.prod)
    world.cli("import", world.export("acme-1.4.0.bundle"), home=world.prod)
    zone_key = world.cli("targets", "ssh-key", home=world.prod).strip()
    servers = start_servers(root / "machines", 2, zone_key, prefix="node")
    yield world, servers
    for server in servers:
        server.stop()


def add_ssh(world: World, name: str, role: str, server: SshServer, key: str | None = None) -> str:
    return world.cli("targets", "add", name, "--environment", "Production", "--role", role, "--ssh",
                     f"{server.user}@127.0.0.1:{server.port}", "--host-key", key or server.host_key,
                     "--work-dir", str(server.work_dir), "--json", home=world.prod)


BAD_ADDS = [
    (["--ssh", "not-an-address"], "invalid_target_address"),
    (["--ssh", "deploy@bad host"], "invalid_target_address"),
    (["--ssh", "deploy@10.0.0.5:99999"], "invalid_target_address"),
    (["--ssh", "-oProxyCommand=x@host"], "invalid_target_address"),
    (["--ssh", "deploy@10.0.0.5", "--host-key", "ssh-ed25519 not-base64!"], "invalid_host_key"),
    (["--ssh", "deploy@10.0.0.5"], "invalid_host_key"),
    (["--ssh", "deploy@10.0.0.5", "--host-key", "KEY", "--work-dir", "relative/dir"], "invalid_target_address"),
    (["--ssh", "deploy@10.0.0.5", "--root", "/tmp/x", "--host-key", "KEY"], "invalid_input"),
]


@pytest.mark.parametrize("extra, code", BAD_ADDS, ids=[c + ":" + " ".join(a) for a, c in BAD_ADDS])
def test_bad_ssh_targets_are_refused_naming_the_target_and_change_nothing(
        fleet_world: tuple[World, list[SshServer]], extra: list[str], code: str) -> None:
    world, servers = fleet_world
    extra = [servers[0].host_key if a == "KEY" else a for a in extra]
    before = snapshot(world.prod)
    r = run_cli("targets", "add", "web-09", "--environment", "Production", "--role", "web", *extra, "--json",
                home=world.prod)
    assert r.returncode == 1 and json_of(r.stdout)["error"]["code"] == code, r.stdout + r.stderr
    assert snapshot(world.prod) == before


def test_scan_host_key_prints_the_offered_key_and_its_fingerprint_and_pins_nothing(
        fleet_world: tuple[World, list[SshServer]]) -> None:
    world, servers = fleet_world
    before = snapshot(world.prod)
    r = run_cli("targets", "scan-host-key", f"127.0.0.1:{servers[0].port}")
    assert r.returncode == 0, r.stderr
    fingerprint = asyncssh.import_public_key(servers[0].host_key).get_fingerprint("sha256")
    assert f"{servers[0].host_key} {fingerprint}" in r.stdout.splitlines()
    assert snapshot(world.prod) == before


@pytest.mark.parametrize("address, code, said", [
    ("PORT", "target_unreachable", "offered no SSH host key"),  # nothing listens there
    ("bad host", "invalid_target_address", "is not HOST or HOST:PORT"),
    ("127.0.0.1:99999", "invalid_target_address", "is not HOST or HOST:PORT"),
], ids=["nothing-listening", "space-in-host", "port-out-of-range"])
def test_scan_host_key_of_no_server_or_no_address_says_which_and_pins_nothing(
        fleet_world: tuple[World, list[SshServer]], address: str, code: str, said: str) -> None:
    world, _ = fleet_world
    address = address.replace("PORT", f"127.0.0.1:{free_port()}")
    before = snapshot(world.prod)
    r = run_cli("targets", "scan-host-key", address, "--json")
    error = json_of(r.stdout)["error"]
    assert (error["code"], r.returncode) == (code, 5 if code == "target_unreachable" else 1), r.stdout + r.stderr
    assert said in error["message"] and "target 'scan'" not in error["message"]
    assert snapshot(world.prod) == before


def test_the_zone_ssh_key_is_one_line_and_its_private_half_is_0600(fleet_world: tuple[World, list[SshServer]]) -> None:
    world, _ = fleet_world
    line = world.cli("targets", "ssh-key", home=world.prod).strip()
    assert line.startswith("ssh-ed25519 ") and len(line.splitlines()) == 1
    assert (world.prod / "keys" / "ssh_client.key").stat().st_mode & 0o777 == 0o600
    assert world.cli("targets", "ssh-key", home=world.prod).strip() == line  # made once, then reused


def test_the_acme_release_deploys_to_ssh_targets_and_a_changed_host_key_stops_everything(
        fleet_world: tuple[World, list[SshServer]]) -> None:
    world, (db, web) = fleet_world
    add_ssh(world, "db-01", "db", db)
    added = json.loads(add_ssh(world, "web-01", "web", web, key=db.host_key))  # the wrong machine's key
    assert added["kind"] == "ssh" and added["address"] == f"{web.user}@127.0.0.1:{web.port}"
    listed = json_of(world.cli("targets", "list", "--json", home=world.prod))["targets"]
    assert {t["name"]: t["kind"] for t in listed} == {"db-01": "ssh", "web-01": "ssh"}
    world.cli("variables", "set", "acme-web", "Acme.ApiKey", "k-ssh-fleet", "--sensitive", home=world.prod)

    refused = run_cli("deploy", "acme-web", "1.4.0", "--environment", "Production", "--json", home=world.prod)
    error = json_of(refused.stdout)["error"]
    assert refused.returncode == 3 and error["code"] == "host_key_mismatch" and "web-01" in error["message"]
    assert not (db.work_dir / "Acme.Web").exists() and not (web.work_dir / ".bundlekit-work").exists()
    assert not (db.work_dir / ".bundlekit-work").exists()  # nothing ran anywhere, not even on the good one

    check = run_cli("targets", "check", "--json", home=world.prod)
    health = {t["target"]: t for t in json_of(check.stdout)["targets"]}
    assert check.returncode == 5 and health["web-01"]["error"]["code"] == "host_key_mismatch"
    assert health["db-01"]["healthy"] and health["db-01"]["python"].startswith("3.")
    assert health["db-01"]["free_bytes"] > 0 and abs(health["db-01"]["clock_skew_seconds"]) < 5

    world.cli("targets", "set-host-key", "web-01", web.host_key, home=world.prod)
    assert run_cli("targets", "check", "web-01", home=world.prod).returncode == 0
    dry = run_cli("deploy", "acme-web", "1.4.0", "--environment", "Production", "--dry-run", home=world.prod)
    assert dry.returncode == 0, dry.stderr
    assert not web.work_dir.exists()  # a check and a dry run only probe: nothing written on the target
    deployed = run_cli("deploy", "acme-web", "1.4.0", "--environment", "Production", "--max-parallel", "2",
                       "--json", home=world.prod)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    record = json_of(deployed.stdout)
    assert [(r["step"], r["target"], r["state"]) for r in record["runs"]] == [
        ("Run migrations", "db-01", "Success"), ("Deploy web", "web-01", "Success"),
        ("Smoke test", "web-01", "Success")]
    settings = json.loads((web.work_dir / "Acme.Web" / "1.4.0" / "appsettings.json").read_text())
    assert settings["Acme"]["ApiKey"] == "k-ssh-fleet"  # the secret reached the app's config, and only there
    assert "k-ssh-fleet" not in deployed.stdout + deployed.stderr
    assert not any(b"k-ssh-fleet" in p.read_bytes() for p in (web.work_dir / ".bundlekit-work").rglob("*")
                   if p.is_file())


def test_an_unreachable_target_refuses_the_deployment_with_exit_5_and_is_recorded(
        fleet_world: tuple[World, list[SshServer]], tmp_path: Path) -> None:
    world, (db, _) = fleet_world
    world.cli("targets", "add", "web-02", "--environment", "Production", "--role", "web", "--ssh",
              f"deploy@127.0.0.1:{free_port()}", "--host-key", db.host_key, home=world.prod)
    try:
        r = run_cli("deploy", "acme-web", "1.4.0", "--environment", "Production", "--json", home=world.prod)
        assert r.returncode == 5 and json_of(r.stdout)["error"]["code"] == "target_unreachable", r.stdout
        assert "web-02" in json_of(r.stdout)["error"]["message"]
        latest = json_of(world.cli("deployments", "list", "--json", home=world.prod))["deployments"][0]
        assert latest["state"] == "Failed"  # the source will learn it did not happen
    finally:
        world.cli("targets", "remove", "web-02", home=world.prod)


def test_a_target_without_python3_refuses_the_deployment_naming_it_and_what_to_install(
        fleet_world: tuple[World, list[SshServer]], spare: list[SshServer], tmp_path: Path) -> None:
    world, (db, web) = fleet_world
    zone_key = world.cli("targets", "ssh-key", home=world.prod).strip()
    bare = SshServer("bare", tmp_path / "bare", free_port(), env={"PATH": "/nonexistent"})
    spare.append(bare.start(zone_key))
    world.cli("targets", "add", "web-03", "--environment", "Production", "--role", "web", "--ssh",
              f"{bare.user}@127.0.0.1:{bare.port}", "--host-key", bare.host_key, "--work-dir", bare.work_dir,
              home=world.prod)
    try:
        ran_before = snapshot(db.work_dir / ".bundlekit-work", web.work_dir / ".bundlekit-work")
        r = run_cli("deploy", "acme-web", "1.4.0", "--environment", "Production", "--json", home=world.prod)
        error = json_of(r.stdout)["error"]
        assert r.returncode == 5 and error["code"] == "target_python_missing", r.stdout + r.stderr
        message = error["message"]
        assert f"'web-03' ({bare.user}@127.0.0.1:{bare.port}) has no python3" in message
        assert "apt-get install python3" in message and "3.8 or newer" in message
        assert "bundlekit targets check web-03" in message and "Nothing was run on any target." in message
        # Found by the preflight: no step ran on the targets that have a python3 either.
        assert snapshot(db.work_dir / ".bundlekit-work", web.work_dir / ".bundlekit-work") == ran_before
        assert not bare.work_dir.exists()
        latest = json_of(world.cli("deployments", "list", "--json", home=world.prod))["deployments"][0]
        shown = json_of(world.cli("deployments", "show", latest["id"], "--json", home=world.prod))
        [refused] = shown["record"]["runs"]  # recorded for the source zone, on the target it was refused for
        assert (refused["step"], refused["target"], refused["state"]) == ("(preflight)", "web-03", "Failed")
        assert refused["reason"].startswith("[target_python_missing] target 'web-03'")
    finally:
        world.cli("targets", "remove", "web-03", home=world.prod)


def test_checking_a_target_that_does_not_exist_names_the_closest_one(
        fleet_world: tuple[World, list[SshServer]]) -> None:
    world, _ = fleet_world  # db-01 and web-01 are SSH targets by now
    r = run_cli("targets", "check", "db-1", "--json", home=world.prod)
    error = json_of(r.stdout)["error"]
    assert r.returncode == 1 and error["code"] == "unknown_target", r.stdout
    assert "'db-1'" in error["message"] and "did you mean 'db-01'?" in error["message"]
