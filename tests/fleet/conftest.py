"""Fixtures for fleets: real sshd processes on 127.0.0.1 and a zone SSH key for the engine-level tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import asyncssh
import pytest

from tests.fleet.sshd import SshServer, require_sshd, start_servers


@pytest.fixture(scope="module")
def client_key() -> asyncssh.SSHKey:
    return asyncssh.generate_private_key("ssh-ed25519")


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory, client_key: asyncssh.SSHKey) -> Iterator[list[SshServer]]:
    """Twelve simulated targets, each its own sshd (web-01 .. web-12)."""
    require_sshd()
    public = client_key.export_public_key("openssh").decode().strip()
    running = start_servers(tmp_path_factory.mktemp("fleet"), 12, public)
    yield running
    for server in running:
        server.stop()


@pytest.fixture
def spare(tmp_path: Path, client_key: asyncssh.SSHKey) -> Iterator[list[SshServer]]:
    """Servers of the test's own (ones a test may kill or reconfigure)."""
    require_sshd()
    made: list[SshServer] = []
    yield made
    for server in made:
        server.stop()
