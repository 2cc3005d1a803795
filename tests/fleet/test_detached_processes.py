"""A process a step detaches from its process group does not outlive the step, end to end through the CLI.

A roleless step (on the zone's worker) and a step on a local folder target each start two
processes that leave the step's process group: ``setsid nohup ... &`` from bash and a Python
double fork into a new session. Each runs ``sleep`` with a duration unique to this test, so
``/proc`` tells whether any is left, whatever PID namespace it ran in. After the deployment none
may be left (decision 471), and the step's log says what was killed. Run in every isolation:
a separate worker user (a throwaway OS user; needs root), the bubblewrap sandbox and unconfined.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, run_cli
from tests.e2e.world import ok
from tests.fleet.hostile import public_folder  # noqa: F401 (a fixture)
from tests.fleet.test_hostile_steps import require_bwrap, worker_user  # noqa: F401 (a fixture)

DETACH = r'''
setsid nohup sleep MARK >/dev/null 2>&1 </dev/null &
python3 - <<'PY'
import os
if os.fork() == 0:
    os.setsid()
    if os.fork():
        os._exit(0)
    fd = os.open("/dev/null", os.O_RDWR)
    for n in (0, 1, 2):
        os.dup2(fd, n)
    os.execvp("sleep", ["sleep", "MARK"])
os.wait()
PY
sleep 0.5
echo "detached two sleepers"
'''


def release(folder: Path, mark: str) -> Path:
    shutil.copytree(FIXTURES / "acme", folder)
    script = DETACH.replace("MARK", mark)
    (folder / "release.toml").write_text(f"""
[project]
name = "Detach"
space = "Default"

[release]
version = "1.0.0"
channel = "Default"

[[steps]]
name = "Detach on the zone"
type = "script"
syntax = "bash"
script = '''{script}'''

[[steps]]
name = "Detach on the target"
type = "script"
syntax = "bash"
roles = ["web"]
script = '''{script}'''
""")
    return folder / "release.toml"


def sleepers(mark: str) -> list[int]:
    """The pids of every process whose command line holds ``mark``."""
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                if mark.encode() in handle.read().split(b"\0"):
                    found.append(int(entry))
        except OSError:
            pass
    return found


@pytest.mark.parametrize("isolation", ["user", "sandbox", "unconfined"])
def test_a_process_a_step_detaches_with_setsid_or_a_double_fork_does_not_outlive_the_step(
        isolation: str, tmp_path: Path, public_folder: Path, request: pytest.FixtureRequest) -> None:
    mark = f"{random.randrange(10_000, 99_999)}.{os.getpid()}"
    dev, prod = tmp_path / "dev", tmp_path / "prod"
    for name, home in (("dev", dev), ("prod", prod)):
        ok("init", "--zone", name, home=home)
        ok("identity", "-o", tmp_path / f"{name}.card", home=home)
    ok("trust", "add", tmp_path / "prod.card", home=dev)
    ok("trust", "add", tmp_path / "dev.card", "--projects", "Detach", home=prod)
    worker_folder = public_folder / "prod.worker"
    if isolation == "user":
        ok("worker", "setup", "--user", request.getfixturevalue("worker_user"), "--folder", worker_folder, home=prod)
    else:
        if isolation == "sandbox":
            require_bwrap()
        ok("worker", "set", f"--{isolation}", "--folder", worker_folder, home=prod)
    ok("targets", "add", "web-01", "--environment", "Production", "--role", "web", "--root",
       public_folder / "web-01", home=prod)
    bundle = tmp_path / "detach.bundle"
    ok("export", release(tmp_path / "release", mark), "--to", "prod", "-o", bundle, home=dev)
    ok("import", bundle, home=prod)
    try:
        deployed = run_cli("deploy", "Detach", "1.0.0", "--environment", "Production", home=prod)
        left = sleepers(mark)
    finally:
        for pid in sleepers(mark):  # never leave them behind, whatever the outcome
            os.kill(pid, signal.SIGKILL)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    assert left == []
    shown = ok("deployments", "show", "Deployments-1", "--json", home=prod)
    assert shown.count("detached two sleepers") == 2, shown  # both steps did start them
    assert shown.count("process(es) running outside its process group; they were killed") == 2, shown
