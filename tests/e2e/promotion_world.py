"""Three zones for the promotion tests: dev makes releases, staging and prod deploy them.

Set-up commands run the real CLI in this process (:func:`ok`: the same code, without paying a
Python start-up per command); the command a test is about runs in a subprocess
(``tests.conftest.run_cli``). Each world is private to its test.
"""

from __future__ import annotations

import json
import shutil
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from bundlekit.cli import cli
from tests.conftest import FIXTURES
from tests.pgserver import PostgresServer

LIFECYCLE_RELEASE = "release-1.5.0.toml"


def ok(*args: object, home: Path | None = None) -> str:
    """Run a set-up command in this process; it must succeed. Returns its stdout."""
    argv = [str(a) for a in args] + (["--home", str(home)] if home is not None else [])
    r = CliRunner().invoke(cli, argv, catch_exceptions=False)
    assert r.exit_code == 0, f"set-up `bundlekit {' '.join(argv)}` exit {r.exit_code}:\n{r.stdout}{r.stderr}"
    return r.stdout


def okj(*args: object, home: Path | None = None) -> Any:
    return json.loads(ok(*args, "--json", home=home))


@dataclass
class Promo:
    root: Path
    dev: Path
    staging: Path
    prod: Path
    release_dir: Path
    pg: PostgresServer | None = None

    def release(self, name: str = LIFECYCLE_RELEASE, *edits: tuple[str, str], version: str | None = None,
                as_name: str | None = None) -> Path:
        """A copy of a fixture release file next to its packages, edited."""
        text = (self.release_dir / name).read_text()
        if version is not None:
            marker = f'version = "{tomllib.loads(text)["release"]["version"]}"\nchannel'
            assert marker in text
            text = text.replace(marker, f'version = "{version}"\nchannel', 1)
        for old_text, new_text in edits:
            assert old_text in text, old_text
            text = text.replace(old_text, new_text, 1)
        out = self.release_dir / (as_name or f"edited-{len(list(self.release_dir.glob('edited-*')))}.toml")
        out.write_text(text)
        return out

    def export(self, release: Path, to: str, name: str) -> Path:
        out = self.root / "media" / name
        ok("export", release, "--to", to, "-o", out, home=self.dev)
        return out

    def targets(self, home: Path, *environments: str) -> None:
        for env in environments:
            for name, role in (("db", "db"), ("web", "web")):
                target = f"{env.lower()}-{name}"
                ok("targets", "add", target, "--environment", env, "--role", role, "--root",
                   self.root / "targets" / home.name / target, home=home)

    def config(self, home: Path, environment: str) -> dict[str, Any]:
        """The appsettings.json the last deployment to ``environment`` in zone ``home`` wrote."""
        path = self.root / "targets" / home.name / f"{environment.lower()}-web" / "Acme.Web" / "1.4.0"
        return json.loads((path / "appsettings.json").read_text())  # type: ignore[no-any-return]


def make_promo(root: Path, pg: PostgresServer | None = None) -> Promo:
    """dev, staging and prod with cards exchanged: dev trusts both (receipts), both trust dev
    (releases, whose attestations prove Development), prod trusts staging (receipts as lifecycle
    evidence of Staging; decision 412). With ``pg``, staging and prod keep their state in new
    databases on that server (dev stays on SQLite: one world, both engines; decision 772)."""
    root.mkdir(parents=True, exist_ok=True)
    release_dir = root / "release"
    shutil.copytree(FIXTURES / "acme", release_dir)
    w = Promo(root, root / "dev", root / "staging", root / "prod", release_dir, pg)
    for name in ("dev", "staging", "prod"):
        if pg is not None and name != "dev":
            ok("init", "--zone", name, "--state", pg.new_database(), "--state-password-file", pg.password_file,
               home=root / name)
        else:
            ok("init", "--zone", name, home=root / name)
        ok("identity", "-o", root / f"{name}.card", home=root / name)
    ok("trust", "add", root / "staging.card", home=w.dev)
    ok("trust", "add", root / "prod.card", home=w.dev)
    ok("trust", "add", root / "dev.card", "--evidence-for", "Development", home=w.staging)
    ok("trust", "add", root / "dev.card", "--evidence-for", "Development", home=w.prod)
    ok("trust", "add", root / "staging.card", "--evidence-for", "Staging", home=w.prod)
    return w


def promo_state(w: Promo, home: Path) -> bytes:
    """Everything zone ``home`` of world ``w`` keeps in its state: its SQLite file, or a dump
    of its PostgreSQL database; equal bytes mean the state did not change."""
    conf = home / "bundlekit.conf"
    if not conf.exists():
        return (home / "state.db").read_bytes()
    assert w.pg is not None, f"{home}: a PostgreSQL home in a SQLite world"
    database = conf.read_text().split("BUNDLEKIT_STATE=", 1)[1].split()[0].rsplit("/", 1)[1]
    return w.pg.dump(database).encode()
