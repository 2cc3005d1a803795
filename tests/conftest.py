"""Shared fixtures: real zone homes (real keys, real SQLite files) in temporary folders."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from bundlekit.format.card import parse_card
from bundlekit.trust.policy import SourcePolicy
from bundlekit.zone import truststore
from bundlekit.zone.home import Zone, init_zone

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
RELEASE = FIXTURES / "acme" / "release.toml"
CANARY = "s3cret-value"  # the fixture release's sensitive password


@dataclass
class Zones:
    dev: Zone
    prod: Zone
    tmp: Path

    def close(self) -> None:
        self.dev.close()
        self.prod.close()


def make_zones(tmp: Path, policy: SourcePolicy | None = None) -> Zones:
    now = int(time.time())
    dev = init_zone(tmp / "dev", "dev", now)
    prod = init_zone(tmp / "prod", "prod", now)
    truststore.add_zone(dev, parse_card(prod.card_bytes(), "prod.card"), SourcePolicy(), now)
    truststore.add_zone(prod, parse_card(dev.card_bytes(), "dev.card"), policy or SourcePolicy(), now)
    return Zones(dev, prod, tmp)


@pytest.fixture
def zones(tmp_path: Path) -> Zones:
    z = make_zones(tmp_path)
    yield z
    z.close()


@pytest.fixture
def release_dir(tmp_path: Path) -> Path:
    """A private copy of the fixture release, safe to modify."""
    dest = tmp_path / "release"
    shutil.copytree(FIXTURES / "acme", dest)
    return dest


def tree_digest(root: Path) -> dict[str, str]:
    """Every file under ``root`` with its SHA-256 (and symlinks by target): 'byte-identical' checks."""
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            if p.is_symlink():
                out[rel] = "link:" + os.readlink(p)
            elif p.is_file():
                out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
            else:
                out[rel] = "dir"
    return out


def run_cli(*args: str | Path, home: Path | None = None, env: dict[str, str] | None = None,
            input: bytes | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the real `bundlekit` CLI in a subprocess."""
    cmd = [sys.executable, "-m", "bundlekit", *map(str, args)]
    if home is not None:
        cmd += ["--home", str(home)]
    full_env = dict(os.environ)
    full_env.pop("BUNDLEKIT_HOME", None)
    if env:
        full_env.update(env)
    return subprocess.run(cmd, capture_output=True, text=True, env=full_env, timeout=timeout,
                          input=input.decode() if input is not None else None)
