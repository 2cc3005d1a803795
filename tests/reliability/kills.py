"""A zone with a release whose first script waits at a gate, for killing `bundlekit deploy` mid-step.

The world is built in this process (fast); the deployments run as real `bundlekit` processes in
their own session, so a test can SIGKILL one (and the runner it started) at a chosen point.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bundlekit.importer import edits
from bundlekit.importer.importer import import_bundle
from bundlekit.zone.targets import add_target
from tests.conftest import FIXTURES, Zones, cli_in_process
from tests.importer.helpers import export

#: The line the gated script starts with; GATE is the target's own folder (bound in any sandbox).
GATED = ('script = \'\'\'\ntouch "{gate}/started"; while [ ! -e "{gate}/go" ]; do sleep 0.05; done\n')


@dataclass
class Gated:
    """A prod zone that imported acme-web 1.4.0, whose "Run migrations" waits for ``gate/go``."""

    zones: Zones
    gate: Path  # the db target's root: the script touches gate/started, then waits for gate/go
    targets: Path

    @property
    def prod(self) -> Path:
        return self.zones.prod.home


def gated_world(z: Zones, tmp: Path) -> Gated:
    release = tmp / "release"
    shutil.copytree(FIXTURES / "acme", release)
    targets = tmp / "targets"
    gate = targets / "db-01"
    toml = release / "release.toml"
    text = toml.read_text()
    first = "script = '''\n"
    assert first in text
    toml.write_text(text.replace(first, GATED.format(gate=gate), 1))
    now = int(time.time())
    import_bundle(z.prod, export(z, tmp / "a.bundle", release=toml), now=now)
    edits.set_variable(z.prod, "acme-web", "Acme.ApiKey", "k-kill-test", sensitive=True, now=now)
    add_target(z.prod, "db-01", "Production", ("db",), gate, now)
    add_target(z.prod, "web-01", "Production", ("web",), targets / "web-01", now)
    z.prod.close()  # the CLI processes open it themselves
    return Gated(z, gate, targets)


def start_deploy(home: Path, *extra: str) -> subprocess.Popen[str]:
    """`bundlekit deploy acme-web 1.4.0 --environment Production` in a session of its own."""
    env = dict(os.environ)
    env.pop("BUNDLEKIT_HOME", None)
    return subprocess.Popen([sys.executable, "-m", "bundlekit", "deploy", "acme-web", "1.4.0", "--environment",
                             "Production", "--home", str(home), "--json", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)


def wait_for(path: Path, proc: subprocess.Popen[str], limit: float = 120.0) -> None:
    """Return once ``path`` exists; fail if ``proc`` ends first (or after ``limit`` seconds: a hang)."""
    deadline = time.monotonic() + limit
    while not path.exists():
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"deploy ended (exit {proc.returncode}) before {path} appeared:\n{out}\n{err}")
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def kill_all(proc: subprocess.Popen[str]) -> None:
    """SIGKILL the process and everything in its session (its runners), as a crash would end them."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.communicate()


def deployments(home: Path) -> list[dict]:  # type: ignore[type-arg]
    """What `deployments list --json` says (in this process: the command's code, without a new interpreter)."""
    r = cli_in_process("deployments", "list", "--json", home=home)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["deployments"]  # type: ignore[no-any-return]
