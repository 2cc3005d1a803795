"""bundlekit crosses the gap too (issue 11): export-self in the source zone, self-update in the secure
zone, through the real CLIs of two installations, the install offline, with a rollback.

The secure zone runs bundlekit RUNNING (the checkout's version) installed from the wheelhouse into a
virtual environment of its own (as it was first brought in); the source exports the checkout built
as NEWER, the next patch release. During the self-update every proxy variable points at a closed
port and pip is told ``--no-index``: an install that tried to reach an index would fail.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
from pathlib import Path

from tests.conftest import RELEASE, run_cli, snapshot
from tests.selfupdate.conftest import (LATER, NEWER, OFFLINE, RUNNING, cli, export_self, house_without,
                                      two_zones, version_of)
from tests.selfupdate.wheelhouse import build_bundlekit, checkout_as

def test_self_update_installs_offline_beside_the_old_one_and_rolls_back(
        installed_zones: tuple[Path, Path, Path], wheelhouse: Path, tmp_path: Path) -> None:
    dev, prod, old = installed_zones
    bundle = tmp_path / f"bundlekit-{NEWER}.bundle"
    done = export_self(dev, wheelhouse, bundle)
    assert done.returncode == 0, done.stderr
    assert f"exported bundlekit {NEWER}" in done.stdout
    shown = run_cli("inspect", bundle)
    assert "project bundlekit (bundlekit)" in shown.stdout and f"release {NEWER}" in shown.stdout

    before = snapshot(prod)
    dry = cli(old, "self-update", bundle, "--home", prod, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"would install bundlekit {NEWER}" in dry.stdout
    assert snapshot(prod) == before  # a dry run checks and changes nothing

    done = cli(old, "self-update", bundle, "--home", prod, env=OFFLINE)
    assert done.returncode == 0, done.stderr
    current = prod / "self" / "current"
    assert os.readlink(current).startswith(f"venvs/{NEWER}-")
    assert Path(os.readlink(prod / "self" / "previous")) == old.parent.parent  # the running installation
    new = current / "bin" / "bundlekit"
    assert version_of(new) == NEWER
    assert version_of(old) == RUNNING  # the old installation is untouched
    # the zone holds the release as an import leaves it, and the new bundlekit reads the zone
    listed = cli(new, "releases", "list", "--home", prod, env={"NO_COLOR": "1"})
    assert listed.returncode == 0, listed.stderr
    assert "bundlekit" in listed.stdout and NEWER in listed.stdout and "from dev seq 1" in listed.stdout
    assert "this zone's bundlekit is" not in listed.stderr
    # the old bundlekit still works on the zone, and says which is current (new-user review 38, F11)
    stale = cli(old, "releases", "list", "--home", prod)
    assert stale.returncode == 0, stale.stderr
    assert (f"warning: this zone's bundlekit is {current} (self-update made it current), but this command runs the "
            f"one in {old.parent.parent}: run {new}, or put {current / 'bin'} first on PATH") in stale.stderr
    doctor = json.loads(cli(old, "doctor", "--json", "--home", prod).stdout)
    assert "self_not_running" in [f["code"] for f in doctor["findings"]], doctor

    back = cli(new, "self-update", "--rollback", "--home", prod)
    assert back.returncode == 0, back.stderr
    assert version_of(current / "bin" / "bundlekit") == RUNNING
    assert os.readlink(prod / "self" / "previous").startswith(f"venvs/{NEWER}-")
    assert "this zone's bundlekit is" not in cli(old, "releases", "list", "--home", prod).stderr  # current again

    # forward again from the same bundle: its environment is still there and runs, so it is reused
    again = cli(old, "self-update", bundle, "--home", prod, env=OFFLINE)
    assert again.returncode == 0, again.stderr
    assert version_of(current / "bin" / "bundlekit") == NEWER
    assert len(list((prod / "self" / "venvs").iterdir())) == 1
    same = cli(new, "self-update", bundle, "--home", prod)
    assert same.returncode == 0 and "already current" in same.stdout

    # an environment removed by hand is made again (its wheels now come from the zone's store)
    assert cli(new, "self-update", "--rollback", "--home", prod).returncode == 0
    (gone,) = (prod / "self" / "venvs").iterdir()
    shutil.rmtree(gone)
    rebuilt = cli(old, "self-update", bundle, "--home", prod, env=OFFLINE)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert version_of(current / "bin" / "bundlekit") == NEWER


def test_a_build_that_does_not_run_is_never_switched_to(installed_zones: tuple[Path, Path, Path],
                                                        wheelhouse: Path, tmp_path: Path) -> None:
    dev, prod, old = installed_zones
    house = house_without(wheelhouse, "bundlekit-", tmp_path / "wheels")
    build_bundlekit(house, checkout_as(LATER, tmp_path / "src-broken", broken=True))
    bundle = tmp_path / "broken.bundle"
    done = export_self(dev, house, bundle)
    assert done.returncode == 0, done.stderr
    before = snapshot(prod)
    failed = cli(old, "self-update", bundle, "--home", prod, "--json", env=OFFLINE)
    assert failed.returncode == 5, failed.stderr
    assert '"code": "self_update_failed"' in failed.stdout
    # installed offline, then did not run: said with its exit code and what it printed, not a Python word
    assert "`bundlekit --version` did not run (exit 1: this build of bundlekit is broken)" in failed.stdout
    assert "None" not in failed.stdout
    assert snapshot(prod) == before  # no environment left, no link, the release not imported
    assert version_of(old) == RUNNING


def test_export_self_refuses_a_missing_dependency_naming_it_and_pip(tmp_path: Path, wheelhouse: Path) -> None:
    house = house_without(wheelhouse, "zstandard-", tmp_path / "wheels")
    dev = tmp_path / "dev"
    assert run_cli("init", "--zone", "dev", home=dev).returncode == 0
    assert run_cli("init", "--zone", "prod", home=tmp_path / "prod").returncode == 0
    assert run_cli("identity", "-o", tmp_path / "prod.card", home=tmp_path / "prod").returncode == 0
    assert run_cli("trust", "add", tmp_path / "prod.card", home=dev).returncode == 0
    out = tmp_path / "self.bundle"
    before = snapshot(dev, out)
    done = export_self(dev, house, out)
    assert done.returncode == 1
    assert "error [wheel_missing]" in done.stderr
    assert f"'zstandard>=0.22' (needed by bundlekit {NEWER})" in done.stderr
    assert f"pip download --only-binary=:all: --dest {house} 'zstandard>=0.22'" in done.stderr
    assert snapshot(dev, out) == before


def test_a_zone_that_trusts_the_source_for_other_projects_only_refuses_its_bundlekit(
        tmp_path: Path, wheelhouse: Path) -> None:
    dev, prod = tmp_path / "dev", tmp_path / "prod"
    for zone, home in (("dev", dev), ("prod", prod)):
        assert run_cli("init", "--zone", zone, home=home).returncode == 0
        assert run_cli("identity", "-o", tmp_path / f"{zone}.card", home=home).returncode == 0
    assert run_cli("trust", "add", tmp_path / "prod.card", home=dev).returncode == 0
    assert run_cli("trust", "add", tmp_path / "dev.card", "--projects", "acme-*", home=prod).returncode == 0
    bundle = tmp_path / "self.bundle"
    assert export_self(dev, wheelhouse, bundle).returncode == 0
    before = snapshot(prod)
    done = run_cli("self-update", bundle, "--json", home=prod)
    assert done.returncode == 3, done.stderr
    assert '"code": "policy_denied"' in done.stdout
    assert snapshot(prod) == before


def test_the_readme_s_zone_refusing_bundlekit_names_the_trust_set_that_admits_it_and_that_command_works(
        tmp_path: Path, wheelhouse: Path) -> None:
    """Review newuser finding 7: prod set up by the README's first round trip (`--projects 'acme-*'`)
    refuses the self bundle; the refusal names the command, which keeps the rest of the rule."""
    dev, prod = tmp_path / "dev", tmp_path / "prod"
    for zone, home in (("dev", dev), ("prod", prod)):
        assert run_cli("init", "--zone", zone, home=home).returncode == 0
        assert run_cli("identity", "-o", tmp_path / f"{zone}.card", home=home).returncode == 0
    assert run_cli("trust", "add", tmp_path / "prod.card", home=dev).returncode == 0
    assert run_cli("trust", "add", tmp_path / "dev.card", "--projects", "acme-*", "--threshold", "1",
                   home=prod).returncode == 0
    bundle = tmp_path / "bk.bundle"
    assert export_self(dev, wheelhouse, bundle).returncode == 0
    done = run_cli("self-update", bundle, "--dry-run", home=prod)
    assert done.returncode == 3 and "error [policy_denied]" in done.stderr, done.stderr
    assert "may not send project 'bundlekit' (allowed: acme-*)" in done.stderr
    command = f"bundlekit trust set dev --projects 'acme-*,bundlekit' --home {prod}"
    assert f"`{command}`" in done.stderr, done.stderr
    assert run_cli(*shlex.split(command)[1:], home=prod).returncode == 0
    done = run_cli("self-update", bundle, "--dry-run", home=prod)
    assert done.returncode == 0, done.stderr
    rules = json.loads(run_cli("trust", "list", "--json", home=prod).stdout)["zones"]
    assert [(r["policy"]["projects"], r["policy"]["threshold"]) for r in rules] == [(["acme-*", "bundlekit"], 1)]


def test_self_update_refuses_a_release_of_another_project(tmp_path: Path) -> None:
    dev, prod = two_zones(tmp_path)
    bundle = tmp_path / "acme.bundle"
    assert run_cli("export", RELEASE, "--to", "prod", "-o", bundle, home=dev).returncode == 0
    before = snapshot(prod)
    done = run_cli("self-update", bundle, home=prod)
    assert done.returncode == 2 and "error [invalid_self_bundle]" in done.stderr
    assert "import it with bundlekit import" in done.stderr
    assert snapshot(prod) == before
