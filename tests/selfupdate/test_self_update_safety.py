"""self-update and --rollback under attack and interruption: a superseded bundle replayed, a
tampered ``HOME/self``, kills (SIGKILL, through real subprocesses) during the install and between
the two links, and a source that sends an older version with a newer sequence.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import run_cli, snapshot
from tests.selfupdate.conftest import (NEWER, OFFLINE, RUNNING, accepted, cli, export_self, house_without, stand_in,
                                      two_zones, version_of)

#: Runs the checkout's bundlekit with every ``replace_symlink`` of bundlekit replaced by one that
#: kills its own process (SIGKILL, as a power cut would) right after the first link it replaces.
KILL_AFTER_FIRST_LINK = """
import os, signal, sys
import bundlekit.core.atomic as atomic
import bundlekit.selfupdate.install
original = atomic.replace_symlink
def replace_then_die(*args, **kwargs):
    original(*args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)
for module in list(sys.modules.values()):
    if getattr(module, "replace_symlink", None) is original:
        module.replace_symlink = replace_then_die
from bundlekit.__main__ import main
sys.argv[0] = "bundlekit"
main()
"""


def _error(done: subprocess.CompletedProcess[str]) -> dict[str, object]:
    return json.loads(done.stdout)["error"]


def _killed_after_first_link(*args: str | Path) -> None:
    done = subprocess.run([sys.executable, "-c", KILL_AFTER_FIRST_LINK, *map(str, args)], capture_output=True,
                          text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert done.returncode == -signal.SIGKILL, (done.returncode, done.stderr)


def test_a_bundle_a_newer_one_superseded_is_refused_as_a_rollback(tmp_path: Path, wheelhouse: Path) -> None:
    dev, prod = two_zones(tmp_path)
    first, second = tmp_path / "self 1.bundle", tmp_path / "self 2.bundle"
    assert export_self(dev, wheelhouse, first).returncode == 0  # sequence 1
    assert export_self(dev, wheelhouse, second).returncode == 0  # sequence 2: the source's newer word
    for bundle in (first, second):
        accepted(prod, bundle)
    before = snapshot(prod)
    for extra in ((), ("--dry-run",)):
        done = run_cli("self-update", first, "--json", *extra, home=prod, env=OFFLINE)
        assert done.returncode == 3, done.stderr
        err = _error(done)
        assert err["code"] == "rollback"
        assert "sequence 1" in str(err["message"]) and "(sequence 2)" in str(err["message"])
        # prod never switched, so --rollback has nothing to go back to: the way on is a new export (decision 978)
        assert "self-update --rollback" not in str(err["message"])
        assert "bundlekit export-self --to prod" in str(err["message"])
        assert snapshot(prod) == before  # nothing installed, no link, no folder
    newest = run_cli("self-update", second, "--dry-run", home=prod)
    assert newest.returncode == 0 and f"would install bundlekit {NEWER}" in newest.stdout


def test_a_tampered_current_is_refused_naming_it_and_nothing_changes(tmp_path: Path, wheelhouse: Path) -> None:
    dev, prod = two_zones(tmp_path)
    bundle = tmp_path / "self.bundle"
    assert export_self(dev, wheelhouse, bundle).returncode == 0
    current = prod / "self" / "current"
    (current / "bin").mkdir(parents=True)  # a folder where bundlekit keeps a link
    (current / "bin" / "bundlekit").write_text("#!/bin/sh\necho someone else's\n", "utf-8")
    os.symlink("venvs/none", prod / "self" / "previous")
    before = snapshot(prod)
    for args in ((bundle,), (bundle, "--dry-run"), ("--rollback",)):
        done = run_cli("self-update", *args, "--json", home=prod, env=OFFLINE)
        assert done.returncode == 1, done.stderr
        err = _error(done)
        assert err["code"] == "invalid_self_link"
        assert f"{current}: is a folder, not a link bundlekit made" in str(err["message"])
        assert snapshot(prod) == before  # previous not rewritten, nothing imported


def test_rollback_with_nothing_to_go_back_to_says_so(tmp_path: Path) -> None:
    prod = tmp_path / "prod"
    assert run_cli("init", "--zone", "prod", home=prod).returncode == 0
    # what an earlier bundlekit killed between its two links left: both name the same installation
    stand_in(prod / "self" / "venvs" / f"{NEWER}-0123456789ab", NEWER)
    for name in ("current", "previous"):
        os.symlink(f"venvs/{NEWER}-0123456789ab", prod / "self" / name)
    before = snapshot(prod)
    done = run_cli("self-update", "--rollback", "--json", home=prod)
    assert done.returncode == 1, done.stdout
    err = _error(done)
    assert err["code"] == "rollback_missing" and "the current installation itself" in str(err["message"])
    assert snapshot(prod) == before


def test_a_switch_killed_between_its_links_is_finished_whole_and_a_downgrade_is_said(
        installed_zones: tuple[Path, Path, Path], wheelhouse: Path, tmp_path: Path) -> None:
    dev, prod, old = installed_zones
    root = prod / "self"
    bundle = tmp_path / f"self-{NEWER}.bundle"
    assert export_self(dev, wheelhouse, bundle).returncode == 0
    done = cli(old, "self-update", bundle, "--home", prod, env=OFFLINE)
    assert done.returncode == 0, done.stderr
    venv = os.readlink(root / "current")
    running = str(old.parent.parent)
    assert venv.startswith(f"venvs/{NEWER}-") and os.readlink(root / "previous") == running

    def links() -> tuple[str, str]:
        return os.readlink(root / "current"), os.readlink(root / "previous")

    # a rollback killed after its first link: the next run finishes it, then does what it was asked
    _killed_after_first_link("self-update", "--rollback", "--home", prod)
    assert run_cli("self-update", "--rollback", home=prod).returncode == 0
    assert links() == (venv, running)  # the killed rollback, then this one: back where it started
    assert run_cli("self-update", "--rollback", home=prod).returncode == 0
    assert links() == (running, venv)
    assert version_of(root / "current" / "bin" / "bundlekit") == RUNNING

    # a self-update killed after its first link (the environment is reused): the way forward is kept
    _killed_after_first_link("self-update", bundle, "--home", prod)
    back = run_cli("self-update", "--rollback", home=prod)
    assert back.returncode == 0, back.stderr
    assert links() == (running, venv)  # the switch to NEWER finished, then rolled back from
    assert version_of(root / "previous" / "bin" / "bundlekit") == NEWER
    assert run_cli("self-update", "--rollback", home=prod).returncode == 0
    assert links() == (venv, running)

    # the source sends RUNNING with a newer sequence: installed if asked, and said to be a downgrade
    house = house_without(wheelhouse, f"bundlekit-{NEWER}", tmp_path / f"wheels-{RUNNING}")
    older = tmp_path / f"self-{RUNNING}.bundle"
    assert export_self(dev, house, older).returncode == 0
    before = snapshot(prod)
    dry = run_cli("self-update", older, "--dry-run", home=prod)
    assert dry.returncode == 0, dry.stderr
    assert f"a downgrade from {NEWER} to {RUNNING}" in dry.stdout
    as_json = run_cli("self-update", older, "--dry-run", "--json", home=prod)
    assert json.loads(as_json.stdout)["downgrade_from"] == NEWER
    assert snapshot(prod) == before


def test_leftovers_of_a_self_update_killed_during_the_install_are_swept_and_never_used(
        installed_zones: tuple[Path, Path, Path], wheelhouse: Path, tmp_path: Path) -> None:
    dev, prod, old = installed_zones
    root = prod / "self"
    bundle = tmp_path / "self.bundle"
    made = export_self(dev, wheelhouse, bundle)
    assert made.returncode == 0, made.stderr
    digest = json.loads(run_cli("inspect", bundle, "--json").stdout)["digest"]
    # an environment of this very bundle that a killed run began: its bundlekit answers, its
    # dependencies never arrived; it must not be taken for a finished one
    half = root / "venvs" / f"{NEWER}-{digest[:12]}"
    stand_in(half, NEWER)

    env = {k: v for k, v in os.environ.items() if k != "BUNDLEKIT_HOME"} | OFFLINE
    proc = subprocess.Popen([str(old), "self-update", str(bundle), "--home", str(prod)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    started = half / "pyvenv.cfg"  # the real environment is being made where the half one was
    while proc.poll() is None and not started.exists():
        time.sleep(0.05)
    assert proc.poll() is None, f"self-update ended without making a new environment: {proc.communicate()}"
    os.killpg(proc.pid, signal.SIGKILL)  # the command and its pip, as a power cut would
    proc.wait()
    assert list(root.glob(".wheels-*")), "the kill came after the install"
    assert not os.path.lexists(root / "current")

    done = cli(old, "self-update", bundle, "--home", prod, env=OFFLINE)
    assert done.returncode == 0, done.stderr
    assert not list(root.glob(".wheels-*"))
    assert [p.name for p in (root / "venvs").iterdir()] == [half.name]
    assert os.readlink(root / "current") == f"venvs/{half.name}"
    assert version_of(root / "current" / "bin" / "bundlekit") == NEWER
