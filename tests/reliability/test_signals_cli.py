"""SIGTERM at any moment of `bundlekit deploy`, through the real CLI (finding 19.2, decision 461).

Each point is reached by an observable marker, never by a delay: the process holding its
signals (its signal mask in /proc, set on the command's first line, while the CLI still loads),
the preflight starting a runner (a worker Python that waits at a gate), a deployment waiting
behind another one (its "waiting for" line) and a script running (the gate's ``started`` file).
Every time: the command ends with its documented code (exit 5, ``deployment_canceled``), the
deployment is recorded ``Canceled`` once it exists (and nothing is recorded before), and no
process of the deployment is left.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import cli_in_process, make_zones
from tests.reliability.kills import Gated, deployments, gated_world, start_deploy, wait_for

#: How long a test waits for a marker or for processes to end before it calls it a hang.
HANG = 120.0


def _caught(pid: int) -> int:
    """The signals process ``pid`` catches (``SigCgt`` of /proc/PID/status), as a bit mask."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return int(line.split()[1], 16)
    return 0


def _until(condition: object, proc: subprocess.Popen[str], what: str) -> None:
    deadline = time.monotonic() + HANG
    while not condition():  # type: ignore[operator]
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"deploy ended (exit {proc.returncode}) before {what}:\n{out}\n{err}")
        assert time.monotonic() < deadline, f"never saw {what}"
        time.sleep(0.01)


def _left(root: Path) -> list[str]:
    """Processes (other than this one) started for ``root``'s zones: their command line names a
    path under ``root`` or they work in a folder under it (runners, scripts, bubblewrap)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        if int(pid) == os.getpid():
            continue
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        if str(root) in argv or Path(cwd).is_relative_to(root):
            found.append(f"{pid}: {argv}")
    return found


def _nothing_left(root: Path) -> None:
    deadline = time.monotonic() + HANG
    while _left(root) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _left(root), _left(root)


def _canceled_before_anything(proc: subprocess.Popen[str], w: Gated, before: list[dict],  # type: ignore[type-arg]
                              out: str | None = None, err: str | None = None) -> None:
    if out is None:
        out, err = proc.communicate(timeout=HANG)
    assert err is not None
    assert proc.returncode == 5, f"{out}\n{err}"
    error = json.loads(out)["error"]
    assert error["code"] == "deployment_canceled" and "nothing was run or recorded" in error["message"], out
    assert "SIGTERM: canceling the deployment" in err and "Traceback" not in err, err
    assert deployments(w.prod) == before  # nothing recorded
    assert not (w.gate / "started").exists()  # no step ran
    _nothing_left(w.zones.tmp)


@pytest.fixture()
def world(tmp_path: Path) -> Iterator[Gated]:
    w = gated_world(make_zones(tmp_path), tmp_path)
    yield w
    # A failed test leaves nothing running behind it: open the gates, then end what is left.
    for gate in (w.gate / "go", tmp_path / "py" / "go"):
        if gate.parent.is_dir():
            gate.touch()
    for entry in _left(tmp_path):
        try:
            os.kill(int(entry.split(":")[0]), signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_sigterm_while_the_command_still_loads_stops_it_before_anything_runs(world: Gated) -> None:
    # -X importtime writes a line to stderr as each module is loaded: the markers of how far it got.
    env = {k: v for k, v in os.environ.items() if k != "BUNDLEKIT_HOME"}
    proc = subprocess.Popen([sys.executable, "-X", "importtime", "-m", "bundlekit", "deploy", "acme-web", "1.4.0",
                             "--environment", "Production", "--home", str(world.prod), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)
    assert proc.stderr is not None
    while not (line := proc.stderr.readline()).rstrip().endswith("| bundlekit.core.signals"):
        assert line, "the entry point never loaded bundlekit.core.signals"
    # The entry point holds SIGTERM before it loads the CLI (seconds on a loaded machine): the signal
    # is sent as soon as it is held, so it lands while the CLI loads or, at the latest, during the
    # preflight; either way nothing may run or be recorded.
    _until(lambda: _caught(proc.pid) & (1 << (signal.SIGTERM - 1)), proc, "SIGTERM held")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=HANG)
    told = "\n".join(x for x in err.splitlines() if not x.startswith("import time:"))
    _canceled_before_anything(proc, world, [], out, told)


def test_sigterm_during_the_preflight_stops_it_before_any_step_runs(world: Gated, tmp_path: Path) -> None:
    # The worker's Python is a wrapper that, once armed, waits at a gate: the preflight's probe of
    # a target is then visibly running (its process exists) until the test opens the gate.
    gate = tmp_path / "py"
    wrapper = gate / "bin" / "python3"
    wrapper.parent.mkdir(parents=True)
    wrapper.write_text(f'#!/bin/sh\nif [ -e "{gate}/armed" ]; then while [ ! -e "{gate}/go" ]; do sleep 0.05; done; '
                       f'fi\nexec "{os.path.realpath(sys.executable)}" "$@"\n')
    wrapper.chmod(0o755)
    # Unconfined: the sandbox binds back only the wrapper's own tree, not the interpreter it execs,
    # which a checkout under /tmp would have hidden behind the sandbox's private /tmp.
    chosen = cli_in_process("worker", "set", "--unconfined", "--python", wrapper, home=world.prod)
    assert chosen.returncode == 0, chosen.stderr
    (gate / "armed").touch()
    proc = start_deploy(world.prod)
    _until(lambda: any(str(wrapper) in p for p in _left(gate)), proc, "the preflight's probe")
    proc.send_signal(signal.SIGTERM)
    _until(lambda: _caught(proc.pid) & (1 << (signal.SIGTERM - 1)) == 0, proc, "the signal taken")
    (gate / "go").touch()  # the preflight ends; the deployment must not start
    _canceled_before_anything(proc, world, [])


def test_sigterm_while_waiting_behind_another_deployment_records_nothing(world: Gated) -> None:
    first = start_deploy(world.prod)
    wait_for(world.gate / "started", first)
    env = {k: v for k, v in os.environ.items() if k != "BUNDLEKIT_HOME"}
    second = subprocess.Popen([sys.executable, "-m", "bundlekit", "deploy", "acme-web", "1.4.0", "--environment",
                               "Production", "--home", str(world.prod), "--wait", "3600"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                              start_new_session=True)
    assert second.stderr is not None
    seen = ""
    while not (line := second.stderr.readline()).startswith("waiting for"):
        seen += line
        assert line, f"the second deploy ended without waiting:\n{seen}"
    assert line.startswith("waiting for Deployments-1 of Acme Web to Production"), line
    second.send_signal(signal.SIGTERM)
    out, err = second.communicate(timeout=HANG)
    assert second.returncode == 5, f"{out}\n{seen}{line}{err}"
    assert "error [deployment_canceled]" in err and "nothing was run or recorded" in err, err
    assert [(d["id"], d["state"]) for d in deployments(world.prod)] == [("Deployments-1", "Executing")]

    (world.gate / "go").touch()  # the first one was never disturbed
    out, err = first.communicate(timeout=HANG)
    assert first.returncode == 0, f"{out}\n{err}"
    assert [(d["id"], d["state"]) for d in deployments(world.prod)] == [("Deployments-1", "Success")]
    _nothing_left(world.zones.tmp)


def test_sigterm_during_a_script_cancels_and_records_the_deployment_canceled(world: Gated) -> None:
    proc = start_deploy(world.prod)
    wait_for(world.gate / "started", proc)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=HANG)
    assert proc.returncode == 5, f"{out}\n{err}"
    answer = json.loads(out)
    assert answer["error"]["code"] == "deployment_canceled" and answer["state"] == "Canceled", out
    assert [(d["id"], d["state"]) for d in deployments(world.prod)] == [("Deployments-1", "Canceled")]
    runs = {(r["step"], r["target"]): r["state"] for r in answer["runs"]}
    assert runs[("Run migrations", "db-01")] == "Canceled", runs
    _nothing_left(world.zones.tmp)  # the gated script (and its `sleep`) stopped with it
