"""The README's main job (scripts/roundtrip.py) runs the whole round trip and ends with a dashboard."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_main_job_completes_and_writes_the_dashboard(tmp_path: Path) -> None:
    env = dict(os.environ, BUNDLEKIT_ROUNDTRIP_DIR=str(tmp_path / "rt"))
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "roundtrip.py")], capture_output=True, text=True,
                       env=env, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "round trip complete" in r.stdout
    html = tmp_path / "rt" / "dashboard.html"
    assert f"dashboard: {html}" in r.stdout
    assert 'data-state="succeeded"' in html.read_text()


def test_main_job_prints_the_carry_like_every_other_step(tmp_path: Path) -> None:
    """The walkthrough shows every command, the copy to the other zone's inbox included: each
    file a printed command reads from the inbox was put there by a printed command."""
    work = tmp_path / "rt"
    env = dict(os.environ, BUNDLEKIT_ROUNDTRIP_DIR=str(work))
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "roundtrip.py")], capture_output=True, text=True,
                       env=env, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    commands = [line[2:] for line in r.stdout.splitlines() if line.startswith("$ ")]
    inbox = work / "prod-inbox"
    readers = [i for i, c in enumerate(commands) if str(inbox) in c and c.startswith("bundlekit ")]
    copies = [i for i, c in enumerate(commands) if c.split("&&")[-1].strip().startswith("cp ") and str(inbox) in c]
    assert readers, commands
    assert copies and copies[0] < readers[0], commands
