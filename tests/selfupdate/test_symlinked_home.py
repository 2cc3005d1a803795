"""self-update through a symlinked ``--home`` makes the installation at the home's real path
(atk36 finding 1, decision 974): its commands name no link, so ``HOME/self/current/bin/bundlekit``
starts whatever becomes of the link; one made through a link before is made again in place; and
a refusal about an installation that does run through a link names the link, not a move. pip is
replaced by a runnable stand-in (the commands a real pip writes name the venv path it is given).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from bundlekit.selfupdate import install
from bundlekit.zone.installations import launcher_interpreter, not_from_its_folder
from tests.conftest import cli_in_process
from tests.selfupdate.conftest import NEWER, finished_stand_in, runnable_stand_in, small_self_bundle, two_zones


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every environment self-update builds, as stand-ins at the path it gives pip."""
    built: list[Path] = []

    def fake_install(venv: Path, work: Path, wheels: object, version: str, where: str) -> None:
        runnable_stand_in(venv, version)
        built.append(venv)

    monkeypatch.setattr(install, "_install", fake_install)
    return built


def _linked(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(dev, prod's real home, a link to it) and the bundlekit bundle dev sends prod."""
    dev, prod = two_zones(tmp_path)
    link = tmp_path / "prodlink"
    link.symlink_to(prod.name)
    return dev, prod, link


def test_self_update_through_a_symlinked_home_installs_at_its_real_path(tmp_path: Path, made: list[Path]) -> None:
    dev, prod, link = _linked(tmp_path)
    bundle = small_self_bundle(tmp_path, dev)
    done = cli_in_process("self-update", bundle, home=link)
    assert done.returncode == 0, done.stderr
    (venv,) = made
    assert venv.parent == prod.resolve() / "self" / "venvs"
    assert launcher_interpreter(venv) == str(venv / "bin" / "python")  # no link in any command pip writes
    link.unlink()  # the link goes (a remount, a blue/green data folder)
    started = subprocess.run([str(prod / "self" / "current" / "bin" / "bundlekit"), "--version"],
                             capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert started.returncode == 0 and NEWER in started.stdout


def test_an_installation_made_through_a_link_before_is_made_again_at_the_real_path(
        tmp_path: Path, made: list[Path]) -> None:
    dev, prod, link = _linked(tmp_path)
    bundle = small_self_bundle(tmp_path, dev)
    old = finished_stand_in(link, bundle, NEWER)  # as self-update made it through the link before
    assert launcher_interpreter(old) == str(link / "self" / "venvs" / old.name / "bin" / "python")
    done = cli_in_process("self-update", bundle, home=link)
    assert done.returncode == 0, done.stderr
    assert made == [prod.resolve() / "self" / "venvs" / old.name]  # built again, in place
    assert launcher_interpreter(made[0]) == str(made[0] / "bin" / "python")
    assert os.readlink(prod / "self" / "current") == f"venvs/{old.name}"


def test_an_installation_made_through_a_link_that_now_leads_elsewhere_is_said_to_be(tmp_path: Path) -> None:
    dev, prod, link = _linked(tmp_path)
    bundle = small_self_bundle(tmp_path, dev)
    venv = prod / "self" / "venvs" / finished_stand_in(link, bundle, NEWER).name
    assert not_from_its_folder(venv) is None  # it runs while the link leads here
    other = tmp_path / "other"
    other.mkdir()
    link.unlink()
    link.symlink_to(other.name)  # repointed
    why = not_from_its_folder(venv)
    assert why is not None and f"was made through the link {link} (a symlinked home), which now leads to " \
        f"{other.resolve()}" in why
    assert "moved or copied" not in why
    link.unlink()  # removed: the cause cannot be told from a moved home any more, so both are named
    why = not_from_its_folder(venv)
    assert why is not None and "or made through a link that was removed since (a symlinked home)" in why
    assert "which is gone, so it does not start" in why
