"""A home whose path pip's command launchers cannot carry (finding atk35 13, decision 955): self-update
and its dry run refuse it before anything is installed, naming the character and saying to move the
home; the rule is pip's own (checked against the launchers a real pip writes), so a home it can
carry is never refused."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from bundlekit.selfupdate.launcher import launcher_problem
from tests.conftest import run_cli, snapshot
from tests.selfupdate.conftest import NEWER, small_self_bundle, two_zones

LONG = "y" * 120

#: (path of the interpreter, the character that stops its launcher, or None), Linux.
CASES = [
    ("/srv/a$b/bin/python", None),  # a plain #! line: the shell never reads it
    ("/srv/zone 1/bin/python", None),  # in double quotes a space is fine
    ("/srv/zone 'a' & b;(c)*/bin/python", None),  # ... and so are these
    (f"/srv/{LONG}/bin/python", None),  # long, bare: letters only
    (f"/srv/{LONG}#~{{a,b}}=!%/bin/python", None),
    ("/srv/zone $x/bin/python", "$"),  # the finding's home: expanded even in double quotes
    ("/srv/zone `x/bin/python", "`"),
    ('/srv/zone "x/bin/python', '"'),
    ("/srv/zone \\x/bin/python", "\\"),  # an escape to sh and to Python (\x stops it)
    ("/srv/zone '''x/bin/python", "'''"),  # ends the Python string the sh line hides in
    (f"/srv/{LONG}$x/bin/python", "$"),
    (f"/srv/{LONG}(x/bin/python", "("),
    (f"/srv/{LONG}*x/bin/python", "*"),
    (f"/srv/{LONG}'x/bin/python", "'"),
    ("/srv/a\tb/bin/python", "\t"),  # the kernel ends the interpreter's name at a tab
]


@pytest.mark.parametrize("python, stops", CASES)
def test_the_character_a_launcher_cannot_carry_is_found(python: str, stops: str | None) -> None:
    found = launcher_problem(python, platform="linux")
    assert (found.char if found else None) == stops


def test_macos_writes_a_plain_line_for_longer_paths() -> None:
    path = f"/srv/{LONG}$x/bin/python"
    assert launcher_problem(path, platform="linux") is not None and launcher_problem(path, platform="darwin") is None


def _hello_wheel(folder: Path) -> Path:
    """A wheel with one console script, ``hello``, that prints ``hello ok``."""
    import base64
    import hashlib

    files = {"hello_cmd/__init__.py": b"def main():\n    print('hello ok')\n",
             "hello_cmd-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: hello-cmd\nVersion: 1.0\n",
             "hello_cmd-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: t\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
             "hello_cmd-1.0.dist-info/entry_points.txt": b"[console_scripts]\nhello = hello_cmd:main\n"}
    path = folder / "hello_cmd-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        record = []
        for name, data in files.items():
            zf.writestr(name, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{name},sha256={digest},{len(data)}")
        zf.writestr("hello_cmd-1.0.dist-info/RECORD", "\n".join(record + ["hello_cmd-1.0.dist-info/RECORD,,"]) + "\n")
    return path


@pytest.mark.skipif(sys.platform != "linux", reason="the cases are Linux's (a #! line of 127 bytes)")
def test_the_rule_is_what_a_real_pip_writes(tmp_path: Path) -> None:
    pip = subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True, text=True)
    if pip.returncode != 0 or int(pip.stdout.split()[1].split(".")[0]) < 23:
        pytest.skip("needs pip 23 or later (--python)")
    house = tmp_path / "wheels"
    house.mkdir()
    _hello_wheel(house)
    base = tmp_path / "p"
    for folder in ("zone $x", "zone 'a' & b;(c)*", f"{LONG}(x", "a$b"):
        venv = base / folder / "venv"
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
        installed = subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
                                    "-q", "--no-index", "--find-links", str(house), "hello-cmd"],
                                   capture_output=True, text=True, timeout=300)
        assert installed.returncode == 0, installed.stderr
        try:
            ran = subprocess.run([str(venv / "bin" / "hello")], capture_output=True, text=True, timeout=60)
            works = ran.returncode == 0 and ran.stdout.strip() == "hello ok"
        except OSError:
            works = False
        assert works == (launcher_problem(str(venv / "bin" / "python")) is None), folder


def _prod_at(tmp_path: Path, folder: Path) -> tuple[Path, Path]:
    """prod's home copied to ``folder``/prod, and a bundlekit release for it."""
    dev, prod = two_zones(tmp_path)
    bundle = small_self_bundle(tmp_path, dev)
    folder.mkdir(parents=True)
    shutil.copytree(prod, folder / "prod", symlinks=True)
    return folder / "prod", bundle


def test_self_update_and_its_dry_run_refuse_a_home_whose_path_the_launchers_cannot_carry(tmp_path: Path) -> None:
    home, bundle = _prod_at(tmp_path, tmp_path / "long dir $x" / LONG)  # the finding's home
    before = snapshot(home)
    for extra in (("--dry-run",), ()):
        done = run_cli("self-update", bundle, "--json", *extra, home=home)
        assert done.returncode == 1, done.stdout + done.stderr
        err = json.loads(done.stdout)["error"]
        assert err["code"] == "unsupported_home_path"
        message = err["message"]
        assert message.startswith(f"{home}: self-update cannot install bundlekit in this home")
        assert "whose path holds `$`" in message and "naming it in double quotes (its path holds a space)" in message
        assert "Nothing was changed. Move the home to a path without `$` (or to a shorter one without spaces)" in message
        assert err["details"]["character"] == "$"
        assert err["details"]["path"].startswith(str(home / "self" / "venvs" / f"{NEWER}-"))
        assert snapshot(home) == before  # no HOME/self, nothing imported


def test_a_home_whose_path_the_launchers_carry_goes_on(tmp_path: Path) -> None:
    home, bundle = _prod_at(tmp_path, tmp_path / "long dir x" / LONG)  # the same path without `$`
    done = run_cli("self-update", bundle, "--dry-run", home=home)
    assert done.returncode == 0, done.stderr
    assert f"would install bundlekit {NEWER}" in done.stdout
    assert os.path.isdir(home) and not (home / "self").exists()
