"""Worker settings belong to the node: each home of a zone keeps its own (decision 314)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bundlekit.deploy.launch import local_command
from bundlekit.deploy.targets import Isolation
from bundlekit.deploy.worker_admin import choose_worker
from bundlekit.zone.worker import get_worker, node_file
from tests.conftest import cli_in_process
from tests.pgserver import PostgresServer
from tests.zone.test_nodes import make_cluster


def test_worker_set_on_one_node_leaves_the_other_nodes_worker_alone(tmp_path: Path, pg_server: PostgresServer) -> None:
    c = make_cluster(tmp_path, pg_server)
    try:
        choose_worker(c.a, "unconfined", folder=tmp_path / "a-work")
        assert get_worker(c.a).mode == "unconfined" and get_worker(c.a).source == "this node"
        assert get_worker(c.b).mode == "sandbox" and not get_worker(c.b).configured
        assert node_file(c.a).stat().st_mode & 0o777 == 0o600 and not node_file(c.b).exists()
        shown = cli_in_process("worker", "show", home=c.a.home)
        assert shown.returncode == 0, shown.stderr
        assert "this node's worker" in shown.stdout and "unconfined" in shown.stdout
        assert "sandbox" in cli_in_process("worker", "show", home=c.b.home).stdout
    finally:
        c.close()


def test_a_zone_wide_worker_value_from_before_is_used_until_the_node_sets_its_own(tmp_path: Path,
                                                                                   pg_server: PostgresServer) -> None:
    c = make_cluster(tmp_path, pg_server)
    try:
        old = {"mode": "unconfined", "folder": str(tmp_path / "old-work"), "user": None, "python": None}
        with c.a.db.transaction() as tx:
            tx.run("INSERT INTO meta(key, value) VALUES (?, ?)", ("worker", json.dumps(old)))
        legacy = get_worker(c.b)
        assert (legacy.mode, legacy.folder) == ("unconfined", old["folder"]) and legacy.source.startswith("zone state")
        shown = cli_in_process("worker", "show", "--json", home=c.b.home)
        assert json.loads(shown.stdout)["source"].startswith("zone state")
        choose_worker(c.b, "sandbox", folder=tmp_path / "b-work")
        assert get_worker(c.b).mode == "sandbox" and get_worker(c.a).mode == "unconfined"
        row = c.a.db.one("SELECT value FROM meta WHERE key = ?", ("worker",))
        assert row is not None and json.loads(row["value"]) == old
    finally:
        c.close()


def test_a_sandboxed_runner_can_start_a_python_that_lives_under_tmp(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python3")
    assert python.startswith("/tmp/")
    (tmp_path / "work").mkdir()
    argv, kwargs = local_command(Isolation("sandbox", python=python, hide=(str(tmp_path / "home"),)),
                                 tmp_path / "work", "0" * 64, 10)
    sandbox = argv[:argv.index("--") + 1]
    done = subprocess.run([*sandbox, python, "-c", "import sys; print(sys.prefix)"], capture_output=True, text=True,
                          env=kwargs["env"], timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(venv)
