"""Shared fixtures: real zone homes (real keys, real SQLite files) in temporary folders.

The state's contract tests run on both engines: a test that takes ``engine`` (or
``any_zones``) runs once on SQLite and once on a real PostgreSQL server (``pg_server``: one
per test session and xdist worker, started on first use; one database per test).

The state tests of the importer, deployments, retention and prune, promotion, receipts and
backup run on both engines too (decision 772): their modules use ``state_engine``
(``pytestmark = pytest.mark.usefixtures("state_engine")``), and while it is set every zone
:func:`make_zones` and ``tests/cli/operator_world.world`` make keeps its state on that
engine. Elsewhere (the CLI end-to-end tests among them) they make SQLite zones.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from bundlekit.errors import REGISTRY, BundleError
from bundlekit.format import passphrase
from bundlekit.format.card import parse_card
from bundlekit.trust.policy import SourcePolicy
from bundlekit.zone import truststore
from bundlekit.zone.home import Zone, init_zone
from bundlekit.zone.location import StateURL, parse_state_url
from tests import zygote
from tests.pgserver import PostgresServer, start_server

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
RELEASE = FIXTURES / "acme" / "release.toml"
CANARY = "s3cret-value"  # the fixture release's sensitive password


@dataclass
class Zones:
    dev: Zone
    prod: Zone
    tmp: Path

    def close(self) -> None:
        self.dev.close()
        self.prod.close()


ENGINES = ["sqlite", "postgresql"]


class _Engine:
    """The PostgreSQL server zones are made on while ``state_engine`` says so (None: SQLite)."""

    pg: PostgresServer | None = None


#: Set by the ``state_engine`` fixture; read by :func:`make_zones` and ``operator_world.world``.
ENGINE = _Engine()
#: ``pg=`` of :func:`make_zones` when not given: the engine ``state_engine`` set.
SET_ENGINE: object = object()


@pytest.fixture(scope="module", params=ENGINES)
def state_engine(request: pytest.FixtureRequest) -> Iterator[str]:
    """The engine the zones of a module's tests keep their state on ("sqlite", "postgresql"),
    each in turn; module-scoped, so a module's shared world is built once per engine."""
    ENGINE.pg = request.getfixturevalue("pg_server") if request.param == "postgresql" else None
    yield str(request.param)
    ENGINE.pg = None


def make_zones(tmp: Path, policy: SourcePolicy | None = None, *,
               pg: PostgresServer | None | object = SET_ENGINE) -> Zones:
    """A dev and a prod zone trusting each other; with ``pg``, each zone's state is a new
    PostgreSQL database (not given: the engine ``state_engine`` set, else SQLite)."""
    if pg is SET_ENGINE:
        pg = ENGINE.pg
    assert pg is None or isinstance(pg, PostgresServer)
    now = int(time.time())
    if pg is None:
        dev = init_zone(tmp / "dev", "dev", now)
        prod = init_zone(tmp / "prod", "prod", now)
    else:
        dev = init_zone(tmp / "dev", "dev", now, state=zone_url(pg), password=pg.password)
        prod = init_zone(tmp / "prod", "prod", now, state=zone_url(pg), password=pg.password)
    truststore.add_zone(dev, parse_card(prod.card_bytes(), "prod.card"), SourcePolicy(), now)
    truststore.add_zone(prod, parse_card(dev.card_bytes(), "dev.card"), policy or SourcePolicy(), now)
    return Zones(dev, prod, tmp)


def state_bytes(home: Path) -> bytes:
    """Everything the zone at ``home`` keeps in its state: the SQLite file, or a dump of its
    PostgreSQL database (on the server ``state_engine`` set), to look for what must not be there."""
    conf = home / "bundlekit.conf"
    if not conf.exists():
        return (home / "state.db").read_bytes()
    assert ENGINE.pg is not None, f"{home}: a PostgreSQL home outside state_engine"
    return ENGINE.pg.dump(_pg_database(home)).encode()


def _pg_database(home: Path) -> str:
    return (home / "bundlekit.conf").read_text().split("BUNDLEKIT_STATE=", 1)[1].split()[0].rsplit("/", 1)[1]


def write_behind(home: Path, sql: str, params: tuple[object, ...] = ()) -> None:
    """Run one statement (``?`` placeholders) on the zone's state behind bundlekit's back, with
    the engine's own driver, as a forger with the database's password would."""
    if not (home / "bundlekit.conf").exists():
        import sqlite3

        with sqlite3.connect(home / "state.db") as db:
            db.execute(sql, params)
        return
    import psycopg

    assert ENGINE.pg is not None, f"{home}: a PostgreSQL home outside state_engine"
    with psycopg.connect(ENGINE.pg.url(_pg_database(home)), password=ENGINE.pg.password, autocommit=True) as conn:
        conn.execute(sql.replace("?", "%s"), params)  # type: ignore[arg-type]


def own_state(*homes: Path) -> None:
    """Give each home copied from another (``shutil.copytree``) a state of its own: a home whose
    state is in PostgreSQL gets a copy of its database, and its bundlekit.conf names that copy
    (a copied SQLite home has its own file already)."""
    for home in homes:
        conf = home / "bundlekit.conf"
        if not conf.exists():
            continue
        assert ENGINE.pg is not None, f"{home}: a PostgreSQL home outside state_engine"
        old = conf.read_text().split("BUNDLEKIT_STATE=", 1)[1].split()[0]
        conf.write_text(conf.read_text().replace(old, ENGINE.pg.copy_database(_pg_database(home)), 1))


@pytest.fixture
def zones(tmp_path: Path) -> Zones:
    z = make_zones(tmp_path)
    yield z
    z.close()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL server on 127.0.0.1 for this session (this xdist worker), stopped afterwards."""
    server = start_server()
    yield server
    server.stop()


def pg_url(pg: PostgresServer) -> StateURL:
    """A new, empty database on ``pg`` as a state URL (its password is ``pg.password``)."""
    return parse_state_url(pg.new_database(), where="test", allow_password=False)


def zone_url(pg: PostgresServer) -> StateURL:
    """A new database on ``pg`` holding the state schema and no zone, as a state URL: the zones
    the state tests make start there, instead of migrating an empty database each time (the
    migration has its own tests, on :func:`pg_url`'s empty databases)."""
    return parse_state_url(pg.new_zone_database(), where="test", allow_password=False)


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """The state engine a contract test runs on ("sqlite", "postgresql")."""
    return str(request.param)


@pytest.fixture
def pg(engine: str, request: pytest.FixtureRequest) -> PostgresServer | None:
    """The PostgreSQL server when ``engine`` is postgresql, else None."""
    return request.getfixturevalue("pg_server") if engine == "postgresql" else None


@pytest.fixture
def any_zones(tmp_path: Path, pg: PostgresServer | None) -> Iterator[Zones]:
    """``zones`` with their state on each engine in turn."""
    z = make_zones(tmp_path, pg=pg)
    yield z
    z.close()


@pytest.fixture
def release_dir(tmp_path: Path) -> Path:
    """A private copy of the fixture release, safe to modify."""
    dest = tmp_path / "release"
    shutil.copytree(FIXTURES / "acme", dest)
    return dest


def snapshot(*paths: Path) -> dict[str, tuple[str, int, str]]:
    """Every file, folder and link under ``paths`` with its kind, mode and content hash.

    The one "nothing changed" check: take it before and after, compare with ``==``. A path
    that does not exist is recorded as absent, so creating it shows up too. Hidden files,
    empty folders and permission bits count; timestamps do not.
    """
    out: dict[str, tuple[str, int, str]] = {}

    def entry(p: Path) -> tuple[str, int, str]:
        info = p.lstat()
        if stat.S_ISLNK(info.st_mode):
            return "link", 0, os.readlink(p)
        if stat.S_ISDIR(info.st_mode):
            return "dir", stat.S_IMODE(info.st_mode), ""
        if stat.S_ISREG(info.st_mode):
            digest = hashlib.sha256()
            with open(p, "rb") as f:
                while chunk := f.read(1 << 20):
                    digest.update(chunk)
            return "file", stat.S_IMODE(info.st_mode), digest.hexdigest()
        return "special", stat.S_IMODE(info.st_mode), ""

    for root in paths:
        root = Path(root)
        if not os.path.lexists(root):
            out[str(root)] = ("absent", 0, "")
            continue
        out[str(root)] = entry(root)
        if root.is_symlink() or not root.is_dir():
            continue
        for folder, dirnames, filenames in os.walk(root):
            for name in dirnames + filenames:
                p = Path(folder) / name
                out[str(p)] = entry(p)
    return out


@contextmanager
def raises_code(code: str | tuple[str, ...], *, match: str | None = None) -> Iterator[pytest.ExceptionInfo[BundleError]]:
    """``pytest.raises`` for refusals: the error must be a BundleError with ``code`` (or one of them).

    (The family needs no check of its own: a BundleError cannot be built with a code of
    another family.)
    """
    codes = (code,) if isinstance(code, str) else code
    for c in codes:
        assert c in REGISTRY, f"{c!r} is not a registered error code"
    with pytest.raises(BundleError, match=match) as info:
        yield info
    assert info.value.code in codes, f"expected code {' or '.join(codes)}, got {info.value.code!r}: {info.value}"


#: The scrypt cost (N) protected keys and backups are written with in tests that ask for a low cost
#: (decision 700): 1 MiB and milliseconds instead of 128 MiB and a second or more on a loaded machine.
#: The cost is recorded in each file and covered by its tag, so every reader opens such a file at the
#: cost it records; tests/e2e/test_protected_keys.py still makes and uses keys at the default cost.
TEST_SCRYPT_N = 1 << 10


@pytest.fixture
def low_scrypt_cost(monkeypatch: pytest.MonkeyPatch) -> int:
    """Protected keys and backups written in this process during the test record scrypt cost
    :data:`TEST_SCRYPT_N` (the library's writers read ``passphrase.DEFAULT_N`` when they write);
    returns that cost. Nothing a user runs can lower it: it is this process's module attribute."""
    monkeypatch.setattr(passphrase, "DEFAULT_N", TEST_SCRYPT_N)
    return TEST_SCRYPT_N


#: The ``bundlekit`` command in a new interpreter whose writers use :data:`TEST_SCRYPT_N`, for tests
#: that must run a command in a process of its own (to kill it) yet prove nothing about the cost.
LOW_COST_CLI = [sys.executable, "-c", "import runpy, sys; import bundlekit.format.passphrase as p; "
                f"p.DEFAULT_N = {TEST_SCRYPT_N}; sys.argv[0] = 'bundlekit'; "
                "runpy.run_module('bundlekit', run_name='__main__', alter_sys=False)"]


def run_cli(*args: str | Path, home: Path | None = None, env: dict[str, str] | None = None,
            input: bytes | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the real `bundlekit` CLI in a process of its own, as ``python -m bundlekit ARGS`` with
    stdout and stderr captured: a child forked from a process that imported bundlekit already
    (``tests/zygote.py``, decision 979), or a new interpreter when the environment asks for one."""
    argv = [*map(str, args)] + (["--home", str(home)] if home is not None else [])
    full_env = dict(os.environ)
    full_env.pop("BUNDLEKIT_HOME", None)
    if env:
        full_env.update(env)
    if zygote.usable(full_env):
        return zygote.run(argv, full_env, input, timeout)
    cmd = [sys.executable, "-m", "bundlekit", *argv]
    return subprocess.run(cmd, capture_output=True, text=True, env=full_env, timeout=timeout,
                          input=input.decode() if input is not None else None)


def cli_in_process(*args: str | Path, home: Path | None = None, env: dict[str, str] | None = None,
                   input: bytes | None = None) -> subprocess.CompletedProcess[str]:
    """Run the `bundlekit` CLI in this process, through its one entry point (the root group's
    ``main``, as the installed script does), with stdout and stderr captured apart.

    The same result as :func:`run_cli` without the cost of a new interpreter (most of which is
    importing); for tests where a process of its own proves nothing more (the refusal table).
    ``env`` is applied to ``os.environ`` for the call only; ``BUNDLEKIT_HOME`` is unset.
    """
    from click.testing import CliRunner

    from bundlekit.cli import cli

    argv = [str(a) for a in args] + (["--home", str(home)] if home is not None else [])
    result = CliRunner().invoke(cli, argv, env={"BUNDLEKIT_HOME": None, **(env or {})}, input=input,  # type: ignore[dict-item]
                                prog_name="bundlekit", catch_exceptions=False)
    return subprocess.CompletedProcess(["bundlekit", *argv], result.exit_code, result.stdout, result.stderr)
