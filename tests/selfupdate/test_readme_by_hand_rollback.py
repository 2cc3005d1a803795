"""The README's by-hand equivalent of `self-update --rollback` really swaps both links (review
newuser35 finding 8): after it, `current` names the installation before and `previous` the one
that was current, so the newer one stays reachable. Before, it set `current` only, leaving both
links on one installation."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_s_by_hand_rollback_swaps_current_and_previous(tmp_path: Path) -> None:
    text = " ".join(README.read_text("utf-8").split())
    found = re.search(r"By hand the same swap of both links is `([^`]*)`", text)
    assert found is not None, "README lost its by-hand rollback"
    home = tmp_path / "a b" / "prod"
    (home / "self" / "venvs" / "0.8.0-old").mkdir(parents=True)
    (home / "self" / "venvs" / "0.8.1-new").mkdir()
    os.symlink("venvs/0.8.1-new", home / "self" / "current")
    os.symlink("venvs/0.8.0-old", home / "self" / "previous")
    command = found.group(1).replace("HOME", '"$HOME_DIR"')
    subprocess.run(["sh", "-c", command], check=True, env={**os.environ, "HOME_DIR": str(home)})
    assert os.readlink(home / "self" / "current") == "venvs/0.8.0-old"
    assert os.readlink(home / "self" / "previous") == "venvs/0.8.1-new"
