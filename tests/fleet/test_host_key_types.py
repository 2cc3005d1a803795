"""Host keys of every type: a host whose keys are of another type than the pinned one is a
mismatch (never "unreachable"), and a scan prints every key a host offers."""

from __future__ import annotations

from collections.abc import Iterator

import asyncssh
import pytest

from bundlekit.deploy.fleet import Fleet
from tests.conftest import raises_code, run_cli
from tests.fleet.sshd import SshServer, free_port, require_sshd
from tests.fleet.test_ssh_deploy import ssh_target


@pytest.fixture(scope="module")
def typed(tmp_path_factory: pytest.TempPathFactory, client_key: asyncssh.SSHKey) -> Iterator[dict[str, SshServer]]:
    """An sshd with only an RSA host key, and one with Ed25519, ECDSA and RSA keys."""
    require_sshd()
    public = client_key.export_public_key("openssh").decode().strip()
    root = tmp_path_factory.mktemp("typed")
    made = {"rsa": SshServer("rsa-only", root / "rsa", free_port(), key_types=("rsa",)),
            "three": SshServer("three-keys", root / "three", free_port(), key_types=("ed25519", "ecdsa", "rsa"))}
    for server in made.values():
        server.start(public)
    yield made
    for server in made.values():
        server.stop()


def fingerprint(key: str) -> str:
    return str(asyncssh.import_public_key(key).get_fingerprint("sha256"))


def test_a_host_with_only_an_rsa_key_when_an_ed25519_key_is_pinned_is_a_mismatch_not_unreachable(
        typed: dict[str, SshServer], client_key: asyncssh.SSHKey) -> None:
    server = typed["rsa"]
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key("openssh").decode().strip()
    target = ssh_target(server, host_keys=(other,))
    with Fleet(lambda: client_key) as fleet:
        with raises_code("host_key_mismatch") as caught:
            fleet.preflight([target])
        [health] = fleet.check([target])
    error = caught.value
    assert error.exit_code == 3
    assert f"ssh-rsa {fingerprint(server.host_key)}" in error.message  # what it offered
    assert f"ssh-ed25519 {fingerprint(other)}" in error.message  # what was pinned
    assert f"set-host-key {server.name}" in error.message
    assert error.details["offered"] == [fingerprint(server.host_key)]
    assert error.details["pinned"] == [fingerprint(other)]
    assert health.error is not None and health.error.code == "host_key_mismatch", health
    assert not server.work_dir.exists()  # nothing was started there


def test_a_pinned_key_of_any_type_the_host_holds_is_the_one_checked(typed: dict[str, SshServer],
                                                                    client_key: asyncssh.SSHKey) -> None:
    server = typed["three"]
    for pinned in server.host_keys[1:]:  # the ECDSA key, then the RSA key (the host prefers Ed25519)
        with Fleet(lambda: client_key) as fleet:
            [health] = fleet.check([ssh_target(server, host_keys=(pinned,))])
        assert health.healthy, (pinned.split()[0], health.error)


def test_scan_host_key_prints_every_key_a_host_offers_ed25519_ecdsa_and_rsa(typed: dict[str, SshServer]) -> None:
    server = typed["three"]
    r = run_cli("targets", "scan-host-key", f"127.0.0.1:{server.port}")
    assert r.returncode == 0, r.stderr
    for key in server.host_keys:
        assert any(key in line and fingerprint(key) in line for line in r.stdout.splitlines()), (key, r.stdout)
    assert len(r.stdout.splitlines()) == 3, r.stdout
