"""`init` says loudly, on stderr, that no worker user is set and what runs steps instead (issue 20).

A new zone has no worker user: its zone-level steps and local folder targets run in the
bubblewrap sandbox. `init` says so in a WARNING naming bubblewrap and the command that sets up a
worker user, and gives the same text under ``worker_warning`` with ``--json``.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from tests.conftest import run_cli
from tests.fleet.test_hostile_steps import require_bwrap


def test_init_warns_loudly_that_steps_run_in_the_sandbox_when_no_worker_user_is_set(tmp_path: Path) -> None:
    require_bwrap()
    done = run_cli("init", "--zone", "laptop", home=tmp_path / "laptop")
    assert done.returncode == 0, done.stderr
    warning = [line for line in done.stderr.splitlines() if line.startswith("WARNING: no separate worker user")]
    assert len(warning) == 1, done.stderr
    assert "bubblewrap" in warning[0] and f"`bundlekit worker setup --home {shlex.quote(str(tmp_path / 'laptop'))}`" in warning[0]
    assert "WARNING" not in done.stdout  # on stderr, where a script piping stdout still shows it
    shown = run_cli("init", "--zone", "other", "--json", home=tmp_path / "other")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["worker_warning"].startswith("WARNING: no separate worker user")
