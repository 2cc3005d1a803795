"""The names the step runner gives a package's own scripts: which files, in which order, in which
language. Kept apart from :mod:`bundlekit.runtime.step` so the zone's planning and lint read
them without importing the runner itself (decision 880)."""

from __future__ import annotations

__all__ = ["PHASES", "SCRIPT_SYNTAX"]

#: Scripts a package may carry at its root, run in this order (see spec/deploy.md §6).
PHASES = ("PreDeploy", "Deploy", "PostDeploy")
#: A script's file extension and the syntax it runs as.
SCRIPT_SYNTAX = {".sh": "bash", ".py": "python"}
