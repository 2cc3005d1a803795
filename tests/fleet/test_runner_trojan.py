"""A step rewrites the step runner cached in its work folder; later deployments run the genuine one.

Three zones through the real CLI, homes and folders under /var/tmp: ``dev`` is trusted by
``prod`` for ``Hostile`` only, ``devb`` for ``acme-*``. Hostile's steps (roleless, on the zone's
worker; and on the shared local target ``web-01``) overwrite every runner cached in their work
folder with a trojan that would keep what the zone sends it (the next deployment's variables)
in a ``.loot`` file. Then devb's Acme Web deploys on the same worker and target, with
production's own sensitive placeholder value: it must run the genuine runner (success, no
``.loot`` anywhere) and its record must say the cached runner had been altered. Deployed again,
Hostile's step on web-01 can no longer write the runner at all: the sandbox binds a runner
folder it verified read-only. Decision 451.
"""

from __future__ import annotations

import shutil
from pathlib import Path


from tests.conftest import FIXTURES, run_cli
from tests.e2e.world import ok
from tests.fleet.hostile import var_folder  # noqa: F401 (a fixture)
from tests.fleet.test_hostile_steps import require_bwrap

TROJAN = r"""import os, sys
with open(os.path.join(sys.argv[1], ".loot"), "ab") as out:
    out.write(os.read(0, 1 << 16))
sys.exit(3)
"""

REWRITE = r"""
import glob, io, os, zipfile
trojan = TROJAN_TEXT
work = os.getcwd()  # the step's own folder, somewhere under the target's work folder
while work != "/" and not os.path.isdir(os.path.join(work, ".bundlekit", "runner")):
    work = os.path.dirname(work)
print("WORK", work)
for path in sorted(glob.glob(os.path.join(work, ".bundlekit", "runner", "*"))):
    try:
        if path.endswith(".pyz"):
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w") as archive:
                archive.writestr("__main__.py", trojan)
            with open(path, "wb") as out:
                out.write(buffer.getvalue())
        elif os.path.isdir(path):
            with open(os.path.join(path, "__main__.py"), "w") as out:
                out.write(trojan)
        else:
            continue
        print("REWROTE", path)
    except OSError as error:
        print("DENIED", path, error.errno)
"""


def hostile_release(folder: Path) -> Path:
    folder.mkdir()
    script = REWRITE.replace("TROJAN_TEXT", repr(TROJAN))
    (folder / "release.toml").write_text(f"""
[project]
name = "Hostile"
space = "Default"

[release]
version = "1.0.0"
channel = "Default"

[[steps]]
name = "Trojan the worker"
type = "script"
syntax = "python"
script = '''{script}'''

[[steps]]
name = "Trojan the target"
type = "script"
syntax = "python"
roles = ["web"]
script = '''{script}'''
""")
    return folder / "release.toml"


def test_a_runner_rewritten_by_a_step_never_runs_for_another_sources_deployment(var_folder: Path) -> None:
    require_bwrap()
    base = var_folder
    dev, devb, prod = base / "dev", base / "devb", base / "prod"
    for name, home in (("dev", dev), ("devb", devb), ("prod", prod)):
        ok("init", "--zone", name, home=home)
        ok("identity", "-o", base / f"{name}.card", home=home)
    for source in (dev, devb):
        ok("trust", "add", base / "prod.card", home=source)
    ok("trust", "add", base / "dev.card", "--projects", "Hostile", home=prod)
    ok("trust", "add", base / "devb.card", "--projects", "acme-*", home=prod)
    ok("worker", "set", "--sandbox", "--folder", base / "prod.worker", home=prod)
    for name, role in (("web-01", "web"), ("db-01", "db")):
        ok("targets", "add", name, "--environment", "Production", "--role", role, "--root", base / name, home=prod)
    ok("export", hostile_release(base / "hostile"), "--to", "prod", "-o", base / "hostile.bundle", home=dev)
    ok("import", base / "hostile.bundle", home=prod)
    shutil.copytree(FIXTURES / "acme", base / "acme")
    ok("export", base / "acme" / "release.toml", "--to", "prod", "-o", base / "acme.bundle", home=devb)
    ok("import", base / "acme.bundle", home=prod)
    ok("variables", "set", "acme-web", "Acme.ApiKey", "prod-only-api-key-77", "--sensitive", home=prod)

    ok("deploy", "Hostile", "1.0.0", "--environment", "Production", home=prod)
    first = ok("deployments", "show", "Deployments-1", "--json", home=prod)
    assert first.count("REWROTE") >= 2, first  # the worker's and web-01's cached runners were rewritten

    deployed = run_cli("deploy", "acme-web", "1.4.0", "--environment", "Production", home=prod)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    # the operator deploying is told, not only the record (attack review 38, F2)
    assert "WARNING: target 'web-01': the step runner cached in its work folder had been altered" in deployed.stderr
    second = ok("deployments", "show", "Deployments-2", "--json", home=prod)
    assert '"state": "Success"' in second, second
    assert "cached in its work folder had been altered" in second and "web-01" in second, second
    assert sorted(p.name for p in base.rglob(".loot")) == []  # the trojan never ran
    for folder in (base / "web-01", base / "db-01", base / "prod.worker"):
        assert b"prod-only-api-key-77" not in b"".join(p.read_bytes() for p in folder.rglob("*")
                                                        if p.is_file() and ".bundlekit" in p.parts)

    # web-01's runner, verified before its runner started, is read-only to Hostile's steps now. The
    # worker's (Acme Web has no roleless step) is found altered, replaced, and stays writable this time.
    ok("deploy", "Hostile", "1.0.0", "--environment", "Production", home=prod)
    third = ok("deployments", "show", "Deployments-3", "--json", home=prod)
    assert f"DENIED {base / 'web-01' / '.bundlekit' / 'runner'}" in third, third
    assert f"REWROTE {base / 'web-01'}" not in third, third
    assert "target 'prod': the step runner cached in its work folder had been altered" in third, third
    assert sorted(p.name for p in base.rglob(".loot")) == []
