"""Zones made by hand for the relay tests that follow a user's steps (the new-user review's
findings 1, 16, 17 and 18): set-up commands run in this process, the commands under test in
subprocesses through the real CLI (``run``)."""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

from tests.conftest import cli_in_process, run_cli

#: A release with one script step and nothing sensitive (finding 1's ``widget.toml``).
WIDGET = """[project]
name = "Widget API"
[release]
version = "VERSION"
channel = "Default"
[[steps]]
name = "Say hello"
type = "script"
syntax = "bash"
script = 'echo hello'
"""

#: A release of space Payments (finding 17's ``pay.toml``).
PAY = """[project]
name = "Pay Web"
space = "Payments"
[release]
version = "VERSION"
channel = "Default"
[[steps]]
name = "S"
type = "script"
syntax = "bash"
script = "echo p"
"""

#: A release deploying one package (finding 16's ``foo.toml``).
FOO = """[project]
name = "Foo App"
[release]
version = "VERSION"
channel = "Default"
[[packages]]
id = "Foo"
version = "1.0.0"
file = "Foo.1.0.0.zip"
[[steps]]
name = "Deploy foo"
type = "package"
package = "Foo"
roles = ["web"]
substitute = ["index.html"]
[[variables]]
name = "Foo.Name"
value = "foo"
"""


class Zones:
    """Zones under ``root``, each with its home and card, and release files to export."""

    def __init__(self, root: Path, *names: str) -> None:
        self.root = root
        for name in names:
            self.setup("init", "--zone", name, home=self.home(name))
            self.setup("identity", "-o", self.card(name), home=self.home(name))

    def home(self, name: str) -> Path:
        return self.root / name

    def card(self, name: str) -> Path:
        return self.root / f"{name}.card"

    def path(self, name: str) -> Path:
        return self.root / name

    def setup(self, *args: str | Path, home: Path) -> str:
        r = cli_in_process(*args, home=home)
        assert r.returncode == 0, f"bundlekit {' '.join(map(str, args))}: exit {r.returncode}\n{r.stdout}\n{r.stderr}"
        return r.stdout

    def trust(self, at: str, *names: str, extra: tuple[str, ...] = ()) -> None:
        for name in names:
            self.setup("trust", "add", self.card(name), *extra, home=self.home(at))

    def release(self, template: str, version: str = "1.0.0") -> Path:
        """A release file of ``template`` at ``version`` (with FOO, its package beside it)."""
        path = self.root / f"release-{abs(hash(template))}-{version}.toml"
        path.write_text(template.replace("VERSION", version), "utf-8")
        package = self.root / "Foo.1.0.0.zip"
        if "Foo.1.0.0.zip" in template and not package.exists():
            with zipfile.ZipFile(package, "w") as zf:
                zf.writestr("index.html", "hello #{Foo.Name}\n")
        return path

    def run(self, *args: str | Path, at: str) -> subprocess.CompletedProcess[str]:
        """A command under test, in a process of its own."""
        return run_cli(*args, home=self.home(at), env={"NO_COLOR": "1"})

    def ok(self, *args: str | Path, at: str) -> str:
        r = self.run(*args, at=at)
        assert r.returncode == 0, f"bundlekit {' '.join(map(str, args))}: exit {r.returncode}\n{r.stdout}\n{r.stderr}"
        return r.stdout
