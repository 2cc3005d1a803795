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
