"""Real OpenSSH servers on 127.0.0.1, one per simulated target, each with its own host key and folder.

Each :class:`SshServer` is ``/usr/sbin/sshd -D -e -f CONFIG`` as its own process on a free port
of 127.0.0.1, with a generated Ed25519 host key, the zone's public key in its ``authorized_keys``
and nothing read from the machine's own SSH configuration. It logs in the user running the tests.
``stop()`` (the fixtures call it) ends it; ``kill()`` drops it at once, as a crashed machine would.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SSHD = "/usr/sbin/sshd"
INSTALL = "apt-get install -y openssh-server (or: python3 tasks.py test, which installs it when run as root)"


def require_sshd() -> None:
    if not os.access(SSHD, os.X_OK) or shutil.which("ssh-keygen") is None:
        pytest.fail(f"these tests need a real OpenSSH server at {SSHD} and ssh-keygen: run `{INSTALL}`")
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class SshServer:
    name: str
    folder: Path
    port: int
    process: subprocess.Popen[bytes] | None = None
    host_key: str = ""
    user: str = field(default_factory=getpass.getuser)
    #: Environment of every session (``PATH`` set here makes a machine without python3 or bash).
    env: dict[str, str] = field(default_factory=dict)
    #: The host key types it has (``ssh-keygen -t``); ``host_key`` is the first one's public key.
    key_types: tuple[str, ...] = ("ed25519",)
    #: Every host key it offers, in ``known_hosts`` key form (``TYPE BASE64``), in ``key_types`` order.
    host_keys: list[str] = field(default_factory=list)

    @property
    def work_dir(self) -> Path:
        return self.folder / "work"

    def start(self, authorized_key: str) -> "SshServer":
        self.folder.mkdir(parents=True, exist_ok=True)
        keys = []
        for kind in self.key_types:
            key = self.folder / f"host_{kind}"
            if not key.exists():
                subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", self.name, "-f", str(key)],
                               check=True)
            keys.append(key)
        self.host_keys = [" ".join(k.with_suffix(".pub").read_text().split()[:2]) for k in keys]
        self.host_key = self.host_keys[0]
        (self.folder / "authorized_keys").write_text(authorized_key + "\n")
        os.chmod(self.folder / "authorized_keys", 0o600)
        config = self.folder / "sshd_config"
        config.write_text("\n".join([
            f"Port {self.port}", "ListenAddress 127.0.0.1", *(f"HostKey {k}" for k in keys), f"PidFile {self.folder}/sshd.pid",
            f"AuthorizedKeysFile {self.folder}/authorized_keys", "StrictModes no", "PasswordAuthentication no",
            "KbdInteractiveAuthentication no", "PubkeyAuthentication yes", "UsePAM no", "PermitRootLogin yes",
            "MaxStartups 200", "MaxSessions 50", "LogLevel ERROR", "PrintMotd no", "X11Forwarding no",
            "AllowTcpForwarding no", f"AllowUsers {self.user}", "Subsystem sftp internal-sftp",
            # SHLVL=1 makes bash skip ~/.bashrc (which it reads when started by sshd as a top-level
            # shell): the tests' machines do not depend on the dotfiles of whoever runs the tests.
            "SetEnv " + " ".join(f"{k}={v}" for k, v in {"SHLVL": "1", **self.env}.items()), "",
        ]))
        self.process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=subprocess.DEVNULL,
                                        stderr=open(self.folder / "sshd.log", "ab"))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"sshd for {self.name} exited: {(self.folder / 'sshd.log').read_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"sshd for {self.name} did not listen on port {self.port}")

    def authorize(self, public_line: str) -> None:
        """Let one more client key in (a line of ``authorized_keys``)."""
        with open(self.folder / "authorized_keys", "a") as keys:
            keys.write(public_line.strip() + "\n")

    def kill(self) -> None:
        """Drop the server and every session it forked, at once (a machine that died)."""
        if self.process is not None and self.process.poll() is None:
            children = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True).stdout
            self.process.send_signal(signal.SIGKILL)
            for pid in children.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_servers(root: Path, count: int, authorized_key: str, prefix: str = "web") -> list[SshServer]:
    servers = []
    try:
        for i in range(1, count + 1):
            servers.append(SshServer(f"{prefix}-{i:02d}", root / f"{prefix}-{i:02d}", free_port()).start(authorized_key))
    except BaseException:
        for server in servers:
            server.stop()
        raise
    return servers
