"""Refusal table rows: SSH targets and the worker, against real sshd machines on 127.0.0.1.

:func:`machines` starts three OpenSSH servers for the table (``tests/fleet/sshd.py``), each
letting in ``prod_run``'s own SSH key, and writes what a row needs to know about them to
``machines.json`` in the base folder:

* ``plain``: an ordinary machine;
* ``nopython``: its sessions get ``PATH=/nonexistent``, so there is no ``python3``;
* ``bare``: its sessions get a ``PATH`` holding only a Python virtual environment made without
  system packages: ``python3`` (no lxml) and no ``bash``.

Deployment refusals found by the preflight run with ``--dry-run`` (which only probes the
targets: nothing is written on them or in the home); codes met while a deployment runs are
checked as the failed run's reason.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.fleet.sshd import SshServer, free_port, require_sshd, start_servers
from tests.refusals.world import Call, Ctx, Row, ok

DRY = ["deploy", "acme-web", "1.4.0", "--environment", "Production", "--dry-run"]


@contextmanager
def machines(base: Path) -> Iterator[None]:
    """The table's sshd machines, for as long as the table runs (see the module docstring)."""
    require_sshd()
    public = ok("targets", "ssh-key", home=base / "prod_run").strip()
    venv = base / "bare-python"
    subprocess.run([_system_python(), "-m", "venv", "--without-pip", venv], check=True)
    servers = start_servers(base / "machines", 1, public, prefix="plain")
    try:
        for name, path in (("nopython", "/nonexistent"), ("bare", f"{venv}/bin")):
            server = SshServer(name, base / "machines" / name, free_port(), env={"PATH": path})
            servers.append(server.start(public))
        (base / "machines.json").write_text(json.dumps({
            s.name.split("-")[0]: {"address": f"{s.user}@127.0.0.1:{s.port}", "host_key": s.host_key}
            for s in servers}))
        yield
    finally:
        for server in servers:
            server.stop()


def _system_python() -> str:
    return "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable


def _machine(ctx: Ctx, name: str) -> dict[str, str]:
    found: dict[str, str] = json.loads((ctx.base / "machines.json").read_text())[name]
    return found


def _add_ssh(ctx: Ctx, name: str, role: str, machine: str, *extra: object, key_of: str | None = None,
             address: str | None = None) -> None:
    m = _machine(ctx, machine)
    work = () if "--work-dir" in extra else ("--work-dir", ctx.path(f"remote-{name}"))
    ok("targets", "add", name, "--environment", "Production", "--role", role, "--ssh", address or m["address"],
       "--host-key", _machine(ctx, key_of or machine)["host_key"], *extra, *work, home=ctx.prod_run)


def _dry(ctx: Ctx, name: str, machine: str, *extra: object, **kw: Any) -> Call:
    """``web-02`` (an SSH target on ``machine``) joins prod_run's targets; a dry run of the release."""
    _add_ssh(ctx, name, "web", machine, *extra, **kw)
    return Call(DRY, home=ctx.prod_run)


def _ssh_add(ctx: Ctx, *options: object) -> Call:
    return Call(["targets", "add", "web-09", "--environment", "Production", "--role", "web", *options],
                home=ctx.prod)


def _unauthorized_key(ctx: Ctx) -> Path:
    key = ctx.path("other-key")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
    return key


def _lost_python(ctx: Ctx) -> Call:
    """The worker's Python, chosen with `worker set`, was removed from the machine since."""
    python = ctx.path("worker-python3")
    python.symlink_to(sys.executable)
    ok("worker", "set", "--sandbox", "--python", python, "--folder", ctx.path("worker"), home=ctx.prod_run)
    python.unlink()
    return Call(DRY, home=ctx.prod_run)


def _ran_on_bare(ctx: Ctx, role: str, call: Call | None = None) -> Call:
    """Target ``role``'s machine replaced by an SSH target on ``bare``; the release deployed."""
    ctx.run_targets()
    ok("targets", "remove", f"{role}-01", home=ctx.prod_run)
    _add_ssh(ctx, f"{role}-01", role, "bare")
    return call or Call(["deploy", "acme-web", "1.4.0", "--environment", "Production"], home=ctx.prod_run,
                        expect="deployment")


WEB_CONFIG = (b'<?xml version="1.0"?>\n<configuration><appSettings>'
              b'<add key="Db" value="dev"/></appSettings></configuration>\n')
XPATH = "/configuration/appSettings/add[@key='Db']/@value"


def _xml_release(ctx: Ctx) -> Call:
    """Release 1.4.1 configures web.config (XML) on a target whose python3 has no lxml."""
    release = ctx.release(('version = "1.4.0"\nfile', 'version = "1.4.1"\nfile'),
                          ("Acme.Web.1.4.0.zip", "Acme.Web.1.4.1.zip"),
                          ('substitute = ["appsettings.json", "index.html"]\n',
                           'substitute = ["appsettings.json", "index.html"]\nstructured_config = ["web.config"]\n'),
                          version="1.4.1")
    release.write_text(release.read_text() + f'\n[[variables]]\nname = "{XPATH}"\nvalue = "prod"\n')
    package = release.parent / "packages" / "Acme.Web.1.4.1.zip"
    with zipfile.ZipFile(release.parent / "packages" / "Acme.Web.1.4.0.zip") as old:
        members = {name: old.read(name) for name in old.namelist()}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in (members | {"web.config": WEB_CONFIG}).items():
            z.writestr(name, data)
    package.write_bytes(buffer.getvalue())
    ctx.imported(release, into="prod_run")
    # Refused by the preflight from the runner's hello, before the db step runs (decision 522).
    return _ran_on_bare(ctx, "web", Call(["deploy", "acme-web", "1.4.1", "--environment", "Production"],
                                         home=ctx.prod_run))


ROWS = [
    # -- `targets add --ssh` and `worker set`: nothing recorded ------------------------------
    Row("invalid_target_address", lambda c: _ssh_add(c, "--ssh", "deploy@bad host", "--host-key",
                                                     _machine(c, "plain")["host_key"])),
    Row("invalid_host_key", lambda c: _ssh_add(c, "--ssh", "deploy@10.0.0.5", "--host-key", "ssh-ed25519 AAAA!")),
    Row("invalid_identity_file", lambda c: _ssh_add(c, "--ssh", "deploy@10.0.0.5", "--host-key",
                                                    _machine(c, "plain")["host_key"], "--identity-file",
                                                    c.file("id_ed25519", "not a key"))),
    Row("invalid_worker", lambda c: Call(["worker", "set", "--user", "root"], home=c.prod,
                                         outputs=[c.prod.with_name(c.prod.name + ".worker")])),
    # -- found by the preflight's connection check (dry run: nothing written anywhere) -------
    Row("host_key_mismatch", lambda c: _dry(c, "web-02", "plain", key_of="nopython")),
    Row("target_unreachable", lambda c: _dry(c, "web-02", "plain", address=f"deploy@127.0.0.1:{free_port()}")),
    Row("target_auth_failed", lambda c: _dry(c, "web-02", "plain", "--identity-file", _unauthorized_key(c))),
    Row("target_python_missing", lambda c: _dry(c, "web-02", "nopython")),
    Row("target_workdir_unusable", lambda c: _dry(c, "web-02", "plain", "--work-dir",
                                                  c.file("a-file", "not a folder") / "work")),
    Row("worker_unavailable", _lost_python),
    # -- met while the deployment runs on a real SSH machine ------------------------------
    Row("interpreter_missing", lambda c: _ran_on_bare(c, "db")),
    Row("structured_config_unavailable", _xml_release),
]
