"""The runner on the oldest Pythons bundlekit supports on a target (3.8 and 3.9), for real.

spec/runner.md promises targets with Python 3.8 or newer, and tests/runtime/test_shipped.py
checks the shipped sources with the 3.8 grammar and vermin. Neither sees an expression that
only fails when it runs: a type alias written ``list[str]`` or ``str | None`` at module level
is evaluated on import, and on 3.8 (3.9 for ``|``) the runner died before answering ``hello``.
So each such interpreter found on this machine starts the packed runner as a local folder
target's python and deploys a script step and a package step with substitution and YAML and
properties configuration through it.
"""

from __future__ import annotations

import glob
import shutil
import subprocess
from pathlib import Path

import pytest

from bundlekit.deploy.targets import Isolation, LocalFolderTarget
from bundlekit.format.manifest import Step
from tests.deploy.test_plan import deploy, package_zip, request_for, script, var


def _pythons() -> dict[str, str]:
    """``{"3.8": path, "3.9": path}`` for the interpreters of those versions this machine has."""
    found: dict[str, str] = {}
    candidates = [shutil.which(f"python{v}") for v in ("3.8", "3.9")]
    candidates += sorted(glob.glob(str(Path.home() / ".pyenv" / "versions" / "3.[89].*" / "bin" / "python3")))
    for path in filter(None, candidates):
        done = subprocess.run([path, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                              capture_output=True, text=True, timeout=60)
        if done.returncode == 0 and done.stdout.strip() in ("3.8", "3.9"):
            found.setdefault(done.stdout.strip(), path)
    return found


PYTHONS = _pythons()


@pytest.mark.parametrize("version", ["3.8", "3.9"])
def test_the_runner_deploys_with_python(version: str, tmp_path: Path) -> None:
    if version not in PYTHONS:
        pytest.fail(f"no Python {version} on this machine to start the runner with: install one "
                    f"(`pyenv install {version}`) or put python{version} on PATH")
    package = package_zip(tmp_path / "store" / "Acme.Web.1.0.0.zip", {
        "index.html": "<h1>#{Title}</h1>\n",
        "values.yaml": "# chart\nport: 80   # public\n",
        "app.properties": "# db\ndb.url=jdbc:dev\n",
        "appsettings.json": '{\n  // the shop database\n  "Db": {"Url": "dev",},\n}\n',
    })
    target = LocalFolderTarget("web-01", "Production", frozenset({"web"}), tmp_path / "web-01",
                               Isolation("unconfined", python=PYTHONS[version]))
    steps = [script("Hello", 'python3 -c "import sys; print(sys.version_info[:2])"'),
             Step(name="Install", type="package", roles=("web",), package="Acme.Web", substitute=("index.html",),
                  structured_config=("values.yaml", "*.properties"))]
    record = deploy(request_for(steps, [var("Title", "Shop"), var("port", "8080"), var("db.url", "jdbc:prod"),
                                        var("Db:Url", "prod")],
                                targets=(target,), packages=(package,)))
    assert record.state == "Success", record.runs
    root = tmp_path / "web-01" / "Acme.Web" / "1.0.0"
    assert (root / "index.html").read_text() == "<h1>Shop</h1>\n"
    assert (root / "values.yaml").read_text() == "# chart\nport: 8080   # public\n"
    assert (root / "app.properties").read_text() == "# db\ndb.url=jdbc\\:prod\n"
    assert (root / "appsettings.json").read_text() == '{\n  // the shop database\n  "Db": {"Url": "prod",},\n}\n'
