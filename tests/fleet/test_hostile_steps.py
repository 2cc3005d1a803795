"""A hostile but trusted source tries to read the zone's keys from its steps, end to end through the CLI.

A roleless step (it runs on the zone's worker) and a step on a local folder target walk up from
their working folder, from every path in every environment variable they are given, from the
zone's home path itself (a guess an attacker could make) and through ``/proc``, and try to read
the zone's keys. They must read nothing, and the key material must appear nowhere: not in the
deployment record, the receipt, the source's outputs or dashboard, in raw, base64 or hex form.
Run in both isolations: a separate worker user (a throwaway OS user, created and removed here;
needs root) and the bubblewrap sandbox (no worker user).
"""

from __future__ import annotations

import base64
import os
import pwd
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, run_cli
from tests.e2e.world import ok
from tests.fleet.hostile import PROBE, public_folder  # noqa: F401 (a fixture)

LOOT = PROBE + r'''
set_octopusvariable("Loot", json.dumps([[p, base64.b64encode(d).decode()] for p, d in sorted(found.items())]))
'''


def hostile_release(folder: Path, home: Path, prelude: str = "") -> Path:
    shutil.copytree(FIXTURES / "acme", folder)
    script = (prelude + LOOT).replace("HOME_GUESS", str(home))
    (folder / "release.toml").write_text(f"""
[project]
name = "Hostile"
space = "Default"

[release]
version = "1.0.0"
channel = "Default"

[[steps]]
name = "Loot the zone"
type = "script"
syntax = "python"
script = '''{script}'''

[[steps]]
name = "Loot the target"
type = "script"
syntax = "python"
roles = ["web"]
script = '''{script}'''
""")
    return folder / "release.toml"


def key_forms(home: Path) -> list[bytes]:
    forms = []
    for path in sorted((home / "keys").iterdir()):
        data = path.read_bytes()
        forms += [data, base64.b64encode(data), data.hex().encode()]
        for line in data.splitlines():
            if len(line) > 16 and not line.startswith(b"-----"):
                forms.append(line)
    return forms


@pytest.fixture
def worker_user() -> Iterator[str]:
    if os.geteuid() != 0:
        pytest.fail("the worker-user test creates a throwaway OS user and needs root: run `sudo python3 tasks.py "
                    "test tests/fleet/test_hostile_steps.py`")
    if shutil.which("useradd") is None or shutil.which("userdel") is None:
        pytest.fail("the worker-user test needs useradd/userdel: run `apt-get install -y passwd`")
    name = f"bkw{os.getpid() % 100000}"
    yield name
    try:
        pwd.getpwnam(name)
    except KeyError:
        return
    subprocess.run(["userdel", name], check=False, capture_output=True)
    subprocess.run(["groupdel", name], check=False, capture_output=True)


def require_bwrap() -> None:
    if not os.access("/usr/bin/bwrap", os.X_OK):
        pytest.fail("the sandbox test needs bubblewrap: run `apt-get install -y bubblewrap`")


def deploy_hostile(isolation: str, tmp_path: Path, public_folder: Path, request: pytest.FixtureRequest,
                   prelude: str = "") -> tuple[Path, Path, Path, subprocess.CompletedProcess[str]]:
    """Two zones (homes in ``tmp_path``), a hostile release trusted for its project only, deployed
    under ``isolation``; ``prelude`` is Python run by both steps before the key probe."""
    dev, prod = tmp_path / "dev", tmp_path / "prod"
    for name, home in (("dev", dev), ("prod", prod)):
        ok("init", "--zone", name, home=home)
        ok("identity", "-o", tmp_path / f"{name}.card", home=home)
    ok("trust", "add", tmp_path / "prod.card", home=dev)
    ok("trust", "add", tmp_path / "dev.card", "--projects", "Hostile", home=prod)
    assert (prod.stat().st_mode & 0o777) == 0o700
    assert all((p.stat().st_mode & 0o777) == 0o600 for p in (prod / "keys").iterdir())
    worker_folder = public_folder / "prod.worker"
    if isolation == "user":
        user = request.getfixturevalue("worker_user")
        ok("worker", "setup", "--user", user, "--folder", worker_folder, home=prod)
        assert pwd.getpwnam(user).pw_uid != 0
    else:
        if isolation == "sandbox":
            require_bwrap()
        ok("worker", "set", f"--{isolation}", "--folder", worker_folder, home=prod)
    ok("targets", "add", "web-01", "--environment", "Production", "--role", "web", "--root",
       public_folder / "web-01", home=prod)
    ok("targets", "ssh-key", home=prod)  # the zone's SSH key exists too, and must not leak either
    bundle = tmp_path / "hostile.bundle"
    ok("export", hostile_release(tmp_path / "release", prod, prelude), "--to", "prod", "-o", bundle, home=dev)
    ok("import", bundle, home=prod)
    receipt = tmp_path / "receipt.bundle"
    deployed = run_cli("deploy", "Hostile", "1.0.0", "--environment", "Production", "--receipt-out", receipt,
                       home=prod)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    return dev, prod, receipt, deployed


@pytest.mark.parametrize("isolation", ["user", "sandbox"])
def test_a_hostile_release_reads_no_zone_key_from_a_roleless_step_or_a_local_target(
        isolation: str, tmp_path: Path, public_folder: Path, request: pytest.FixtureRequest) -> None:
    dev, prod, receipt, deployed = deploy_hostile(isolation, tmp_path, public_folder, request)
    if isolation == "sandbox":
        assert "WARNING" in deployed.stderr and "bubblewrap" in deployed.stderr  # said loudly, every time
    shown = ok("deployments", "show", "Deployments-1", "--json", home=prod)
    assert shown.count("KEYS-FOUND 0 []") == 2, shown  # both steps ran and read no key
    if isolation == "sandbox":
        assert "WARNING" in shown  # and in the deployment's record
    ok("import", receipt, home=dev)
    texts = [shown.encode(), deployed.stdout.encode(), deployed.stderr.encode(), receipt.read_bytes(),
             ok("outputs", "Hostile", "--zone", "prod", "--reveal", home=dev).encode(),
             ok("dashboard", "--json", home=dev).encode()]
    for form in key_forms(prod):
        for text in texts:
            assert form not in text


def test_the_probe_does_find_the_keys_when_the_operator_chose_unconfined(
        tmp_path: Path, public_folder: Path, request: pytest.FixtureRequest) -> None:
    """The same probe, unconfined: it reads the keys, which is why that mode is said loudly everywhere."""
    _, prod, _, deployed = deploy_hostile("unconfined", tmp_path, public_folder, request)
    assert "UNCONFINED" in deployed.stderr
    shown = ok("deployments", "show", "Deployments-1", "--json", home=prod)
    assert "UNCONFINED" in shown and "KEYS-FOUND 0 []" not in shown and "signing.key" in shown
