"""What the runner ships to targets: only the layers it may carry, all of it Python 3.8 or newer.

The runner's modules are found from its imports (:func:`bundlekit.runtime.pack.shipped_modules`),
so these checks cover exactly what a target receives. Two independent checks of the minimum
version: the parser of Python 3.8's grammar (``ast.parse(feature_version=(3, 8))``) and vermin,
which also knows which library functions and arguments are newer than 3.8.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import zipfile
import io
from pathlib import Path

import pytest

from bundlekit.runtime.pack import OPTIONAL, VENDORED, runner, shipped_modules

FORBIDDEN = {"zone", "cli", "deploy", "export", "importer", "receipt", "dashboard", "transport", "format", "trust"}


def test_the_runner_ships_no_zone_cli_or_workflow_module_and_only_declared_third_party_packages() -> None:
    modules, external = shipped_modules()
    layers = {name.split(".")[1] for name in modules if name.count(".") >= 1}
    assert "runtime" in layers and "substitution" in layers and "package" in layers
    assert not layers & FORBIDDEN, sorted(layers & FORBIDDEN)
    assert external <= set(VENDORED) | set(OPTIONAL), external


def test_the_runner_is_deterministic_and_named_by_its_content() -> None:
    first = runner()
    runner.cache_clear()
    second = runner()
    assert first.data == second.data and first.sha256 == second.sha256
    names = zipfile.ZipFile(io.BytesIO(first.data)).namelist()
    assert names == sorted(names) and "__main__.py" in names and "bundlekit/runtime/agent.py" in names
    assert "ruamel/yaml/main.py" in names and not any(n.startswith("lxml/") for n in names)  # vendored, optional
    assert not any(n.startswith(("bundlekit/zone/", "bundlekit/cli/", "bundlekit/deploy/")) for n in names)


@pytest.mark.parametrize("module,path", sorted(shipped_modules()[0].items()))
def test_every_shipped_module_parses_as_python_3_8(module: str, path: Path) -> None:
    ast.parse(path.read_text("utf-8"), str(path), feature_version=(3, 8))


def test_vermin_finds_nothing_newer_than_python_3_8_in_what_is_shipped() -> None:
    paths = sorted(str(p) for p in shipped_modules()[0].values())
    vermin = Path(sys.executable).with_name("vermin")
    if not vermin.exists():
        pytest.fail("vermin is a test tool: run `python3 tasks.py test`, which installs it with the test extras")
    done = subprocess.run([str(vermin), "-t=3.8-", "--violations", "--no-tips",
                           "--no-parse-comments", *paths], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Minimum required versions: 3.8" in done.stdout or "Minimum required versions: 3.0" in done.stdout
