"""The zones every row of the refusal table starts from, built once through the real CLI.

``build_base`` makes, in one folder: a dev and a prod zone that trust each other, prod's two
targets, the fixture release exported (``acme.bundle``) and imported into prod, and a third
zone ``other`` that prod does not trust. A second prod (``prod_deployed``) has deployed the
release twice, each time writing a receipt (``r1.bundle``, ``r2.bundle``); ``dev_receipts`` has
imported ``r2`` (so it knows what prod holds) and exported 1.4.1 with the package by
reference (``delta.bundle``). ``dev_pre`` and ``prod_fresh`` are the zones before any
export or import. ``prod_run`` is prod with the placeholder bound, ready to deploy, whose
targets' roots lie under ``run-targets``: a link that each row points at its own folder
(:meth:`Ctx.run_targets`), so deployments that run never share a target.

A row gets a :class:`Ctx`: each base folder is copied into the row's own folder on first use,
so rows never see each other's changes.
"""

from __future__ import annotations

import json
import shutil
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from click.testing import CliRunner

from bundlekit.cli import cli
from tests.conftest import FIXTURES

RELEASE_NAME = "release.toml"


def ok(*args: object, home: Path | None = None, env: dict[str, str] | None = None) -> str:
    """Run a set-up command of a row in this process (it must succeed); returns its stdout.

    Only the refused command of a row needs a process of its own; preparing its input in
    process keeps the table fast (a CLI process spends most of its time importing).
    """
    argv = [str(a) for a in args] + (["--home", str(home)] if home is not None else [])
    r = CliRunner().invoke(cli, argv, env=env, catch_exceptions=False)
    assert r.exit_code == 0, f"set-up `bundlekit {' '.join(argv)}` exit {r.exit_code}:\n{r.stdout}{r.stderr}"
    return r.stdout


def copy(src: Path, dest: Path) -> Path:
    """A byte- and mode-identical copy of a file or folder (links kept as links)."""
    if src.is_dir():
        shutil.copytree(src, dest, symlinks=True)
    else:
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest)
    return dest


def build_base(root: Path) -> Path:
    """Build the shared zones under ``root`` (see the module docstring); returns ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(FIXTURES / "acme", root / "release")
    for name in ("dev", "prod", "other"):
        ok("init", "--zone", name, home=root / name)
        ok("identity", "-o", root / f"{name}.card", home=root / name)
    ok("trust", "add", root / "prod.card", home=root / "dev")
    ok("trust", "add", root / "dev.card", home=root / "prod")
    ok("trust", "add", root / "prod.card", home=root / "other")
    for name, role in (("db-01", "db"), ("web-01", "web")):
        ok("targets", "add", name, "--environment", "Production", "--role", role, "--root", root / "targets" / name,
           home=root / "prod")
    copy(root / "dev", root / "dev_pre")
    copy(root / "prod", root / "prod_fresh")
    ok("export", root / "release" / RELEASE_NAME, "--to", "prod", "-o", root / "acme.bundle", home=root / "dev")
    ok("import", root / "acme.bundle", home=root / "prod")
    copy(root / "prod", root / "prod_run")
    ok("variables", "set", "acme-web", "Acme.ApiKey", "k-refusals", "--sensitive", home=root / "prod_run")
    for name, role in (("db-01", "db"), ("web-01", "web")):
        ok("targets", "remove", name, home=root / "prod_run")
        ok("targets", "add", name, "--environment", "Production", "--role", role, "--root",
           root / "run-targets" / name, home=root / "prod_run")
    shutil.rmtree(root / "run-targets")  # from now on a link, re-pointed by each row that deploys
    (root / "run-targets").symlink_to(root / "targets")
    copy(root / "prod", root / "prod_deployed")
    ok("variables", "set", "acme-web", "Acme.ApiKey", "k-refusals", "--sensitive", home=root / "prod_deployed")
    for n in (1, 2):
        ok("deploy", "acme-web", "1.4.0", "--environment", "Production", "--receipt-out", root / f"r{n}.bundle",
           home=root / "prod_deployed")
    copy(root / "dev", root / "dev_receipts")
    ok("import", root / "r2.bundle", home=root / "dev_receipts")
    copy(root / "release", root / "release_141")
    set_version(root / "release_141", "1.4.0", "1.4.1")
    out = json.loads(ok("export", root / "release_141" / RELEASE_NAME, "--to", "prod", "-o", root / "delta.bundle",
                        "--json", home=root / "dev_receipts"))
    assert out["by_reference"] == ["Acme.Web 1.4.0"], out
    return root


def set_version(release_dir: Path, old: str, new: str) -> None:
    path = release_dir / RELEASE_NAME
    text = path.read_text()
    marker = f'version = "{old}"\nchannel'
    assert marker in text
    path.write_text(text.replace(marker, f'version = "{new}"\nchannel', 1))


def edit(path: Path, old: str, new: str) -> Path:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))
    return path


def write_zip(path: Path, members: dict[str, bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


@dataclass
class Ctx:
    """One row's private world: ``ctx.prod`` etc. are copies made on first use."""

    base: Path
    root: Path
    _made: dict[str, Path] = field(default_factory=dict)
    _pg: Callable[[], Any] | None = None

    def pg(self) -> Any:
        """The session's PostgreSQL server (``tests/pgserver.py``), started on first use."""
        assert self._pg is not None, "this Ctx has no PostgreSQL server"
        return self._pg()

    def get(self, name: str) -> Path:
        if name not in self._made:
            self._made[name] = copy(self.base / name, self.root / name)
        return self._made[name]

    def __getattr__(self, name: str) -> Path:
        if name.startswith("_"):
            raise AttributeError(name)
        return self.get(name)

    def path(self, name: str) -> Path:
        """A path in the row's folder that does not exist yet."""
        return self.root / name

    def file(self, name: str, data: bytes | str) -> Path:
        p = self.root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data.encode() if isinstance(data, str) else data)
        return p

    def release(self, *edits: tuple[str, str], version: str | None = None) -> Path:
        """A private copy of the fixture release, edited; returns its release file."""
        folder = self.root / f"release-{len(self._made)}"
        self._made[folder.name] = copy(self.base / "release", folder)
        if version is not None:
            set_version(folder, "1.4.0", version)
        for old, new in edits:
            edit(folder / RELEASE_NAME, old, new)
        return folder / RELEASE_NAME

    def imported(self, release: Path, into: str = "prod", env: dict[str, str] | None = None) -> Path:
        """Export ``release`` from dev and import it into ``into``; returns the bundle."""
        out = self.root / f"{release.parent.name}.bundle"
        ok("export", release, "--to", "prod", "-o", out, home=self.dev, env=env)
        ok("import", out, home=self.get(into))
        return out

    def run_targets(self) -> dict[str, Path]:
        """Point ``prod_run``'s target roots at fresh folders of this row; returns them by name."""
        folder = self.root / "targets"
        roots = {name: folder / name for name in ("db-01", "web-01")}
        for root in roots.values():
            root.mkdir(parents=True, exist_ok=True)
        link = self.base / "run-targets"
        staged = self.base / "run-targets.new"
        staged.symlink_to(folder)
        staged.replace(link)
        return roots


@dataclass
class Call:
    """The refused command of a row.

    ``home`` is passed as ``--home``; ``outputs`` are the other paths that must not change.
    ``json``: add ``--json`` and read the error object (else read ``error [code]`` on stderr).
    ``expect``: ``unchanged`` (the rule), or the documented exception the row proves:
    ``preflight`` (a Failed deployment recorded), ``deployment`` (the deployment ran; the
    code is the failed run's reason and the command fails with ``deploy_failed``) or
    ``refusal`` (an import refused an authentic bundle and queued a refusal entry naming the
    code for its source).
    """

    args: list[Any]
    home: Path | None = None
    outputs: list[Path] = field(default_factory=list)
    json: bool = True
    env: dict[str, str] | None = None
    expect: str = "unchanged"
    hold: list[Any] = field(default_factory=list)  # kept open while the command runs, closed after


@dataclass
class Row:
    code: str
    make: Callable[[Ctx], Call]
    name: str = ""

    @property
    def id(self) -> str:
        return f"{self.code}-{self.name}" if self.name else self.code


def now() -> int:
    return int(time.time())
