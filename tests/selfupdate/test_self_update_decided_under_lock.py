"""self-update decides again under its lock (finding selfatk 11, decision 930 as decision 312 does for
receipts): a superseded bundle started while a newer one installs is refused once the lock is its
own, and an installation of a bundle whose state changed meanwhile is judged on what it finds then.

The test takes the place of the concurrent run deterministically: the lock the older run waits for
is entered only after the newer bundle was accepted (as the newer run does while holding it).
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Iterator

import pytest

from bundlekit.core import clock
from bundlekit.selfupdate import install
from bundlekit.zone.home import open_zone
from tests.conftest import raises_code, run_cli
from tests.selfupdate.conftest import accepted, export_self, two_zones


def test_a_superseded_bundle_waiting_for_the_lock_is_refused_once_it_holds_it(
        tmp_path: Path, wheelhouse: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dev, prod = two_zones(tmp_path)
    older, newer = tmp_path / "self-1.bundle", tmp_path / "self-2.bundle"
    assert export_self(dev, wheelhouse, older).returncode == 0  # sequence 1
    assert export_self(dev, wheelhouse, newer).returncode == 0  # sequence 2
    accepted(prod, older)  # accepted before: its self-update is a replay
    real_lock = install.self_lock

    @contextlib.contextmanager
    def lock_after_the_newer_run(root: Path) -> Iterator[None]:
        # what the run holding the lock did meanwhile: it accepted sequence 2
        accepted(prod, newer)
        with real_lock(root):
            yield

    monkeypatch.setattr(install, "self_lock", lock_after_the_newer_run)
    with open_zone(prod) as zone, raises_code("rollback") as refused:
        install.self_update(zone, older, now=clock.now())
    assert "sequence 1" in refused.value.message and "(sequence 2)" in refused.value.message
    assert not list((prod / "self" / "venvs").glob("*")) and not list((prod / "self").glob(".wheels-*"))
    assert not os.path.lexists(prod / "self" / "current")  # nothing installed, nothing switched
    # and the same bundle alone says the same
    alone = run_cli("self-update", older, "--dry-run", "--json", home=prod)
    assert alone.returncode == 3 and json.loads(alone.stdout)["error"]["code"] == "rollback"
