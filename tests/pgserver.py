"""A throwaway PostgreSQL server for the tests and benchmarks: initdb, start, databases, stop.

One server per test session (per xdist worker), one database per test. The cluster lives in
a fresh temporary folder (on the memory file system when there is one with room: see
``_cluster_parent``), listens on 127.0.0.1 only (TCP, no Unix socket), on a free port,
and requires a password (SCRAM): the tests connect the way a production node does, with the
password coming from a file, never a command line. PostgreSQL refuses to run as root, so
under root the server runs as the ``postgres`` system user (created by Debian's package;
created here with ``useradd`` if missing) through ``runuser``.

Debian's ``postgresql`` package provides the programs (``python3 tasks.py test`` installs it
when missing). A missing installation fails the tests that need it, loudly: never a skip. A watchdog process
stops the server if the process that started it dies without stopping it.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

USER = "bundlekit"
#: Runs beside the server: when the process that started it is gone without stopping it (a test
#: run killed), stop the server and delete its folder, so no cluster outlives its session.
_WATCHDOG = """
import os, shutil, subprocess, sys, time
parent, folder, stop = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
while os.path.isdir(folder):
    try:
        os.kill(parent, 0)
    except ProcessLookupError:
        subprocess.run(stop, capture_output=True, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)
        break
    time.sleep(1)
"""
#: Fast, throwaway settings: the data folder is deleted afterwards, so durability is not needed.
_FAST = ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]


def pg_bin() -> Path:
    """The folder of PostgreSQL's server programs (the newest installed)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    raise RuntimeError("PostgreSQL is not installed (no initdb): run `python3 tasks.py test`, which installs "
                       "Debian's postgresql package, or `apt-get install -y postgresql`")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_as() -> list[str]:
    """The prefix that runs a server program as an unprivileged user (empty when not root)."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "postgres"],
                       check=True)
    return ["runuser", "-u", "postgres", "--"]


@dataclass
class PostgresServer:
    """A running throwaway cluster. :meth:`new_database` gives each test its own database."""

    folder: Path
    port: int
    password: str = field(repr=False)
    password_file: Path
    _admin: Any = field(default=None, repr=False)
    _count: int = 0
    _zone_template: str | None = None

    def url(self, database: str) -> str:
        """The URL of ``database``, without the password (it is in :attr:`password_file`)."""
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def admin(self) -> Any:
        import psycopg

        if self._admin is None or self._admin.closed:
            self._admin = psycopg.connect(self.url("postgres"), password=self.password, autocommit=True)
        return self._admin

    def new_database(self, prefix: str = "t") -> str:
        """Create an empty database; returns its URL (no password)."""
        self._count += 1
        name = f"{prefix}_{os.getpid()}_{self._count}"
        self.admin().execute(f"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8'")
        return self.url(name)

    def new_zone_database(self) -> str:
        """A new database holding bundlekit's state schema and no zone: what ``init --state``
        makes of an empty database before it records the zone, so a zone made on it migrates
        nothing. Copied from a template this server migrates once, with bundlekit's own
        migrations, on first use; its URL (no password). Tests of the migration itself take
        :meth:`new_database`."""
        if self._zone_template is None:
            from bundlekit.zone.location import parse_state_url
            from bundlekit.zone.state import open_url

            url = self.new_database("zone_template")
            open_url(parse_state_url(url, where="test", allow_password=False), self.password, create=True).close()
            self._zone_template = url.rsplit("/", 1)[1]
        self._count += 1
        name = f"z_{os.getpid()}_{self._count}"
        self.admin().execute(f"CREATE DATABASE {name} TEMPLATE {self._zone_template}")
        return self.url(name)

    def copy_database(self, database: str) -> str:
        """A new database holding what ``database`` holds now (nobody may be connected to it); its URL."""
        self._count += 1
        name = f"{database.split('_c', 1)[0]}_c{os.getpid()}_{self._count}"
        self.admin().execute(f"CREATE DATABASE {name} TEMPLATE {database}")
        return self.url(name)

    def sql(self, database: str, statement: str) -> list[Any]:
        """Run one statement in ``database`` as the cluster's owner (test set-up and inspection)."""
        import psycopg

        with psycopg.connect(self.url(database), password=self.password, autocommit=True) as conn:
            cur = conn.execute(statement)
            return list(cur.fetchall()) if cur.description else []

    def dump(self, database: str) -> str:
        """``pg_dump`` of ``database`` (schema and rows, as the server holds them): equal dumps mean
        nothing in the database changed. The password reaches pg_dump through a password file."""
        passfile = self.folder / "pgpass"
        if not passfile.exists():
            passfile.write_text(f"127.0.0.1:{self.port}:*:{USER}:{self.password}\n")
            os.chmod(passfile, 0o600)
        env = {"PATH": os.environ.get("PATH", ""), "PGPASSFILE": str(passfile)}
        r = subprocess.run([str(pg_bin() / "pg_dump"), "-h", "127.0.0.1", "-p", str(self.port), "-U", USER,
                            "--no-password", database], capture_output=True, text=True, env=env, timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"pg_dump failed: {r.stderr}")
        # newer pg_dump wraps its output in \restrict KEY ... \unrestrict KEY, with a new random KEY each time
        return "\n".join(line for line in r.stdout.splitlines() if not line.startswith(("\\restrict", "\\unrestrict")))

    def stop(self) -> None:
        if self._admin is not None:
            self._admin.close()
        subprocess.run([*_run_as(), str(pg_bin() / "pg_ctl"), "stop", "-D", str(self.folder / "data"), "-m",
                        "immediate", "-w"], capture_output=True, timeout=60)
        shutil.rmtree(self.folder, ignore_errors=True)


#: Where a fast cluster lives when the machine has one: a memory file system. The tests give each
#: test new databases (a copy of template0, some 7.5 MB and 300 files each); on a busy disk, writing
#: them and deleting the folder at the end of a session (a gigabyte and more) took minutes.
_MEMORY_FS = Path("/dev/shm")
#: The memory file system is used only with at least this much room left on it.
_MEMORY_FS_ROOM = 4 << 30


def _cluster_parent(fast: bool) -> str | None:
    """The folder to make the cluster's folder in: the memory file system for a fast cluster when
    there is room on it, else the default temporary folder (``None``)."""
    if not fast or not _MEMORY_FS.is_dir() or not os.access(_MEMORY_FS, os.W_OK):
        return None
    room = os.statvfs(_MEMORY_FS)
    return str(_MEMORY_FS) if room.f_bavail * room.f_frsize >= _MEMORY_FS_ROOM else None


def start_server(*, fast: bool = True) -> PostgresServer:
    """initdb into a new temporary folder and start the server on 127.0.0.1 (a free port).

    ``fast`` turns off fsync and full-page writes and keeps the cluster on the memory file
    system when there is one with room (tests); benchmarks keep the defaults and the disk.
    Raises ``RuntimeError`` with the server's log when it does not start.
    """
    binaries = pg_bin()
    prefix = _run_as()
    folder = Path(tempfile.mkdtemp(prefix="bundlekit-pg-", dir=_cluster_parent(fast)))
    password = secrets.token_urlsafe(18)
    password_file = folder / "password"
    password_file.write_text(password + "\n")
    os.chmod(password_file, 0o600)
    if prefix:
        owner = pwd.getpwnam("postgres")
        os.chown(folder, owner.pw_uid, owner.pw_gid)
        server_pw = folder / "server-password"
        server_pw.write_text(password + "\n")
        os.chown(server_pw, owner.pw_uid, owner.pw_gid)
        os.chmod(server_pw, 0o600)
    else:
        server_pw = password_file
    init = subprocess.run([*prefix, str(binaries / "initdb"), "-D", str(folder / "data"), "-U", USER,
                           "--pwfile", str(server_pw), "-A", "scram-sha-256", "-E", "UTF8", "--locale", "C.UTF-8",
                           "--no-sync"], capture_output=True, text=True, timeout=180)
    server_pw.unlink() if server_pw != password_file else None
    if init.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        raise RuntimeError(f"initdb failed: {init.stderr or init.stdout}")
    last = ""
    for _ in range(5):
        port = _free_port()
        options = " ".join(["-c listen_addresses=127.0.0.1", f"-c port={port}", "-c unix_socket_directories=''",
                            "-c max_connections=200", *([" ".join(_FAST[i:i + 2]) for i in range(0, len(_FAST), 2)]
                                                        if fast else [])])
        start = subprocess.run([*prefix, str(binaries / "pg_ctl"), "start", "-D", str(folder / "data"), "-w",
                                "-t", "60", "-l", str(folder / "server.log"), "-o", options],
                               capture_output=True, text=True, timeout=120)
        if start.returncode == 0:
            stop = [*prefix, str(binaries / "pg_ctl"), "stop", "-D", str(folder / "data"), "-m", "immediate", "-w"]
            subprocess.Popen([sys.executable, "-c", _WATCHDOG, str(os.getpid()), str(folder), *stop],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
            return PostgresServer(folder, port, password, password_file)
        last = (folder / "server.log").read_text(errors="replace") if (folder / "server.log").exists() else ""
        time.sleep(0.2)
    shutil.rmtree(folder, ignore_errors=True)
    raise RuntimeError(f"PostgreSQL did not start: {last[-2000:]}")
