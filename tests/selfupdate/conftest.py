"""The self-update tests' zones and installations: a wheelhouse of bundlekit RUNNING (the checkout's
version) and NEWER (the checkout built as the next patch release), and RUNNING installed offline
from it (the secure zone's running bundlekit), each built once per session and shared by the xdist
workers.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest

from bundlekit import __version__
from tests.conftest import run_cli
from tests.selfupdate.wheelhouse import make_wheelhouse


def _patch(version: str, n: int) -> str:
    """``version`` with its patch number raised by ``n`` (0.8.0, 1 -> 0.8.1)."""
    major, minor, patch = version.split(".")[:3]
    return f"{major}.{minor}.{int(patch) + n}"


#: The checkout's version: the secure zone's running bundlekit.
RUNNING = __version__
#: The checkout built as the next patch release: the bundlekit a source sends (decision 949).
NEWER = _patch(RUNNING, 1)
#: Another newer release, for a build that does not run.
LATER = _patch(RUNNING, 2)

#: Every way an install could reach the network, pointed at a port nothing listens on.
OFFLINE = {name: "http://127.0.0.1:9" for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY",
                                                    "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL")}
OFFLINE.update(no_proxy="", NO_PROXY="")


def _shared(factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]) -> Path:
    """``build(path)`` once for every xdist worker of the session: the first takes a lock and
    builds, the others wait for it and share the result. Under xdist the workers' temporary
    folders share the session's; in one process that parent is every session's, whose builds of
    an older checkout must not be reused: the session's own folder then."""
    base = factory.getbasetemp()
    shared = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "self-update"
    shared.mkdir(exist_ok=True)
    made = shared / name
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (shared / f"{name}.done").exists():
            shutil.rmtree(made, ignore_errors=True)
            build(made)
            (shared / f"{name}.done").touch()
    return made


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """bundlekit RUNNING (the checkout) and NEWER, and their dependencies."""
    def build(house: Path) -> None:
        work = house.with_name("work")
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        make_wheelhouse(house, work, versions=(NEWER,))

    return _shared(tmp_path_factory, f"wheels-{RUNNING}", build)


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path) -> Path:
    """bundlekit RUNNING installed offline from the wheelhouse into an environment of its own, as the
    secure zone first got it; its ``bundlekit`` command. Self-update never writes into it."""
    def build(env: Path) -> None:
        subprocess.run([sys.executable, "-m", "venv", str(env)], check=True, timeout=300)
        done = subprocess.run([str(env / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-index",
                               "--find-links", str(wheelhouse), f"bundlekit=={RUNNING}"], capture_output=True, text=True,
                              env={**os.environ, **OFFLINE}, timeout=900)
        assert done.returncode == 0, done.stderr

    return _shared(tmp_path_factory, f"installed-{RUNNING}", build) / "bin" / "bundlekit"


def cli(bundlekit: Path, *args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run an installed ``bundlekit`` (not the checkout's)."""
    full = {k: v for k, v in os.environ.items() if k != "BUNDLEKIT_HOME"}
    full.update(env or {})
    return subprocess.run([str(bundlekit), *map(str, args)], capture_output=True, text=True, env=full, timeout=900,
                          stdin=subprocess.DEVNULL)


def version_of(bundlekit: Path) -> str:
    done = cli(bundlekit, "--version")
    assert done.returncode == 0, done.stderr
    return done.stdout.split()[-1]


@pytest.fixture
def installed_zones(tmp_path: Path, installed: Path) -> tuple[Path, Path, Path]:
    """(dev home, prod home, prod's bundlekit RUNNING): dev runs the checkout, prod the installed one;
    each trusts the other."""
    bk = installed
    dev, prod = tmp_path / "dev", tmp_path / "prod"
    assert run_cli("init", "--zone", "dev", home=dev).returncode == 0
    assert cli(bk, "init", "--zone", "prod", "--home", prod).returncode == 0
    assert run_cli("identity", "-o", tmp_path / "dev.card", home=dev).returncode == 0
    assert cli(bk, "identity", "--home", prod, "-o", tmp_path / "prod.card").returncode == 0
    assert run_cli("trust", "add", tmp_path / "prod.card", home=dev).returncode == 0
    assert cli(bk, "trust", "add", tmp_path / "dev.card", "--home", prod).returncode == 0
    return dev, prod, bk


def export_self(dev: Path, wheelhouse: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return run_cli("export-self", "--to", "prod", "-o", out, "--wheelhouse", wheelhouse, home=dev)


def two_zones(tmp_path: Path) -> tuple[Path, Path]:
    """dev and prod, run by the checkout's bundlekit, each trusting the other."""
    dev, prod = tmp_path / "dev", tmp_path / "prod"
    for zone, home in (("dev", dev), ("prod", prod)):
        assert run_cli("init", "--zone", zone, home=home).returncode == 0
        assert run_cli("identity", "-o", tmp_path / f"{zone}.card", home=home).returncode == 0
    assert run_cli("trust", "add", tmp_path / "prod.card", home=dev).returncode == 0
    assert run_cli("trust", "add", tmp_path / "dev.card", home=prod).returncode == 0
    return dev, prod


def stand_in(venv: Path, version: str) -> None:
    """``venv/bin/bundlekit``: a script that answers ``--version`` with ``version`` and nothing else
    (an environment a killed run began, or one put together by hand)."""
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "bundlekit").write_text(f"#!/bin/sh\necho bundlekit, version {version}\n", "utf-8")
    (venv / "bin" / "bundlekit").chmod(0o755)


def house_without(wheelhouse: Path, prefix: str, dest: Path) -> Path:
    """``dest``: a wheelhouse holding (hard links to) every wheel of ``wheelhouse`` whose file name
    does not start with ``prefix``."""
    dest.mkdir()
    for w in wheelhouse.iterdir():
        if not w.name.startswith(prefix):
            os.link(w, dest / w.name)
    return dest


def accepted(home: Path, bundle: Path) -> None:
    """The zone at ``home`` accepts the bundlekit release ``bundle`` as self-update records it once the
    new environment runs (the release, its wheels, its sequence), without installing anything: plain
    ``bundlekit import`` refuses such a bundle (newuser35 finding 13, decision 972)."""
    from bundlekit.core import clock
    from bundlekit.importer.importer import import_bundle
    from bundlekit.zone.home import open_zone

    with open_zone(home) as zone:
        import_bundle(zone, bundle, now=clock.now(), replace=True, self_update=True)


def small_self_bundle(tmp_path: Path, dev: Path, *, version: str = NEWER, to: str = "prod") -> Path:
    """A bundlekit release exported by ``dev`` for zone ``to`` from two minimal wheels (bundlekit
    ``version`` and click): kilobytes, where the shared wheelhouse makes tens of megabytes."""
    from tests.selfupdate.test_wheels import wheel

    house = tmp_path / f"small-house-{version}"
    if not house.exists():  # made once: a second export sends the very same wheels
        house.mkdir()
        wheel(house, "bundlekit", version, requires=("click",))
        wheel(house, "click", "8.1.0")
    bundle = tmp_path / f"small-{version}-{to}.bundle"
    done = run_cli("export-self", "--to", to, "-o", bundle, "--wheelhouse", house, home=dev)
    assert done.returncode == 0, done.stderr
    return bundle


def runnable_stand_in(venv: Path, version: str, *, schema: int | None = None) -> None:
    """``venv/bin/bundlekit`` and ``venv/bin/python`` that pass every check of a finished
    environment (decision 952) without one being built: ``bundlekit`` runs from its own folder
    (pip's ``#!/bin/sh`` + ``exec`` form naming ``venv/bin/python``) and answers ``--version``
    with ``version``; ``python`` answers bundlekit's probe (version, state ``schema``, default the
    checkout's, command modules loaded) as that release would."""
    from bundlekit.zone.schema import SCHEMA_VERSION

    (venv / "bin").mkdir(parents=True)
    answer = json.dumps({"version": version, "schema": SCHEMA_VERSION if schema is None else schema})
    python = venv / "bin" / "python"
    python.write_text("#!/bin/sh\n"
                      f'if [ "$2" = "--version" ]; then echo "bundlekit, version {version}"; exit 0; fi\n'
                      f"echo '{answer}'\n", "utf-8")
    exec_line = "'''exec' " + f'"{python}" "$0" "$@"'
    (venv / "bin" / "bundlekit").write_text(f"#!/bin/sh\n{exec_line}\n", "utf-8")
    for name in ("python", "bundlekit"):
        (venv / "bin" / name).chmod(0o755)


def finished_stand_in(home: Path, bundle: Path, version: str) -> Path:
    """The environment self-update would make for ``bundle`` in ``home``, already made and
    finished (its marker, a runnable stand-in): self-update then imports and switches without
    running pip."""
    from bundlekit.selfupdate.links import MARKER

    digest = json.loads(run_cli("inspect", bundle, "--json").stdout)["digest"]
    venv = home / "self" / "venvs" / f"{version}-{digest[:12]}"
    runnable_stand_in(venv, version)
    (venv / MARKER).write_text(f"{version} {digest}\n", "utf-8")
    return venv
