"""Zones for the operator-experience tests, built in process (fast) through the real CLI objects.

``bk(...)`` runs one ``bundlekit`` command in this process and returns click's result (exit
code, stdout, stderr apart); ``world(root)`` makes a dev and a prod zone that trust each
other, prod's two targets, and the fixture release exported to ``acme.bundle``.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from click.testing import CliRunner, Result

from bundlekit.cli import cli
from tests.conftest import ENGINE, FIXTURES, SET_ENGINE

if TYPE_CHECKING:
    from tests.pgserver import PostgresServer


def bk(*args: object, home: Path | None = None, env: dict[str, str] | None = None,
       input: str | None = None) -> Result:
    """One `bundlekit` command in this process (no exception escapes: exit codes are checked)."""
    argv = [str(a) for a in args] + (["--home", str(home)] if home is not None else [])
    return CliRunner().invoke(cli, argv, env=env, input=input, prog_name="bundlekit")


def ok(*args: object, home: Path | None = None) -> str:
    r = bk(*args, home=home)
    assert r.exit_code == 0, f"bundlekit {' '.join(map(str, args))}: exit {r.exit_code}\n{r.stdout}\n{r.stderr}"
    return r.stdout


def ok_json(*args: object, home: Path | None = None) -> Any:
    return json.loads(ok(*args, "--json", home=home))


@dataclass
class World:
    root: Path
    dev: Path
    prod: Path
    release: Path
    bundle: Path


def world(root: Path, pg: "PostgresServer | None | object" = SET_ENGINE) -> World:
    """``pg``: each zone's state is a new database on that server (not given: the engine
    ``state_engine`` set; None: SQLite in the home)."""
    if pg is SET_ENGINE:
        pg = ENGINE.pg
    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(FIXTURES / "acme", root / "release")
    dev, prod = root / "dev", root / "prod"
    for name, home in (("dev", dev), ("prod", prod)):
        state = () if pg is None else ("--state", pg.new_database(), "--state-password-file",  # type: ignore[union-attr]
                                       pg.password_file)  # type: ignore[union-attr]
        ok("init", "--zone", name, *state, home=home)
        ok("identity", "-o", root / f"{name}.card", home=home)
    ok("trust", "add", root / "prod.card", home=dev)
    ok("trust", "add", root / "dev.card", home=prod)
    for name, role in (("db-01", "db"), ("web-01", "web")):
        ok("targets", "add", name, "--environment", "Production", "--role", role, "--root",
           root / "targets" / name, home=prod)
    bundle = root / "acme.bundle"
    ok("export", root / "release" / "release.toml", "--to", "prod", "-o", bundle, home=dev)
    return World(root, dev, prod, root / "release" / "release.toml", bundle)


def set_version(release: Path, old: str, new: str) -> None:
    """Make the release file describe another version (its first ``version = "old"``)."""
    text = release.read_text()
    release.write_text(text.replace(f'version = "{old}"\nchannel', f'version = "{new}"\nchannel', 1))
