"""SSH to targets with asyncssh: pinned host keys, the zone's client key, the runner over a channel.

Rules (``docs/decisions/144-ssh-targets.md``):

* a host key is trusted only if it is one of the target's pinned keys: never on first use,
  never from ``~/.ssh/known_hosts`` or ``~/.ssh/config`` (both are ignored, as is any agent);
  the pinned keys' own algorithms are offered first (so a host holding a pinned key shows that
  one), then every other plain host key algorithm (so a host holding only keys of another type
  still agrees on one and shows it, rather than dropping the connection). A target offering none
  of its pinned keys is a :class:`TrustError` ``host_key_mismatch`` showing both fingerprints
  (decision 400);
* authentication is public key only: the zone's Ed25519 client key, or the target's own
  identity file;
* the runner is started with the bootstrap of :mod:`bundlekit.runtime.boot` as the command of
  one session channel: no value of any variable is on that command line, and the channel's
  stdin/stdout carry the framed protocol.
"""

from __future__ import annotations

import asyncio
import re
import shlex
import socket
from pathlib import Path
from typing import Any

import asyncssh

from bundlekit.core.hints import home_flag
from bundlekit.core.files import KIB, read_user_file
from bundlekit.deploy.session import Session
from bundlekit.deploy.targets import SshTarget
from bundlekit.errors import DeployError, InputError, TrustError, UsageError
from bundlekit.runtime.boot import bootstrap_argv
from bundlekit.runtime.pack import Runner
from bundlekit.core.text import shell_word

__all__ = ["connect", "runner_session", "scan_host_keys", "parse_host_key", "check_identity_file", "load_identity",
           "IdentityProblem", "fingerprint", "known_hosts_field", "CONNECT_TIMEOUT"]

#: Seconds to connect and log in before a target counts as unreachable.
CONNECT_TIMEOUT = 15.0
#: A keepalive every so many seconds; this many unanswered in a row end the connection (a target
#: whose network went silent, with no FIN or RST, is lost after about a minute).
KEEPALIVE_INTERVAL = 15.0
KEEPALIVE_COUNT = 4
#: An OpenSSH private key is a few KiB (RSA 16384 is under 13 KiB).
_MAX_IDENTITY_FILE = 64 * KIB
#: One algorithm per kind of plain host key, as OpenSSH's own servers offer them: a scan asks for
#: each in turn (one connection each, the way ``ssh-keyscan`` does).
_SCAN_ALGS = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "rsa-sha2-512",
              "ssh-ed448")
#: Every plain (not certificate) host key algorithm a connection offers after the pinned keys' own.
_HOST_KEY_ALGS = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
                  "rsa-sha2-512", "rsa-sha2-256", "ssh-ed448", "ssh-rsa")
#: asyncssh's channel window and packet size for package transfers (bytes).
_WINDOW = 8 << 20
_PACKET = 256 << 10
#: AES-GCM first: with AES-NI it runs several times faster than ChaCha20-Poly1305 in asyncssh.
_CIPHERS = ["aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "chacha20-poly1305@openssh.com", "aes128-ctr",
            "aes256-ctr"]


#: The first word of a public key line: the key's type (``ssh-ed25519``, ``ecdsa-sha2-nistp256``, ...).
_KEY_TYPE = re.compile(r"^(ssh-[a-z0-9-]+|ecdsa-sha2-[a-z0-9-]+|sk-[a-z0-9@.-]+|rsa-sha2-[0-9]+)$")


def parse_host_key(text: str, where: str = "--host-key") -> asyncssh.SSHKey:
    """A public host key from a line holding its ``known_hosts`` key form: ``TYPE BASE64``, with
    or without a host field before it (``[127.0.0.1]:2222 ssh-ed25519 AAAA...``) and anything
    after it (a comment, a fingerprint), as ``scan-host-key`` prints it. The key returned has
    no comment. UsageError ``invalid_host_key`` when the line holds no public key."""
    words = text.split()
    found = next((i for i, word in enumerate(words[:-1]) if _KEY_TYPE.match(word)), None)
    try:
        if found is None:
            raise ValueError("no key type such as ssh-ed25519 followed by its base64 text")
        key = asyncssh.import_public_key(f"{words[found]} {words[found + 1]}")
    except (asyncssh.KeyImportError, ValueError, TypeError) as error:
        raise UsageError(f"{where}: {text.strip()[:60]!r} is not an SSH public key ({error}); give one line of "
                         "`bundlekit targets scan-host-key HOST` output, e.g. 'ssh-ed25519 AAAA...'.",
                         code="invalid_host_key") from None
    key.set_comment(None)
    return key


class IdentityProblem(Exception):
    """Why an identity file cannot serve a deployment (the words after the file's name)."""


def load_identity(path: Path, what: str) -> asyncssh.SSHKey:
    """The private key in the identity file at ``path``, checked in this order: it is a file
    bundlekit can read (InputError ``file_not_found``, ``unreadable``, ``input_too_large``;
    ``what`` names it), a private key (not the public ``.pub`` half), without a passphrase, and
    readable by its owner only. The last three raise :class:`IdentityProblem`."""
    data = read_user_file(path, what=what, limit=_MAX_IDENTITY_FILE)
    try:
        key = asyncssh.import_private_key(data)
    except (asyncssh.KeyEncryptionError, asyncssh.KeyImportError, ValueError) as error:
        if isinstance(error, asyncssh.KeyEncryptionError) or "passphrase" in str(error).lower():
            raise IdentityProblem("is protected by a passphrase, which a deployment cannot type; use a key without "
                                  "one, kept 0600 on the zone's machine.") from None
        public = _public_key(data)
        if public is not None:
            hint = f" ({path.with_suffix('')})" if path.suffix == ".pub" else ""
            raise IdentityProblem(f"is the public half of a key ({public}); give its private half{hint}.") from None
        raise IdentityProblem(f"is not an SSH private key ({error}).") from None
    mode = path.stat().st_mode
    if mode & 0o077:
        raise IdentityProblem(f"is readable by other users (mode {mode & 0o777:o}); `chmod 600 {path}` first.")
    return key


def _public_key(data: bytes) -> str | None:
    try:
        return str(asyncssh.import_public_key(data).get_algorithm())
    except (asyncssh.KeyImportError, ValueError, TypeError):
        return None


def check_identity_file(name: str, path: Path) -> None:
    """Refuse an identity file that cannot serve unattended (see :func:`load_identity`): InputError
    ``invalid_identity_file``, or ``file_not_found``, ``unreadable``, ``input_too_large``."""
    try:
        load_identity(path, f"target {name!r}: --identity-file {path}")
    except IdentityProblem as problem:
        raise InputError(f"target {name!r}: --identity-file {path} {problem}", code="invalid_identity_file") from None


def fingerprint(key: asyncssh.SSHKey) -> str:
    """The key's SHA256 fingerprint as OpenSSH prints it (``SHA256:...``)."""
    return str(key.get_fingerprint("sha256"))


def known_hosts_field(host: str, port: int) -> str:
    """How ``known_hosts`` names ``host:port``: the host alone on port 22, else ``[host]:port``."""
    bare = host.strip("[]")
    return bare if port == 22 else f"[{bare}]:{port}"


def _options(target: SshTarget, client_key: asyncssh.SSHKey) -> dict[str, Any]:
    pinned = [parse_host_key(k, f"target {target.name!r} host key") for k in target.host_keys]
    algorithms: list[str] = []
    for key in pinned:
        for alg in key.sig_algorithms:
            name = alg.decode("ascii")
            if name not in algorithms:
                algorithms.append(name)
    algorithms += [name for name in _HOST_KEY_ALGS if name not in algorithms]
    return {
        "port": target.port, "username": target.user, "known_hosts": (pinned, [], []),
        "server_host_key_algs": algorithms, "client_keys": [client_key], "agent_path": None, "config": None,
        "password": None, "kbdint_auth": False, "preferred_auth": "publickey", "connect_timeout": CONNECT_TIMEOUT,
        "keepalive_interval": KEEPALIVE_INTERVAL, "keepalive_count_max": KEEPALIVE_COUNT, "encryption_algs": _CIPHERS,
    }


async def _offered(host: str, port: int) -> tuple[list[asyncssh.SSHKey], str]:
    """The keys ``host:port`` offers, one per algorithm it has, and why none could be read (if so).

    A server without a key of the algorithm asked for drops the connection (often as a reset, an
    ``OSError``); only a refused connection or one that never answers ends the scan early, since
    every other algorithm would meet the same."""
    keys: list[asyncssh.SSHKey] = []
    why = "no key of a known algorithm"
    seen: set[bytes] = set()
    for alg in _SCAN_ALGS:
        try:
            key = await asyncio.wait_for(asyncssh.get_server_host_key(host, port, config=None,
                                                                      server_host_key_algs=[alg]), CONNECT_TIMEOUT)
        except (OSError, asyncssh.Error, asyncio.TimeoutError) as error:
            if isinstance(error, (ConnectionRefusedError, asyncio.TimeoutError, socket.gaierror)) or (
                    isinstance(error, OSError) and not keys and alg == _SCAN_ALGS[0]
                    and not isinstance(error, ConnectionError)):
                why = _why(error)
                break  # nothing listens there (or answers): every other algorithm would wait the same
            continue
        if key is not None and key.public_data not in seen:
            seen.add(key.public_data)
            keys.append(key)
    return keys, why


def _why(error: BaseException) -> str:
    if isinstance(error, asyncio.TimeoutError):
        return f"no answer within {CONNECT_TIMEOUT:g} seconds"
    return str(error) or type(error).__name__


async def connect(target: SshTarget, client_key: asyncssh.SSHKey) -> asyncssh.SSHClientConnection:
    """An authenticated connection; TrustError ``host_key_mismatch``, DeployError ``target_unreachable``
    or ``target_auth_failed``."""
    host = target.host.strip("[]")  # [IPv6] literal
    try:
        return await asyncssh.connect(host, **_options(target, client_key))
    except asyncssh.HostKeyNotVerifiable:
        raise _mismatch(target, (await _offered(host, target.port))[0]) from None
    except asyncssh.PermissionDenied:
        raise DeployError(f"target {target.name!r} ({target.address}) refused the zone's SSH key. Add the line of "
                          f"`bundlekit targets ssh-key{home_flag()}` to that user's ~/.ssh/authorized_keys.",
                          code="target_auth_failed", details=_details(target)) from None
    except (OSError, asyncssh.Error, asyncio.TimeoutError) as error:
        if isinstance(error, (asyncssh.KeyExchangeFailed, asyncssh.ConnectionLost, ConnectionResetError)):
            # A server that finds no host key algorithm it shares with the client drops the
            # connection: learn what it offers (on connections that never log in) before
            # calling it unreachable.
            offered = (await _offered(host, target.port))[0]
            pinned = {parse_host_key(k).public_data for k in target.host_keys}
            if offered and not any(key.public_data in pinned for key in offered):
                raise _mismatch(target, offered) from None
        raise DeployError(f"target {target.name!r} ({target.address}) is unreachable: {_why(error)}. "
                          "Check that the machine is up and its SSH server listens there "
                          f"(`bundlekit targets check {shell_word(target.name)}{home_flag()}`).",
                          code="target_unreachable", details=_details(target)) from None


def _details(target: SshTarget) -> dict[str, Any]:
    """What a refusal about ``target`` tells machines: its name and where it is."""
    return {"target": target.name, "host": target.host, "port": target.port, "user": target.user,
            "work_dir": target.work_dir}


def _mismatch(target: SshTarget, offered: list[asyncssh.SSHKey]) -> TrustError:
    pinned = [parse_host_key(k) for k in target.host_keys]
    shown = ", ".join(f"{k.get_algorithm()} {fingerprint(k)}" for k in offered) or "(none could be read)"
    return TrustError(
        f"target {target.name!r} ({target.address}) offered host key(s) {shown}, none of which is pinned "
        f"({', '.join(f'{k.get_algorithm()} {fingerprint(k)}' for k in pinned)}). Nothing was run. If the machine "
        f"was re-installed, compare the key out of band (`bundlekit targets scan-host-key "
        f"{shell_word(target.host + ':' + str(target.port))}`) and re-pin it with `bundlekit targets set-host-key {shell_word(target.name)} 'KEY'{home_flag()}`.",
        code="host_key_mismatch", details=dict(_details(target), offered=[fingerprint(k) for k in offered],
                                               pinned=[fingerprint(k) for k in pinned]))


async def runner_session(conn: asyncssh.SSHClientConnection, target: SshTarget, runner: Runner, *,
                         probe: bool = False, inventory: bool = False) -> Session:
    """The bootstrap on ``target`` over a new session channel of ``conn``, as a :class:`Session`
    not started yet (call ``start``, or ``probe`` when started with ``probe`` or ``inventory``)."""
    command = " ".join(shlex.quote(a) for a in bootstrap_argv("python3", target.work_dir, runner.sha256,
                                                              len(runner.data), probe=probe, inventory=inventory))
    try:
        process = await conn.create_process(command, encoding=None, window=_WINDOW, max_pktsize=_PACKET)
    except (OSError, asyncssh.Error) as error:
        raise DeployError(f"target {target.name!r}: cannot start a session: {error}.",
                          code="target_unreachable", details={"target": target.name}) from None

    async def close() -> str:
        try:
            process.stdin.write_eof()
        except (OSError, asyncssh.Error):
            pass
        try:
            await asyncio.wait_for(process.wait_closed(), 5.0)
        except (asyncio.TimeoutError, OSError, asyncssh.Error):
            process.close()
        stderr = b""
        try:
            stderr = await asyncio.wait_for(process.stderr.read(4096), 1.0)
        except (asyncio.TimeoutError, OSError, asyncssh.Error):
            pass
        return f"exit {process.exit_status}: {stderr.decode('utf-8', 'replace').strip()[:300]}"

    return Session(target.name, process.stdout, process.stdin, close, (asyncssh.Error,), address=target.address)


async def scan_host_keys(host: str, port: int) -> tuple[list[asyncssh.SSHKey], str]:
    """The host keys ``host:port`` offers, one per algorithm it has (nothing is pinned), and why
    none could be read when the list is empty."""
    return await _offered(host, port)
