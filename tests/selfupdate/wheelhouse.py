"""A wheelhouse for the self-update tests, made without a package index where it can be.

bundlekit's wheel is built from the checkout with ``pip wheel --no-deps`` (pip fetches the build
backend the project names, setuptools, from its cache or the index: the one download, once per
session). Every dependency's wheel is packed again from the distribution installed in this test
environment: its files as its RECORD lists them, its METADATA and WHEEL (with the tags it was
installed under) and a new RECORD with each file's hash, which is what a wheel holds; so the
versions installed offline are the very ones the suite runs with.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import re
import shutil
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]


def dependency_closure(name: str = "bundlekit") -> list[metadata.Distribution]:
    """The installed distributions ``name`` needs here (markers evaluated for this interpreter)."""
    env = dict(default_environment())
    seen: dict[str, metadata.Distribution] = {}
    todo: list[tuple[str, set[str]]] = [(name, set())]
    while todo:
        dist_name, extras = todo.pop()
        dist = metadata.distribution(dist_name)
        key = canonicalize_name(dist.metadata["Name"])
        first = key not in seen
        seen[key] = dist
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is not None and not any(req.marker.evaluate({**env, "extra": e})
                                                  for e in sorted(extras) or [""]):
                continue
            if first or req.extras:
                todo.append((req.name, set(req.extras)))
    return [d for k, d in sorted(seen.items()) if k != canonicalize_name(name)]


def _hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def repack(dist: metadata.Distribution, out: Path) -> Path:
    """A wheel of the installed ``dist`` in folder ``out``."""
    tags = [line.split(":", 1)[1].strip() for line in (dist.read_text("WHEEL") or "").splitlines()
            if line.startswith("Tag:")]
    parts = [sorted({t.split("-")[i] for t in tags}) for i in range(3)]
    name = re.sub(r"[-_.]+", "_", dist.metadata["Name"])
    path = out / f"{name}-{dist.version}-{'.'.join(parts[0])}-{'.'.join(parts[1])}-{'.'.join(parts[2])}.whl"
    record = io.StringIO()
    writer = csv.writer(record, lineterminator="\n")
    info = None
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for f in dist.files or []:
            rel = f.as_posix()
            if rel.startswith("..") or "__pycache__" in rel or rel.endswith((".dist-info/RECORD", "/INSTALLER",
                                                                              "/REQUESTED", "/direct_url.json")):
                continue  # scripts outside site-packages are made again by the installer; caches are not shipped
            data = Path(str(dist.locate_file(f))).read_bytes()
            zf.writestr(rel, data)
            writer.writerow([rel, _hash(data), len(data)])
            if rel.endswith(".dist-info/METADATA"):
                info = rel.rsplit("/", 1)[0]
        assert info is not None, f"{dist.metadata['Name']}: no METADATA"
        writer.writerow([f"{info}/RECORD", "", ""])
        zf.writestr(f"{info}/RECORD", record.getvalue())
    return path


def build_bundlekit(out: Path, source: Path) -> Path:
    """``pip wheel --no-deps`` of ``source`` (a bundlekit checkout) into ``out``; the wheel's path."""
    before = set(out.glob("bundlekit-*.whl"))
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check",
                           "--quiet", "-w", str(out), str(source)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    (wheel,) = set(out.glob("bundlekit-*.whl")) - before
    return wheel


def checkout_as(version: str | None, dest: Path, *, broken: bool = False) -> Path:
    """A copy of the checkout's source (building writes into the folder it builds), its version set
    to ``version`` when given (to tell two releases apart); ``broken``: its CLI fails as it loads,
    so the installed ``bundlekit --version`` does not run."""
    shutil.copytree(ROOT / "bundlekit", dest / "bundlekit", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, dest / name)
    for rel in ("pyproject.toml", "bundlekit/__init__.py") if version else ():
        p = dest / rel
        text = p.read_text("utf-8")
        changed = re.sub(r'(?m)^(version|__version__) = "[^"]+"', rf'\1 = "{version}"', text)
        assert changed != text, rel
        p.write_text(changed, "utf-8")
    if broken:
        cli = dest / "bundlekit" / "cli" / "__init__.py"
        cli.write_text('raise SystemExit("this build of bundlekit is broken")\n', "utf-8")
    return dest


def make_wheelhouse(out: Path, work: Path, versions: tuple[str, ...] = ()) -> Path:
    """``out`` filled with bundlekit's wheel of the checkout, one of it as each of ``versions``, and
    its dependencies' wheels."""
    out.mkdir(parents=True)
    build_bundlekit(out, checkout_as(None, work / "src"))
    for v in versions:
        build_bundlekit(out, checkout_as(v, work / f"src-{v}"))
    for dist in dependency_closure():
        repack(dist, out)
    return out
