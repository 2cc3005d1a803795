"""The README's main job (scripts/roundtrip.py) promotes a release through its lifecycle across three
zones and ends with a dashboard that shows every phase, in lifecycle order. The script runs once
for the module; each test reads what it printed and wrote."""

from __future__ import annotations

import importlib.util
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

from tests.dashboard.dom import grid_cells, parse, release

ROOT = Path(__file__).resolve().parents[2]


def _script() -> ModuleType:
    """scripts/roundtrip.py as a module (its main job runs only as a program)."""
    spec = importlib.util.spec_from_file_location("roundtrip", ROOT / "scripts" / "roundtrip.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class Run:
    work: Path
    stdout: str
    commands: list[str]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    work = tmp_path_factory.mktemp("main-job") / "rt"
    env = dict(os.environ, BUNDLEKIT_ROUNDTRIP_DIR=str(work))
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "roundtrip.py")], capture_output=True, text=True,
                       env=env, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return Run(work, r.stdout, [line[2:] for line in r.stdout.splitlines() if line.startswith("$ ")])


def test_main_job_completes_and_writes_the_dashboard(run: Run) -> None:
    assert "round trip complete" in run.stdout
    html = run.work / "dashboard.html"
    assert f"dashboard: {html}" in run.stdout
    assert 'data-state="succeeded"' in html.read_text()


def test_main_job_promotes_in_lifecycle_order_and_production_waits_for_staging_proof(run: Run) -> None:
    commands = run.commands
    development = next(i for i, c in enumerate(commands) if "--environment Development" in c)
    staging = next(i for i, c in enumerate(commands) if "--environment Staging" in c)
    refused = next(i for i, c in enumerate(commands) if "--environment Production" in c)
    assert development < staging < refused and "--evidence" not in commands[refused]
    assert "[lifecycle_violation]" in run.stdout and "Nothing was run." in run.stdout
    assert "(refused as expected: exit 5; the lifecycle refuses Production until Staging has passed; nothing was " \
           "run)" in run.stdout
    deployed = [i for i, c in enumerate(commands) if "--environment Production" in c and "--evidence" in c
                and "--dry-run" not in c]
    assert deployed and deployed[0] > refused


def test_main_job_dashboard_shows_every_phase_in_lifecycle_order(run: Run) -> None:
    cells = grid_cells(parse((run.work / "dashboard.html").read_text()))
    assert [(z, e) for (_slug, z, e) in cells] == [("dev", "Development"), ("staging", "Staging"),
                                                    ("prod", "Production")]
    assert all(c.attrs["data-state"] == "succeeded" for c in cells.values())
    assert [release(c) for c in cells.values()] == ["1.5.0"] * 3


def test_main_job_prints_the_carry_like_every_other_step(run: Run) -> None:
    """The walkthrough shows every command, the copy to the other zone's inbox included: each
    file a printed command reads from an inbox was put there by a printed command before."""
    for inbox in ("staging-inbox", "prod-inbox", "dev-inbox"):
        folder = str(run.work / inbox)
        readers = [i for i, c in enumerate(run.commands) if folder in c and c.startswith("bundlekit ")]
        copies = [i for i, c in enumerate(run.commands)
                  if c.split("&&")[-1].strip().startswith("cp ") and folder in c]
        assert readers, run.commands
        assert copies and copies[0] < readers[0], run.commands


def test_main_job_gives_each_zones_api_key_on_stdin_never_on_the_command_line(run: Run) -> None:
    """The walkthrough teaches the safe way (decision 199): a sensitive value on a command line
    is in every user's process list, so each `variables set ... --sensitive` reads VALUE `-`
    from a file given as `< FILE`, printed so, and the value itself is printed nowhere and left
    in clear in no file but the deployed application's configuration."""
    sets = [c for c in run.commands if c.startswith("bundlekit variables set ") and "--sensitive" in c]
    assert len(sets) == 3, run.commands
    for command in sets:
        typed, redirect, source = command.partition(" < ")
        argv = shlex.split(typed)
        assert argv[3:6] == ["acme-web", "Acme.ApiKey", "-"] and redirect and shlex.split(source), command
    values = list(_script().API_KEYS.values())
    assert len(values) == 3
    assert not any(v in run.stdout for v in values)
    deployed = run.work / "targets"  # the application's own config there holds the key: what a deploy is for
    for path in run.work.rglob("*"):
        if path.is_file() and not path.is_symlink() and deployed not in path.parents:
            data = path.read_bytes()
            assert not any(v.encode() in data for v in values), path


def test_main_job_relays_the_release_through_staging_and_the_receipt_back(run: Run) -> None:
    """Issue 11: the round trip is dev -> staging (relay) -> prod, receipts back along the chain.
    prod trusts dev only through staging, so the bundle it imports is the one staging relayed,
    and prod's receipt reaches dev relayed by staging (review v33-11u F1: prod was sent its own
    export from dev and its receipt went straight back)."""
    commands = [shlex.split(c) for c in run.commands if c.startswith("bundlekit ")]
    prod, staging, dev = (str(run.work / z) for z in ("prod", "staging", "dev"))
    assert any(c[1:3] == ["trust", "add"] and c[c.index("--home") + 1] == prod and "--via" in c
               and c[c.index("--via") + 1] == "staging" and c[3].endswith("dev.card") for c in commands)
    assert not any(c[1] == "export" and c[c.index("--to") + 1] == "prod" for c in commands if "--to" in c)
    relays = [c for c in commands if c[1] == "relay"]
    assert [(c[c.index("--to") + 1], c[c.index("--home") + 1]) for c in relays] == [("prod", staging), ("dev", staging)]
    assert "imported Acme Web 1.5.0 from dev, relayed by staging" in run.stdout
    assert "Acme Web 1.5.0 to Production in prod (carried by staging): Success" in run.stdout
    imported = [c for c in commands if c[1] == "import" and c[-1] == dev]
    assert imported and Path(imported[-1][2]).name == Path(relays[1][relays[1].index("-o") + 1]).name
