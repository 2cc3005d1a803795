"""A whole round trip through the real CLI in subprocesses, shared by the end-to-end tests."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import FIXTURES, run_cli

API_KEY = "prod-only-api-key-canary"


def ok(*args: object, home: Path | None = None) -> str:
    r = run_cli(*args, home=home)  # type: ignore[arg-type]
    assert r.returncode == 0, f"bundlekit {' '.join(map(str, args))}: exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r.stdout


@dataclass
class World:
    root: Path
    dev: Path
    prod: Path
    release_dir: Path
    outputs: list[str] = field(default_factory=list)

    def cli(self, *args: object, home: Path | None = None) -> str:
        out = ok(*args, home=home)
        self.outputs.append(out)
        return out

    def export(self, name: str) -> Path:
        out = self.root / "media" / name
        self.cli("export", self.release_dir / "release.toml", "--to", "prod", "-o", out, home=self.dev)
        return out

    def set_version(self, old: str, new: str) -> None:
        path = self.release_dir / "release.toml"
        path.write_text(path.read_text().replace(f'version = "{old}"\nchannel', f'version = "{new}"\nchannel', 1))


def make_world(root: Path) -> World:
    dev, prod = root / "dev", root / "prod"
    release_dir = root / "release"
    shutil.copytree(FIXTURES / "acme", release_dir)
    w = World(root, dev, prod, release_dir)
    for name, home in (("dev", dev), ("prod", prod)):
        w.cli("init", "--zone", name, home=home)
        w.cli("identity", "-o", root / f"{name}.card", home=home)
    w.cli("trust", "add", root / "prod.card", home=dev)
    w.cli("trust", "add", root / "dev.card", home=prod)
    for name, role in (("db-01", "db"), ("web-01", "web")):
        w.cli("targets", "add", name, "--environment", "Production", "--role", role, "--root",
              root / "targets" / name, home=prod)
    return w


def json_of(text: str) -> dict:  # type: ignore[type-arg]
    return json.loads(text)  # type: ignore[no-any-return]
