"""A step's strict rendering on the target: a filter failing on a value derived from a secret
leaves neither that value nor the secret in the run's reason or log lines (the masker knows
only the secret as written, not what a filter made of it)."""

from __future__ import annotations

from pathlib import Path

from bundlekit.runtime.step import run_step
from bundlekit.runtime.workdir import WorkFolder
from bundlekit.substitution.engine import SECRET_FILTER_REASON


def test_a_step_failing_on_a_filter_of_an_uppercased_secret_shows_neither(tmp_path: Path) -> None:
    lines: list[str] = []
    request = {"deployment_id": "deployments-1", "step": "Use secret", "type": "script", "syntax": "bash",
               "script": "echo #{Sec | ToUpper | VersionMajor}",
               "variables": [["Sec", "hunter2(pw", True], ["X", "abc", False]]}
    result = run_step(request, WorkFolder(tmp_path / "work"), lines.append)
    assert result["state"] == "Failed"
    shown = result["reason"] + "\n".join(lines)
    assert "filter_failed" in result["reason"] and SECRET_FILTER_REASON in result["reason"]
    assert "HUNTER2" not in shown.upper() and "10-character" not in shown
