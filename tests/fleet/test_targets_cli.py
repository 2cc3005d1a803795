"""SSH targets through the real CLI: adding, pinning, scanning, checking, and deploying the Acme release."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import asyncssh
import pytest

from tests.conftest import run_cli, snapshot
from tests.e2e.world import World, json_of, make_world
from tests.fleet.sshd import SshServer, free_port, require_sshd, start_servers


@pytest.fixture(scope="module")
def template_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A production zone holding acme-web 1.4.0 (its API key bound), with an SSH client key and no
    targets, built once per module (per xdist worker) and never used directly: each test works on
    its own copy."""
    root = tmp_path_factory.mktemp("cli-fleet-template")
    world = make_world(root)
    for name in ("db-01", "web-01"):
        world.cli("targets", "remove", name, home=world.prod)
    world.cli("import", world.export("acme-1.4.0.bundle"), home=world.prod)
    world.cli("targets", "ssh-key", home=world.prod)  # made here once, copied with the home
    # The release's placeholder bound, so that what stops a deployment is what a test is about.
    world.cli("variables", "set", "acme-web", "Acme.ApiKey", "k-ssh-fleet", "--sensitive", home=world.prod)
    return root


@pytest.fixture
def fleet_world(template_world: Path, tmp_path: Path) -> Iterator[tuple[World, list[SshServer]]]:
    """The test's own copy of the zone and two machines of its own (node-01, node-02), so that no
    test depends on what another one added, pinned, deployed or wrote on a machine: each one passes
    alone, in any order, and on any xdist worker."""
    require_sshd()
    root = tmp_path / "world"
    shutil.copytree(template_world, root, symlinks=True)
    world = World(root, root / "dev", root / "prod", root / "release")
    zone_key = world.cli("targets", "ssh-key", home=world.prod).strip()
    servers = start_servers(tmp_path / "machines", 2, zone_key, prefix="node")
    try:
        yield world, servers
    finally:
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
    (["--ssh", "deploy@10.0.0.5", "--root", "/tmp/x", "--host-key", "KEY"], "usage"),
    (["--ssh", "root@127.0.0.1:0", "--host-key", "KEY"], "invalid_target_address"),
    (["--ssh", "root@[:::]", "--host-key", "KEY"], "invalid_target_address"),
    (["--ssh", "deploy@10.0.0.5", "--host-key", "ssh-ed25519 AAAAnotakey"], "invalid_host_key"),
    (["--ssh", "deploy@10.0.0.5", "--ssh", "deploy@10.0.0.6", "--host-key", "KEY"], "usage"),
]


@pytest.mark.parametrize("extra, code", BAD_ADDS, ids=[c + ":" + " ".join(a) for a, c in BAD_ADDS])
def test_bad_ssh_targets_are_refused_naming_the_target_and_change_nothing(
        fleet_world: tuple[World, list[SshServer]], extra: list[str], code: str) -> None:
    world, servers = fleet_world
    extra = [servers[0].host_key if a == "KEY" else a for a in extra]
    before = snapshot(world.prod)
    r = run_cli("targets", "add", "web-09", "--environment", "Production", "--role", "web", *extra, "--json",
                home=world.prod)
    # Every one is a value typed on the command line that can never be right: a usage error, exit 2,
    # like --max-parallel 0 (the README's exit codes).
    assert r.returncode == 2 and json_of(r.stdout)["error"]["code"] == code, r.stdout + r.stderr
    assert "web-09" in json_of(r.stdout)["error"]["message"] or code == "usage"
    assert snapshot(world.prod) == before


def test_a_bad_target_name_and_a_bad_max_parallel_are_both_usage_errors(
        fleet_world: tuple[World, list[SshServer]]) -> None:
    world, servers = fleet_world
    bad = run_cli("targets", "add", "bad name!", "--environment", "Production", "--role", "web", "--ssh",
                  "deploy@10.0.0.5", "--host-key", servers[0].host_key, "--json", home=world.prod)
    limit = run_cli("deploy", "acme-web", "1.4.0", "--environment", "Production", "--max-parallel", "0", "--json",
                    home=world.prod)
    assert (bad.returncode, json_of(bad.stdout)["error"]["code"]) == (2, "invalid_target_name"), bad.stdout
    assert (limit.returncode, json_of(limit.stdout)["error"]["code"]) == (2, "usage"), limit.stdout


def test_scan_host_key_prints_the_offered_key_and_its_fingerprint_and_pins_nothing(
        fleet_world: tuple[World, list[SshServer]]) -> None:
    world, servers = fleet_world
    before = snapshot(world.prod)
    r = run_cli("targets", "scan-host-key", f"127.0.0.1:{servers[0].port}")
    assert r.returncode == 0, r.stderr
    fingerprint = asyncssh.import_public_key(servers[0].host_key).get_fingerprint("sha256")
    # known_hosts form (the host field, then the key), the fingerprint after a '#'
    line = f"[127.0.0.1]:{servers[0].port} {servers[0].host_key} # {fingerprint}"
    assert line in r.stdout.splitlines(), r.stdout
    assert snapshot(world.prod) == before
    # A whole line pasted into --host-key pins the key alone (no host field, no fingerprint kept).
    added = json_of(run_cli("targets", "add", "pasted-01", "--environment", "Production", "--role", "web", "--ssh",
                            f"{servers[0].user}@127.0.0.1:{servers[0].port}", "--host-key", line, "--work-dir",
                            str(servers[0].work_dir), "--json", home=world.prod).stdout)
    try:
        assert added["host_keys"] == [servers[0].host_key]
        assert run_cli("targets", "check", "pasted-01", home=world.prod).returncode == 0
    finally:
        world.cli("targets", "remove", "pasted-01", home=world.prod)


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
    assert (error["code"], r.returncode) == (code, 5 if code == "target_unreachable" else 2), r.stdout + r.stderr
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


def test_an_unreachable_target_refuses_the_deployment_with_exit_5_and_records_nothing(
        fleet_world: tuple[World, list[SshServer]], tmp_path: Path) -> None:
    world, (db, web) = fleet_world
    add_ssh(world, "db-01", "db", db)  # two good machines: only the third one stops the deployment
    add_ssh(world, "web-01", "web", web)
    world.cli("targets", "add", "web-02", "--environment", "Production", "--role", "web", "--ssh",
              f"deploy@127.0.0.1:{free_port()}", "--host-key", db.host_key, home=world.prod)
    try:
        before = snapshot(world.prod)
        for _ in range(2):  # retried while the machine is down: no deployment piles up (decision 407)
            r = run_cli("deploy", "acme-web", "1.4.0", "--environment", "Production", "--json", home=world.prod)
            assert r.returncode == 5 and json_of(r.stdout)["error"]["code"] == "target_unreachable", r.stdout
            assert "web-02" in json_of(r.stdout)["error"]["message"]
        assert snapshot(world.prod) == before  # no record, no receipt entry: the home is as it was
    finally:
        world.cli("targets", "remove", "web-02", home=world.prod)


def test_a_target_without_python3_refuses_the_deployment_naming_it_and_what_to_install(
        fleet_world: tuple[World, list[SshServer]], spare: list[SshServer], tmp_path: Path) -> None:
    world, (db, web) = fleet_world
    add_ssh(world, "db-01", "db", db)  # two good machines: only the third one stops the deployment
    add_ssh(world, "web-01", "web", web)
    zone_key = world.cli("targets", "ssh-key", home=world.prod).strip()
    bare = SshServer("bare", tmp_path / "bare", free_port(), env={"PATH": "/nonexistent"})
    spare.append(bare.start(zone_key))
    world.cli("targets", "add", "web-03", "--environment", "Production", "--role", "web", "--ssh",
              f"{bare.user}@127.0.0.1:{bare.port}", "--host-key", bare.host_key, "--work-dir", bare.work_dir,
              home=world.prod)
    try:
        ran_before = snapshot(db.work_dir / ".bundlekit-work", web.work_dir / ".bundlekit-work")
        ids_before = [d["id"] for d in json_of(world.cli("deployments", "list", "--json",
                                                          home=world.prod))["deployments"]]
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
        listed = json_of(world.cli("deployments", "list", "--json", home=world.prod))["deployments"]
        assert [d["id"] for d in listed] == ids_before  # a target's problem is not recorded (decision 407)
    finally:
        world.cli("targets", "remove", "web-03", home=world.prod)


def test_checking_a_target_that_does_not_exist_names_the_closest_one(
        fleet_world: tuple[World, list[SshServer]]) -> None:
    world, (db, web) = fleet_world
    add_ssh(world, "db-01", "db", db)
    add_ssh(world, "web-01", "web", web)
    r = run_cli("targets", "check", "db-1", "--json", home=world.prod)
    error = json_of(r.stdout)["error"]
    assert r.returncode == 1 and error["code"] == "unknown_target", r.stdout
    assert "'db-1'" in error["message"] and "did you mean 'db-01'?" in error["message"]


def _add(world: World, name: str, server: SshServer, *extra: object, address: str | None = None) -> str:
    return world.cli("targets", "add", name, "--environment", "Production", "--role", "spare", "--ssh",
                     address or f"{server.user}@127.0.0.1:{server.port}", "--host-key", server.host_key,
                     "--work-dir", str(server.work_dir), *extra, home=world.prod)


def test_an_identity_file_is_checked_when_used_as_when_added_and_a_public_half_is_named_first(
        fleet_world: tuple[World, list[SshServer]], tmp_path: Path) -> None:
    world, servers = fleet_world
    key = tmp_path / "id_spare"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    servers[1].authorize(key.with_suffix(".pub").read_text())
    public = run_cli("targets", "add", "spare-01", "--environment", "Production", "--role", "spare", "--ssh",
                     f"{servers[1].user}@127.0.0.1:{servers[1].port}", "--host-key", servers[1].host_key,
                     "--identity-file", key.with_suffix(".pub"), "--json", home=world.prod)
    error = json_of(public.stdout)["error"]
    assert error["code"] == "invalid_identity_file" and "public half" in error["message"], error
    assert f"give its private half ({key})" in error["message"] and "chmod" not in error["message"]
    _add(world, "spare-01", servers[1], "--identity-file", key)
    try:
        assert run_cli("targets", "check", "spare-01", home=world.prod).returncode == 0
        key.chmod(0o644)  # loosened after it was added: refused when used, as when added
        r = run_cli("targets", "check", "spare-01", "--json", home=world.prod)
        [health] = json_of(r.stdout)["targets"]
        assert r.returncode == 5 and health["error"]["code"] == "target_auth_failed", r.stdout
        assert "readable by other users (mode 644)" in health["error"]["message"]
        assert f"chmod 600 {key}" in health["error"]["message"]
    finally:
        world.cli("targets", "remove", "spare-01", home=world.prod)


def test_a_bare_ipv6_address_is_taken_where_no_port_follows(fleet_world: tuple[World, list[SshServer]]) -> None:
    world, servers = fleet_world
    added = json_of(world.cli("targets", "add", "v6-01", "--environment", "Production", "--role", "spare", "--ssh",
                              "deploy@::1", "--host-key", servers[0].host_key, "--json", home=world.prod))
    try:
        assert (added["host"], added["port"], added["address"]) == ("[::1]", 22, "deploy@[::1]:22")
    finally:
        world.cli("targets", "remove", "v6-01", home=world.prod)
    scan = run_cli("targets", "scan-host-key", "::1", "--json")  # understood; whether sshd listens there or not
    assert json_of(scan.stdout).get("error", {}).get("code") != "invalid_target_address", scan.stdout


def test_check_shows_an_aligned_table_with_the_host_key_and_what_the_zone_knows_of_an_unreachable_target(
        fleet_world: tuple[World, list[SshServer]], tmp_path: Path) -> None:
    world, servers = fleet_world
    _add(world, "spare-02", servers[0])
    _add(world, "spare-gone-with-a-long-name", servers[0], address=f"nobody@127.0.0.1:{free_port()}")
    try:
        r = run_cli("targets", "check", "spare-02", "spare-gone-with-a-long-name", home=world.prod)
        lines = r.stdout.splitlines()
        assert r.returncode == 5 and lines[0].split() == ["STATUS", "TARGET", "ADDRESS", "HOST", "KEY", "PYTHON",
                                                          "FREE", "CLOCK", "SKEW"], r.stdout
        rows = {line.split()[1]: line for line in lines[1:3]}
        assert rows["spare-02"].split()[0] == "ok" and rows["spare-02"].split()[3] == "ok"
        for column in ("ADDRESS", "HOST KEY", "PYTHON"):  # every row's cells start under their heading
            at = lines[0].index(column)
            assert all(row[at - 1] == " " and row[at] != " " for row in rows.values()), (column, r.stdout)
        assert any(line.startswith("spare-gone-with-a-long-name: target") and "[target_unreachable]" in line
                   for line in lines[3:]), r.stdout
        as_json = json_of(run_cli("targets", "check", "spare-gone-with-a-long-name", "--json",
                                  home=world.prod).stdout)
        [gone] = as_json["targets"]
        assert (gone["user"], gone["work_dir"]) == ("nobody", str(servers[0].work_dir))
    finally:
        for name in ("spare-02", "spare-gone-with-a-long-name"):
            world.cli("targets", "remove", name, home=world.prod)
    empty = tmp_path / "empty"
    run_cli("init", "--zone", "empty", home=empty)
    none = run_cli("targets", "check", home=empty)
    assert none.returncode == 0 and "no targets; add one with `bundlekit targets add NAME" in none.stdout


def test_list_shows_each_ssh_target_s_work_folder_key_and_identity_and_set_host_key_what_it_replaced(
        fleet_world: tuple[World, list[SshServer]]) -> None:
    world, servers = fleet_world
    _add(world, "spare-03", servers[0])
    try:
        listed = world.cli("targets", "list", home=world.prod)
        fp = asyncssh.import_public_key(servers[0].host_key).get_fingerprint("sha256")
        assert f"work folder {servers[0].work_dir}; host key ssh-ed25519 {fp}; identity the zone key" in listed
        other = asyncssh.import_public_key(servers[1].host_key).get_fingerprint("sha256")
        said = world.cli("targets", "set-host-key", "spare-03", servers[1].host_key, home=world.prod)
        assert f"pinned ssh-ed25519 {other} for target spare-03" in said
        assert f"no longer pinned: ssh-ed25519 {fp}" in said
    finally:
        world.cli("targets", "remove", "spare-03", home=world.prod)


def test_a_zone_with_protected_keys_deploys_to_ssh_targets_with_its_passphrase_only(
        fleet_world: tuple[World, list[SshServer]], tmp_path: Path) -> None:
    world, (db, web) = fleet_world
    add_ssh(world, "db-01", "db", db)
    add_ssh(world, "web-01", "web", web)
    passfile = tmp_path / "prod.pass"
    passfile.write_text("fleet passphrase canary 8817\n")
    passfile.chmod(0o600)
    world.cli("keys", "protect", "--passphrase-file", passfile, home=world.prod)
    status = json_of(world.cli("keys", "status", "--json", home=world.prod))["keys"]
    assert {k["path"]: k["protected"] for k in status}["keys/ssh_client.key"] is True
    assert b"OPENSSH" not in (world.prod / "keys" / "ssh_client.key").read_bytes()
    before = snapshot(world.prod)
    refused = run_cli("deploy", "acme-web", "1.4.0", "--environment", "Production", "--json", home=world.prod,
                      env={"BUNDLEKIT_PASSPHRASE_FILE": ""})
    assert refused.returncode == 1 and json_of(refused.stdout)["error"]["code"] == "passphrase_missing"
    assert snapshot(world.prod) == before and not (web.work_dir / "Acme.Web").exists()
    deployed = run_cli("deploy", "acme-web", "1.4.0", "--environment", "Production", "--json", home=world.prod,
                       env={"BUNDLEKIT_PASSPHRASE_FILE": str(passfile)})
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    assert [r["state"] for r in json_of(deployed.stdout)["runs"]] == ["Success"] * 3
    assert "fleet passphrase canary 8817" not in deployed.stdout + deployed.stderr
